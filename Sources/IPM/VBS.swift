/// The record format of IPM files: variable blocked spanned (VBS), each record preceded
/// by its length in four bytes, big-endian, the file ended by a record of length zero;
/// optionally 1014-blocked, every 1,012 bytes followed by two `0x40` bytes and the last
/// block padded with `0x40` to 1,012 (the layout `cardutil`'s `VbsWriter` writes).
public enum VBS {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case truncated(record: Int)
        case noEndRecord
        case badBlock(Int)
        case recordTooLong(Int)

        public var description: String {
            switch self {
            case .truncated(let n): "the file ends inside record \(n)"
            case .noEndRecord: "the file has no zero-length end record"
            case .badBlock(let n): "1014-byte block \(n) does not end with two 0x40 bytes, or is short"
            case .recordTooLong(let n): "record \(n) is longer than the format allows"
            }
        }
    }

    /// Records longer than this are refused (cardutil's limit).
    public static let maxRecordLength = 6000

    public static func write(_ records: [[UInt8]], blocked: Bool) throws(Error) -> [UInt8] {
        var out: [UInt8] = []
        for (i, record) in records.enumerated() {
            guard record.count <= maxRecordLength else { throw .recordTooLong(i) }
            let n = UInt32(record.count)
            out += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
            out += record
        }
        out += [0, 0, 0, 0]
        return blocked ? block(out) : out
    }

    public static func read(_ bytes: [UInt8], blocked: Bool) throws(Error) -> [[UInt8]] {
        let data = blocked ? try unblock(bytes) : bytes
        var records: [[UInt8]] = []
        var at = 0
        while true {
            guard data.count - at >= 4 else { throw .noEndRecord }
            let n = Int(data[at]) << 24 | Int(data[at + 1]) << 16 | Int(data[at + 2]) << 8 | Int(data[at + 3])
            at += 4
            if n == 0 { return records }
            guard n <= maxRecordLength else { throw .recordTooLong(records.count) }
            guard data.count - at >= n else { throw .truncated(record: records.count) }
            records.append(Array(data[at..<(at + n)]))
            at += n
        }
    }

    static func block(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((data.count / 1012 + 1) * 1014)
        var at = 0
        while at < data.count {
            let end = min(at + 1012, data.count)
            out += data[at..<end]
            out += [UInt8](repeating: 0x40, count: 1012 - (end - at) + 2)
            at = end
        }
        return out
    }

    static func unblock(_ bytes: [UInt8]) throws(Error) -> [UInt8] {
        guard bytes.count % 1014 == 0 else { throw .badBlock(bytes.count / 1014) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for (i, start) in stride(from: 0, to: bytes.count, by: 1014).enumerated() {
            guard bytes[start + 1012] == 0x40, bytes[start + 1013] == 0x40 else { throw .badBlock(i) }
            out += bytes[start..<(start + 1012)]
        }
        return out
    }
}
