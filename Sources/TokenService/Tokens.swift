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
    /// Who suspended it, while suspended: decides who may resume.
    public var suspendedBy: Actor?
    public var suspensionReason: String?
    /// The next ATC that has no key delivered yet.
    public var nextATC: UInt16
    public var createdAt: Date
    public var updatedAt: Date
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
}
