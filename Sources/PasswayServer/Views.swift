import Clearing
import APIContract
import Foundation
import HTTPSupport
import Hummingbird
import ISO8583Transport
import NetworkSwitch
import Participants
import TokenService
import WalletProvider

// The domain's records as the API shows them (the wire types are in `APIContract`), and
// the one table from the domain's errors to problems.

extension TokenView {
    init(_ t: Token) {
        self.init(id: t.id, maskedNumber: t.maskedNumber, expiry: t.expiry, status: t.status, issuerID: t.issuerID, walletID: t.walletID,
                  tokenRequestorID: t.tokenRequestorID, deviceID: t.deviceID, country: t.country, par: t.par, suspendedBy: t.suspendedBy?.kind,
                  suspensionReason: t.suspensionReason,
                  suspensions: t.suspensions.isEmpty ? nil : t.suspensions.map { SuspensionView(kind: $0.kind.rawValue, by: $0.actor.kind, reason: $0.reason, at: $0.at) },
                  createdAt: t.createdAt, updatedAt: t.updatedAt)
        termsAcceptance = t.termsAcceptance
        cryptogramProfile = t.profile.rawValue
    }
}

extension DeviceView {
    init(_ d: Device) {
        self.init(id: d.id, walletID: d.walletID, modelID: d.modelID, kind: d.kind, osVersion: d.osVersion, country: d.country,
                  lost: d.lost, registeredAt: d.registeredAt)
    }
}

extension AuditView {
    init(_ e: AuditEvent) {
        self.init(at: e.at, actor: e.actor.kind, actorID: e.actor.id, event: e.event.rawValue, from: e.from, to: e.to, reason: e.reason)
    }
}

extension Wallet: StrictBody {}
extension Issuer: StrictBody {}
/// An issuer's stand-in rules as the API takes them: without the network's stamp.
struct StandInRulesBody: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case perTransactionLimitMinor, dailyCountPerToken, dailyAmountPerTokenMinor, processingCodes, merchantCategoryGroups
    }
    var perTransactionLimitMinor: [String: Int64]
    var dailyCountPerToken: Int
    var dailyAmountPerTokenMinor: Int64
    var processingCodes: [String]
    var merchantCategoryGroups: [String]

    var rules: StandInRules {
        StandInRules(perTransactionLimitMinor: perTransactionLimitMinor, dailyCountPerToken: dailyCountPerToken,
                     dailyAmountPerTokenMinor: dailyAmountPerTokenMinor, processingCodes: processingCodes, merchantCategoryGroups: merchantCategoryGroups)
    }
}
extension Acquirer: StrictBody {}
/// A device model as the operator puts it in the catalog (its id is the path's).
struct DeviceModelBody: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case manufacturer, model, kind, nfc, keyStorage, biometric, minimumOS, markets }
    var manufacturer: String
    var model: String
    var kind: DeviceModel.Kind
    var nfc: Bool
    var keyStorage: DeviceModel.KeyStorage
    var biometric: Bool
    var minimumOS: String
    var markets: [String]

    func deviceModel(id: String) -> DeviceModel {
        DeviceModel(id: id, manufacturer: manufacturer, model: model, kind: kind, nfc: nfc, keyStorage: keyStorage, biometric: biometric,
                    minimumOS: minimumOS, markets: markets)
    }
}
extension EnabledWallets: StrictBody {}
extension HostKeyChange: StrictBody {}
extension MACKeyRequest: StrictBody {}
extension NewCredential: StrictBody {}
extension MarketChange: StrictBody {}
extension NewDevice: StrictBody {}
extension NewEnrollment: StrictBody {}
extension CodeEntry: StrictBody {}
extension LifecycleReason: StrictBody {}
extension CardRenewal: StrictBody {}
extension BulkProvisioning: StrictBody {}
extension QRPayment: StrictBody {}
extension PushReceiptRequest: StrictBody {}
extension PushRedemption: StrictBody {}

