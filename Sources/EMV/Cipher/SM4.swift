/// SM4 (GB/T 32907-2016; ISO/IEC 18033-3:2010/Amd 1:2021), the block cipher of China's
/// commercial cryptography, used by PBOC 3.0 cards beside TDES and AES: 128-bit blocks,
/// a 128-bit key, 32 rounds of an unbalanced Feistel network. Written here because no
/// Swift package has it; proven against the standard's example and `gmssl` (PyPI) in
/// `SM4OracleTests`.
public struct SM4Key: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The 32 round keys, in encryption order.
    let roundKeys: [UInt32]
    private let material: [UInt8]

    /// 16 bytes.
    public init(_ bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == 16 else { throw .wrongLength(expected: "16", actual: bytes.count) }
        roundKeys = Self.expand(bytes)
        material = bytes
    }

    public init(hex: String) throws(KeyError) {
        let bytes: [UInt8]
        do { bytes = try Hex.decode(hex) } catch { throw .notHex(error) }
        try self.init(bytes)
    }

    /// One block (16 bytes) encrypted.
    public func encrypt(block: [UInt8]) throws(CipherError) -> [UInt8] {
        guard block.count == 16 else { throw .notWholeBlocks(length: block.count, blockSize: 16) }
        return Self.crypt(block, roundKeys, reversed: false)
    }

    /// One block (16 bytes) decrypted: the same rounds with the round keys reversed.
    public func decrypt(block: [UInt8]) throws(CipherError) -> [UInt8] {
        guard block.count == 16 else { throw .notWholeBlocks(length: block.count, blockSize: 16) }
        return Self.crypt(block, roundKeys, reversed: true)
    }

    /// Whole blocks, each on its own (ECB: single blocks, as key check values and tools use it).
    public func encrypt(blocks data: [UInt8]) throws(CipherError) -> [UInt8] { try each(data) { b throws(CipherError) in try encrypt(block: b) } }
    public func decrypt(blocks data: [UInt8]) throws(CipherError) -> [UInt8] { try each(data) { b throws(CipherError) in try decrypt(block: b) } }

    func each(_ data: [UInt8], _ one: ([UInt8]) throws(CipherError) -> [UInt8]) throws(CipherError) -> [UInt8] {
        guard !data.isEmpty, data.count % 16 == 0 else { throw .notWholeBlocks(length: data.count, blockSize: 16) }
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var start = 0
        while start < data.count {
            out += try one(Array(data[start..<(start + 16)]))
            start += 16
        }
        return out
    }

    /// CMAC (NIST SP 800-38B; ISO/IEC 9797-1 MAC algorithm 5) with SM4 as the block
    /// cipher, all 16 bytes: the MAC of the SM4 cryptogram profile.
    public func cmac(_ data: [UInt8]) -> [UInt8] {
        func doubled(_ block: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 16)
            for i in 0..<16 { out[i] = (block[i] << 1) | (i < 15 ? block[i + 1] >> 7 : 0) }
            if block[0] & 0x80 != 0 { out[15] ^= 0x87 }
            return out
        }
        let k1 = doubled(Self.crypt([UInt8](repeating: 0, count: 16), roundKeys, reversed: false))
        let k2 = doubled(k1)
        let blocks = max(1, (data.count + 15) / 16)
        let whole = !data.isEmpty && data.count % 16 == 0
        var last = Array(data[((blocks - 1) * 16)...])
        if whole {
            for i in 0..<16 { last[i] ^= k1[i] }
        } else {
            last.append(0x80)
            while last.count < 16 { last.append(0) }
            for i in 0..<16 { last[i] ^= k2[i] }
        }
        var x = [UInt8](repeating: 0, count: 16)
        for b in 0..<(blocks - 1) {
            for i in 0..<16 { x[i] ^= data[b * 16 + i] }
            x = Self.crypt(x, roundKeys, reversed: false)
        }
        for i in 0..<16 { x[i] ^= last[i] }
        return Self.crypt(x, roundKeys, reversed: false)
    }

    /// The key's bytes, for a tool that prints a derived key or a vault that seals it.
    public func exportKeyMaterial() -> [UInt8] { material }

    /// Key check value: the first three bytes of the encryption of a zero block.
    public var checkValue: [UInt8] { Array(Self.crypt([UInt8](repeating: 0, count: 16), roundKeys, reversed: false).prefix(3)) }

    public var description: String { "SM4Key(KCV \(checkValue.hex))" }
    public var debugDescription: String { description }

    // MARK: - The algorithm

    static let sbox: [UInt8] = [
        0xD6, 0x90, 0xE9, 0xFE, 0xCC, 0xE1, 0x3D, 0xB7, 0x16, 0xB6, 0x14, 0xC2, 0x28, 0xFB, 0x2C, 0x05,
        0x2B, 0x67, 0x9A, 0x76, 0x2A, 0xBE, 0x04, 0xC3, 0xAA, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99,
        0x9C, 0x42, 0x50, 0xF4, 0x91, 0xEF, 0x98, 0x7A, 0x33, 0x54, 0x0B, 0x43, 0xED, 0xCF, 0xAC, 0x62,
        0xE4, 0xB3, 0x1C, 0xA9, 0xC9, 0x08, 0xE8, 0x95, 0x80, 0xDF, 0x94, 0xFA, 0x75, 0x8F, 0x3F, 0xA6,
        0x47, 0x07, 0xA7, 0xFC, 0xF3, 0x73, 0x17, 0xBA, 0x83, 0x59, 0x3C, 0x19, 0xE6, 0x85, 0x4F, 0xA8,
        0x68, 0x6B, 0x81, 0xB2, 0x71, 0x64, 0xDA, 0x8B, 0xF8, 0xEB, 0x0F, 0x4B, 0x70, 0x56, 0x9D, 0x35,
        0x1E, 0x24, 0x0E, 0x5E, 0x63, 0x58, 0xD1, 0xA2, 0x25, 0x22, 0x7C, 0x3B, 0x01, 0x21, 0x78, 0x87,
        0xD4, 0x00, 0x46, 0x57, 0x9F, 0xD3, 0x27, 0x52, 0x4C, 0x36, 0x02, 0xE7, 0xA0, 0xC4, 0xC8, 0x9E,
        0xEA, 0xBF, 0x8A, 0xD2, 0x40, 0xC7, 0x38, 0xB5, 0xA3, 0xF7, 0xF2, 0xCE, 0xF9, 0x61, 0x15, 0xA1,
        0xE0, 0xAE, 0x5D, 0xA4, 0x9B, 0x34, 0x1A, 0x55, 0xAD, 0x93, 0x32, 0x30, 0xF5, 0x8C, 0xB1, 0xE3,
        0x1D, 0xF6, 0xE2, 0x2E, 0x82, 0x66, 0xCA, 0x60, 0xC0, 0x29, 0x23, 0xAB, 0x0D, 0x53, 0x4E, 0x6F,
        0xD5, 0xDB, 0x37, 0x45, 0xDE, 0xFD, 0x8E, 0x2F, 0x03, 0xFF, 0x6A, 0x72, 0x6D, 0x6C, 0x5B, 0x51,
        0x8D, 0x1B, 0xAF, 0x92, 0xBB, 0xDD, 0xBC, 0x7F, 0x11, 0xD9, 0x5C, 0x41, 0x1F, 0x10, 0x5A, 0xD8,
        0x0A, 0xC1, 0x31, 0x88, 0xA5, 0xCD, 0x7B, 0xBD, 0x2D, 0x74, 0xD0, 0x12, 0xB8, 0xE5, 0xB4, 0xB0,
        0x89, 0x69, 0x97, 0x4A, 0x0C, 0x96, 0x77, 0x7E, 0x65, 0xB9, 0xF1, 0x09, 0xC5, 0x6E, 0xC6, 0x84,
        0x18, 0xF0, 0x7D, 0xEC, 0x3A, 0xDC, 0x4D, 0x20, 0x79, 0xEE, 0x5F, 0x3E, 0xD7, 0xCB, 0x39, 0x48,
    ]

    /// The system parameter FK.
    static let fk: [UInt32] = [0xA3B1_BAC6, 0x56AA_3350, 0x677D_9197, 0xB270_22DC]

    /// The fixed parameters CK: byte j of CK[i] is (4i + j) × 7 mod 256.
    static let ck: [UInt32] = (0..<32).map { (i: Int) -> UInt32 in
        var word: UInt32 = 0
        for j in 0..<4 {
            let byte = UInt32(((4 * i + j) * 7) % 256)
            word = (word << 8) | byte
        }
        return word
    }

    /// τ: the S-box on each byte of a word.
    @inline(__always)
    static func tau(_ a: UInt32) -> UInt32 {
        let b0: UInt32 = UInt32(sbox[Int(a >> 24)]) << 24
        let b1: UInt32 = UInt32(sbox[Int((a >> 16) & 0xFF)]) << 16
        let b2: UInt32 = UInt32(sbox[Int((a >> 8) & 0xFF)]) << 8
        let b3: UInt32 = UInt32(sbox[Int(a & 0xFF)])
        return b0 | b1 | b2 | b3
    }

    @inline(__always)
    static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }

    /// T, the round's mixer: τ, then L(B) = B ⊕ (B ⋘ 2) ⊕ (B ⋘ 10) ⊕ (B ⋘ 18) ⊕ (B ⋘ 24).
    @inline(__always)
    static func t(_ x: UInt32) -> UInt32 {
        let b = tau(x)
        return b ^ rotl(b, 2) ^ rotl(b, 10) ^ rotl(b, 18) ^ rotl(b, 24)
    }

    /// T′, the key schedule's: τ, then L′(B) = B ⊕ (B ⋘ 13) ⊕ (B ⋘ 23).
    static func tPrime(_ x: UInt32) -> UInt32 {
        let b = tau(x)
        return b ^ rotl(b, 13) ^ rotl(b, 23)
    }

    static func words(_ bytes: [UInt8]) -> [UInt32] {
        (0..<4).map { (i: Int) -> UInt32 in
            let b0: UInt32 = UInt32(bytes[4 * i]) << 24
            let b1: UInt32 = UInt32(bytes[4 * i + 1]) << 16
            let b2: UInt32 = UInt32(bytes[4 * i + 2]) << 8
            return b0 | b1 | b2 | UInt32(bytes[4 * i + 3])
        }
    }

    static func expand(_ key: [UInt8]) -> [UInt32] {
        let mk = words(key)
        var k = (0..<4).map { mk[$0] ^ fk[$0] }
        var rk: [UInt32] = []
        rk.reserveCapacity(32)
        for i in 0..<32 {
            let next = k[i] ^ tPrime(k[i + 1] ^ k[i + 2] ^ k[i + 3] ^ ck[i])
            k.append(next)
            rk.append(next)
        }
        return rk
    }

    static func crypt(_ block: [UInt8], _ rk: [UInt32], reversed: Bool) -> [UInt8] {
        let w = words(block)
        var (x0, x1, x2, x3) = (w[0], w[1], w[2], w[3])
        for i in 0..<32 {
            let next = x0 ^ t(x1 ^ x2 ^ x3 ^ rk[reversed ? 31 - i : i])
            (x0, x1, x2, x3) = (x1, x2, x3, next)
        }
        // R: the last four words in reverse order.
        var out = [UInt8]()
        out.reserveCapacity(16)
        for word in [x3, x2, x1, x0] { out += [UInt8(word >> 24), UInt8((word >> 16) & 0xFF), UInt8((word >> 8) & 0xFF), UInt8(word & 0xFF)] }
        return out
    }
}
