import Crypto
import EMV
import Foundation

typealias EMVHex = EMV.Hex

/// Card numbers at rest (PCI DSS 3.5): each is sealed with AES-256-GCM under a data key,
/// the data key is stored only wrapped (AES-GCM under a subkey of the master key), and
/// a card is found by its fingerprint, HMAC-SHA-256 under another subkey, never by the
/// number itself. The same protector serves the token service and the issuer host,
/// each with its own master key.
public struct CardVault: Sendable {
    private let dataKey: SymmetricKey
    private let fingerprintKey: SymmetricKey
    private let wrappingKey: SymmetricKey

    /// Opens the vault with a stored wrapped data key, or makes a new one. Returns the
    /// wrapped key to store when it is new. The fingerprint key is the master key's own
    /// subkey until a rotation (`wrapped(under:)`) stores it wrapped, so that fingerprints
    /// outlive the master key that made them.
    public init(master: MasterKey, wrappedDataKey: Data?, wrappedFingerprintKey: Data? = nil) throws(VaultError) {
        wrappingKey = master.derive("data-key-wrapping")
        if let wrappedFingerprintKey {
            do {
                let box = try AES.GCM.SealedBox(combined: wrappedFingerprintKey)
                fingerprintKey = SymmetricKey(data: try AES.GCM.open(box, using: wrappingKey, authenticating: Array("fingerprint-key".utf8)))
            } catch {
                throw .corrupt("the fingerprint key does not unwrap under this master key (KCV \(master.checkValue))")
            }
        } else {
            fingerprintKey = master.derive("pan-fingerprint")
        }
        if let wrappedDataKey {
            do {
                let box = try AES.GCM.SealedBox(combined: wrappedDataKey)
                dataKey = SymmetricKey(data: try AES.GCM.open(box, using: wrappingKey, authenticating: Array("data-key".utf8)))
            } catch {
                throw .corrupt("the data key does not unwrap under this master key (KCV \(master.checkValue)); is it the key the database was created with?")
            }
            self.wrappedDataKey = wrappedDataKey
        } else {
            dataKey = SymmetricKey(size: .bits256)
            let sealed = try! AES.GCM.seal(dataKey.withUnsafeBytes { Data($0) }, using: wrappingKey, authenticating: Array("data-key".utf8))
            self.wrappedDataKey = sealed.combined!
        }
    }

    /// The data key as stored: nonce ‖ ciphertext ‖ tag.
    public let wrappedDataKey: Data

    /// The vault's data key and fingerprint key wrapped under another master key: what a
    /// rotation stores, after which the vault opens with `master` only. Nothing sealed or
    /// fingerprinted changes, so the nodes running meanwhile go on.
    public func wrapped(under master: MasterKey) throws(VaultError) -> (dataKey: Data, fingerprintKey: Data) {
        let wrapping = master.derive("data-key-wrapping")
        do {
            let data = try AES.GCM.seal(dataKey.withUnsafeBytes { Data($0) }, using: wrapping, authenticating: Array("data-key".utf8))
            let fingerprint = try AES.GCM.seal(fingerprintKey.withUnsafeBytes { Data($0) }, using: wrapping, authenticating: Array("fingerprint-key".utf8))
            guard let d = data.combined, let f = fingerprint.combined else { throw VaultError.corrupt("wrapping produced no sealed box") }
            return (d, f)
        } catch let error as VaultError {
            throw error
        } catch {
            throw .corrupt("the vault's keys could not be wrapped: \(error)")
        }
    }

    /// Lookup value for a card number: hex of HMAC-SHA-256.
    public func fingerprint(_ pan: PAN) -> String {
        EMVHex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(pan.digits.utf8), using: fingerprintKey)))
    }

    /// Keyed hash of any short secret (a CVV2 with its card number, a phone number) for
    /// comparison without storing it.
    public func fingerprint(secret: String, purpose: String) -> String {
        EMVHex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array("\(purpose):\(secret)".utf8), using: fingerprintKey)))
    }

    /// Seals a card number; `context` (a record id) is authenticated so that a sealed
    /// number cannot be moved to another record.
    public func seal(_ pan: PAN, context: String) -> Data {
        try! AES.GCM.seal(Array(pan.digits.utf8), using: dataKey, authenticating: Array(context.utf8)).combined!
    }

    public func open(_ sealed: Data, context: String) throws(VaultError) -> PAN {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let digits = String(decoding: try AES.GCM.open(box, using: dataKey, authenticating: Array(context.utf8)), as: UTF8.self)
            return try PAN(unchecked: digits)
        } catch {
            throw .corrupt("card record \(context) does not open")
        }
    }

    /// Seals any secret (an issuer master key, a CVV-free profile) the same way.
    public func sealSecret(_ bytes: [UInt8], context: String) -> Data {
        try! AES.GCM.seal(bytes, using: dataKey, authenticating: Array(context.utf8)).combined!
    }

    public func openSecret(_ sealed: Data, context: String) throws(VaultError) -> [UInt8] {
        do {
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: dataKey, authenticating: Array(context.utf8)))
        } catch {
            throw .corrupt("secret \(context) does not open")
        }
    }
}
