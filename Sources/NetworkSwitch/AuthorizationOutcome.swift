import EMV
import Foundation
import ISO8583
import Participants
import TokenService

/// Every way the switch can answer an authorization, and who decided it. The response
/// code, the journal's decider and reason, and what the answer carries all follow from
/// this one value (`Decision`).
public enum AuthorizationOutcome: Sendable, Equatable {
    /// Declined by the network before the issuer was asked.
    case declinedByNetwork(NetworkDecline)
    /// The issuer's host decided: its response code and, when approved, its approval code.
    case decidedByIssuer(ResponseCode, approvalCode: String?)
    /// The issuer's host did not answer: 91.
    case issuerUnavailable(IssuerLinkError)
    /// The issuer's host did not answer and the network decided by the issuer's stand-in
    /// rules: approved (with the network's approval code) or declined, and why.
    case stoodIn(ResponseCode, approvalCode: String?, reason: String, because: IssuerLinkError)

    public var responseCode: ResponseCode {
        switch self {
        case .declinedByNetwork(let decline): decline.responseCode
        case .decidedByIssuer(let code, _): code
        case .issuerUnavailable: .issuerUnavailable
        case .stoodIn(let code, _, _, _): code
        }
    }

    public var decidedBy: Decider {
        switch self {
        case .declinedByNetwork: .network
        case .decidedByIssuer: .issuer
        case .issuerUnavailable: .timeout
        case .stoodIn: .standIn
        }
    }

    /// For the journal and the log.
    public var reason: String {
        switch self {
        case .declinedByNetwork(let decline): "\(decline)"
        case .decidedByIssuer(let code, _): code.isApproval ? "approved" : "declined by issuer"
        case .issuerUnavailable(let error): "\(error)"
        case .stoodIn(_, _, let reason, let error): "stand-in: \(reason) (\(error))"
        }
    }
}

/// Why the network declined without the issuer's decision. Each to its response code, in
/// this one table.
public enum NetworkDecline: Sendable, Equatable, CustomStringConvertible {
    /// The token service's checks (DESIGN.md "a tap", step 4).
    case token(TokenDecline)
    /// No issuer has a range holding the number.
    case unknownRange
    /// A card number of an onboarded issuer, where this network takes tokens only.
    case cardNumberNotToken
    /// The issuer's billing currency is not one the network knows.
    case billingCurrencyUnknown(String)
    /// The amount could not be converted into the billing currency.
    case conversion(ExchangeRates.ConversionError)
    /// Something of the network's own failed (issuer directory, token service, journal).
    case malfunction(String)

    public var responseCode: ResponseCode {
        switch self {
        case .token(let decline): decline.responseCode
        case .unknownRange: .invalidCardNumber
        case .cardNumberNotToken, .billingCurrencyUnknown, .conversion: .transactionNotPermittedToCardholder
        case .malfunction: .systemMalfunction
        }
    }

    public var description: String {
        switch self {
        case .token(let decline): "\(decline)"
        case .unknownRange: "no issuer has this card range"
        case .cardNumberNotToken: "a card number, not a token: this network takes tokens only"
        case .billingCurrencyUnknown(let c): "issuer billing currency \(c) unknown to the network"
        case .conversion(let error): "\(error)"
        case .malfunction(let what): what
        }
    }
}

extension TokenDecline {
    /// The response code of each reason the token service declines (ISO 8583:1987).
    public var responseCode: ResponseCode {
        switch self {
        case .format: .formatError
        case .unknownToken: .invalidCardNumber
        case .tokenNotActive, .marketSuspended: .doNotHonour
        case .expiryMismatch: .expiredCard
        case .domainControl: .transactionNotPermittedToCardholder
        case .chipDataMismatch, .cryptogramInvalid, .atcReplayed, .notARQC, .transactionDateOutOfRange, .keyExpired, .atcOutsideWindow: .doNotHonour
        }
    }
}

/// The amount in the cardholder's billing currency (fields 6, 10 and 51).
public struct BillingConversion: Sendable, Equatable {
    public var amountMinor: Int64
    public var rate: ExchangeRates.Rate
    public var currency: Currency

    /// Sets fields 6, 10 and 51 of `message`.
    func write(to message: inout Message) {
        message.set(6, Self.amountField(amountMinor))
        message.set(10, rate.field10)
        message.set(51, currency.numeric)
    }

    /// Twelve digits, zero-padded.
    static func amountField(_ minor: Int64) -> String {
        let digits = String(minor)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }
}

/// One authorization decided: the outcome, and what the answer carries beside field 39.
struct Decision: Sendable {
    var outcome: AuthorizationOutcome
    /// The token's check passed: the card is known, and the answer carries an ARPC.
    var token: TokenAuthorization?
    /// The amount billed, when the transaction currency was not the card's.
    var conversion: BillingConversion?
    /// The issuer, once the number was routed.
    var issuerID: String?
    /// The masked token when the token service did not say it (its check failed).
    var maskedNumber: String
    /// What the issuer was sent, when it did not answer: what a reversal reverses.
    var sentToIssuer: Message?
    /// The issuer's stand-in rules, when the network stood in.
    var standIn: StandInRules?

    /// The issuer's approval code, when it approved.
    var approvalCode: String? {
        switch outcome {
        case .decidedByIssuer(let code, let approval) where code.isApproval, .stoodIn(let code, let approval, _, _) where code.isApproval:
            return approval
        default:
            return nil
        }
    }

    /// The answer to the acquirer: the request's matching fields, 39, 38 when the issuer
    /// approved, 6/10/51 when converted, and tag 91 (the ARPC, in the token's profile) in field 55 once the
    /// cryptogram verified. The token stays in field 2: the card number never goes back.
    func answer(to request: AuthorizationRequest, arpc: [UInt8]?) -> Message {
        var answer = AuthorizationPipeline.answer(to: request.message, outcome.responseCode)
        if let approvalCode { answer.set(38, approvalCode) }
        conversion?.write(to: &answer)
        if let arpc { try? answer.setICCData([TLV(.issuerAuthenticationData, arpc)]) }
        return answer
    }

    /// The journal's record of it, with the answer (without field 2) to repeat to a duplicate.
    func entry(_ request: AuthorizationRequest, digest: String, answer: [UInt8], at: Date) -> JournalEntry {
        var entry = JournalEntry(key: request.key.description, requestDigest: digest, mti: request.message.mti, maskedToken: token?.routing.maskedToken ?? maskedNumber,
                     tokenID: token?.routing.tokenID, issuerID: token?.routing.issuerID ?? issuerID, maskedPAN: token?.routing.maskedPAN,
                     processingCode: request.processingCode, amountMinor: request.amountMinor, currency: request.currency.numeric,
                     billingAmountMinor: conversion?.amountMinor, billingCurrency: conversion?.currency.numeric,
                     responseCode: outcome.responseCode, approvalCode: approvalCode,
                     decidedBy: outcome.decidedBy, reason: outcome.reason, answer: Data(answer), at: at)
        entry.conversionRate = conversion?.rate.field10
        return entry
    }
}

/// How often the network stood in for an issuer (counted per node since it started).
public struct StandInCount: Codable, Sendable, Equatable {
    public var issuerID: String
    public var approved: Int
    public var declined: Int

    public init(issuerID: String, approved: Int, declined: Int) { self.issuerID = issuerID; self.approved = approved; self.declined = declined }
}
