import Foundation
import ISO8583
import NetworkSwitch
import Participants
import Testing

/// Fields 6, 10 and 51. The expected figures were worked out by hand (and with Python's
/// `decimal`, ROUND_HALF_UP) from the reference table: rate = to/from × 1.01, rounded to
/// what field 10 carries, then amount × rate × 10^(e_billing − e_transaction).
@Suite struct CurrencyConversionTests {
    let rates = ExchangeRates.reference

    func check(_ from: String, _ to: String, amount: Int64, field10: String, billed: Int64) throws {
        let f = try #require(Currency.alpha(from)), t = try #require(Currency.alpha(to))
        let rate = try rates.rate(from: f, to: t)
        #expect(rate.field10 == field10, "\(from)→\(to)")
        #expect(ExchangeRates.Rate(field10: rate.field10) == rate)
        #expect(try ExchangeRates.convert(amount, from: f, to: t, at: rate) == billed, "\(from)→\(to)")
    }

    @Test func roublesToYuan() throws {
        // 7.12 / 80.5 × 1.01 = 0.08933167…: seven decimals. 1,500.00 RUB × 0.0893317 = 133.99755 → 134.00 CNY.
        try check("RUB", "CNY", amount: 150_000, field10: "70893317", billed: 13_400)
    }

    @Test func dollarsToYen() throws {
        // 155.3 × 1.01 = 156.853 → "4" 1568530. 12.34 USD → 1,935.566 → 1,936 JPY (exponent 0).
        try check("USD", "JPY", amount: 1_234, field10: "41568530", billed: 1_936)
    }

    @Test func yenToKuwaitiDinars() throws {
        // 0.3069 / 155.3 × 1.01 = 0.0019959… → 0.0019959. 12,345 JPY → 24.6393855 → 24.639 KWD (exponent 3).
        try check("JPY", "KWD", amount: 12_345, field10: "70019959", billed: 24_639)
    }

    @Test func bahrainiDinarsToRoubles() throws {
        // 80.5 / 0.376 × 1.01 = 216.2367… → "4" 2162367. 1.500 BHD → 324.35505 → 324.36 RUB (half up).
        try check("BHD", "RUB", amount: 1_500, field10: "42162367", billed: 32_436)
    }

    @Test func smallestAmountsRoundHalfUp() throws {
        // 0.99 RUB → 0.0125466 × 99 = 1.242 cents → 0.01 USD.
        try check("RUB", "USD", amount: 99, field10: "70125466", billed: 1)
    }

    @Test func field10Format() {
        #expect(ExchangeRates.Rate(field10: "70893317")?.description == "0.0893317")
        #expect(ExchangeRates.Rate(field10: "41568530")?.description == "156.8530")
        #expect(ExchangeRates.Rate(field10: "00000001")?.description == "1")
        #expect(ExchangeRates.Rate(field10: "8123456") == nil)
        #expect(ExchangeRates.Rate(field10: "81234567") == nil, "at most seven decimals")
    }

    @Test func missingRateIsAnError() {
        var table = rates
        table.microUnitsPerUSD["CNY"] = nil
        #expect(throws: ExchangeRates.ConversionError.noRate("CNY")) { try table.rate(from: try #require(Currency.alpha("RUB")), to: try #require(Currency.alpha("CNY"))) }
    }

