import Foundation
import ISO8583
import NetworkSwitch
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
}
