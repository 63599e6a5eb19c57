import Crypto
import Foundation

/// Dual control of a master key (the key-management practice of PCI PIN and ANSI X9.24):
/// the key is made of two or three components, each held by a different custodian and
/// entered by them alone; the key is their XOR, so that no custodian knows it. Each
/// component is identified by its own check value, which lets a custodian see that what
/// was typed is what was recorded, without showing anything of the key.
public enum KeyCeremony {
    public struct Component: Sendable, Equatable {
        /// 64 hex digits.
        public let hex: String
        /// Its check value (as `MasterKey.checkValue` computes one).
        public let checkValue: String
    }

    public static let componentCounts = 2...3

    /// A new master key as `count` components, and the key's own check value.
    public static func generate(components count: Int) throws(VaultError) -> (components: [Component], keyCheckValue: String) {
        guard componentCounts.contains(count) else { throw .badMasterKey("a key is made of 2 or 3 components, not \(count)") }
        let parts: [[UInt8]] = (0..<count).map { _ in SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) } }
        let key = try MasterKey(bytes: xor(parts))
        // The components are random; the key they make is random too.
        return (try parts.map(component), key.checkValue)
    }

    /// The master key the components make; each component's check value, when given,
    /// must match what was typed (a typing error is caught before a wrong key is used).
    public static func combine(_ typed: [(hex: String, checkValue: String?)]) throws(VaultError) -> MasterKey {
        guard componentCounts.contains(typed.count) else { throw .badMasterKey("2 or 3 components, got \(typed.count)") }
        var parts: [[UInt8]] = []
        for (n, entry) in typed.enumerated() {
            let text = entry.hex.trimmingCharacters(in: .whitespaces)
            guard text.count == 64, let bytes = try? EMVHex.decode(text) else {
                throw .badMasterKey("component \(n + 1) must be 64 hex digits")
            }
            let checked = try component(bytes)
            if let expected = entry.checkValue, expected.uppercased() != checked.checkValue {
                throw .badMasterKey("component \(n + 1) does not match its check value \(expected.uppercased()) (typed: \(checked.checkValue))")
            }
            parts.append(bytes)
        }
        guard Set(parts).count == parts.count else { throw .badMasterKey("two components are the same") }
        return try MasterKey(bytes: xor(parts))
    }

    static func component(_ bytes: [UInt8]) throws(VaultError) -> Component {
        Component(hex: EMVHex.encode(bytes), checkValue: try MasterKey(bytes: bytes).checkValue)
    }

    static func xor(_ parts: [[UInt8]]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        for part in parts { for i in out.indices where i < part.count { out[i] ^= part[i] } }
        return out
    }
}
