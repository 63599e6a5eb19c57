/// ISO/IEC 9797-1 message authentication codes with a 64-bit block cipher (DES/TDES),
/// the MACs of EMV cryptograms (EMV Book 2 A1.2.1) and of ISO 8583 field 64/128.
public enum ISO9797 {
    /// ISO/IEC 9797-1 §6.1 padding methods.
    public enum Padding: Int, Sendable, CaseIterable {
        /// Method 1: zero bytes up to a whole block (none if already whole; empty data
        /// becomes one zero block).
        case method1 = 1
        /// Method 2: one `80` byte, then zeros up to a whole block (the EMV choice).
        case method2 = 2
    }

    public static func pad(_ data: [UInt8], _ padding: Padding, blockSize: Int = 8) -> [UInt8] {
        var out = data
        switch padding {
        case .method1:
            if out.isEmpty || out.count % blockSize != 0 {
                out.append(contentsOf: repeatElement(0, count: blockSize - out.count % blockSize))
            }
        case .method2:
            out.append(0x80)
            if out.count % blockSize != 0 {
                out.append(contentsOf: repeatElement(0, count: blockSize - out.count % blockSize))
            }
        }
        return out
    }

    /// MAC algorithm 1: CBC-MAC with the whole key on every block.
    public static func macAlgorithm1(key: TDESKey, data: [UInt8], padding: Padding, length: Int = 8) -> [UInt8] {
        let padded = pad(data, padding)
        var chain: UInt64 = 0
        forEachBlock(padded) { chain = key.encrypt(block: chain ^ $0) }
        return Array(chain.bigEndianBytes.prefix(length))
    }

    /// MAC algorithm 3 ("retail MAC"): single DES under the left half of the key on
    /// every block, then decrypt with the right half and encrypt with the left half on
    /// the last one. EMV's ARQC with a double-length key.
    public static func macAlgorithm3(key: TDESKey, data: [UInt8], padding: Padding, length: Int = 8) -> [UInt8] {
        let padded = pad(data, padding)
        let left = key.left, right = key.right
        var chain: UInt64 = 0
        forEachBlock(padded) { chain = left.crypt(chain ^ $0, decrypt: false) }
        chain = left.crypt(right.crypt(chain, decrypt: true), decrypt: false)
        return Array(chain.bigEndianBytes.prefix(length))
    }

    @inline(__always)
    private static func forEachBlock(_ data: [UInt8], _ body: (UInt64) -> Void) {
        data.withUnsafeBufferPointer { p in
            var offset = 0
            while offset < p.count {
                var v: UInt64 = 0
                for i in offset..<offset + 8 { v = v << 8 | UInt64(p[i]) }
                body(v)
                offset += 8
            }
        }
    }
}
