/// Triple DES modes of operation (NIST SP 800-38A, ECB and CBC) on whole blocks.
/// EMV never pads inside the cipher: callers pad first (ISO 9797-1) and pass whole blocks.
public enum TDES {
    public static func encryptECB(_ data: [UInt8], key: TDESKey) throws(CipherError) -> [UInt8] {
        try mapBlocks(data) { key.encrypt(block: $0) }
    }

    public static func decryptECB(_ data: [UInt8], key: TDESKey) throws(CipherError) -> [UInt8] {
        try mapBlocks(data) { key.decrypt(block: $0) }
    }

    public static func encryptCBC(_ data: [UInt8], key: TDESKey, iv: [UInt8] = [UInt8](repeating: 0, count: 8)) throws(CipherError) -> [UInt8] {
        guard iv.count == 8 else { throw .wrongIVLength(iv.count) }
        var chain = UInt64(bigEndianBytes: iv)
        return try mapBlocks(data) { block in
            chain = key.encrypt(block: block ^ chain)
            return chain
        }
    }

    public static func decryptCBC(_ data: [UInt8], key: TDESKey, iv: [UInt8] = [UInt8](repeating: 0, count: 8)) throws(CipherError) -> [UInt8] {
        guard iv.count == 8 else { throw .wrongIVLength(iv.count) }
        var chain = UInt64(bigEndianBytes: iv)
        return try mapBlocks(data) { block in
            let plain = key.decrypt(block: block) ^ chain
            chain = block
            return plain
        }
    }

    private static func mapBlocks(_ data: [UInt8], _ transform: (UInt64) -> UInt64) throws(CipherError) -> [UInt8] {
        guard data.count % 8 == 0 else { throw .notWholeBlocks(length: data.count, blockSize: 8) }
        var out = [UInt8]()
        out.reserveCapacity(data.count)
        var offset = 0
        while offset < data.count {
            let block = transform(UInt64(bigEndianBytes: data[offset..<offset + 8]))
            out.append(contentsOf: block.bigEndianBytes)
            offset += 8
        }
        return out
    }
}

public enum CipherError: Error, Equatable, CustomStringConvertible {
    case notWholeBlocks(length: Int, blockSize: Int)
    case wrongIVLength(Int)
    case backend(String)

    public var description: String {
        switch self {
        case .notWholeBlocks(let length, let blockSize): "data of \(length) bytes is not a whole number of \(blockSize)-byte blocks"
        case .wrongIVLength(let n): "IV must be one block, got \(n) bytes"
        case .backend(let message): "cipher failed: \(message)"
        }
    }
}
