/// A double- or triple-length Triple DES key (ANSI X9.52 / NIST SP 800-67, keying
/// options 2 and 1): the key of every EMV master key, session key and MAC here.
///
/// Key material never prints: `description` shows the key check value, the way an HSM
/// or a key ceremony form names a key. Getting the bytes out is an explicit, greppable
/// call (`exportKeyMaterial()`), for tools whose job is to show a derived key.
public struct TDESKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    private let material: [UInt8]
    let k1: DESKeySchedule
    let k2: DESKeySchedule
    let k3: DESKeySchedule

    /// 16 bytes (K1 K2, K3 = K1) or 24 bytes (K1 K2 K3). Parity bits are not checked:
    /// DES ignores them, and so do HSMs that accept keys in the clear for test.
    public init(_ bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == 16 || bytes.count == 24 else {
            throw .wrongLength(expected: "16 or 24", actual: bytes.count)
        }
        material = bytes
        k1 = DESKeySchedule(key: UInt64(bigEndianBytes: bytes[0..<8]))
        k2 = DESKeySchedule(key: UInt64(bigEndianBytes: bytes[8..<16]))
        k3 = bytes.count == 24 ? DESKeySchedule(key: UInt64(bigEndianBytes: bytes[16..<24])) : k1
    }

    /// Parses hex; the error says what is wrong without echoing the key.
    public init(hex: String) throws(KeyError) {
        let bytes: [UInt8]
        do { bytes = try Hex.decode(hex) } catch { throw .notHex(error) }
        try self.init(bytes)
    }

    public var byteCount: Int { material.count }

    /// The key bytes, for the few places whose purpose is to hand a key on (a key
    /// derivation tool printing its result, wrapping under a key-encryption key).
    public func exportKeyMaterial() -> [UInt8] { material }

    /// The left and right halves, as ISO 9797-1 MAC algorithm 3 uses them.
    var left: DESKeySchedule { k1 }
    var right: DESKeySchedule { k2 }

    /// Encrypt-decrypt-encrypt of one 64-bit block.
    @inline(__always)
    public func encrypt(block: UInt64) -> UInt64 {
        k3.crypt(k2.crypt(k1.crypt(block, decrypt: false), decrypt: true), decrypt: false)
    }

    @inline(__always)
    public func decrypt(block: UInt64) -> UInt64 {
        k1.crypt(k2.crypt(k3.crypt(block, decrypt: true), decrypt: false), decrypt: true)
    }

    /// Key check value: the first three bytes of the key's encryption of zeros.
    public var checkValue: [UInt8] { Array(encrypt(block: 0).bigEndianBytes.prefix(3)) }

    public var description: String { "TDESKey(\(material.count * 8) bits, KCV \(checkValue.hex))" }
    public var debugDescription: String { description }

    public static func == (a: TDESKey, b: TDESKey) -> Bool {
        // Constant time: keys are compared in tests and in key stores.
        guard a.material.count == b.material.count else { return false }
        var diff: UInt8 = 0
        for i in a.material.indices { diff |= a.material[i] ^ b.material[i] }
        return diff == 0
    }
}

public enum KeyError: Error, Equatable, CustomStringConvertible {
    case wrongLength(expected: String, actual: Int)
    case notHex(HexError)
    case unknownAlgorithm(String)

    public var description: String {
        switch self {
        case .unknownAlgorithm(let name): "no key algorithm \(name) (T: TDES, A: AES)"
        case .wrongLength(let expected, let actual): "key must be \(expected) bytes, got \(actual)"
        case .notHex(let error): "key is not hex: \(error)"
        }
    }
}

/// Sets each byte's least significant bit so that the byte has odd parity, as DES keys
/// are conventionally stored (FIPS 46-3 §"key"; EMV Book 2 A1.4 derives keys this way).
public func adjustingOddParity(_ key: [UInt8]) -> [UInt8] {
    key.map { byte in
        let high = byte & 0xFE
        return (high.nonzeroBitCount % 2 == 0) ? high | 1 : high
    }
}

extension UInt64 {
    @inline(__always)
    init<C: Collection>(bigEndianBytes bytes: C) where C.Element == UInt8 {
        var v: UInt64 = 0
        for b in bytes { v = v << 8 | UInt64(b) }
        self = v
    }

    @inline(__always)
    var bigEndianBytes: [UInt8] {
        [UInt8(truncatingIfNeeded: self >> 56), UInt8(truncatingIfNeeded: self >> 48),
         UInt8(truncatingIfNeeded: self >> 40), UInt8(truncatingIfNeeded: self >> 32),
         UInt8(truncatingIfNeeded: self >> 24), UInt8(truncatingIfNeeded: self >> 16),
         UInt8(truncatingIfNeeded: self >> 8), UInt8(truncatingIfNeeded: self)]
    }
}
