import APIContract
import EMV
import Foundation
import IssuerContract
import Participants

/// A card in the vault: its number sealed, found by fingerprint, and the Payment
/// Account Reference that links all its tokens.
public struct VaultCard: Codable, Sendable, Equatable {
    public var id: String
    public var issuerID: String
    /// HMAC-SHA-256 of the card number (hex).
    public var fingerprint: String
    /// AES-GCM sealed card number (nonce ‖ ciphertext ‖ tag), authenticated with `id`.
    public var sealedPAN: Data
    /// First six and last four, for people.
    public var maskedPAN: String
    /// YYMM.
    public var expiry: String
    /// EMVCo Payment Account Reference: 29 characters.
    public var par: String
    /// The issuer's last answer that stops the card (lost, stolen, restricted…), until it
    /// approves the card again or renews it: stand-in declines with it.
    public var issuerStatus: CardIssuerStatus? = nil
}

/// What the network last heard from the issuer about a card, as the stand-in knows it.
public struct CardIssuerStatus: Codable, Sendable, Equatable {
    /// The issuer's field 39 that stops a card: 04 (pick up), 41 (lost), 43 (stolen),
    /// 54 (expired) or 62 (restricted).
    public var responseCode: String
    public var at: Date

    public init(responseCode: String, at: Date) { self.responseCode = responseCode; self.at = at }

    /// The issuer answers that say the card itself is stopped.
    public static let stoppingCodes: Set<String> = ["04", "41", "43", "54", "62"]
}

/// A payment token (EMVCo Payment Tokenisation): a card number substitute bound to one
/// device of one wallet, with its own expiry and limited-use keys.
public struct Token: Codable, Sendable, Equatable {
    /// Active, suspended or deleted: the same states the issuer is told of.
    public typealias Status = TokenStatus

    public var id: String
    /// HMAC fingerprint of the token number: how the network finds a token. The number
    /// itself (a Luhn-valid PAN from the issuer's token range) is a payment credential
    /// and is kept only sealed, like a card number.
    public var numberFingerprint: String
    /// AES-GCM sealed token number, authenticated with the token id.
    public var sealedNumber: Data
    /// First six and last four of the token number.
    public var maskedNumber: String
    /// YYMM.
    public var expiry: String
    public var cardID: String
    public var issuerID: String
    public var walletID: String
    public var tokenRequestorID: String
    public var deviceID: String
    public var country: String
    public var par: String
    public var status: Status
    /// The latest suspension that holds (`suspensions.last`), shown to participants.
    public var suspendedBy: Actor?
    public var suspensionReason: String?
    /// The next ATC that has no key delivered yet.
    public var nextATC: UInt16
    public var createdAt: Date
    public var updatedAt: Date
    /// Every suspension that holds, each of its own kind: lifting one lifts only that one,
    /// and the token is active only when none remains.
    public var suspensions: [Suspension] = []
    /// When each batch of single-use keys was delivered, by its first ATC (the latest
    /// `keyBatchesKept`): a key older than the issuer's key lifetime no longer pays.
    public var keyBatches: [KeyBatch] = []
    /// The cipher of its cryptograms, its issuer's when it was made (TDES for tokens made
    /// before profiles were chosen).
    public var profile: CryptogramProfile = .tdes
    /// The cardholder's acceptance of its card product's terms, when the product has terms.
    public var termsAcceptance: TermsAcceptance?

    public struct KeyBatch: Codable, Sendable, Equatable {
        public var firstATC: UInt16
        public var deliveredAt: Date
    }

    static let keyBatchesKept = 64

    /// Records a batch of keys from `firstATC` delivered `at`.
    mutating func delivered(from firstATC: UInt16, at: Date) {
        keyBatches.append(KeyBatch(firstATC: firstATC, deliveredAt: at))
        if keyBatches.count > Self.keyBatchesKept { keyBatches.removeFirst(keyBatches.count - Self.keyBatchesKept) }
    }

    /// When the key of `atc` was delivered: its batch's time; for keys from before
    /// batches were recorded, the token's last change; nil when older than every batch kept.
    func deliveredAt(atc: UInt16) -> Date? {
        guard !keyBatches.isEmpty else { return updatedAt }
        return keyBatches.last { $0.firstATC <= atc }?.deliveredAt
    }

    /// `status`, `suspendedBy` and `suspensionReason` as `suspensions` make them (a deleted
    /// token stays deleted).
    mutating func settle() {
        if status != .deleted { status = suspensions.isEmpty ? .active : .suspended }
        suspendedBy = suspensions.last?.actor
        suspensionReason = suspensions.last?.reason
    }
}

