import Crypto
import Foundation

/// The key at the top of an institution's key hierarchy: it wraps the data keys that
/// encrypt card numbers and keys the fingerprints that find them. It comes from the
/// environment or a key file and never leaves this type unwrapped: it prints as a
/// check value, and nothing here hands its bytes out.
public struct MasterKey: Sendable, CustomStringConvertible {
    let key: SymmetricKey

    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count == 32 else { throw .badMasterKey("must be 32 bytes (64 hex digits), got \(bytes.count)") }
        key = SymmetricKey(data: bytes)
    }

    /// 64 hex digits.
    public init(hex: String) throws(VaultError) {
        let text = hex.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = try? EMVHex.decode(text) else { throw .badMasterKey("is not hex") }
        try self.init(bytes: bytes)
    }

    public static func generate() -> MasterKey { MasterKey(SymmetricKey(size: .bits256)) }

    private init(_ key: SymmetricKey) { self.key = key }

    /// The key as 64 hex digits, for writing a new key file and nothing else.
    public func keyFileContents() -> String {
        key.withUnsafeBytes { EMVHex.encode(Array($0)) } + "\n"
    }

    /// A stable, non-secret name for the key: the first 3 bytes of HMAC(key, "KCV").
    public var checkValue: String {
        EMVHex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array("KCV".utf8), using: key)).prefix(3))
    }

    public var description: String { "MasterKey(KCV \(checkValue))" }

    /// A subkey for one purpose (HKDF-SHA-256, RFC 5869): fingerprints, key wrapping.
    func derive(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("passway/\(purpose)".utf8), outputByteCount: 32)
    }
}

/// Loads a master key the way `passway serve` does: an environment variable (hex), else
/// the key file; when neither exists, creates the key file with owner-only permissions.
public enum MasterKeySource {
    public enum Origin: Sendable, Equatable { case environment, keyFile(String), createdKeyFile(String) }

    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment,
                            variable: String = "PASSWAY_MASTER_KEY", keyFile: String) throws(VaultError) -> (MasterKey, Origin) {
        if let hex = environment[variable] {
            return (try MasterKey(hex: hex), .environment)
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: keyFile) {
            guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                throw .badMasterKey("key file \(keyFile) cannot be read")
            }
            do { return (try MasterKey(hex: text), .keyFile(keyFile)) } catch {
                throw .badMasterKey("in key file \(keyFile) \(error.reason)")
            }
        }
        let key = MasterKey.generate()
        let directory = (keyFile as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty { try SecretFile.makeDirectory(directory) }
            // Created with 0600 from the start: the key is never readable by others, not even briefly.
            try SecretFile.create(keyFile, contents: Array(key.keyFileContents().utf8))
        } catch {
            throw .badMasterKey("cannot create key file: \(error)")
        }
        return (key, .createdKeyFile(keyFile))
    }
}

public enum VaultError: Error, Equatable, CustomStringConvertible {
    case badMasterKey(String)
    case corrupt(String)

    public var reason: String {
        switch self {
        case .badMasterKey(let why): why
        case .corrupt(let why): why
        }
    }

    public var description: String {
        switch self {
        case .badMasterKey(let why): "master key \(why)"
        case .corrupt(let why): "vault data cannot be decrypted: \(why)"
        }
    }
}
