import Crypto
import EMV
import Foundation
import APIContract

/// The wallet app on a phone or watch, as far as payments go: its P-256 key pair (the
/// private half never leaves the device), the tokens provisioned to it, and their
/// single-use session keys, one per ATC, used once each and replenished when low.
public struct DeviceWallet: Codable, Sendable {
    public struct StoredToken: Codable, Sendable, Equatable {
        public var tokenID: String
        public var tokenNumber: String
        public var expiry: String
        public var par: String
        public var status: String
        public var keys: [ProvisioningPayload.LimitedUseKey]
        /// How its keys make a cryptogram: `tdes` (when absent, as in state files from
        /// before profiles) or `sm4`.
        public var cryptogramProfile: String? = nil

        public var profile: CryptogramProfile { cryptogramProfile.flatMap(CryptogramProfile.init(rawValue:)) ?? .tdes }

        /// The session key of one of its single-use keys.
        public func sessionKey(_ key: ProvisioningPayload.LimitedUseKey) throws -> SessionKey {
            try SessionKey(profile: profile, hex: key.key)
        }

        public var masked: String { String(tokenNumber.prefix(6)) + "******" + String(tokenNumber.suffix(4)) }
    }

    /// Raw P-256 private key, base64. Kept only in the device's own state file.
    var privateKey: String
    public var deviceID: String?
    public var modelID: String
    public var osVersion: String
    public var country: String
    public var tokens: [StoredToken]

    /// Replenish when fewer keys than this remain.
    public static let lowWaterMark = 3

    public init(modelID: String, osVersion: String, country: String) {
        privateKey = P256.KeyAgreement.PrivateKey().rawRepresentation.base64EncodedString()
        self.modelID = modelID; self.osVersion = osVersion; self.country = country
        deviceID = nil
        tokens = []
    }

    var key: P256.KeyAgreement.PrivateKey {
        get throws { try P256.KeyAgreement.PrivateKey(rawRepresentation: Data(base64Encoded: privateKey) ?? Data()) }
    }

    /// The public key to register, X9.63 uncompressed, base64.
    public var publicKey: String {
        get throws { try key.publicKey.x963Representation.base64EncodedString() }
    }

    /// Opens a provisioning or replenishment and keeps its keys.
    @discardableResult
    public mutating func receive(_ sealed: SealedProvisioning, status: String = "active") throws -> StoredToken {
        try keep(try sealed.open(with: key), status: status)
    }

    /// Many at once (a bulk provisioning): one key agreement per ephemeral key they share.
    public mutating func receive(all sealed: [SealedProvisioning]) throws -> [StoredToken] {
        try SealedProvisioning.open(sealed, with: key).map { try keep($0, status: "active") }
    }

    private mutating func keep(_ payload: ProvisioningPayload, status: String) throws -> StoredToken {
        if let profile = payload.cryptogramProfile, CryptogramProfile(rawValue: profile) == nil {
            throw WalletError.unknownProfile(profile)
        }
        if let i = tokens.firstIndex(where: { $0.tokenID == payload.tokenID }) {
            let known = Set(tokens[i].keys.map(\.atc))
            tokens[i].keys += payload.keys.filter { !known.contains($0.atc) }
            tokens[i].status = status
            return tokens[i]
        }
        let token = StoredToken(tokenID: payload.tokenID, tokenNumber: payload.tokenNumber, expiry: payload.expiry, par: payload.par,
                                status: status, keys: payload.keys, cryptogramProfile: payload.cryptogramProfile)
        tokens.append(token)
        return token
    }

    /// Takes the key of the lowest unused ATC: it is deleted as it is used.
    public mutating func nextKey(tokenID: String) -> ProvisioningPayload.LimitedUseKey? {
        guard let i = tokens.firstIndex(where: { $0.tokenID == tokenID }), !tokens[i].keys.isEmpty else { return nil }
        tokens[i].keys.sort { $0.atc < $1.atc }
        return tokens[i].keys.removeFirst()
    }

    /// What the HCE applet answers to GENERATE AC: the ARQC over the terminal's data
    /// (the Passway CDOL1) under the single-use key of the next ATC, which is then gone.
    public mutating func generateARQC(tokenID: String, terminal: (ApplicationTransactionCounter) -> CryptogramInput) throws -> (input: CryptogramInput, arqc: [UInt8])? {
        guard let stored = tokens.first(where: { $0.tokenID == tokenID }), let key = nextKey(tokenID: tokenID) else { return nil }
        let input = terminal(ApplicationTransactionCounter(key.atc))
        return (input, try stored.sessionKey(key).cryptogram(input.bytes))
    }

    public func needsKeys(tokenID: String) -> Bool {
        (tokens.first { $0.tokenID == tokenID }?.keys.count ?? 0) < Self.lowWaterMark
    }
}

public enum WalletError: Error, CustomStringConvertible {
    case unknownProfile(String)

    public var description: String {
        switch self {
        case .unknownProfile(let name): "the token's cryptogram profile \"\(name.prefix(20))\" is not one this wallet knows (tdes, sm4)"
        }
    }
}
