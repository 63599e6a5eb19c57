import Crypto
import _CryptoExtras

/// ANSI X9.143 (TR-31) key blocks, version D: a key wrapped under a key block protection
/// key (KBPK, AES-128/192/256), with its usage, algorithm and mode of use bound to it in
/// a clear header, so that a MAC key cannot be replayed as an encryption key.
///
/// From the KBPK two keys are derived by AES-CMAC (the encryption key KBEK and the
/// authentication key KBAK, each of the KBPK's length); the MAC is AES-CMAC under the
/// KBAK over the header and the clear key data (a 16-bit length in bits, the key, and
/// padding to the block size, with room to hide the key's true length); the key data is
/// encrypted with AES-CBC under the KBEK with the MAC as its IV. The block is text:
/// the header, then the encrypted data and the MAC in upper-case hex.
public enum TR31 {
    /// The 16-character header of a key block without optional blocks.
    public struct Header: Sendable, Equatable {
        /// Two characters, e.g. `M3` (ISO 9797-1 MAC algorithm 3), `M6` (CMAC), `K0` (key encryption).
        public var keyUsage: String
        /// `T` (TDES) or `A` (AES).
        public var algorithm: Character
        /// `C` (generate and verify), `G`, `V`, `E`, `D`, `B`, `N`…
        public var modeOfUse: Character
        /// Two characters, `00` when keys are not versioned.
        public var keyVersion: String
        /// `E` exportable, `N` not exportable, `S` sensitive.
        public var exportability: Character

        public init(keyUsage: String, algorithm: Character, modeOfUse: Character, keyVersion: String = "00", exportability: Character = "N") {
            self.keyUsage = keyUsage; self.algorithm = algorithm; self.modeOfUse = modeOfUse; self.keyVersion = keyVersion
            self.exportability = exportability
        }

        func text(blockLength: Int) -> String {
            let digits = String(blockLength)
            let length = String(repeating: "0", count: max(0, 4 - digits.count)) + digits
            return "D\(length)\(keyUsage)\(algorithm)\(modeOfUse)\(keyVersion)\(exportability)0000"
        }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case kbpkLength(Int)
        case macMismatch

        public var description: String {
            switch self {
            case .malformed(let why): "not a TR-31 version D key block: \(why)"
            case .kbpkLength(let n): "the key block protection key must be AES-128, -192 or -256, not \(n) bytes"
            case .macMismatch: "the key block's MAC does not verify under this key block protection key"
            }
        }
    }

    /// The key length a block shows by default: the longest key of its algorithm, so that a
    /// 2-key TDES key and a 3-key one look alike.
    static func maskedLength(algorithm: Character, keyLength: Int) -> Int {
        max(algorithm == "A" ? 32 : 24, keyLength)
    }

    /// Wraps `key` under `kbpk`. `padding` (tests only) fixes the random padding bytes.
    public static func wrap(_ key: [UInt8], header: Header, kbpk: [UInt8], padding: [UInt8]? = nil) throws(Failure) -> String {
        guard [16, 24, 32].contains(kbpk.count) else { throw .kbpkLength(kbpk.count) }
        guard header.keyUsage.utf8.count == 2, header.keyVersion.utf8.count == 2, !key.isEmpty, key.count <= 64 else {
            throw .malformed("header fields or key length out of range")
        }
        let masked = maskedLength(algorithm: header.algorithm, keyLength: key.count)
        // As psec and the standard's examples: a whole block of padding when none is needed.
        let padLength = 16 - ((2 + masked) % 16) + (masked - key.count)
        let pad = padding ?? SymmetricKey(size: SymmetricKeySize(bitCount: max(padLength, 1) * 8)).withUnsafeBytes { Array($0.prefix(padLength)) }
        guard pad.count == padLength else { throw .malformed("padding must be \(padLength) bytes") }
        let clear = [UInt8((key.count * 8) >> 8), UInt8((key.count * 8) & 0xFF)] + key + pad
        let headerText = header.text(blockLength: 16 + clear.count * 2 + 32)
        let (kbek, kbak) = derive(kbpk)
        let mac = cmac(Array(headerText.utf8) + clear, key: kbak)
        guard let encrypted = try? AES._CBC.encrypt(clear, using: SymmetricKey(data: kbek), iv: AES._CBC.IV(ivBytes: mac), noPadding: true) else {
            throw .malformed("encryption failed")
        }
        return headerText + Hex.encode(Array(encrypted)) + Hex.encode(mac)
    }

