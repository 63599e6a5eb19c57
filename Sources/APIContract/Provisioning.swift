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


/// Push provisioning: what a bank's app server seals to the token service's HPKE key (RFC
/// 9180, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; base mode) for one wallet:
/// the card as JSON, `info` "passway push provisioning v1", the issuer's and the wallet's
/// ids (`issuerID` LF `walletID`) as associated data, so that a sealed card opens only for
/// the issuer that sent it and the wallet it was sealed for.
public struct PushCard: Codable, Sendable, Equatable {
    public var pan: String
    /// As printed, MM/YY.
    public var expiry: String
    public init(pan: String, expiry: String) { self.pan = pan; self.expiry = expiry }

    public static let ciphersuite = HPKE.Ciphersuite.P256_SHA256_AES_GCM_256
    public static let info = Data("passway push provisioning v1".utf8)

    public static func associatedData(issuerID: String, walletID: String) -> Data { Data("\(issuerID)\n\(walletID)".utf8) }

    /// The key's id: the first 8 bytes of SHA-256 over its X9.63 form, in hex.
    public static func keyID(_ key: P256.KeyAgreement.PublicKey) -> String {
        SHA256.hash(data: key.x963Representation).prefix(8).map { String(format: "%02X", $0) }.joined()
    }

    /// The request body of `POST /v1/push-receipts`, sealed here (what a bank's server does).
    public func sealed(to key: P256.KeyAgreement.PublicKey, issuerID: String, walletID: String) throws -> PushReceiptRequest {
        var sender = try HPKE.Sender(recipientKey: key, ciphersuite: Self.ciphersuite, info: Self.info)
        let ciphertext = try sender.seal(try JSONEncoder().encode(self), authenticating: Self.associatedData(issuerID: issuerID, walletID: walletID))
        return PushReceiptRequest(walletID: walletID, keyID: Self.keyID(key), encapsulatedKey: sender.encapsulatedKey.base64EncodedString(),
                                  ciphertext: ciphertext.base64EncodedString())
    }
}

/// `POST /v1/push-receipts` (issuer): a card sealed for a wallet.
public struct PushReceiptRequest: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case walletID, keyID, encapsulatedKey, ciphertext }
    public var walletID: String
    /// The id of the token service's key it was sealed to (`GET /v1/push-provisioning/key`).
    public var keyID: String
    /// HPKE's encapsulated key (65 bytes, X9.63 uncompressed), base64.
    public var encapsulatedKey: String
    /// The sealed `PushCard` (AES-256-GCM ciphertext and tag), base64.
    public var ciphertext: String
    public init(walletID: String, keyID: String, encapsulatedKey: String, ciphertext: String) {
        self.walletID = walletID; self.keyID = keyID; self.encapsulatedKey = encapsulatedKey; self.ciphertext = ciphertext
    }
}

/// The token service's key for push provisioning.
public struct PushKeyView: Codable, Sendable, Equatable {
    public var keyID: String
    /// RFC 9180's names and ids: KEM 0x0010, KDF 0x0001, AEAD 0x0002.
    public var ciphersuite: String
    public var kem: Int
    public var kdf: Int
    public var aead: Int
    /// X9.63 uncompressed, base64.
    public var publicKey: String
    public var info: String
    public init(keyID: String, publicKey: String) {
        self.keyID = keyID; self.publicKey = publicKey
        ciphersuite = "DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"; kem = 0x10; kdf = 1; aead = 2
        info = String(decoding: PushCard.info, as: UTF8.self)
    }
}

/// A push receipt as the issuer gets it, once: the wallet redeems it on the cardholder's device.
public struct PushReceiptView: Codable, Sendable, Equatable {
    public var receipt: String
    public var walletID: String
    public var maskedPAN: String
    public var expiresAt: Date
    public init(receipt: String, walletID: String, maskedPAN: String, expiresAt: Date) {
        self.receipt = receipt; self.walletID = walletID; self.maskedPAN = maskedPAN; self.expiresAt = expiresAt
    }
}

/// `POST /v1/push-receipts/{receipt}/redeem` (wallet): the device the card goes onto.
public struct PushRedemption: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case deviceID, acceptedTerms }
    public var deviceID: String
    /// The version of the card product's terms the cardholder accepted on the device.
    public var acceptedTerms: String?
    public init(deviceID: String, acceptedTerms: String? = nil) { self.deviceID = deviceID; self.acceptedTerms = acceptedTerms }
}
