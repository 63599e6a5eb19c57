import Crypto
import EMV
import Foundation
import Vault

/// How the token service and an issuer host prove themselves to each other over HTTP:
/// each call and each answer carries an HMAC-SHA256 under the key the bank's host made
/// when the bank was created (its "token service key", 32 random bytes, given to the
/// network when the issuer is onboarded).
///
/// A request signs its method, path, time, a nonce and the SHA-256 of its body; the host
/// refuses a time more than `window` away from its clock and a nonce it has seen within
/// that window (a replay), before anything else. The answer signs its status, the
/// request's nonce and the SHA-256 of its body, so that a decision cannot be forged or
/// moved to another request: the token service believes no answer without it.
public enum RequestSignature {
    public static let timestampHeader = "Passway-Timestamp"
    public static let nonceHeader = "Passway-Nonce"
    public static let signatureHeader = "Passway-Signature"
    /// How far a request's time may be from the host's clock, either way.
    public static let window: Duration = .seconds(300)
    /// The key's length: 32 bytes, written as 64 hex digits.
    public static let keyBytes = 32

    /// A fresh key, as the bank's host makes it.
    public static func newKey() -> SymmetricKey { SymmetricKey(size: .bits256) }

    /// The key from its 64 hex digits; nil when it is not that.
    public static func key(hex: String) -> SymmetricKey? {
        guard hex.utf8.count == keyBytes * 2, let bytes = try? Hex.decode(hex) else { return nil }
        return SymmetricKey(data: bytes)
    }

    public static func hex(_ key: SymmetricKey) -> String { key.withUnsafeBytes { Hex.encode($0) } }

    /// A request's three headers.
    public struct Headers: Sendable, Equatable {
        public var timestamp: String
        public var nonce: String
        public var signature: String

        public init(timestamp: String, nonce: String, signature: String) { self.timestamp = timestamp; self.nonce = nonce; self.signature = signature }
    }

    /// Signs a request to `path` (the URL's path, from its first "/").
    public static func sign(method: String, path: String, body: [UInt8], key: SymmetricKey, at: Date = Date()) -> Headers {
        let timestamp = String(Int64(at.timeIntervalSince1970.rounded(.down)))
        let nonce = SymmetricKey(size: .bits128).withUnsafeBytes { Hex.encode($0) }
        return Headers(timestamp: timestamp, nonce: nonce,
                       signature: "v1=" + mac(requestText(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body), key))
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case missingHeaders
        case staleTimestamp
        case badSignature

        public var description: String {
            switch self {
            case .missingHeaders: "the request is not signed (\(timestampHeader), \(nonceHeader), \(signatureHeader))"
            case .staleTimestamp: "the request's time is more than \(window) from the host's clock"
            case .badSignature: "the request's signature does not verify"
            }
        }
    }

    /// Checks a request's signature and time (not yet its nonce: the caller remembers
    /// nonces). Returns the nonce to remember.
    public static func verify(method: String, path: String, body: [UInt8], headers: Headers?, key: SymmetricKey, now: Date = Date())
        throws(Refusal) -> String {
        guard let headers, headers.nonce.utf8.count == 32, (try? Hex.decode(headers.nonce)) != nil,
              let seconds = Int64(headers.timestamp) else { throw .missingHeaders }
        let skew = (now.timeIntervalSince1970 - Double(seconds)).magnitude
        guard skew <= Double(window.components.seconds) else { throw .staleTimestamp }
        let expected = "v1=" + mac(requestText(method: method, path: path, timestamp: headers.timestamp, nonce: headers.nonce, body: body), key)
        guard SecureRandom.constantTimeEquals(expected, headers.signature) else { throw .badSignature }
        return headers.nonce
    }

    /// The signature of an answer to the request that carried `nonce`.
    public static func signAnswer(status: Int, nonce: String, body: [UInt8], key: SymmetricKey) -> String {
        "v1=" + mac("passway-answer-v1\n\(status)\n\(nonce)\n\(sha256Hex(body))", key)
    }

    /// Whether an answer's signature is the host's for this request.
    public static func verifyAnswer(status: Int, nonce: String, body: [UInt8], signature: String?, key: SymmetricKey) -> Bool {
        guard let signature else { return false }
        return SecureRandom.constantTimeEquals(signAnswer(status: status, nonce: nonce, body: body, key: key), signature)
    }

    static func requestText(method: String, path: String, timestamp: String, nonce: String, body: [UInt8]) -> String {
        "passway-request-v1\n\(method.uppercased())\n\(path)\n\(timestamp)\n\(nonce)\n\(sha256Hex(body))"
    }

    static func mac(_ text: String, _ key: SymmetricKey) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String { Hex.encode(SHA256.hash(data: bytes)) }
}
