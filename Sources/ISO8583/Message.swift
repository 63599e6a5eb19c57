import EMV

/// An ISO 8583 message: its Message Type Indicator and the data elements present.
///
/// Values are kept as the bytes that go on the wire without their length prefix:
/// ASCII text for n/an/ans/z/x+n fields, raw bytes for binary fields. The bitmaps are
/// not stored; they follow from which fields are present.
public struct Message: Sendable, Equatable {
    /// Four ASCII digits: version, class, function, origin (0100 = 1987 authorization request).
    public var mti: String
    private var storage: [[UInt8]?]

    public init(mti: String) {
        self.mti = mti
        self.storage = [[UInt8]?](repeating: nil, count: 129)
    }

    /// The raw value of field 2–128, or nil when absent. Setting nil removes it.
    public subscript(field: Int) -> [UInt8]? {
        get { (2...128).contains(field) ? storage[field] : nil }
        set {
            precondition((2...128).contains(field), "field \(field) is not a data field (2…128)")
            storage[field] = newValue
        }
    }

    /// A text field's value as a string.
    public func string(_ field: Int) -> String? {
        self[field].map { String(decoding: $0, as: UTF8.self) }
    }

    public mutating func set(_ field: Int, _ text: String) {
        self[field] = Array(text.utf8)
    }

    /// Field numbers present, ascending.
    public var presentFields: [Int] { (2...128).filter { storage[$0] != nil } }

    public var hasSecondaryBitmap: Bool {
        for f in 65...128 where storage[f] != nil { return true }
        return false
    }

    /// The primary and (when any field 65–128 is present) secondary bitmaps.
    public var bitmap: [UInt8] {
        let secondary = hasSecondaryBitmap
        var map = [UInt8](repeating: 0, count: secondary ? 16 : 8)
        if secondary { map[0] |= 0x80 }
        for f in 2...(secondary ? 128 : 64) where storage[f] != nil {
            map[(f - 1) / 8] |= 0x80 >> UInt8((f - 1) % 8)
        }
        return map
    }
}

extension Message: CustomStringConvertible {
    /// One line for logs: MTI and the fields present, with the PAN masked and binary
    /// data, PIN blocks and track data withheld.
    public var description: String {
        var parts = ["MTI \(mti)"]
        for f in presentFields {
            let value: String
            switch f {
            case 2: value = PAN.mask(string(2) ?? "")
            case 35, 36, 45, 52: value = "<withheld>"
            default:
                if MessageSpec.passway1987[f]?.type == .binary { value = "<\(self[f]!.count) bytes>" }
                else { value = string(f) ?? "" }
            }
            parts.append("\(f)=\(value)")
        }
        return parts.joined(separator: " ")
    }
}
