import Foundation
import IssuerContract
import Participants

// Answers of the Passway API (schemas in `openapi.yaml`).

/// What the API shows of a token: never the full token number (that goes to the
/// device only, sealed), never the card number.
public struct TokenView: Codable, Sendable, Equatable {
    public var id: String
    public var maskedNumber: String
    /// YYMM.
    public var expiry: String
    public var status: TokenStatus
    public var issuerID: String
    public var walletID: String
    public var tokenRequestorID: String
    public var deviceID: String
    public var country: String
    public var par: String
    /// Who suspended it last, while suspended.
    public var suspendedBy: Actor.Kind?
    public var suspensionReason: String?
    /// Every suspension that holds, each of its own kind (the token is active when none does).
    public var suspensions: [SuspensionView]?
    public var createdAt: Date
    public var updatedAt: Date
    /// The card product's terms the cardholder accepted before it was made (profile,
    /// version, time, device), when the product has terms.
    public var termsAcceptance: TermsAcceptance?
    /// `tdes` or `sm4`.
    public var cryptogramProfile: String?

    public init(id: String, maskedNumber: String, expiry: String, status: TokenStatus, issuerID: String, walletID: String,
                tokenRequestorID: String, deviceID: String, country: String, par: String, suspendedBy: Actor.Kind?,
                suspensionReason: String?, suspensions: [SuspensionView]? = nil, createdAt: Date, updatedAt: Date) {
        self.id = id; self.maskedNumber = maskedNumber; self.expiry = expiry; self.status = status; self.issuerID = issuerID
        self.walletID = walletID; self.tokenRequestorID = tokenRequestorID; self.deviceID = deviceID; self.country = country
        self.par = par; self.suspendedBy = suspendedBy; self.suspensionReason = suspensionReason; self.suspensions = suspensions
        self.createdAt = createdAt; self.updatedAt = updatedAt
    }
}

/// A cardholder accepted a card product's terms: which version, when (the token service's
/// clock), on which device. Kept on the token and shown with it.
public struct TermsAcceptance: Codable, Sendable, Equatable {
    public var profileID: String
    public var version: String
    public var at: Date
    public var deviceID: String
    public init(profileID: String, version: String, at: Date, deviceID: String) {
        self.profileID = profileID; self.version = version; self.at = at; self.deviceID = deviceID
    }
}

/// One suspension of a token: its kind (`network`, `market`, `issuer`, `cardholder`,
/// `lost_device`), who made it, why and when.
public struct SuspensionView: Codable, Sendable, Equatable {
    public var kind: String
    public var by: Actor.Kind
    public var reason: String
    public var at: Date
    public init(kind: String, by: Actor.Kind, reason: String, at: Date) { self.kind = kind; self.by = by; self.reason = reason; self.at = at }
}

public struct DeviceView: Codable, Sendable, Equatable {
    public var id: String
    public var walletID: String
    public var modelID: String
    public var kind: DeviceKind
    public var osVersion: String
    public var country: String
    public var lost: Bool
    public var registeredAt: Date

    public init(id: String, walletID: String, modelID: String, kind: DeviceKind, osVersion: String, country: String, lost: Bool,
                registeredAt: Date) {
        self.id = id; self.walletID = walletID; self.modelID = modelID; self.kind = kind; self.osVersion = osVersion
        self.country = country; self.lost = lost; self.registeredAt = registeredAt
    }
}

/// One step of a token's audit trail.
public struct AuditView: Codable, Sendable, Equatable {
    public var at: Date
    public var actor: Actor.Kind
    public var actorID: String
    public var event: String
    public var from: TokenStatus?
    public var to: TokenStatus?
    public var reason: String?

    public init(at: Date, actor: Actor.Kind, actorID: String, event: String, from: TokenStatus?, to: TokenStatus?, reason: String?) {
        self.at = at; self.actor = actor; self.actorID = actorID; self.event = event; self.from = from; self.to = to; self.reason = reason
    }
}

