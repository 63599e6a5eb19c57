import Foundation
import TokenService

/// What the API shows of a token: never the full token number (that goes to the
/// device only, sealed), never the card number.
struct TokenView: Codable, Sendable {
    var id: String
    var maskedNumber: String
    var expiry: String
    var status: String
    var issuerID: String
    var walletID: String
    var tokenRequestorID: String
    var deviceID: String
    var country: String
    var par: String
    var suspendedBy: String?
    var suspensionReason: String?
    var createdAt: Date
    var updatedAt: Date

    init(_ t: Token) {
        id = t.id; maskedNumber = t.maskedNumber; expiry = t.expiry; status = t.status.rawValue; issuerID = t.issuerID
        walletID = t.walletID; tokenRequestorID = t.tokenRequestorID; deviceID = t.deviceID; country = t.country; par = t.par
        suspendedBy = t.suspendedBy?.kind.rawValue; suspensionReason = t.suspensionReason; createdAt = t.createdAt; updatedAt = t.updatedAt
    }
}

struct DeviceView: Codable, Sendable {
    var id: String
    var walletID: String
    var modelID: String
    var kind: String
    var osVersion: String
    var country: String
    var lost: Bool
    var registeredAt: Date

    init(_ d: Device) {
        id = d.id; walletID = d.walletID; modelID = d.modelID; kind = d.kind.rawValue; osVersion = d.osVersion
        country = d.country; lost = d.lost; registeredAt = d.registeredAt
    }
}

struct AuditView: Codable, Sendable {
    var at: Date
    var actor: String
    var actorID: String
    var event: String
    var from: String?
    var to: String?
    var reason: String?

    init(_ e: AuditEvent) {
        at = e.at; actor = e.actor.kind.rawValue; actorID = e.actor.id; event = e.event
        from = e.from?.rawValue; to = e.to?.rawValue; reason = e.reason
    }
}

struct EnrollmentView: Codable, Sendable {
    var status: String
    var token: TokenView?
    var provisioning: SealedProvisioning?
    var verificationID: String?
    var method: VerificationMethod?
    var expiresAt: Date?
    var reason: String?
}

// Request bodies.

struct NewWallet: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case id, name, tokenRequestorID }
    var id: String
    var name: String
    var tokenRequestorID: String
}

struct NewIssuer: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case id, name, country, currency, cardRanges, tokenRanges, enabledWallets, hostURL }
    var id: String
    var name: String
    var country: String
    var currency: String
    var cardRanges: [String]
    var tokenRanges: [String]
    var enabledWallets: [String]?
    var hostURL: String
}

struct EnabledWallets: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case enabledWallets }
    var enabledWallets: [String]
}

struct MarketChange: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case state, reason }
    var state: Market.State
    var reason: String?
}

struct NewDevice: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case modelID, osVersion, country, publicKey }
    var modelID: String
    var osVersion: String
    var country: String
    var publicKey: String
}

struct NewEnrollment: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case deviceID, pan, expiry, cvv2, riskScore }
    var deviceID: String
    var pan: String
    var expiry: String
    var cvv2: String?
    var riskScore: Int?
}

struct CodeEntry: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case code }
    var code: String
}

struct LifecycleReason: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case reason }
    var reason: String?
}

struct CardRenewal: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case pan, newPan, newExpiry }
    var pan: String
    var newPan: String?
    var newExpiry: String
}

struct Created<T: Encodable & Sendable>: Encodable, Sendable {
    var apiKey: String
    var participant: T
}

struct RenewalView: Codable, Sendable {
    var maskedPAN: String
    var expiry: String
    var tokens: [TokenView]
}

struct BulkProvisioning: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case walletID, deviceID, keysPerToken, cards }
    struct Card: Decodable, Sendable {
        var pan: String
        var expiry: String
    }
    var walletID: String
    var deviceID: String
    var keysPerToken: Int
    var cards: [Card]
}

struct BulkProvisioningView: Codable, Sendable {
    var provisionings: [SealedProvisioning]
}
