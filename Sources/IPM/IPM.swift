/// IPM clearing messages: ISO 8583:1993 records as card clearing files carry them (the
/// layout the open `cardutil` library reads and writes, `cardutil.config["bit_config"]`):
/// a four-character MTI, a binary primary bitmap, data element 1 as a binary secondary
/// bitmap, then the elements present in order, each fixed or with a two- or three-digit
/// length; every character is in the file's character set (EBCDIC code page 500, or ISO
/// 8859-1), except the bitmaps and DE 55 (chip data), which are binary. Private data
/// elements (PDS) ride in DE 48, 62 and 123–125 (`IPMMessage.pds`).
public struct IPMMessage: Sendable, Equatable {
    /// Four digits: 1240 first presentment, 1442 chargeback, 1644 file header/trailer…
    public var mti: String
    /// Data elements 2–128 by number: text as ISO 8859-1 bytes, DE 55 as it is.
    public var fields: [Int: [UInt8]]

    public init(mti: String, fields: [Int: [UInt8]] = [:]) { self.mti = mti; self.fields = fields }

    /// A text element (ISO 8859-1; a character outside it is written `?`).
    public subscript(_ element: Int) -> String? {
        get { fields[element].map(Latin1.string) }
        set { fields[element] = newValue.map(Latin1.bytes) }
    }
}

/// Text as the files carry it: one byte per character, ISO 8859-1.
public enum Latin1 {
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        var s = ""
        for b in bytes { s.unicodeScalars.append(Unicode.Scalar(b)) }
        return s
    }
    public static func bytes(_ s: String) -> [UInt8] { s.unicodeScalars.map { $0.value <= 0xFF ? UInt8($0.value) : 0x3F } }
}

/// How one IPM data element is laid out.
public struct IPMField: Sendable, Equatable {
    public enum Length: Sendable, Equatable {
        case fixed(Int)
        /// Two digits of length, then up to `max` characters.
        case llvar(max: Int)
        /// Three digits of length, then up to `max` characters.
        case lllvar(max: Int)
    }
    public let length: Length
    /// Carried as bytes, not characters (DE 55).
    public let binary: Bool

    public static func fixed(_ n: Int) -> IPMField { IPMField(length: .fixed(n), binary: false) }
    public static func ll(_ max: Int = 99) -> IPMField { IPMField(length: .llvar(max: max), binary: false) }
    public static func lll(_ max: Int = 999) -> IPMField { IPMField(length: .lllvar(max: max), binary: false) }
}

/// The elements an IPM message may carry, as `cardutil` lays them out.
public enum IPMLayout {
    public static let fields: [Int: IPMField] = [
        2: .ll(19), 3: .fixed(6), 4: .fixed(12), 5: .fixed(12), 6: .fixed(12), 9: .fixed(8), 10: .fixed(8), 12: .fixed(12), 14: .fixed(4),
        22: .fixed(12), 23: .fixed(3), 24: .fixed(3), 25: .fixed(4), 26: .fixed(4), 30: .fixed(24), 31: .ll(23), 32: .ll(11), 33: .ll(11),
        37: .fixed(12), 38: .fixed(6), 40: .fixed(3), 41: .fixed(8), 42: .fixed(15), 43: .ll(99), 48: .lll(), 49: .fixed(3), 50: .fixed(3),
        51: .fixed(3), 54: .lll(), 55: IPMField(length: .lllvar(max: 255), binary: true), 62: .lll(), 63: .lll(16), 71: .fixed(8), 72: .lll(),
        73: .fixed(6), 93: .ll(11), 94: .ll(11), 95: .ll(10), 100: .ll(11), 105: .lll(), 111: .lll(), 123: .lll(), 124: .lll(), 125: .lll(),
        127: .lll(),
    ]
    /// The elements that carry private data elements, in the order they are filled.
    public static let pdsElements = [48, 62, 123, 124, 125]
}

public enum IPMError: Error, Equatable, CustomStringConvertible {
    /// The MTI is not four digits.
    case badMTI
    /// An element the layout does not have (on writing) or a bitmap naming one (on reading).
    case notInLayout(Int)
    /// An element's value does not fit its layout (length, or a character the file's
    /// character set cannot carry).
    case badValue(element: Int, reason: String)
    /// The record ends inside an element, or its length prefix is not digits.
    case truncated(element: Int)
    case badLength(element: Int)
    /// Bytes left after the last element the bitmap names.
    case trailingBytes(Int)
    case badPDS(element: Int)

    public var description: String {
        switch self {
        case .badMTI: "the MTI is not four digits"
        case .notInLayout(let n): "DE \(n) is not in the IPM layout"
        case .badValue(let n, let reason): "DE \(n): \(reason)"
        case .truncated(let n): "the record ends inside DE \(n)"
        case .badLength(let n): "DE \(n): its length prefix is not a length"
        case .trailingBytes(let n): "\(n) bytes after the last element"
        case .badPDS(let n): "DE \(n): private data elements that are not tag, length, data"
        }
    }
}

/// Writes and reads IPM records in one character set.
public struct IPMCodec: Sendable {
    public enum CharacterSet: Sendable { case ebcdic, latin1 }
    public let characterSet: CharacterSet

    public init(_ characterSet: CharacterSet = .ebcdic) { self.characterSet = characterSet }

    func text(_ latin1: [UInt8]) -> [UInt8] { characterSet == .ebcdic ? EBCDIC.encode(latin1) : latin1 }
    func latin1(_ bytes: ArraySlice<UInt8>) -> [UInt8] { characterSet == .ebcdic ? EBCDIC.decode(bytes) : Array(bytes) }