/// The answer to adding a card (`POST /v1/enrollments`) and to entering its code.
public struct EnrollmentView: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case approved
        case pendingVerification = "pending_verification"
        case declined
    }
    public var status: Status
    public var token: TokenView?
    /// For approved: the token's profile and keys, sealed to the device.
    public var provisioning: SealedProvisioning?
    /// For pending verification: where to send the code, how it was sent, until when.
    public var verificationID: String?
    public var method: VerificationMethod?
    public var expiresAt: Date?
    /// For declined: the issuer's reason.
    public var reason: String?
    /// What to tell the cardholder, in `language` (ru, zh or en).
    public var message: String?
    public var language: String?

    public init(status: Status, token: TokenView? = nil, provisioning: SealedProvisioning? = nil, verificationID: String? = nil,
                method: VerificationMethod? = nil, expiresAt: Date? = nil, reason: String? = nil, language: String? = nil) {
        self.status = status; self.token = token; self.provisioning = provisioning; self.verificationID = verificationID
        self.method = method; self.expiresAt = expiresAt; self.reason = reason
        if let language {
            self.language = language
            message = CardholderText.text(status.rawValue, language, ["destination": method?.destination ?? ""])
        }
    }
}

/// A participant just onboarded, with its API key (shown this once).
public struct Created<T: Codable & Sendable>: Codable, Sendable {
    public var apiKey: String
    public var participant: T
    public init(apiKey: String, participant: T) { self.apiKey = apiKey; self.participant = participant }
}

/// What `POST /v1/acquirers` answers: the acquirer, its API key and its zone master key
/// (AES-256, 64 hex digits), each shown once.
public struct CreatedAcquirer: Codable, Sendable {
    public var apiKey: String
    public var participant: Acquirer
    public var zoneMasterKey: String
    public var zoneMasterKeyCheckValue: String
    public init(apiKey: String, participant: Acquirer, zoneMasterKey: String, zoneMasterKeyCheckValue: String) {
        self.apiKey = apiKey; self.participant = participant; self.zoneMasterKey = zoneMasterKey; self.zoneMasterKeyCheckValue = zoneMasterKeyCheckValue
    }
}

/// What `POST /v1/acquirers/{id}/mac-key` takes: the MAC algorithm, `tdes` (ISO 9797-1
/// MAC algorithm 3, the default) or `aes` (AES-CMAC, the AES profile).
public struct MACKeyRequest: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case algorithm }
    public enum Algorithm: String, Codable, Sendable { case tdes, aes }
    public var algorithm: Algorithm?
    public init(algorithm: Algorithm?) { self.algorithm = algorithm }
}

/// A MAC key for an acquirer as a TR-31 key block under its zone master key.
public struct MACKeyDelivery: Codable, Sendable {
    public var keyBlock: String
    public var checkValue: String
    public init(keyBlock: String, checkValue: String) { self.keyBlock = keyBlock; self.checkValue = checkValue }
}

public struct RenewalView: Codable, Sendable, Equatable {
    public var maskedPAN: String
    public var expiry: String
    public var tokens: [TokenView]
    public init(maskedPAN: String, expiry: String, tokens: [TokenView]) { self.maskedPAN = maskedPAN; self.expiry = expiry; self.tokens = tokens }
}

public struct BulkProvisioningView: Codable, Sendable, Equatable {
    public var provisionings: [SealedProvisioning]
    public init(provisionings: [SealedProvisioning]) { self.provisionings = provisionings }
}

