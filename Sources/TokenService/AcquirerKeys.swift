import Crypto
import EMV
import Foundation
import Participants
import Vault

/// An acquirer's keys with the network, kept sealed in the vault: the zone master key
/// (AES-256) made when the acquirer is onboarded and given to it once, and the MAC key
/// (double-length TDES, for ISO 9797-1 MAC algorithm 3) that travels to the acquirer only
/// as a TR-31 key block under that zone master key.
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

    /// A new MAC key for the acquirer, replacing the one before: the TR-31 version D key
    /// block under its zone master key (usage M3, TDES, generate and verify, not
    /// exportable) and the key's check value.
    public func issueMACKey(acquirerID: String) async throws -> (keyBlock: String, checkValue: String) {
        guard let sealed = try await store.sealedSecret(name: Self.zmkName(acquirerID)) else {
            throw ServiceError.notFound("zone master key of acquirer \(acquirerID)")
        }
        let zmk = try vault.openSecret(sealed, context: Self.zmkName(acquirerID))
        let mac = adjustingOddParity(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) })
        let block = try TR31.wrap(mac, header: TR31.Header(keyUsage: "M3", algorithm: "T", modeOfUse: "C", exportability: "N"), kbpk: zmk)
        try await store.saveSecret(name: Self.macName(acquirerID), sealed: vault.sealSecret(mac, context: Self.macName(acquirerID)))
        return (block, Hex.encode(try TDESKey(mac).checkValue))
    }

    /// The acquirer's current MAC key; nil before one is issued.
    public func macKey(acquirerID: String) async throws -> TDESKey? {
        guard let sealed = try await store.sealedSecret(name: Self.macName(acquirerID)) else { return nil }
        return try TDESKey(try vault.openSecret(sealed, context: Self.macName(acquirerID)))
    }

    static func zmkName(_ id: String) -> String { "acquirer-zmk/\(id)" }
    static func macName(_ id: String) -> String { "acquirer-mac/\(id)" }
}
