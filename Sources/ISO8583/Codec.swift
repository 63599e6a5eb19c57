/// Packs and unpacks messages against a `MessageSpec`: ASCII MTI, binary bitmaps,
/// then each present field in ascending order, each with its ASCII length prefix when
/// variable. Every read is bounds-checked; a malformed message is a `DecodeError`
/// naming the field and the byte offset, never a crash.
public struct ISO8583Codec: Sendable {
    public let spec: MessageSpec

    public init(spec: MessageSpec = .passway1987) {
        self.spec = spec
    }

    // MARK: Pack

    public func pack(_ message: Message) throws(EncodeError) -> [UInt8] {
        let mti = Array(message.mti.utf8)
        guard mti.count == 4, mti.allSatisfy({ $0 &- 0x30 < 10 }) else { throw .invalidMTI(message.mti) }
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out += mti
        out += message.bitmap
        for field in message.presentFields {
            guard let fieldSpec = spec[field] else { throw .fieldNotInSpec(field: field) }
            guard let value = message[field] else { continue }
            try validate(value, field: field, spec: fieldSpec)
            switch fieldSpec.length {
            case .fixed: break
            case .llvar: appendDigits(value.count, width: 2, to: &out)
            case .lllvar: appendDigits(value.count, width: 3, to: &out)
            }
            out += value
        }
        return out
    }

    private func validate(_ value: [UInt8], field: Int, spec: FieldSpec) throws(EncodeError) {
        switch spec.length {
        case .fixed(let n):
            guard value.count == n else { throw .wrongLength(field: field, expected: n, actual: value.count) }
        case .llvar(let max), .lllvar(let max):
            guard value.count <= max else { throw .tooLong(field: field, max: max, actual: value.count) }
        }
        if spec.type != .binary {
            for (i, byte) in value.enumerated() where !spec.allows(byte, at: i) {
                throw .invalidCharacter(field: field, position: i, type: spec.type)
            }
        }
    }

    @inline(__always)
    private func appendDigits(_ n: Int, width: Int, to out: inout [UInt8]) {
        if width == 3 { out.append(UInt8(0x30 + n / 100)) }
        out.append(UInt8(0x30 + (n / 10) % 10))
        out.append(UInt8(0x30 + n % 10))
    }

    // MARK: Unpack

    public func unpack(_ bytes: [UInt8]) throws(DecodeError) -> Message {
        try bytes.withUnsafeBufferPointer { (p) throws(DecodeError) -> Message in try unpack(p) }
    }

    public func unpack(_ p: UnsafeBufferPointer<UInt8>) throws(DecodeError) -> Message {
        guard p.count >= 4 else { throw .truncated(field: .mti, offset: 0, needed: 4, available: p.count) }
        for i in 0..<4 where p[i] &- 0x30 >= 10 { throw .invalidMTI(offset: i) }
        var message = Message(mti: String(decoding: UnsafeBufferPointer(rebasing: p[0..<4]), as: UTF8.self))
        var offset = 4
        guard p.count - offset >= 8 else { throw .truncated(field: .primaryBitmap, offset: offset, needed: 8, available: p.count - offset) }
        var primary: UInt64 = 0
        for i in 0..<8 { primary = primary << 8 | UInt64(p[offset + i]) }
        offset += 8
        var secondary: UInt64 = 0
        if primary & (1 << 63) != 0 {
            guard p.count - offset >= 8 else { throw .truncated(field: .secondaryBitmap, offset: offset, needed: 8, available: p.count - offset) }
            for i in 0..<8 { secondary = secondary << 8 | UInt64(p[offset + i]) }
            offset += 8
        }
        for field in 2...128 {
            let present = field <= 64 ? primary & (1 << UInt64(64 - field)) != 0 : secondary & (1 << UInt64(128 - field)) != 0
            guard present else { continue }
            guard let fieldSpec = spec[field] else { throw .fieldNotInSpec(field: field, offset: offset) }
            let length: Int
            switch fieldSpec.length {
            case .fixed(let n):
                length = n
            case .llvar(let max), .lllvar(let max):
                let digits = fieldSpec.length.prefixDigits
                guard p.count - offset >= digits else {
                    throw .truncated(field: .data(field), offset: offset, needed: digits, available: p.count - offset)
                }
                var n = 0
                for i in 0..<digits {
                    let d = p[offset + i] &- 0x30
                    guard d < 10 else { throw .invalidLengthPrefix(field: field, offset: offset) }
                    n = n * 10 + Int(d)
                }
                guard n <= max else { throw .fieldTooLong(field: field, offset: offset, max: max, length: n) }
                offset += digits
                length = n
            }
            guard p.count - offset >= length else {
                throw .truncated(field: .data(field), offset: offset, needed: length, available: p.count - offset)
            }
            if fieldSpec.type != .binary {
                for i in 0..<length where !fieldSpec.allows(p[offset + i], at: i) {
                    throw .invalidCharacter(field: field, offset: offset + i, type: fieldSpec.type)
                }
            }
            message[field] = Array(UnsafeBufferPointer(rebasing: p[offset..<offset + length]))
            offset += length
        }
        guard offset == p.count else { throw .trailingBytes(offset: offset, count: p.count - offset) }
        return message
    }
}

