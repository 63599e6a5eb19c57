import ISO8583
import Participants

/// The network's rate table: how many units of each currency one US dollar buys
/// (mid-market, fixed to six decimals), and the markup the network adds when it bills a
/// cardholder in a currency other than the transaction's (DESIGN.md step 5).
///
/// Conversion is integer arithmetic throughout, so every amount can be recomputed
/// exactly by anyone who reads fields 4, 10 and 6:
///
///     billing minor units = round half up( amount minor units × rate × 10^(e_billing − e_transaction) )
///
/// where `rate` is exactly what field 10 says (seven significant digits at most).
public struct ExchangeRates: Sendable, Equatable {
    /// Units per US dollar × 1,000,000, by ISO 4217 alpha code.
    public var microUnitsPerUSD: [String: Int64]
    /// Added to the mid-market cross rate, in basis points (100 = 1%).
    public var markupBasisPoints: Int

    public init(microUnitsPerUSD: [String: Int64], markupBasisPoints: Int) {
        self.microUnitsPerUSD = microUnitsPerUSD
        self.markupBasisPoints = markupBasisPoints
    }

    /// A fixed table of one day's rates: the demo's seed and the tests' (the network's own
    /// rates are the operator's, `ExchangeRateBook`).
    public static let reference = ExchangeRates(microUnitsPerUSD: [
        "USD": 1_000_000, "EUR": 860_000, "GBP": 760_000, "CHF": 800_000,
        "RUB": 80_500_000, "CNY": 7_120_000, "BYN": 3_270_000, "KZT": 515_000_000,
        "AMD": 387_000_000, "PLN": 3_650_000, "CZK": 20_900_000, "HUF": 331_000_000,
        "RON": 4_370_000, "BGN": 1_680_000, "RSD": 101_000_000, "UZS": 12_000_000_000,
        "KGS": 87_400_000, "TRY": 42_000_000, "GEL": 2_700_000, "AZN": 1_700_000,
        "AED": 3_672_500, "INR": 88_500_000, "THB": 32_400_000, "VND": 26_300_000_000,
        "JPY": 155_300_000, "KRW": 1_465_000_000, "KWD": 306_900, "BHD": 376_000,
        "JOD": 709_000, "OMR": 384_500, "TND": 2_950_000,
    ], markupBasisPoints: 100)

    public enum ConversionError: Error, Equatable, CustomStringConvertible {
        case noRate(String)
        case rateOutOfRange(from: String, to: String)
        case amountOutOfRange

        public var description: String {
            switch self {
            case .noRate(let c): "no exchange rate for \(c)"
            case .rateOutOfRange(let f, let t): "the \(f)→\(t) rate does not fit field 10"
            case .amountOutOfRange: "the converted amount does not fit field 6"
            }
        }
    }

    /// Field 10: eight digits, the first says how many of the other seven are decimals.
    public struct Rate: Sendable, Equatable, CustomStringConvertible {
        /// The seven digits as a number (0…9,999,999).
        public let digits: Int64
        /// How many of them are decimals (0…7).
        public let decimals: Int

        public init(digits: Int64, decimals: Int) { self.digits = digits; self.decimals = decimals }

        public init?(field10: String) {
            guard field10.count == 8, field10.allSatisfy(\.isASCIIDigit), let d = Int(field10.prefix(1)), d <= 7,
                  let v = Int64(field10.dropFirst()) else { return nil }
            self.init(digits: v, decimals: d)
        }

        public var field10: String {
            String(decimals) + String(repeating: "0", count: 7 - String(digits).count) + String(digits)
        }

        public var description: String {
            var s = String(digits)
            if decimals > 0 {
                s = String(repeating: "0", count: max(0, decimals + 1 - s.count)) + s
                s.insert(".", at: s.index(s.endIndex, offsetBy: -decimals))
            }
            return s
        }
    }

    /// The billing rate (with markup) for one major unit of `from` in `to`, rounded half up
    /// to the most significant digits field 10 can carry.
    public func rate(from: Currency, to: Currency) throws(ConversionError) -> Rate {
        guard let f = microUnitsPerUSD[from.alpha] else { throw .noRate(from.alpha) }
        guard let t = microUnitsPerUSD[to.alpha] else { throw .noRate(to.alpha) }
        return try Self.rate(from: from, f, to: to, t, markupBasisPoints: markupBasisPoints)
    }

    /// The billing rate between two currencies given their units per US dollar × 10⁶.
    static func rate(from: Currency, _ f: Int64, to: Currency, _ t: Int64, markupBasisPoints: Int) throws(ConversionError) -> Rate {
        guard f > 0 else { throw .noRate(from.alpha) }
        guard t > 0 else { throw .noRate(to.alpha) }
        // rate = t / f × (10000 + markup) / 10000, scaled by 10^decimals.
        let numerator = Int128(t) * Int128(10_000 + markupBasisPoints)
        let denominator = Int128(f) * 10_000
        for decimals in stride(from: 7, through: 0, by: -1) {
            let scaled = Self.roundHalfUp(numerator * Self.pow10(decimals), denominator)
            if scaled <= 9_999_999 { return Rate(digits: Int64(scaled), decimals: decimals) }
        }
        throw .rateOutOfRange(from: from.alpha, to: to.alpha)
    }

    /// `amountMinor` of `from` in minor units of `to` at `rate`, rounded half up.
    public static func convert(_ amountMinor: Int64, from: Currency, to: Currency, at rate: Rate) throws(ConversionError) -> Int64 {
        var numerator = Int128(amountMinor) * Int128(rate.digits)
        var denominator = pow10(rate.decimals)
        let shift = to.exponent - from.exponent
        if shift >= 0 { numerator *= pow10(shift) } else { denominator *= pow10(-shift) }
        let result = roundHalfUp(numerator, denominator)
        guard result <= 999_999_999_999 else { throw .amountOutOfRange }
        return Int64(result)
    }

    static func pow10(_ n: Int) -> Int128 { (0..<n).reduce(Int128(1)) { r, _ in r * 10 } }
    static func roundHalfUp(_ n: Int128, _ d: Int128) -> Int128 { (2 * n + d) / (2 * d) }
}
