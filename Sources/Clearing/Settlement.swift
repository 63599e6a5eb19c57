import Foundation
import ISO8583
import NetworkSwitch
import Participants

/// One movement of money a cleared presentment causes, in one currency: positive when
/// the participant receives, negative when it pays. Every presentment's lines add up to
/// zero in each currency, so every window's net positions do.
public struct SettlementLine: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The presented amount: the acquirer is paid it, the issuer pays it.
        case amount
        /// Interchange: the acquirer pays it to the issuer (a purchase), or the issuer to the
        /// acquirer (cash).
        case interchange
        /// The network's scheme fee, from each side.
        case schemeFee = "scheme-fee"
        /// Across currencies, the network pays one side in its currency and collects the other
        /// in its own, at the authorization's rate.
        case conversion
    }

    /// `acquirer:ID`, `issuer:ID` or `network`.
    public var participant: String
    /// ISO 4217 alpha.
    public var currency: String
    public var amountMinor: Int64
    public var kind: Kind
    /// What it comes from: the ID of the acquirer's clearing file whose presentments it sums,
    /// `single-message:` and the time in milliseconds for ATM cash cleared by itself, or the
    /// presentment a dispute step moved money for.
    public var source: String
    /// How many presentments it sums (1 for a dispute step).
    public var presentments: Int
    /// The settlement window it fell in (set when recorded).
    public var windowID: String?

    public init(participant: String, currency: String, amountMinor: Int64, kind: Kind, source: String, presentments: Int = 1, windowID: String? = nil) {
        self.participant = participant; self.currency = currency; self.amountMinor = amountMinor; self.kind = kind
        self.source = source; self.presentments = presentments; self.windowID = windowID
    }

    /// Lines summed per participant, currency and kind under one `source` (a file's, or a
    /// batch's), each counting the lines it sums; sums of zero left out. In the order of
    /// currency, participant, kind.
    public static func summed(_ lines: [SettlementLine], source: String) -> [SettlementLine] {
        struct Key: Hashable { var participant: String, currency: String, kind: Kind }
        var sums: [Key: (amount: Int64, count: Int)] = [:]
        for l in lines {
            let key = Key(participant: l.participant, currency: l.currency, kind: l.kind)
            let sum = sums[key] ?? (0, 0)
            sums[key] = (sum.amount &+ l.amountMinor, sum.count + l.presentments)
        }
        return sums.filter { $0.value.amount != 0 }
            .sorted { ($0.key.currency, $0.key.participant, $0.key.kind.rawValue) < ($1.key.currency, $1.key.participant, $1.key.kind.rawValue) }
            .map { SettlementLine(participant: $0.key.participant, currency: $0.key.currency, amountMinor: $0.value.amount, kind: $0.key.kind,
                                  source: source, presentments: $0.value.count) }
    }
}

/// What a cleared presentment costs and earns, as the fee schedule says.
public struct Pricing: Codable, Sendable, Equatable {
    /// The issuer's currency and the amount in it (the presented amount converted at the
    /// authorization's rate, field 10, when the currencies differ).
    public var issuerCurrency: String
    public var issuerAmountMinor: Int64
    public var interchangeBasisPoints: Int
    /// In the presented currency, and in the issuer's.
    public var interchangeMinor: Int64
    public var issuerInterchangeMinor: Int64
    public var acquirerSchemeFeeMinor: Int64
    public var issuerSchemeFeeMinor: Int64
}

public enum PricingError: Error, Equatable, CustomStringConvertible {
    case unknownCurrency(String)
    case noRate(presentment: String)
    case conversion(String)

    public var description: String {
        switch self {
        case .unknownCurrency(let c): "currency \(c) is not in ISO 4217"
        case .noRate(let p): "presentment \(p): the authorization was converted but its rate is not known"
        case .conversion(let why): why
        }
    }
}