public enum EncodeError: Error, Equatable, CustomStringConvertible {
    case invalidMTI(String)
    case fieldNotInSpec(field: Int)
    case wrongLength(field: Int, expected: Int, actual: Int)
    case tooLong(field: Int, max: Int, actual: Int)
    case invalidCharacter(field: Int, position: Int, type: FieldSpec.DataType)
    case iccData(TLVErrorDescription)

    public var description: String {
        switch self {
        case .invalidMTI(let mti): "MTI must be four digits, got '\(mti)'"
        case .fieldNotInSpec(let f): "field \(f) is not defined in the spec"
        case .wrongLength(let f, let e, let a): "field \(f) must be exactly \(e) characters, got \(a)"
        case .tooLong(let f, let m, let a): "field \(f) may hold at most \(m), got \(a)"
        case .invalidCharacter(let f, let i, let t): "field \(f) character \(i + 1) is not allowed in type \(t.rawValue)"
        case .iccData(let e): "field 55: \(e.text)"
        }
    }
}

/// Where in the message a decode error happened.
public enum MessagePart: Sendable, Equatable, CustomStringConvertible {
    case mti, primaryBitmap, secondaryBitmap
    case data(Int)

    public var description: String {
        switch self {
        case .mti: "MTI"
        case .primaryBitmap: "primary bitmap"
        case .secondaryBitmap: "secondary bitmap"
        case .data(let f): "field \(f)"
        }
    }
}

public enum DecodeError: Error, Equatable, CustomStringConvertible {
    case invalidMTI(offset: Int)
    case truncated(field: MessagePart, offset: Int, needed: Int, available: Int)
    case fieldNotInSpec(field: Int, offset: Int)
    case invalidLengthPrefix(field: Int, offset: Int)
    case fieldTooLong(field: Int, offset: Int, max: Int, length: Int)
    case invalidCharacter(field: Int, offset: Int, type: FieldSpec.DataType)
    case trailingBytes(offset: Int, count: Int)
    /// Field 55 is not valid BER-TLV; the text names the tag path and offset within it.
    case iccData(TLVErrorDescription)

    /// The data element the error is in, when it is one (for response code 30 logs).
    public var field: Int? {
        switch self {
        case .truncated(.data(let f), _, _, _), .fieldNotInSpec(let f, _), .invalidLengthPrefix(let f, _),
             .fieldTooLong(let f, _, _, _), .invalidCharacter(let f, _, _):
            return f
        case .iccData: return 55
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .invalidMTI(let o): "MTI byte \(o) is not a digit"
        case .truncated(let part, let o, let n, let a): "\(part) at byte \(o) needs \(n) bytes, only \(a) remain"
        case .fieldNotInSpec(let f, let o): "bitmap announces field \(f) (at byte \(o)), which the spec does not define"
        case .invalidLengthPrefix(let f, let o): "field \(f) length prefix at byte \(o) is not digits"
        case .fieldTooLong(let f, let o, let m, let l): "field \(f) at byte \(o) declares length \(l), more than its maximum \(m)"
        case .invalidCharacter(let f, let o, let t): "field \(f) byte \(o) is not allowed in type \(t.rawValue)"
        case .trailingBytes(let o, let n): "\(n) unexpected bytes after the last field, from byte \(o)"
        case .iccData(let e): "field 55: \(e.text)"
        }
    }
}

/// A TLV error rendered as text, so that ISO 8583 errors stay `Equatable` and
/// `Sendable` without exposing EMV's error type in this module's API.
public struct TLVErrorDescription: Sendable, Equatable {
    public let text: String
}
