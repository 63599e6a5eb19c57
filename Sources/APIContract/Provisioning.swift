import Crypto
import Foundation

// The Passway API's wire types (the schemas of `openapi.yaml`), written once for the
// server, the command line and the simulators.

/// What a device receives for a token: its data and a batch of single-use session
/// keys, one per ATC, derived from the token's master key (EMV Option A from the
/// issuer master key of the token range for TDES, Option C for SM4, then the common
/// session key derivation). The device never holds a master key.
public struct ProvisioningPayload: Codable, Sendable, Equatable {
    public struct LimitedUseKey: Codable, Sendable, Equatable {
        public var atc: UInt16
        /// 16 bytes of hex: the session key for this ATC, in the payload's `cryptogramProfile`.
        public var key: String
        public init(atc: UInt16, key: String) { self.atc = atc; self.key = key }
    }
    public var tokenID: String
    public var tokenNumber: String
    public var expiry: String
    public var panSequenceNumber: String
    public var par: String
    public var tokenRequestorID: String
    public var keys: [LimitedUseKey]
    /// `tdes` or `sm4`: how the keys make a cryptogram (`CryptogramProfile`). A payload
    /// without it is TDES.
    public var cryptogramProfile: String?

    public init(tokenID: String, tokenNumber: String, expiry: String, panSequenceNumber: String, par: String, tokenRequestorID: String,
                keys: [LimitedUseKey], cryptogramProfile: String? = nil) {
        self.tokenID = tokenID; self.tokenNumber = tokenNumber; self.expiry = expiry; self.panSequenceNumber = panSequenceNumber
        self.par = par; self.tokenRequestorID = tokenRequestorID; self.keys = keys; self.cryptogramProfile = cryptogramProfile
    }
}

/// The payload sealed to the device's P-256 key: ECDH with an ephemeral key,
/// HKDF-SHA-256 (salt: the token id; info: "passway/provisioning/v1"), AES-256-GCM
/// with the token id as associated data.
public struct SealedProvisioning: Codable, Sendable, Equatable {
    public var tokenID: String
    /// Ephemeral public key, X9.63 uncompressed, base64.
    public var ephemeralPublicKey: String
    /// AES-GCM nonce ‖ ciphertext ‖ tag, base64.
    public var ciphertext: String

    static let info = Array("passway/provisioning/v1".utf8)

    public static func seal(_ payload: ProvisioningPayload, to devicePublicKey: P256.KeyAgreement.PublicKey) throws -> SealedProvisioning {
        try seal([payload], to: devicePublicKey)[0]
    }

    /// Several payloads for one device under one ephemeral key: one key agreement for the
    /// lot (the costly part), a key of its own for each from HKDF with its token id as
    /// salt. The format is the same; each still opens on its own.
    public static func seal(_ payloads: [ProvisioningPayload], to devicePublicKey: P256.KeyAgreement.PublicKey) throws -> [SealedProvisioning] {
        let ephemeral = P256.KeyAgreement.PrivateKey()
        let shared = try ephemeral.sharedSecretFromKeyAgreement(with: devicePublicKey)
        let ephemeralPublicKey = ephemeral.publicKey.x963Representation.base64EncodedString()
        let encoder = JSONEncoder()
        return try payloads.map { payload in
            let key = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: Array(payload.tokenID.utf8), sharedInfo: info, outputByteCount: 32)
            let box = try AES.GCM.seal(try encoder.encode(payload), using: key, authenticating: Array(payload.tokenID.utf8))
            // A 12-byte nonce (the default) always has a combined form.
            guard let combined = box.combined else { throw ProvisioningError.malformed }
            return SealedProvisioning(tokenID: payload.tokenID, ephemeralPublicKey: ephemeralPublicKey, ciphertext: combined.base64EncodedString())
        }
    }

    /// What the device does with its private key.
    public func open(with deviceKey: P256.KeyAgreement.PrivateKey) throws -> ProvisioningPayload {
        try Self.open([self], with: deviceKey)[0]
    }

    /// Opens several, agreeing on a key once per ephemeral key they share.
    public static func open(_ sealed: [SealedProvisioning], with deviceKey: P256.KeyAgreement.PrivateKey) throws -> [ProvisioningPayload] {
        var secrets: [String: SharedSecret] = [:]
        let decoder = JSONDecoder()
        return try sealed.map { s in
            guard let ephemeralBytes = Data(base64Encoded: s.ephemeralPublicKey), let box = Data(base64Encoded: s.ciphertext) else {
                throw ProvisioningError.malformed
            }
            let shared: SharedSecret
            if let known = secrets[s.ephemeralPublicKey] { shared = known } else {
                shared = try deviceKey.sharedSecretFromKeyAgreement(with: try P256.KeyAgreement.PublicKey(x963Representation: ephemeralBytes))
                secrets[s.ephemeralPublicKey] = shared
            }
            let key = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: Array(s.tokenID.utf8), sharedInfo: info, outputByteCount: 32)
            let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: box), using: key, authenticating: Array(s.tokenID.utf8))
            return try decoder.decode(ProvisioningPayload.self, from: plaintext)
        }
    }
}

public enum ProvisioningError: Error { case malformed }

