import Foundation
import ISO8583
import NetworkSwitch

/// Where a cleared presentment stands in the dispute cycle.
public enum PresentmentState: String, Codable, Sendable {
    /// Cleared: the issuer's cardholder paid, the acquirer was paid.
    case cleared
    /// The issuer took the amount (or part) back with a first chargeback.
    case chargedBack = "charged-back"
    /// The acquirer answered with a second presentment: the amount (or part) goes to it again.
    case represented
}

/// An issuer's first chargeback of a presentment.
public struct Chargeback: Codable, Sendable, Equatable {
    public init(reasonCode: String, amountMinor: Int64, at: Date) { self.reasonCode = reasonCode; self.amountMinor = amountMinor; self.at = at }

    /// Four digits, one of `Chargeback.reasons`.
    public var reasonCode: String
    /// In the presented currency, at most the presented amount.
    public var amountMinor: Int64
    public var at: Date

    /// The reason codes taken, the dispute categories of card networks' rules.
    public static let reasons: [String: String] = [
        "4808": "authorization-related",
        "4831": "incorrect transaction amount",
        "4834": "duplicate processing",
        "4837": "no cardholder authorization",
        "4853": "cardholder dispute: not as described or defective",
        "4855": "goods or services not provided",
    ]
    /// A first chargeback is raised within this long of the clearing.
    public static let timeLimit: TimeInterval = 120 * 86_400
}

/// An acquirer's second presentment in answer to a chargeback.
public struct SecondPresentment: Codable, Sendable, Equatable {
    public init(amountMinor: Int64, at: Date) { self.amountMinor = amountMinor; self.at = at }

    /// In the presented currency, at most the amount charged back.
    public var amountMinor: Int64
    public var at: Date
    /// A second presentment answers within this long of the chargeback.
    public static let timeLimit: TimeInterval = 45 * 86_400
}

public enum DisputeError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    case state(PresentmentState)
    case reason(String)
    case amount(max: Int64)
    case late(days: Int)

    public var description: String {
        switch self {
        case .notFound(let id): "presentment \(id) not found"
        case .state(let s): "the presentment is \(s.rawValue): a first chargeback follows a clearing, a second presentment a chargeback, once each"
        case .reason(let code): "reason code \(code) is not one of \(Chargeback.reasons.keys.sorted().joined(separator: ", "))"
        case .amount(let max): "amountMinor must be 1 to \(max)"
        case .late(let days): "too late: within \(days) days"
        }
    }
}

extension ClearedPresentment {
    public var disputeState: PresentmentState { state ?? .cleared }

    /// The money a dispute step moves: `amountMinor` of the presented currency from the
    /// `payer` side to the other, the issuer's side at the authorization's rate, the network
    /// taking the currency position between. No fee moves with a dispute.
    func disputeLines(_ amountMinor: Int64, toIssuer: Bool) throws(PricingError) -> [SettlementLine] {
        let (t, b, issuerAmount) = try issuerSide(amountMinor)
        let sign: Int64 = toIssuer ? 1 : -1
        var lines = [
            SettlementLine(participant: "acquirer:" + acquirerID, currency: t.alpha, amountMinor: -sign * amountMinor, kind: .amount, source: id),
            SettlementLine(participant: "issuer:" + issuerID, currency: b.alpha, amountMinor: sign * issuerAmount, kind: .amount, source: id),
        ]
        if b != t {
            lines.append(SettlementLine(participant: "network", currency: t.alpha, amountMinor: sign * amountMinor, kind: .conversion, source: id))
            lines.append(SettlementLine(participant: "network", currency: b.alpha, amountMinor: -sign * issuerAmount, kind: .conversion, source: id))
        }
        return lines
    }
}