extension FeeSchedule {
    /// Prices a cleared presentment and gives its settlement lines. The issuer's market is
    /// its country; its card product, as onboarded.
    public func price(_ p: ClearedPresentment, market: String, product: CardProduct) throws(PricingError) -> (Pricing, [SettlementLine]) {
        let (t, b, issuerAmount) = try p.issuerSide(p.amountMinor)
        let cash = p.processingCode.hasPrefix("01")
        let group: MerchantCategoryGroup = cash ? .cash : .of(p.mcc)
        let bps = self.rate(market: market, product: product, group: group)?.basisPoints ?? 0
        let interchange = Self.share(p.amountMinor, basisPoints: bps)
        let issuerInterchange = try p.issuerSide(interchange).issuerAmountMinor
        let acquirerFee = Self.share(p.amountMinor, basisPoints: schemeFeeBasisPoints)
        let issuerFee = Self.share(issuerAmount, basisPoints: schemeFeeBasisPoints)
        let pricing = Pricing(issuerCurrency: b.alpha, issuerAmountMinor: issuerAmount, interchangeBasisPoints: bps, interchangeMinor: interchange,
                              issuerInterchangeMinor: issuerInterchange, acquirerSchemeFeeMinor: acquirerFee, issuerSchemeFeeMinor: issuerFee)
        // Interchange flows to the issuer on a purchase, to the acquirer on cash.
        let toIssuer: Int64 = cash ? -1 : 1
        let acquirer = "acquirer:" + p.acquirerID, issuer = "issuer:" + p.issuerID
        var lines = [
            SettlementLine(participant: acquirer, currency: t.alpha, amountMinor: p.amountMinor, kind: .amount, source: p.id),
            SettlementLine(participant: acquirer, currency: t.alpha, amountMinor: -toIssuer * interchange, kind: .interchange, source: p.id),
            SettlementLine(participant: acquirer, currency: t.alpha, amountMinor: -acquirerFee, kind: .schemeFee, source: p.id),
            SettlementLine(participant: "network", currency: t.alpha, amountMinor: acquirerFee, kind: .schemeFee, source: p.id),
            SettlementLine(participant: issuer, currency: b.alpha, amountMinor: -issuerAmount, kind: .amount, source: p.id),
            SettlementLine(participant: issuer, currency: b.alpha, amountMinor: toIssuer * issuerInterchange, kind: .interchange, source: p.id),
            SettlementLine(participant: issuer, currency: b.alpha, amountMinor: -issuerFee, kind: .schemeFee, source: p.id),
            SettlementLine(participant: "network", currency: b.alpha, amountMinor: issuerFee, kind: .schemeFee, source: p.id),
        ]
        if b != t {
            lines.append(SettlementLine(participant: "network", currency: t.alpha, amountMinor: -p.amountMinor + toIssuer * interchange,
                                        kind: .conversion, source: p.id))
            lines.append(SettlementLine(participant: "network", currency: b.alpha, amountMinor: issuerAmount - toIssuer * issuerInterchange,
                                        kind: .conversion, source: p.id))
        }
        return (pricing, lines.filter { $0.amountMinor != 0 })
    }
}

extension ClearedPresentment {
    /// The presented currency, the issuer's, and `amountMinor` of the presented currency in
    /// the issuer's: at the authorization's rate (field 10) when they differ.
    func issuerSide(_ amountMinor: Int64) throws(PricingError) -> (presented: Currency, issuer: Currency, issuerAmountMinor: Int64) {
        guard let t = Currency.numeric(currency) else { throw .unknownCurrency(currency) }
        guard let billing = billingCurrency, billing != currency else { return (t, t, amountMinor) }
        guard let b = Currency.numeric(billing) else { throw .unknownCurrency(billing) }
        guard let rate = conversionRate.flatMap(ExchangeRates.Rate.init(field10:)) else { throw .noRate(presentment: id) }
        do { return (t, b, try ExchangeRates.convert(amountMinor, from: t, to: b, at: rate)) } catch { throw .conversion("\(error)") }
    }
}