    public func pack(_ message: IPMMessage) throws(IPMError) -> [UInt8] {
        let mti = Array(message.mti.utf8)
        guard mti.count == 4, mti.allSatisfy({ (0x30...0x39).contains($0) }) else { throw .badMTI }
        var bitmap = [UInt8](repeating: 0, count: 16)
        var body: [UInt8] = []
        let present = message.fields.keys.sorted()
        for n in present {
            guard (2...128).contains(n), let spec = IPMLayout.fields[n] else { throw .notInLayout(n) }
            bitmap[(n - 1) / 8] |= 0x80 >> UInt8((n - 1) % 8)
            let value = message.fields[n] ?? []
            let encoded = spec.binary ? value : text(value)
            switch spec.length {
            case .fixed(let size):
                guard value.count == size else { throw .badValue(element: n, reason: "\(value.count) characters where \(size) are fixed") }
            case .llvar(let max), .lllvar(let max):
                guard value.count <= max else { throw .badValue(element: n, reason: "\(value.count) characters, at most \(max)") }
                let digits = spec.length == .llvar(max: max) ? 2 : 3
                body += text(Latin1.bytes(String(value.count).leftPadded(to: digits)))
            }
            body += encoded
        }
        // IPM always carries the secondary bitmap (bit 1 set), whether or not an element
        // above 64 is present; cardutil reads 16 bytes of bitmap in every record.
        bitmap[0] |= 0x80
        return text(mti) + bitmap + body
    }

    public func unpack(_ record: [UInt8]) throws(IPMError) -> IPMMessage {
        guard record.count >= 12 else { throw .truncated(element: 1) }
        let mti = latin1(record[0..<4])
        guard mti.allSatisfy({ (0x30...0x39).contains($0) }) else { throw .badMTI }
        var bitmap = Array(record[4..<12])
        var at = 12
        if bitmap[0] & 0x80 != 0 {
            guard record.count >= 20 else { throw .truncated(element: 1) }
            bitmap += record[12..<20]
            at = 20
        }
        var fields: [Int: [UInt8]] = [:]
        for n in 2...(bitmap.count * 8) where bitmap[(n - 1) / 8] & (0x80 >> UInt8((n - 1) % 8)) != 0 {
            guard let spec = IPMLayout.fields[n] else { throw .notInLayout(n) }
            var size: Int
            switch spec.length {
            case .fixed(let fixed): size = fixed
            case .llvar(let max), .lllvar(let max):
                let digits = spec.length == .llvar(max: max) ? 2 : 3
                guard record.count - at >= digits else { throw .truncated(element: n) }
                let prefix = latin1(record[at..<(at + digits)])
                guard prefix.allSatisfy({ (0x30...0x39).contains($0) }), let length = Int(Latin1.string(prefix)), length <= max else {
                    throw .badLength(element: n)
                }
                size = length
                at += digits
            }
            guard record.count - at >= size else { throw .truncated(element: n) }
            fields[n] = spec.binary ? Array(record[at..<(at + size)]) : latin1(record[at..<(at + size)])
            at += size
        }
        guard at == record.count else { throw .trailingBytes(record.count - at) }
        return IPMMessage(mti: Latin1.string(mti), fields: fields)
    }
}

extension String {
    /// Zero-padded on the left to `width` characters (numeric elements).
    public func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}

/// Private data elements: a four-digit tag, a three-digit length and the data, one after
/// another in DE 48, then 62, 123, 124 and 125 as each fills (999 characters each).
extension IPMMessage {
    /// Every PDS of the message, by tag.
    public func pds() throws(IPMError) -> [Int: String] {
        var result: [Int: String] = [:]
        for element in IPMLayout.pdsElements {
            guard let data = fields[element] else { continue }
            var at = 0
            while at < data.count {
                guard data.count - at >= 7, data[at..<(at + 7)].allSatisfy({ (0x30...0x39).contains($0) }),
                      let tag = Int(Latin1.string(data[at..<(at + 4)])), let length = Int(Latin1.string(data[(at + 4)..<(at + 7)])),
                      data.count - at - 7 >= length else {
                    throw .badPDS(element: element)
                }
                result[tag] = Latin1.string(data[(at + 7)..<(at + 7 + length)])
                at += 7 + length
            }
        }
        return result
    }

    /// Sets the private data elements (in tag order, as `cardutil` writes them), replacing
    /// those there were.
    public mutating func setPDS(_ pds: [Int: String]) throws(IPMError) {
        for element in IPMLayout.pdsElements { fields[element] = nil }
        var chunks: [[UInt8]] = [[]]
        for (tag, value) in pds.sorted(by: { $0.key < $1.key }) {
            let data = Latin1.bytes(value)
            guard (0...9999).contains(tag), data.count <= 992 else { throw .badPDS(element: 48) }
            let entry = Latin1.bytes(String(tag).leftPadded(to: 4) + String(data.count).leftPadded(to: 3)) + data
            if chunks[chunks.count - 1].count + entry.count > 999 { chunks.append([]) }
            chunks[chunks.count - 1] += entry
        }
        guard chunks.count <= IPMLayout.pdsElements.count else { throw .badPDS(element: 125) }
        for (chunk, element) in zip(chunks, IPMLayout.pdsElements) where !chunk.isEmpty { fields[element] = chunk }
    }
}
