import Crypto
import _CryptoExtras

/// An AES key (128, 192 or 256 bits) for the EMV AES profile: AES session keys and
/// AES-CMAC cryptograms (EMV Book 2 A1.2.2, ISO/IEC 9797-1 MAC algorithm 5).
/// Like `TDESKey`, it prints its key check value and never its bytes.
public struct AESKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let key: SymmetricKey

    public init(_ bytes: [UInt8]) throws(KeyError) {
        guard [16, 24, 32].contains(bytes.count) else {
            throw .wrongLength(expected: "16, 24 or 32", actual: bytes.count)
        }
        key = SymmetricKey(data: bytes)
    }

    public init(hex: String) throws(KeyError) {
        let bytes: [UInt8]
        do { bytes = try Hex.decode(hex) } catch { throw .notHex(error) }
        try self.init(bytes)
    }

    public var byteCount: Int { key.bitCount / 8 }

    public func exportKeyMaterial() -> [UInt8] { key.withUnsafeBytes { Array($0) } }

    /// One AES block (16 bytes) through the forward cipher.
    public func encrypt(block: [UInt8]) throws(CipherError) -> [UInt8] {
        guard block.count == 16 else { throw .notWholeBlocks(length: block.count, blockSize: 16) }
        var out = block
        do { try AES.permute(&out, key: key) } catch { throw .backend("\(error)") }
        return out
    }

    /// AES-CMAC (NIST SP 800-38B, RFC 4493) of `data`, all 16 bytes.
    public func cmac(_ data: [UInt8]) -> [UInt8] {
        // Only fails for key sizes that `init` already refused.
        var mac = try! AES.CMAC(key: key)
        mac.update(data: data)
        return mac.finalize().withUnsafeBytes { Array($0) }
    }

    /// Key check value: the first three bytes of the encryption of a zero block.
    public var checkValue: [UInt8] { Array((try! encrypt(block: [UInt8](repeating: 0, count: 16))).prefix(3)) }

    public var description: String { "AESKey(\(byteCount * 8) bits, KCV \(checkValue.hex))" }
    public var debugDescription: String { description }
}
