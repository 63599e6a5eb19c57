/// BER-TLV as EMV uses it (EMV Book 3, Annex B; ISO/IEC 8825-1): tags of one to four
/// bytes, definite lengths in short or long form, constructed objects nesting others.
///
/// The decoder never trusts a length: every read is bounded by its parent, nesting is
/// bounded by `maxDepth`, and a malformed input is a typed error naming the byte offset
/// and the path of tags it was inside.
public struct Tag: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The tag bytes as a big-endian number (9F36 is 0x9F36).
    public let value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(hex: String) throws(TLVError) {
        guard let bytes = try? Hex.decode(hex), (1...4).contains(bytes.count) else { throw .invalidTagText(hex) }
        var v: UInt32 = 0
        for b in bytes { v = v << 8 | UInt32(b) }
        self.value = v
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        var v = value
        repeat { out.insert(UInt8(v & 0xFF), at: 0); v >>= 8 } while v != 0
        return out
    }

    private var firstByte: UInt8 { bytes[0] }
    /// Bit 6 of the first byte: the value is itself a sequence of TLV objects.
    public var isConstructed: Bool { firstByte & 0x20 != 0 }
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
    public static func < (a: Tag, b: Tag) -> Bool { a.value < b.value }
}

/// One data object: a tag with either bytes or nested objects.
public struct TLV: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case primitive([UInt8])
        case constructed([TLV])
    }

    public var tag: Tag
    public var value: Value

    public init(_ tag: Tag, _ bytes: [UInt8]) {
        self.tag = tag
        self.value = .primitive(bytes)
    }

    public init(_ tag: Tag, children: [TLV]) {
        self.tag = tag
        self.value = .constructed(children)
    }

    /// The primitive value, or the encoding of the children.
    public var valueBytes: [UInt8] {
        switch value {
        case .primitive(let b): b
        case .constructed(let c): BERTLV.encode(c)
        }
    }

    public var children: [TLV] {
        if case .constructed(let c) = value { return c }
        return []
    }
}

extension Array where Element == TLV {
    /// The first object with `tag`, searching into constructed objects depth first.
    public func first(_ tag: Tag) -> TLV? {
        for object in self {
            if object.tag == tag { return object }
            if case .constructed(let c) = object.value, let found = c.first(tag) { return found }
        }
        return nil
    }

    /// The primitive value of the first object with `tag`.
    public func value(_ tag: Tag) -> [UInt8]? {
        guard let object = first(tag), case .primitive(let bytes) = object.value else { return nil }
        return bytes
    }
}

public enum BERTLV {
    /// Deeper nesting than any EMV template uses; bounds recursion on hostile input.
    public static let maxDepth = 8

    public static func decode(_ data: [UInt8]) throws(TLVError) -> [TLV] {
        try data.withUnsafeBufferPointer { (buffer) throws(TLVError) -> [TLV] in
            var offset = 0
            return try decodeSequence(buffer, &offset, end: buffer.count, depth: 0, path: [])
        }
    }

