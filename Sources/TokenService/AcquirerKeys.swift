import Crypto
import EMV
import Foundation
import Participants
import Vault

/// An acquirer's keys with the network, kept sealed in the vault: the zone master key
/// (AES-256) made when the acquirer is onboarded and given to it once, and the MAC key
/// (double-length TDES for ISO 9797-1 MAC algorithm 3, or AES-128 for AES-CMAC) that
/// travels to the acquirer only as a TR-31 key block under that zone master key.
public struct AcquirerKeys: Sendable {
    let store: any TokenStore
    let vault: CardVault

    public init(store: any TokenStore, vault: CardVault) { self.store = store; self.vault = vault }

    /// The zone master key, made anew (at onboarding): its 64 hex digits, to be shown
    /// once, and its check value (the first 3 bytes of AES of a zero block).
    public func newZoneMasterKey(acquirerID: String) async throws -> (hex: String, checkValue: String) {
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        try await store.saveSecret(name: Self.zmkName(acquirerID), sealed: vault.sealSecret(key, context: Self.zmkName(acquirerID)))
        return (Hex.encode(key), Hex.encode(try AESKey(key).checkValue))
    }

    /// A new MAC key for the acquirer, replacing the one before (connections signed on
    /// keep the key they signed on with; the next sign-on needs the new one): the TR-31
    /// version D key block under its zone master key and the key's check value. `T`: a
    /// double-length TDES key for ISO 9797-1 MAC algorithm 3 (usage M3); `A`: an AES-128
    /// key for AES-CMAC (usage M6), the AES profile. Generate and verify, not exportable.
    public func issueMACKey(acquirerID: String, algorithm: Character = "T") async throws -> (keyBlock: String, checkValue: String) {
        guard let sealed = try await store.sealedSecret(name: Self.zmkName(acquirerID)) else {
            throw ServiceError.notFound("zone master key of acquirer \(acquirerID)")
        }
        let zmk = try vault.openSecret(sealed, context: Self.zmkName(acquirerID))
        let bytes = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        let key: MACKey
        let usage: String
        switch algorithm {
        case "T": key = .tdes(try TDESKey(adjustingOddParity(bytes))); usage = "M3"
        case "A": key = .aes(try AESKey(bytes)); usage = "M6"
        default: throw ServiceError.invalid(field: "algorithm", reason: "T (TDES, ISO 9797-1 MAC algorithm 3) or A (AES-CMAC)")
        }
        let material = key.exportKeyMaterial()
        let block = try TR31.wrap(material, header: TR31.Header(keyUsage: usage, algorithm: key.algorithm, modeOfUse: "C", exportability: "N"), kbpk: zmk)
        let stored = Array(String(key.algorithm).utf8) + material
        try await store.saveSecret(name: Self.macName(acquirerID), sealed: vault.sealSecret(stored, context: Self.macName(acquirerID)))
        return (block, Hex.encode(key.checkValue))
    }

    /// The acquirer's current MAC key; nil before one is issued.
    public func macKey(acquirerID: String) async throws -> MACKey? {
        guard let sealed = try await store.sealedSecret(name: Self.macName(acquirerID)) else { return nil }
        let stored = try vault.openSecret(sealed, context: Self.macName(acquirerID))
        guard let first = stored.first else { return nil }
        return try MACKey(algorithm: Character(UnicodeScalar(first)), bytes: Array(stored.dropFirst()))
    }

    static func zmkName(_ id: String) -> String { "acquirer-zmk/\(id)" }
    static func macName(_ id: String) -> String { "acquirer-mac/\(id)" }
}