/// The network's answer to a QR payment, as the wallet shows it: the authorization's
/// response code, and the merchant and reference it was made for.
public struct QRPaymentView: Codable, Sendable, Equatable {
    public var responseCode: String
    public var approved: Bool
    public var approvalCode: String?
    /// Minor units, in `currency` (ISO 4217 alpha-3).
    public var amountMinor: Int64
    public var currency: String
    public var merchantName: String
    public var merchantCity: String
    /// The acquirer's institution code (field 32), merchant (42) and terminal (41).
    public var acquirer: String
    public var merchantID: String
    public var terminalID: String
    /// Field 11 and field 7: with 32 and 41, the key the acquirer presents it under.
    public var stan: String
    public var transmissionTime: String
    public var retrievalReference: String
    /// Tag 91 in hex, for the device (absent when the cryptogram did not verify).
    public var issuerAuthenticationData: String?
    public init(responseCode: String, approved: Bool, approvalCode: String?, amountMinor: Int64, currency: String, merchantName: String,
                merchantCity: String, acquirer: String, merchantID: String, terminalID: String, stan: String, transmissionTime: String,
                retrievalReference: String, issuerAuthenticationData: String?) {
        self.responseCode = responseCode; self.approved = approved; self.approvalCode = approvalCode; self.amountMinor = amountMinor
        self.currency = currency; self.merchantName = merchantName; self.merchantCity = merchantCity; self.acquirer = acquirer
        self.merchantID = merchantID; self.terminalID = terminalID; self.stan = stan; self.transmissionTime = transmissionTime
        self.retrievalReference = retrievalReference; self.issuerAuthenticationData = issuerAuthenticationData
    }
}

/// A card product as a wallet shows it before the cardholder adds the card: its art, the
/// issuer's contact details and the terms in force, in the reader's language.
public struct CardProfileView: Codable, Sendable, Equatable {
    public struct Terms: Codable, Sendable, Equatable {
        public var version: String
        /// The language chosen for the reader (Accept-Language, then the market's).
        public var language: String
        /// `GET /v1/assets/{id}`: the text in `language`.
        public var textAssetID: String
        /// Every language the terms are in, each with its text.
        public var texts: [String: String]
        public init(version: String, language: String, textAssetID: String, texts: [String: String]) {
            self.version = version; self.language = language; self.textAssetID = textAssetID; self.texts = texts
        }
    }
    public var issuerID: String
    public var issuerName: String
    public var profileID: String
    public var name: String
    public var artAssetID: String?
    public var contact: CardProfile.Contact
    public var terms: Terms?

    public init(issuer: Issuer, profile: CardProfile, acceptLanguage: String?, marketLanguages: [String]) {
        issuerID = issuer.id; issuerName = issuer.name; profileID = profile.id; name = profile.name; artAssetID = profile.artAssetID
        contact = profile.contact
        terms = profile.terms.flatMap { terms in
            Language.choose(from: terms.texts.keys, acceptLanguage: acceptLanguage, fallback: marketLanguages).flatMap { language in
                terms.texts[language].map { Terms(version: terms.version, language: language, textAssetID: $0, texts: terms.texts) }
            }
        }
    }
}

/// `POST /v1/card-profiles/lookup` (wallet): the card, and the device it is going onto (for
/// the market's language).
public struct CardProfileLookup: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case pan, deviceID }
    public var pan: String
    public var deviceID: String?
    public init(pan: String, deviceID: String? = nil) { self.pan = pan; self.deviceID = deviceID }
}

/// An asset as stored: its id, type and size.
public struct AssetView: Codable, Sendable, Equatable {
    public var assetID: String
    public var contentType: String
    public var bytes: Int
    public init(assetID: String, contentType: String, bytes: Int) { self.assetID = assetID; self.contentType = contentType; self.bytes = bytes }
}

/// What a wallet sees of a push receipt before redeeming it: the card and its product.
public struct PushReceiptInfo: Codable, Sendable, Equatable {
    public var maskedPAN: String
    public var issuerID: String
    public var expiresAt: Date
    public var cardProfile: CardProfileView?
    public init(maskedPAN: String, issuerID: String, expiresAt: Date, cardProfile: CardProfileView?) {
        self.maskedPAN = maskedPAN; self.issuerID = issuerID; self.expiresAt = expiresAt; self.cardProfile = cardProfile
    }
}
