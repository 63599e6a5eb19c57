import Clearing
import Foundation
import ISO8583
import NetworkSwitch
import Testing
import TestSupport

/// Fees and settlement lines without a store: every presentment's lines sum to zero in
/// each currency, whatever the amounts, rates, products and categories.
@Suite struct PricingTests {
    static func presentment(amount: Int64, currency: String = "643", billing: String? = nil, rate: String? = nil, mcc: String = "5411",
                            processingCode: String = "000000", id: String = "prs_1") -> ClearedPresentment {
        ClearedPresentment(id: id, fileID: "f", messageNumber: 2, acquirerID: "gum", acquirerReference: "7", authorization: "k", tokenID: "tok_1",
                           maskedToken: nil, issuerID: "jade", processingCode: processingCode, mcc: mcc, amountMinor: amount, currency: currency,
                           authorizedMinor: amount, billingCurrency: billing, billingAmountMinor: nil, localTime: "261129101500",
                           authorizedAt: Date(timeIntervalSince1970: 0), clearedAt: Date(timeIntervalSince1970: 0), conversionRate: rate)
    }

    static func sums(_ lines: [SettlementLine]) -> [String: Int64] {
        lines.reduce(into: [:]) { $0[$1.currency, default: 0] += $1.amountMinor }
    }

    @Test func aDomesticPurchase() throws {
        // 1,500.00 RUB at a grocer on a debit card: 0.80% interchange to the issuer, 0.05% scheme fee from each side.
        let (pricing, lines) = try FeeSchedule.standard.price(Self.presentment(amount: 150_000), market: "RU", product: .debit)
        #expect(pricing.interchangeBasisPoints == 80 && pricing.interchangeMinor == 1_200 && pricing.acquirerSchemeFeeMinor == 75)
        let net = lines.reduce(into: [String: Int64]()) { $0[$1.participant, default: 0] += $1.amountMinor }
        #expect(net == ["acquirer:gum": 150_000 - 1_200 - 75, "issuer:jade": -150_000 + 1_200 - 75, "network": 150])
        #expect(Self.sums(lines) == ["RUB": 0])
    }

    @Test func cashPaysInterchangeToTheAcquirer() throws {
        let (_, lines) = try FeeSchedule.standard.price(Self.presentment(amount: 500_000, mcc: "6011", processingCode: "010000"), market: "RU", product: .debit)
        let net = lines.reduce(into: [String: Int64]()) { $0[$1.participant, default: 0] += $1.amountMinor }
        #expect(net["acquirer:gum"] == 500_000 + 2_500 - 250 && net["issuer:jade"] == -500_000 - 2_500 - 250)
    }

    @Test func aCrossBorderPurchaseAtTheAuthorizationsRate() throws {
        // 1,500.00 RUB billed in CNY at field 10 "70884459" (0.0884459 CNY per RUB): the issuer pays 132.67 CNY.
        let (pricing, lines) = try FeeSchedule.standard.price(Self.presentment(amount: 150_000, billing: "156", rate: "70884459"), market: "CN", product: .debit)
        #expect(pricing.issuerCurrency == "CNY" && pricing.issuerAmountMinor == 13_267)
        #expect(Self.sums(lines) == ["RUB": 0, "CNY": 0], "the network's conversion lines balance each currency")
        #expect(lines.contains { $0.participant == "network" && $0.kind == .conversion && $0.currency == "RUB" })
        #expect(throws: PricingError.noRate(presentment: "prs_1")) {
            try FeeSchedule.standard.price(Self.presentment(amount: 1, billing: "156"), market: "CN", product: .debit)
        }
    }

    @Test func everyPresentmentBalancesInEachCurrency() throws {
        let seed = ProcessInfo.processInfo.environment["PASSWAY_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64(UInt32.max))
        var rng = SplitMix64(seed: seed)
        let schedule = FeeSchedule(interchange: [InterchangeRate(market: "*", product: "*", group: "*", basisPoints: Int.random(in: 0...10_000, using: &rng)),
                                                 InterchangeRate(market: "RU", product: "credit", group: "travel", basisPoints: Int.random(in: 0...10_000, using: &rng))],
                                   schemeFeeBasisPoints: Int.random(in: 0...10_000, using: &rng))
        try schedule.validate()
        for i in 0..<2_000 {
            let cross = Bool.random(using: &rng)
            let rate = ExchangeRates.Rate(digits: Int64.random(in: 1...9_999_999, using: &rng), decimals: Int.random(in: 0...7, using: &rng))
            let p = Self.presentment(amount: Int64.random(in: 1...9_999_999_999, using: &rng), currency: ["643", "156", "392", "048"].randomElement(using: &rng) ?? "643",
                                     billing: cross ? "978" : nil, rate: cross ? rate.field10 : nil, mcc: ["5411", "7011", "6011", "4121"].randomElement(using: &rng) ?? "5411",
                                     processingCode: Bool.random(using: &rng) ? "010000" : "000000", id: "prs_\(i)")
            guard let (_, lines) = try? schedule.price(p, market: ["RU", "CN"].randomElement(using: &rng) ?? "RU", product: CardProduct.allCases.randomElement(using: &rng) ?? .debit) else {
                continue // a rate that overflows field 6 is refused, never trapped
            }
            #expect(Self.sums(lines).values.allSatisfy { $0 == 0 }, "seed \(seed), presentment \(i)")
        }
    }

    @Test func anOperatorsScheduleIsChecked() {
        #expect(throws: FeeSchedule.Invalid.noDefault) { try FeeSchedule(interchange: [], schemeFeeBasisPoints: 5).validate() }
        #expect(throws: FeeSchedule.Invalid.schemeFee) { try FeeSchedule(interchange: FeeSchedule.standard.interchange, schemeFeeBasisPoints: 10_001).validate() }
        let line = InterchangeRate(market: "ru", product: "*", group: "*", basisPoints: 1)
        #expect(throws: FeeSchedule.Invalid.self) { try FeeSchedule(interchange: FeeSchedule.standard.interchange + [line], schemeFeeBasisPoints: 5).validate() }
        #expect(throws: FeeSchedule.Invalid.self) { try FeeSchedule(interchange: FeeSchedule.standard.interchange + [FeeSchedule.standard.interchange[0]], schemeFeeBasisPoints: 5).validate() }
        // The most specific line applies.
        #expect(FeeSchedule.standard.rate(market: "RU", product: .debit, group: .everyday)?.basisPoints == 80)
        #expect(FeeSchedule.standard.rate(market: "RU", product: .debit, group: .fuel)?.basisPoints == 120)
        #expect(FeeSchedule.share(5, basisPoints: 1_000) == 1 && FeeSchedule.share(15, basisPoints: 1_000) == 2, "half up")
    }
}