/// A settlement window of one currency: open while presentments fall in it, closed at its
/// cut-off (or by the operator), settled when the operator confirms that funds moved.
public struct SettlementWindow: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case open, closed, settled }
    public var id: String
    /// ISO 4217 alpha.
    public var currency: String
    public var state: State
    public var openedAt: Date
    /// When it closes by itself.
    public var cutOff: Date
    public var closedAt: Date?
    public var settledAt: Date?

    public init(id: String, currency: String, state: State, openedAt: Date, cutOff: Date, closedAt: Date? = nil, settledAt: Date? = nil) {
        self.id = id; self.currency = currency; self.state = state; self.openedAt = openedAt; self.cutOff = cutOff
        self.closedAt = closedAt; self.settledAt = settledAt
    }
}

/// A participant's net position in a window: what it receives (positive) or pays.
public struct NetPosition: Codable, Sendable, Equatable {
    public var participant: String
    public var amountMinor: Int64
    public init(participant: String, amountMinor: Int64) { self.participant = participant; self.amountMinor = amountMinor }
}

/// When windows close by themselves: daily at this time of day, UTC.
public struct SettlementCutOff: Sendable, Equatable {
    public var hour: Int
    public var minute: Int
    public static let midnight = SettlementCutOff(hour: 0, minute: 0)
    public init(hour: Int, minute: Int) { self.hour = hour; self.minute = minute }

    /// `HH:MM`, 00:00 to 23:59.
    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCIIDigit) }), let h = Int(parts[0]), let m = Int(parts[1]),
              (0...23).contains(h), (0...59).contains(m) else { return nil }
        self.init(hour: h, minute: m)
    }

    /// The first cut-off strictly after `date`.
    public func next(after date: Date) -> Date {
        let day = floor(date.timeIntervalSince1970 / 86_400) * 86_400
        let today = day + Double(hour * 3_600 + minute * 60)
        return Date(timeIntervalSince1970: today > date.timeIntervalSince1970 ? today : today + 86_400)
    }
}

/// A window as the operator reads it: its net positions (summing to zero), and the
/// settlement instructions once it is closed: who pays the settlement account, who is paid.
public struct SettlementReport: Codable, Sendable, Equatable {
    public struct Instruction: Codable, Sendable, Equatable {
        public enum Direction: String, Codable, Sendable { case pay, receive }
        public var participant: String
        public var direction: Direction
        public var amountMinor: Int64
        public var currency: String
    }
    public var window: SettlementWindow
    public var positions: [NetPosition]
    /// The sum of the positions: zero.
    public var totalMinor: Int64
    /// Empty while the window is open.
    public var instructions: [Instruction]

    public init(window: SettlementWindow, positions: [NetPosition]) {
        self.window = window
        self.positions = positions
        totalMinor = positions.reduce(Int64(0)) { $0 &+ $1.amountMinor }
        instructions = window.state == .open ? [] : positions.filter { $0.amountMinor != 0 }.map {
            Instruction(participant: $0.participant, direction: $0.amountMinor < 0 ? .pay : .receive,
                        amountMinor: $0.amountMinor < 0 ? 0 &- $0.amountMinor : $0.amountMinor, currency: window.currency)
        }
    }
}

/// One participant's settlement report for a window: every line, and the net.
public struct ParticipantReport: Codable, Sendable, Equatable {
    public var window: SettlementWindow
    public var participant: String
    public var netMinor: Int64
    public var lines: [SettlementLine]

    public init(window: SettlementWindow, participant: String, lines: [SettlementLine]) {
        self.window = window; self.participant = participant; self.lines = lines
        netMinor = lines.reduce(Int64(0)) { $0 &+ $1.amountMinor }
    }

    /// `window,participant,source,presentments,kind,currency,amount_minor` per line, then a
    /// `net` line.
    public var csv: String {
        var out = "window,participant,source,presentments,kind,currency,amount_minor\n"
        for l in lines { out += "\(window.id),\(participant),\(l.source),\(l.presentments),\(l.kind.rawValue),\(l.currency),\(l.amountMinor)\n" }
        out += "\(window.id),\(participant),,,net,\(window.currency),\(netMinor)\n"
        return out
    }
}
