/// A primary account number (ISO/IEC 7812): 12 to 19 digits, the last a Luhn check
/// digit. Printing one shows the first six and last four digits only (PCI DSS 3.4);
/// the full number is `digits`, which callers use only where the protocol demands it.
public struct PAN: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let digits: String

    /// Validates length, digits only, and the Luhn check digit.
    public init(_ digits: String) throws(CardDataError) {
        try self.init(unchecked: digits)
        guard Luhn.isValid(digits) else { throw .luhnCheckFailed(masked: PAN.mask(digits)) }
    }

    /// Validates length and digits but not the check digit: for oracles and tools that
    /// derive keys from arbitrary numbers.
    public init(unchecked digits: String) throws(CardDataError) {
        guard (12...19).contains(digits.utf8.count) else { throw .panLength(digits.utf8.count) }
        guard digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .notDigits(field: "PAN") }
        self.digits = digits
    }

    /// The first six digits: the issuer identification number (BIN).
    public var bin: String { String(digits.prefix(6)) }
    public var lastFour: String { String(digits.suffix(4)) }

    public var masked: String { PAN.mask(digits) }
    public var description: String { masked }
    public var debugDescription: String { "PAN(\(masked))" }

    /// First six, last four, the rest as `*`; shorter strings are masked whole.
    public static func mask(_ digits: String) -> String {
        let n = digits.count
        guard n > 10 else { return String(repeating: "*", count: n) }
        return String(digits.prefix(6)) + String(repeating: "*", count: n - 10) + String(digits.suffix(4))
    }
}

/// PAN sequence number (tag 5F34), two digits; 00 when the card has none.
public struct PANSequenceNumber: Sendable, Hashable {
    public let value: UInt8
    public static let zero = PANSequenceNumber(unchecked: 0)

    public init(_ value: UInt8) throws(CardDataError) {
        guard value <= 99 else { throw .outOfRange(field: "PAN sequence number", value: Int(value), max: 99) }
        self.value = value
    }

    public init(digits: String) throws(CardDataError) {
        guard digits.utf8.count == 2, let v = UInt8(digits) else { throw .notDigits(field: "PAN sequence number (two digits)") }
        try self.init(v)
    }

    private init(unchecked value: UInt8) { self.value = value }

    public var digits: String { value < 10 ? "0\(value)" : "\(value)" }
}

/// Application Transaction Counter (tag 9F36): two bytes that the card increments on
/// every transaction and that select the session key.
public struct ApplicationTransactionCounter: Sendable, Hashable, Comparable {
    public let value: UInt16
    public init(_ value: UInt16) { self.value = value }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
    public var bytes: [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
}

public enum CardDataError: Error, Equatable, CustomStringConvertible {
    case panLength(Int)
    case notDigits(field: String)
    case luhnCheckFailed(masked: String)
    case outOfRange(field: String, value: Int, max: Int)
    case malformedTrack2(String)

    public var description: String {
        switch self {
        case .panLength(let n): "card number must have 12 to 19 digits, got \(n)"
        case .notDigits(let field): "\(field) must be digits only"
        case .luhnCheckFailed(let masked): "card number \(masked) fails the Luhn check"
        case .outOfRange(let field, let value, let max): "\(field) \(value) is out of range (0…\(max))"
        case .malformedTrack2(let why): "track 2 data: \(why)"
        }
    }
}
