/// An ISO 4217 currency: its alphabetic and numeric codes and its minor-unit exponent,
/// which says how many decimals an ISO 8583 amount (fields 4, 5, 6) carries.
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    public let alpha: String
    /// Three digits, as fields 49, 50 and 51 carry it.
    public let numeric: String
    /// Digits after the decimal point: 2 for RUB, 0 for JPY, 3 for KWD.
    public let exponent: Int

    public var description: String { alpha }

    public static func alpha(_ code: String) -> Currency? { byAlpha[code.uppercased()] }
    public static func numeric(_ code: String) -> Currency? { byNumeric[code] }

    /// The currencies of the markets Passway rolls out to, their neighbours, and the
    /// exponent cases tests need (0: JPY, KRW; 3: KWD, BHD, JOD, OMR, TND).
    public static let all: [Currency] = [
        .init("RUB", "643", 2), .init("CNY", "156", 2), .init("BYN", "933", 2), .init("KZT", "398", 2),
        .init("AMD", "051", 2), .init("PLN", "985", 2), .init("CZK", "203", 2), .init("EUR", "978", 2),
        .init("HUF", "348", 2), .init("RON", "946", 2), .init("BGN", "975", 2), .init("RSD", "941", 2),
        .init("UZS", "860", 2), .init("KGS", "417", 2), .init("TRY", "949", 2), .init("GEL", "981", 2),
        .init("AZN", "944", 2), .init("USD", "840", 2), .init("GBP", "826", 2), .init("CHF", "756", 2),
        .init("AED", "784", 2), .init("INR", "356", 2), .init("THB", "764", 2), .init("VND", "704", 0),
        .init("JPY", "392", 0), .init("KRW", "410", 0), .init("KWD", "414", 3), .init("BHD", "048", 3),
        .init("JOD", "400", 3), .init("OMR", "512", 3), .init("TND", "788", 3),
    ]

    init(_ alpha: String, _ numeric: String, _ exponent: Int) {
        self.alpha = alpha; self.numeric = numeric; self.exponent = exponent
    }

    private static let byAlpha = Dictionary(uniqueKeysWithValues: all.map { ($0.alpha, $0) })
    private static let byNumeric = Dictionary(uniqueKeysWithValues: all.map { ($0.numeric, $0) })
}