extension Problem {
    /// The one table from the services' refusals to problems.
    static func passway(_ error: any Error) -> Problem? {
        if let e = error as? ClearingService.SubmitError {
            switch e {
            case .file(let why): return Problem(.unprocessableContent, code: "invalid-clearing-file", title: "The clearing file cannot be read", detail: why.description)
            case .duplicate: return Problem(.conflict, code: "duplicate-file", title: "The file was received before", detail: e.description)
            }
        }
        if let e = error as? DisputeError {
            switch e {
            case .notFound: return .notFound(e.description)
            case .state: return Problem(.conflict, code: "conflict", title: "Conflicts with the current state", detail: e.description)
            case .reason, .amount, .late: return Problem(.unprocessableContent, code: "invalid-value", title: "A value is not acceptable", detail: e.description)
            }
        }
        if let e = error as? ClearingStoreError, e == .clearedMeanwhile {
            return Problem(.conflict, code: "conflict", title: "Conflicts with the current state", detail: "changed by another request meanwhile: read it again")
        }
        guard let e = error as? ServiceError else { return Problem.from(error) }
        switch e {
        case .invalid(let field, let reason):
            return Problem(.unprocessableContent, code: "invalid-value", title: "A value is not acceptable", detail: "\(field): \(reason)", extra: ["field": field])
        case .notFound(let what): return .notFound("\(what) not found")
        case .forbidden(let why): return .forbidden(why)
        case .ineligible(let code, let reason):
            return Problem(.unprocessableContent, code: "not-eligible", title: "The card cannot be added", detail: reason, extra: ["reason": code])
        case .conflict(let why): return Problem(.conflict, code: "conflict", title: "Conflicts with the current state", detail: why)
        case .verificationFailed(let reason, let left):
            return Problem(.unprocessableContent, code: "verification-failed", title: "Verification failed", detail: reason, extra: ["attemptsLeft": String(left)])
        case .issuerUnavailable(let why):
            return Problem(.badGateway, code: "issuer-unavailable", title: "The issuer's host did not answer", detail: why)
        }
    }
}

/// What the network owes issuers, per issuer: the store-and-forward queue's depth and the
/// age of its oldest message, what was given up (each with an alarm) and delivered.
struct QueueView: Codable, Sendable {
    var issuerID: String
    var kind: String
    var queued: Int
    var oldestAgeSeconds: Int?
    var expired: Int
    var delivered: Int
}

struct QueuesView: Codable, Sendable {
    struct Node: Codable, Sendable {
        var delivered: Int
        var expired: Int
        var attempts: Int
    }
    var storeAndForward: [QueueView]
    /// The token service's notifications to issuer hosts (kind `notification`).
    var issuerNotices: [QueueView]
    /// Authorizations claimed and not answered yet (in flight, or left by a process that
    /// died, until recovery settles them; counted up to 10,000).
    var unansweredClaims: Int
    /// Since this node started: messages the issuers answered, given up, and sends.
    var thisNode: Node
    /// The same for the notifications this node delivered.
    var thisNodeNotices: Node
    /// Stand-in decisions this node journaled since it started, per issuer (the advices of
    /// the approvals are in `storeAndForward`, kind `advice`).
    var thisNodeStandIn: [StandInCount]
}

/// One issuer host endpoint as this node's network sees it: `up` when a connection is
/// open, `down` while connecting fails (with the reason, since when, and the next try),
/// `idle` when nothing was sent yet or its connections were closed when idle.
struct LinkView: Codable, Sendable {
    var endpoint: String
    var state: String
    var connections: Int
    var slots: Int
    var failures: Int
    var lastError: String?
    var downSince: Date?
    var nextAttempt: Date?

    init(_ s: ISO8583Client.LinkState) {
        endpoint = "\(s.host):\(s.port)"
        state = s.connected > 0 ? "up" : s.failures > 0 ? "down" : "idle"
        connections = s.connected; slots = s.slots; failures = s.failures; lastError = s.lastError
        downSince = s.downSince; nextAttempt = s.nextAttempt
    }
}

