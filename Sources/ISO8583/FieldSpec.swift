/// How one data element is written on the wire, as ISO 8583:1987 §4 describes it:
/// its character set and whether its length is fixed or carried in an LL/LLL prefix.
/// A message layout is a table of these (`MessageSpec`), and the codec is generic
/// over the table.
public struct FieldSpec: Sendable, Equatable {
    /// ISO 8583:1987 §4.1 data element types.
    public enum DataType: String, Sendable, Equatable {
        /// n: digits 0–9.
        case numeric = "n"
        /// an: letters and digits (space allowed, as fields are space-padded).
        case alphanumeric = "an"
        /// ans: any printable ASCII character.
        case alphanumericSpecial = "ans"
        /// b: binary, carried as raw bytes.
        case binary = "b"
        /// z: track 2/3 code set: digits and the separator (`=` or `D`).
        case track = "z"
        /// x+n: `C` (credit) or `D` (debit) followed by digits.
        case signedAmount = "x+n"
    }

    public enum Length: Sendable, Equatable {
        /// Exactly this many characters (bytes for binary fields).
        case fixed(Int)
        /// Two ASCII digits of length, then up to `max`.
        case llvar(max: Int)
        /// Three ASCII digits of length, then up to `max`.
        case lllvar(max: Int)

        /// Digits of the length prefix.
        var prefixDigits: Int {
            switch self {
            case .fixed: 0
            case .llvar: 2
            case .lllvar: 3
            }
        }

        var max: Int {
            switch self {
            case .fixed(let n), .llvar(let n), .lllvar(let n): n
            }
        }
    }

    public let type: DataType
    public let length: Length
    public let name: String

    public init(type: DataType, length: Length, name: String) {
        self.type = type
        self.length = length
        self.name = name
    }

    public static func fixed(_ type: DataType, _ length: Int, _ name: String) -> FieldSpec {
        FieldSpec(type: type, length: .fixed(length), name: name)
    }

    public static func llvar(_ type: DataType, max: Int, _ name: String) -> FieldSpec {
        precondition(max <= 99)
        return FieldSpec(type: type, length: .llvar(max: max), name: name)
    }

    public static func lllvar(_ type: DataType, max: Int, _ name: String) -> FieldSpec {
        precondition(max <= 999)
        return FieldSpec(type: type, length: .lllvar(max: max), name: name)
    }

    /// Whether `byte` belongs to this field's character set.
    @inline(__always)
    func allows(_ byte: UInt8, at index: Int) -> Bool {
        switch type {
        case .binary: return true
        case .numeric: return byte &- 0x30 < 10
        case .alphanumeric:
            return byte &- 0x30 < 10 || byte &- 0x41 < 26 || byte &- 0x61 < 26 || byte == 0x20
        case .alphanumericSpecial: return byte >= 0x20 && byte <= 0x7E
        case .track: return byte &- 0x30 < 10 || byte == 0x3D || byte == 0x44
        case .signedAmount: return index == 0 ? (byte == 0x43 || byte == 0x44) : byte &- 0x30 < 10
        }
    }
}

/// A message layout: field number → how it is written. Fields 2–128; field 1 is the
/// secondary bitmap and is implied by the presence of any field 65–128.
public struct MessageSpec: Sendable, ExpressibleByDictionaryLiteral {
    let fields: [FieldSpec?]

    public init(dictionaryLiteral elements: (Int, FieldSpec)...) {
        var fields = [FieldSpec?](repeating: nil, count: 129)
        for (number, spec) in elements {
            precondition((2...128).contains(number), "field \(number) is not a data field")
            precondition(fields[number] == nil, "field \(number) defined twice")
            fields[number] = spec
        }
        self.fields = fields
    }

    public subscript(field: Int) -> FieldSpec? {
        (2...128).contains(field) ? fields[field] : nil
    }

    public var definedFields: [Int] { (2...128).filter { fields[$0] != nil } }
}