/// One reason a token is suspended, kept apart from the others.
public struct Suspension: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The network operator's own.
        case network
        /// Its market is suspended (lifted with the market).
        case market
        /// The issuer's.
        case issuer
        /// The cardholder's, through the wallet.
        case cardholder
        /// Its device was reported lost.
        case lostDevice = "lost_device"

        /// The kind of suspension an actor asks for by suspending a token.
        static func asked(by actor: Actor.Kind) -> Kind? {
            switch actor {
            case .network: .network
            case .issuer: .issuer
            case .wallet: .cardholder
            case .acquirer, .system: nil
            }
        }

        /// The kinds an actor may lift: the cardholder (through the wallet) its own; the
        /// issuer that, a lost device's and its own; the network only its own. A market's is
        /// lifted with the market; nobody lifts the issuer's but the issuer.
        public static func liftable(by actor: Actor.Kind) -> Set<Kind> {
            switch actor {
            case .wallet: [.cardholder]
            case .issuer: [.cardholder, .lostDevice, .issuer]
            case .network: [.network]
            case .acquirer, .system: []
            }
        }
    }

    public var kind: Kind
    public var actor: Actor
    public var reason: String
    public var at: Date
}

extension Token {
    enum CodingKeys: String, CodingKey {
        case id, numberFingerprint, sealedNumber, maskedNumber, expiry, cardID, issuerID, walletID, tokenRequestorID, deviceID, country, par
        case status, suspendedBy, suspensionReason, nextATC, createdAt, updatedAt, suspensions, keyBatches, profile, termsAcceptance
    }

    /// A token stored before suspensions were kept apart carries one suspension, whose
    /// kind is read from who made it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        numberFingerprint = try c.decode(String.self, forKey: .numberFingerprint)
        sealedNumber = try c.decode(Data.self, forKey: .sealedNumber)
        maskedNumber = try c.decode(String.self, forKey: .maskedNumber)
        expiry = try c.decode(String.self, forKey: .expiry)
        cardID = try c.decode(String.self, forKey: .cardID)
        issuerID = try c.decode(String.self, forKey: .issuerID)
        walletID = try c.decode(String.self, forKey: .walletID)
        tokenRequestorID = try c.decode(String.self, forKey: .tokenRequestorID)
        deviceID = try c.decode(String.self, forKey: .deviceID)
        country = try c.decode(String.self, forKey: .country)
        par = try c.decode(String.self, forKey: .par)
        status = try c.decode(Status.self, forKey: .status)
        suspendedBy = try c.decodeIfPresent(Actor.self, forKey: .suspendedBy)
        suspensionReason = try c.decodeIfPresent(String.self, forKey: .suspensionReason)
        nextATC = try c.decode(UInt16.self, forKey: .nextATC)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        keyBatches = try c.decodeIfPresent([KeyBatch].self, forKey: .keyBatches) ?? []
        profile = try c.decodeIfPresent(CryptogramProfile.self, forKey: .profile) ?? .tdes
        termsAcceptance = try c.decodeIfPresent(TermsAcceptance.self, forKey: .termsAcceptance)
        if let stored = try c.decodeIfPresent([Suspension].self, forKey: .suspensions) {
            suspensions = stored
        } else if status == .suspended, let by = suspendedBy {
            let reason = suspensionReason ?? "suspended"
            let kind: Suspension.Kind = switch by.kind {
            case .network: reason.hasPrefix(TokenService.marketSuspension) ? .market : .network
            case .issuer: .issuer
            case .wallet: reason == TokenService.lostDeviceReason ? .lostDevice : .cardholder
            case .acquirer, .system: .network
            }
            suspensions = [Suspension(kind: kind, actor: by, reason: reason, at: updatedAt)]
        }
    }
}

/// What can happen to a token, as its audit trail names it.
public enum TokenEvent: String, Codable, Sendable, CaseIterable {
    case create, suspend, resume, delete, replenish
    case cardRenewed = "card_renewed"
}

/// One lifecycle step of a token, kept for ever.
public struct AuditEvent: Codable, Sendable, Equatable {
    public var tokenID: String
    public var at: Date
    public var actor: Actor
    public var event: TokenEvent
    public var from: Token.Status?
    public var to: Token.Status?
    public var reason: String?
}

/// A card added to a wallet and waiting for the cardholder's one-time code.
public struct PendingVerification: Codable, Sendable, Equatable {
    public var id: String
    public var walletID: String
    public var deviceID: String
    public var cardID: String
    public var issuerID: String
    /// SHA-256 of the code (hex); the code itself is only ever with the issuer's channel.
    public var codeHash: String
    public var method: String
    public var attemptsLeft: Int
    public var expiresAt: Date
    public var state: State
    public enum State: String, Codable, Sendable { case pending, approved, failed, expired }
    public var tokenID: String?
    /// The terms the cardholder accepted when adding the card, recorded on the token.
    public var termsAcceptance: TermsAcceptance? = nil
}