    /// The operator's book: each currency's rate in effect at a time (from its effective time
    /// on, to the millisecond, until the next), none before the first, USD always 1.
    @Test func theRateInEffectIsTheLastBeforeTheTime() throws {
        let t0 = Date(timeIntervalSince1970: 1_796_000_000)
        func e(_ c: String, _ micro: Int64, _ dt: TimeInterval) -> ExchangeRateEntry {
            ExchangeRateEntry(currency: c, microUnitsPerUSD: micro, effectiveAt: t0 + dt, loadedAt: t0)
        }
        // Given out of order: the book sorts.
        let book = ExchangeRateBook(entries: [e("CNY", 7_300_000, 3600), e("CNY", 7_200_000, 0), e("RUB", 80_000_000, 0), e("CNY", 7_250_000, 60)])
        #expect(book.microUnitsPerUSD("CNY", at: t0 - 0.001) == nil)
        #expect(book.microUnitsPerUSD("CNY", at: t0) == 7_200_000)
        #expect(book.microUnitsPerUSD("CNY", at: t0 + 59.999) == 7_200_000)
        #expect(book.microUnitsPerUSD("CNY", at: t0 + 60) == 7_250_000)
        #expect(book.microUnitsPerUSD("CNY", at: t0 + 86_400) == 7_300_000)
        #expect(book.microUnitsPerUSD("USD", at: .distantPast) == 1_000_000)
        let rub = try #require(Currency.alpha("RUB")), cny = try #require(Currency.alpha("CNY"))
        // 7.2 / 80 × 1.01 = 0.0909; 7.25 / 80 × 1.01 = 0.09153125 → 0.0915313 (seven digits, half up).
        #expect(try book.rate(from: rub, to: cny, at: t0 + 1).field10 == "70909000")
        #expect(try book.rate(from: rub, to: cny, at: t0 + 61).field10 == "70915313")
        #expect(throws: ExchangeRates.ConversionError.noRate("RUB")) { try book.rate(from: rub, to: cny, at: t0 - 1) }
        #expect(book.table(at: t0 - 1).microUnitsPerUSD == ["USD": 1_000_000])
    }

    /// Rates as the operator writes them: up to 12 digits and 6 decimals, above zero.
    @Test func ratesAsText() {
        #expect(ExchangeRateEntry.microUnits("80.5") == 80_500_000)
        #expect(ExchangeRateEntry.microUnits("0.000001") == 1)
        #expect(ExchangeRateEntry.microUnits("999999999999.999999") == 999_999_999_999_999_999)
        for bad in ["", "0", "0.0", ".5", "5.", "1.0000001", "1e3", "-1", "1,5", "1234567890123", " 1", "1.2.3", "٣"] {
            #expect(ExchangeRateEntry.microUnits(bad) == nil, "\(bad)")
        }
        #expect(ExchangeRateEntry(currency: "RUB", microUnitsPerUSD: 80_500_000, effectiveAt: .now, loadedAt: .now).unitsPerUSD == "80.5")
        #expect(ExchangeRateEntry(currency: "KWD", microUnitsPerUSD: 306_900, effectiveAt: .now, loadedAt: .now).unitsPerUSD == "0.3069")
    }

    /// The CSV import: LF or CRLF, a byte-order mark, blank lines; a line that is not three
    /// values, or a wrong header, names its line.
    @Test func theCSVImport() throws {
        let rates = try ExchangeRateService.parseCSV("\u{FEFF}currency,units_per_usd,effective_at\r\nRUB,80.5,2026-12-01T00:00:00Z\r\n\nCNY, 7.12 ,2026-12-01T00:00:00Z")
        #expect(rates == [ExchangeRateInput(currency: "RUB", unitsPerUSD: "80.5", effectiveAt: "2026-12-01T00:00:00Z"),
                          ExchangeRateInput(currency: "CNY", unitsPerUSD: "7.12", effectiveAt: "2026-12-01T00:00:00Z")])
        #expect(throws: ServiceError.invalid(field: "line 3", reason: "three values: currency,units_per_usd,effective_at")) {
            try ExchangeRateService.parseCSV("currency,units_per_usd,effective_at\nRUB,80.5,2026-12-01T00:00:00Z\nCNY,7.12\n")
        }
        #expect(throws: ServiceError.invalid(field: "line 1", reason: "the first line is `currency,units_per_usd,effective_at`")) {
            try ExchangeRateService.parseCSV("RUB,80.5,2026-12-01T00:00:00Z\n")
        }
    }
}