    /// The header and the key of a block wrapped under `kbpk`; the MAC is verified before
    /// the key is returned. `padding` is the block's padding (for tests).
    public static func unwrap(_ block: String, kbpk: [UInt8]) throws(Failure) -> (header: Header, key: [UInt8], padding: [UInt8]) {
        guard [16, 24, 32].contains(kbpk.count) else { throw .kbpkLength(kbpk.count) }
        let chars = Array(block.utf8)
        guard chars.count >= 16 + 32 + 32, chars.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw .malformed("too short") }
        let text = String(decoding: chars, as: UTF8.self)
        guard chars[0] == UInt8(ascii: "D") else { throw .malformed("version \(Character(UnicodeScalar(chars[0]))) (only D)") }
        guard let length = Int(String(decoding: chars[1..<5], as: UTF8.self)), length == chars.count else {
            throw .malformed("its length field does not match its length")
        }
        guard String(decoding: chars[12..<14], as: UTF8.self) == "00" else { throw .malformed("optional blocks are not supported") }
        let headerText = String(decoding: chars[0..<16], as: UTF8.self)
        let header = Header(keyUsage: String(decoding: chars[5..<7], as: UTF8.self), algorithm: Character(UnicodeScalar(chars[7])),
                            modeOfUse: Character(UnicodeScalar(chars[8])), keyVersion: String(decoding: chars[9..<11], as: UTF8.self),
                            exportability: Character(UnicodeScalar(chars[11])))
        let body = text.dropFirst(16)
        guard body.count % 32 == 0, let data = try? Hex.decode(body.dropLast(32)), let mac = try? Hex.decode(body.suffix(32)) else {
            throw .malformed("the encrypted key data is not whole AES blocks of hex")
        }
        let (kbek, kbak) = derive(kbpk)
        guard let decrypted = try? AES._CBC.decrypt(data, using: SymmetricKey(data: kbek), iv: AES._CBC.IV(ivBytes: mac), noPadding: true) else {
            throw .malformed("the key data does not decrypt")
        }
        let clear = Array(decrypted)
        let expected = cmac(Array(headerText.utf8) + clear, key: kbak)
        var diff: UInt8 = 0
        for (a, b) in zip(expected, mac) { diff |= a ^ b }
        guard diff == 0, expected.count == mac.count else { throw .macMismatch }
        let bits = Int(clear[0]) << 8 | Int(clear[1])
        guard bits % 8 == 0, bits > 0, 2 + bits / 8 <= clear.count else { throw .malformed("its key length does not fit") }
        return (header, Array(clear[2..<(2 + bits / 8)]), Array(clear[(2 + bits / 8)...]))
    }

    /// AES-CMAC under raw key bytes (`AESKey.cmac`); the callers pass 16, 24 or 32 bytes.
    static func cmac(_ data: [UInt8], key: [UInt8]) -> [UInt8] {
        (try? AESKey(key))?.cmac(data) ?? []
    }

    /// KBEK and KBAK: AES-CMAC under the KBPK of the derivation data (counter, usage
    /// 0000 encryption / 0001 MAC, separator, algorithm, length in bits), as many 16-byte
    /// outputs as the KBPK is long.
    static func derive(_ kbpk: [UInt8]) -> (kbek: [UInt8], kbak: [UInt8]) {
        let (algorithm, bits): ([UInt8], [UInt8]) = switch kbpk.count {
        case 16: ([0x00, 0x02], [0x00, 0x80])
        case 24: ([0x00, 0x03], [0x00, 0xC0])
        default: ([0x00, 0x04], [0x01, 0x00])
        }
        var kbek: [UInt8] = [], kbak: [UInt8] = []
        for counter in 1...(kbpk.count == 16 ? 1 : 2) {
            kbek += cmac([UInt8(counter), 0x00, 0x00, 0x00] + algorithm + bits, key: kbpk)
            kbak += cmac([UInt8(counter), 0x00, 0x01, 0x00] + algorithm + bits, key: kbpk)
        }
        return (Array(kbek.prefix(kbpk.count)), Array(kbak.prefix(kbpk.count)))
    }
}
