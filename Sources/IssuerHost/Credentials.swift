import Crypto
import EMV
import Foundation
import IssuerContract
import Vault

/// A bank's two credentials at its host, made when the bank is created and made anew by
/// a rotation (the old ones stop working at once, on every node: they are read from the
/// bank's store on each request).
public struct BankCredentials: Codable, Sendable, Equatable {
    /// For the bank's operator (`Authorization: Bearer pwb_…`): accounts, ID&V rules,
    /// outbox, notifications. Only its SHA-256 is kept.
    public var apiKey: String
    /// 64 hex digits: the HMAC key of `RequestSignature`, given to the network when the
    /// issuer is onboarded (`hostKey`). Kept sealed under the bank's data key.
    public var tokenServiceKey: String
}

extension Bank {
    static let apiKeyHashSecret = "api-key-sha256"
    static let tokenServiceKeySecret = "token-service-key"

    /// New credentials, replacing any before them. Shown once.
    public func issueCredentials() async throws -> BankCredentials {
        let apiKey = "pwb_" + SecureRandom.alphanumeric(40)
        let key = RequestSignature.newKey()
        let sealed = key.withUnsafeBytes { vault.sealSecret(Array($0), context: "token-service-key/\(id)") }
        try await database.saveSecret(Self.tokenServiceKeySecret, sealed)
        try await database.saveSecret(Self.apiKeyHashSecret, Data(Self.keyHash(apiKey).utf8))
        return BankCredentials(apiKey: apiKey, tokenServiceKey: RequestSignature.hex(key))
    }

    /// Whether `apiKey` is this bank's operator key (compared in constant time).
    public func authenticate(apiKey: String) async throws -> Bool {
        guard let stored = try await database.secret(Self.apiKeyHashSecret) else { return false }
        return SecureRandom.constantTimeEquals(String(decoding: stored, as: UTF8.self), Self.keyHash(apiKey))
    }

    /// The key that signs the network's calls and the bank's answers; nil for a bank made
    /// before credentials, until they are issued.
    public func tokenServiceKey() async throws -> SymmetricKey? {
        guard let sealed = try await database.secret(Self.tokenServiceKeySecret) else { return nil }
        return SymmetricKey(data: try vault.openSecret(sealed, context: "token-service-key/\(id)"))
    }

    /// A signed call from the network, checked before anything else: signature, time, and
    /// a nonce not seen within the window (so a recorded call cannot be played again).
    /// Returns the key and nonce that sign the answer.
    public func acceptSigned(method: String, path: String, body: [UInt8], headers: RequestSignature.Headers?) async throws
        -> (key: SymmetricKey, nonce: String) {
        guard let key = try await tokenServiceKey() else { throw IssuerHostError.unauthenticated("the bank has no token service key yet") }
        let at = now()
        let nonce: String
        do { nonce = try RequestSignature.verify(method: method, path: path, body: body, headers: headers, key: key, now: at) } catch {
            throw IssuerHostError.unauthenticated("\(error)")
        }
        let window = TimeInterval(RequestSignature.window.components.seconds)
        guard try await database.rememberNonce(nonce, at: at, forgetBefore: at.addingTimeInterval(-2 * window)) else {
            throw IssuerHostError.unauthenticated("the request's nonce was used before: a replay")
        }
        return (key, nonce)
    }

    /// How a key is kept: hex of its SHA-256 (keys are 40 random characters; no salt needed).
    public static func keyHash(_ key: String) -> String { Hex.encode(SHA256.hash(data: Array(key.utf8))) }
}