/// One journal entry as the operator reads it: what was asked and answered, who decided,
/// masked numbers only (the answer's bytes stay in the journal).
struct JournalEntryView: Codable, Sendable {
    var key: String
    var mti: String
    var maskedToken: String?
    var tokenID: String?
    var issuerID: String?
    var maskedPAN: String?
    var processingCode: String
    var amountMinor: Int64
    var currency: String
    var billingAmountMinor: Int64?
    var billingCurrency: String?
    var responseCode: String
    var approvalCode: String?
    var decidedBy: String
    var reason: String
    var at: Date

    init(_ e: JournalEntry) {
        key = e.key; mti = e.mti; maskedToken = e.maskedToken; tokenID = e.tokenID; issuerID = e.issuerID; maskedPAN = e.maskedPAN
        processingCode = e.processingCode; amountMinor = e.amountMinor; currency = e.currency; billingAmountMinor = e.billingAmountMinor
        billingCurrency = e.billingCurrency; responseCode = e.responseCode.rawValue; approvalCode = e.approvalCode
        decidedBy = e.decidedBy.rawValue; reason = e.reason; at = e.at
    }
}

/// `POST /v1/settlement/windows/close`.
struct CloseWindowInput: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case currency }
    var currency: String
}

extension FeeSchedule: StrictBody {}

/// `POST /v1/exchange-rates` as JSON (the CSV import is the same rates as lines).
struct ExchangeRateLoadInput: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case rates }
    var rates: [ExchangeRateInput]
    /// The largest load, JSON or CSV (10,000 rates fit).
    static let maxBytes = 1 << 20
}

/// A loaded rate as the API shows it.
struct ExchangeRateView: Codable, Sendable {
    var currency: String
    var unitsPerUSD: String
    var effectiveAt: Date
    var loadedAt: Date

    init(_ e: ExchangeRateEntry) {
        currency = e.currency; unitsPerUSD = e.unitsPerUSD; effectiveAt = e.effectiveAt; loadedAt = e.loadedAt
    }
}

/// `GET /v1/exchange-rates`: the table in effect at a time.
struct ExchangeRateTableView: Codable, Sendable {
    var at: Date
    /// Added to the cross rate of a conversion, in basis points.
    var markupBasisPoints: Int
    /// Each currency's rate in effect then (units per US dollar); USD is 1.
    var rates: [Rate]
    struct Rate: Codable, Sendable {
        var currency: String
        var unitsPerUSD: String
    }

    init(_ book: ExchangeRateBook, at: Date) {
        self.at = at
        markupBasisPoints = book.markupBasisPoints
        rates = book.table(at: at).microUnitsPerUSD.sorted { $0.key < $1.key }.map {
            Rate(currency: $0.key, unitsPerUSD: ExchangeRateEntry.unitsPerUSD($0.value))
        }
    }
}

/// `POST /v1/clearing/presentments/{id}/chargeback`.
struct ChargebackInput: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case reasonCode, amountMinor }
    var reasonCode: String
    var amountMinor: Int64?
}

/// `POST /v1/clearing/presentments/{id}/second-presentment`.
struct SecondPresentmentInput: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case amountMinor }
    var amountMinor: Int64?
}

/// `POST /v1/clearing/issuer-files`: the operator names the issuer; an issuer asks for its own.
struct IssuerFileInput: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case issuerID }
    var issuerID: String?
}

/// A card profile as the issuer sets it (`PUT /v1/issuers/{issuerID}/card-profiles/{profileID}`).
struct CardProfileBody: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case name, cardRanges, artAssetID, contact, terms }
    var name: String
    var cardRanges: [String]
    var artAssetID: String?
    var contact: CardProfile.Contact?
    var terms: CardProfile.Terms?
}

extension CardProfileLookup: StrictBody {}
