import Foundation

/// A clearing file as records: a 1644 header (function code 697, its file ID in PDS 0105),
/// the messages, and a 1644 trailer (function code 695, the number of records in PDS 0306,
/// header and trailer included, and optionally the sum of every DE 4 in PDS 0301).
public struct ClearingFile: Sendable {
    /// PDS 0105, 25 characters: file type (3 digits), date (YYMMDD), processor (11 digits:
    /// the sender's institution code, zero-padded), sequence (5 digits).
    public var id: String
    /// The records between header and trailer, in order; `nil` where a record could not be
    /// read, with why.
    public var records: [Result<IPMMessage, IPMError>]
    public var characterSet: IPMCodec.CharacterSet
    public var blocked: Bool

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case records(VBS.Error)
        case noHeader(String)
        case noTrailer(String)
        case badFileID(String)
        case wrongProcessor(fileID: String, institution: String)
        case countMismatch(trailer: Int, records: Int)
        case checksumMismatch(trailer: String, records: String)

        public var description: String {
            switch self {
            case .records(let e): "not a VBS file: \(e)"
            case .noHeader(let why): "the first record is not a file header (1644, function code 697, PDS 0105): \(why)"
            case .noTrailer(let why): "the last record is not a file trailer (1644, function code 695, PDS 0306): \(why)"
            case .badFileID(let id): "PDS 0105 is not a file ID (3-digit type, YYMMDD, 11-digit processor, 5-digit sequence): '\(id)'"
            case .wrongProcessor(let id, let institution): "file \(id) is not from this acquirer: its processor must be \(institution), zero-padded to 11 digits"
            case .countMismatch(let t, let r): "the trailer counts \(t) records (PDS 0306), the file has \(r)"
            case .checksumMismatch(let t, let r): "the trailer's amount checksum (PDS 0301) is \(t), the records' DE 4 add up to \(r)"
            }
        }
    }

    /// The file ID's parts.
    public static func validFileID(_ id: String) -> Bool {
        let u = Array(id.utf8)
        guard u.count == 25, u.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        let month = Int(String(decoding: u[5..<7], as: UTF8.self)) ?? 0, day = Int(String(decoding: u[7..<9], as: UTF8.self)) ?? 0
        return (1...12).contains(month) && (1...31).contains(day)
    }

    public static func processor(of id: String) -> String { String(id.dropFirst(9).prefix(11)) }

    /// Reads a file, finding its character set (EBCDIC when the first record's MTI is in
    /// code page 500 digits) and its blocking (1014-byte blocks when every block ends in
    /// two 0x40 bytes).
    public static func read(_ bytes: [UInt8]) throws(Error) -> ClearingFile {
        let blocked = bytes.count >= 1014 && bytes.count % 1014 == 0
            && stride(from: 0, to: bytes.count, by: 1014).allSatisfy { bytes[$0 + 1012] == 0x40 && bytes[$0 + 1013] == 0x40 }
        let raw: [[UInt8]]
        do { raw = try VBS.read(bytes, blocked: blocked) } catch { throw .records(error) }
        guard let first = raw.first, first.count >= 4 else { throw .noHeader("the file is empty") }
        let characterSet: IPMCodec.CharacterSet = (0xF0...0xF9).contains(first[0]) ? .ebcdic : .latin1
        let codec = IPMCodec(characterSet)
        let header: IPMMessage
        do { header = try codec.unpack(first) } catch { throw .noHeader("\(error)") }
        guard header.mti == "1644", header[24] == "697" else { throw .noHeader("MTI \(header.mti), function code \(header[24] ?? "none")") }
        guard let pds = try? header.pds(), let id = pds[105] else { throw .noHeader("no PDS 0105") }
        guard validFileID(id) else { throw .badFileID(id) }
        guard raw.count >= 2, let last = try? codec.unpack(raw[raw.count - 1]), last.mti == "1644", last[24] == "695" else {
            throw .noTrailer("the file ends without one")
        }
        guard let trailerPDS = try? last.pds(), let count = trailerPDS[306].flatMap({ Int($0) }) else { throw .noTrailer("no PDS 0306") }
        guard count == raw.count else { throw .countMismatch(trailer: count, records: raw.count) }
        let records = raw[1..<(raw.count - 1)].map { r in Result { () throws(IPMError) -> IPMMessage in try codec.unpack(r) } }
        if let checksum = trailerPDS[301] {
            var sum: Int64 = 0
            for case .success(let m) in records { sum &+= Int64(m[4] ?? "") ?? 0 }
            guard Int64(checksum) == sum else { throw .checksumMismatch(trailer: checksum, records: String(sum)) }
        }
        return ClearingFile(id: id, records: records, characterSet: characterSet, blocked: blocked)
    }

    /// Writes `messages` between a header with `id` and a trailer that counts them and
    /// sums their DE 4; DE 71 numbers every record from 1.
    public static func write(id: String, messages: [IPMMessage], characterSet: IPMCodec.CharacterSet = .ebcdic, blocked: Bool = true) throws -> [UInt8] {
        var header = IPMMessage(mti: "1644")
        header[24] = "697"
        try header.setPDS([105: id])
        var trailer = IPMMessage(mti: "1644")
        trailer[24] = "695"
        var sum: Int64 = 0
        for m in messages { sum &+= Int64(m[4] ?? "") ?? 0 }
        try trailer.setPDS([301: String(sum).leftPadded(to: 16), 306: String(messages.count + 2).leftPadded(to: 8)])
        let all = [header] + messages + [trailer]
        let codec = IPMCodec(characterSet)
        let records = try all.enumerated().map { i, m in
            var m = m
            m[71] = String(i + 1).leftPadded(to: 8)
            return try codec.pack(m)
        }
        return try VBS.write(records, blocked: blocked)
    }
}
