/// Hexadecimal text, the way payment engineers write bytes: upper case, no separators.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Upper-case hex of `bytes`.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        // Contiguous bytes (arrays, slices, Data): written straight into the string's storage.
        if let hex = bytes.withContiguousStorageIfAvailable({ encode(contiguous: $0) }) { return hex }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func encode(contiguous bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var i = 0
            for byte in bytes {
                out[i] = hexDigit(byte >> 4)
                out[i + 1] = hexDigit(byte & 0x0F)
                i += 2
            }
            return i
        }
    }

    @inline(__always) private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x37 + nibble  // "0"..."9", "A"..."F"
    }

    /// Bytes of a hex string. Spaces are ignored so that pasted dumps work; anything
    /// else that is not a hex digit, or an odd number of digits, is refused.
    public static func decode(_ text: some StringProtocol) throws(HexError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8? = nil
        var position = 0
        for char in text.utf8 {
            defer { position += 1 }
            if char == 0x20 || char == 0x0A || char == 0x0D || char == 0x09 { continue }
            guard let nibble = nibble(char) else { throw .invalidCharacter(position: position) }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        if high != nil { throw .oddLength }
        return out
    }

    @inline(__always)
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}

public enum HexError: Error, Equatable, CustomStringConvertible {
    case invalidCharacter(position: Int)
    case oddLength

    public var description: String {
        switch self {
        case .invalidCharacter(let position): "not a hex digit at character \(position + 1)"
        case .oddLength: "odd number of hex digits (each byte is two digits)"
        }
    }
}

extension Array where Element == UInt8 {
    /// Upper-case hex, for logs of non-secret data and for tests.
    public var hex: String { Hex.encode(self) }
}

/// XOR of two equal-length byte sequences.
@inline(__always)
func xor(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    precondition(a.count == b.count, "xor of unequal lengths")
    var out = a
    for i in out.indices { out[i] ^= b[i] }
    return out
}