    private static func decodeSequence(_ p: UnsafeBufferPointer<UInt8>, _ offset: inout Int, end: Int, depth: Int, path: [Tag]) throws(TLVError) -> [TLV] {
        var objects: [TLV] = []
        while offset < end {
            let start = offset
            // Tag: low five bits all set means more bytes follow; each further byte with
            // bit 8 set means yet another.
            var tagValue = UInt32(p[offset])
            offset += 1
            if p[start] & 0x1F == 0x1F {
                while true {
                    guard offset < end else { throw .truncatedTag(offset: start, path: path) }
                    guard offset - start < 4 else { throw .tagTooLong(offset: start, path: path) }
                    let b = p[offset]
                    tagValue = tagValue << 8 | UInt32(b)
                    offset += 1
                    if b & 0x80 == 0 { break }
                }
            }
            let tag = Tag(tagValue)
            guard offset < end else { throw .truncatedLength(tag: tag, offset: offset, path: path) }
            var length = Int(p[offset])
            offset += 1
            if length & 0x80 != 0 {
                let count = length & 0x7F
                guard count != 0 else { throw .indefiniteLength(tag: tag, offset: offset - 1, path: path) }
                guard count <= 3 else { throw .lengthTooLong(tag: tag, offset: offset - 1, lengthBytes: count, path: path) }
                guard offset + count <= end else { throw .truncatedLength(tag: tag, offset: offset, path: path) }
                length = 0
                for _ in 0..<count { length = length << 8 | Int(p[offset]); offset += 1 }
            }
            guard length <= end - offset else {
                throw .valueOverrun(tag: tag, offset: offset, declared: length, available: end - offset, path: path)
            }
            if tag.isConstructed {
                guard depth < maxDepth else { throw .nestingTooDeep(tag: tag, offset: start, path: path) }
                let children = try decodeSequence(p, &offset, end: offset + length, depth: depth + 1, path: path + [tag])
                objects.append(TLV(tag, children: children))
            } else {
                objects.append(TLV(tag, Array(p[offset..<offset + length])))
                offset += length
            }
        }
        return objects
    }

    public static func encode(_ objects: [TLV]) -> [UInt8] {
        var out: [UInt8] = []
        for object in objects { append(object, to: &out) }
        return out
    }

    public static func encode(_ object: TLV) -> [UInt8] { encode([object]) }

    private static func append(_ object: TLV, to out: inout [UInt8]) {
        out += object.tag.bytes
        let value = object.valueBytes
        appendLength(value.count, to: &out)
        out += value
    }

    /// Short form below 128, otherwise 81/82/83 and the fewest bytes (DER).
    static func appendLength(_ length: Int, to out: inout [UInt8]) {
        precondition(length >= 0 && length < 1 << 24, "TLV value too long to encode")
        if length < 0x80 {
            out.append(UInt8(length))
        } else if length <= 0xFF {
            out += [0x81, UInt8(length)]
        } else if length <= 0xFFFF {
            out += [0x82, UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            out += [0x83, UInt8(length >> 16), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
        }
    }
}

public enum TLVError: Error, Equatable, CustomStringConvertible {
    case truncatedTag(offset: Int, path: [Tag])
    case tagTooLong(offset: Int, path: [Tag])
    case truncatedLength(tag: Tag, offset: Int, path: [Tag])
    case indefiniteLength(tag: Tag, offset: Int, path: [Tag])
    case lengthTooLong(tag: Tag, offset: Int, lengthBytes: Int, path: [Tag])
    case valueOverrun(tag: Tag, offset: Int, declared: Int, available: Int, path: [Tag])
    case nestingTooDeep(tag: Tag, offset: Int, path: [Tag])
    case invalidTagText(String)

    public var description: String {
        func at(_ path: [Tag]) -> String { path.isEmpty ? "" : " inside \(path.map(\.hex).joined(separator: "/"))" }
        switch self {
        case .truncatedTag(let o, let p): return "tag at byte \(o)\(at(p)) is cut off"
        case .tagTooLong(let o, let p): return "tag at byte \(o)\(at(p)) is longer than 4 bytes"
        case .truncatedLength(let t, let o, let p): return "length of tag \(t) at byte \(o)\(at(p)) is cut off"
        case .indefiniteLength(let t, let o, let p): return "tag \(t) at byte \(o)\(at(p)) has an indefinite length, which EMV does not allow"
        case .lengthTooLong(let t, let o, let n, let p): return "tag \(t) at byte \(o)\(at(p)) has a \(n)-byte length field (at most 3)"
        case .valueOverrun(let t, let o, let d, let a, let p): return "tag \(t) at byte \(o)\(at(p)) declares \(d) bytes but only \(a) remain"
        case .nestingTooDeep(let t, let o, let p): return "tag \(t) at byte \(o)\(at(p)) nests deeper than \(BERTLV.maxDepth) levels"
        case .invalidTagText(let s): return "'\(s)' is not a tag (1 to 4 bytes of hex)"
        }
    }
}
