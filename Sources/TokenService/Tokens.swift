import Foundation

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

/// A device registered with the wallet provider.
public struct Device: Codable, Sendable, Equatable {
    public var id: String
    public var walletID: String
    public var modelID: String
    public var kind: DeviceModel.Kind
    public var osVersion: String
    /// The country the device is used in (ISO 3166-1 alpha-2).
    public var country: String
    /// The device's P-256 public key, X9.63 uncompressed, base64.
    public var publicKey: String
    public var lost: Bool
    public var registeredAt: Date
}

/// A payment token (EMVCo Payment Tokenisation): a card number substitute bound to one
/// device of one wallet, with its own expiry and limited-use keys.
public struct Token: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case active, suspended, deleted }

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

/// One lifecycle step of a token, kept for ever.
public struct AuditEvent: Codable, Sendable, Equatable {
    public var tokenID: String
    public var at: Date
    public var actor: Actor
    public var event: String
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
