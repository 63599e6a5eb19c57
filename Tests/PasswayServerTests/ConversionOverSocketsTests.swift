import APIContract
import Foundation
import ISO8583
import ISO8583Transport
import Logging
import Simulators
import Storage
import NetworkSwitch
import Testing
import TestSupport

/// Currency conversion end to end (the arithmetic is `NetworkSwitchTests.CurrencyConversionTests`).
@Suite(.timed) struct ConversionOverSocketsTests {
    /// Over sockets: a yuan card taps in Moscow in roubles; the bank is asked for yuan
    /// and holds exactly the converted amount; the acquirer sees 6, 10 and 51.
    /// A yuan card in a phone and a Moscow terminal that takes roubles.
    static func yuanCardInMoscow(_ harness: PlatformHarness) async throws -> (Terminal, DeviceWallet, DeviceWallet.StoredToken, String, ISO8583Client) {
        let s = try await RussianBankScenario.make(harness)
        let bank = try await harness.issuerHost("POST", "/banks", json: ["id": "jade-bank", "cardRanges": ["621700"]])
        #expect(bank.status == 201)
        let bankKey = try #require(bank.string("apiKey"))
        let pan = cardNumber("621700", seed: 8)
        #expect(try await harness.issuerHost("POST", "/banks/jade-bank/accounts", key: bankKey, json: [
            "pan": pan, "expiry": "2912", "cvv2": "321", "holderName": "LI WEI", "phone": "+8613800138000", "currency": "CNY", "balanceMinor": 1_000_000,
        ]).status == 201)
        #expect(try await harness.api("POST", "/v1/issuers", key: harness.info.operatorKey, json: [
            "id": "jade", "name": "Jade Bank", "country": "CN", "currency": "CNY", "cardRanges": ["621700"], "tokenRanges": ["62189999"],
            "enabledWallets": ["passway-pay"], "hostURL": try harness.issuerHostURL + "/banks/jade-bank", "hostKey": try #require(bank.string("tokenServiceKey")),
        ]).status == 201)
        var phone = try await s.register(model: "samsung-galaxy-s24", os: "14")
        let enrolled = try await s.enroll(phone, pan: pan, cvv2: "321")
        #expect(enrolled.string("status") == "approved", "\(enrolled.json)")
        let token = try phone.receive(try s.sealed(enrolled))

        let network = try await TestAcquirer.onboard(harness).client(harness)
        let pos = Terminal(.init(kind: .pos, terminalID: "MSK00002", merchantID: "TSUM-MOSCOW0001", acquirerID: "25000001",
                                 nameLocation: "TSUM MOSCOW RU", country: 643, currency: try #require(Currency.alpha("RUB"))), network: network)
        return (pos, phone, token, bankKey, network)
    }

    @Test func yuanCardBilledInYuan() async throws {
        let harness = try await PlatformHarness.start()
        let (pos, phone, token, bankKey, network) = try await Self.yuanCardInMoscow(harness)
        var wallet = phone
        var applet = ContactlessApplet(tokenID: token.tokenID)
        let outcome = try await pos.tap(amountMinor: 150_000) { applet.respond(to: $0, wallet: &wallet) }
        #expect(outcome.responseCode == "00")
        #expect(outcome.answer.string(4) == "000000150000")
        #expect(outcome.answer.string(49) == "643")
        #expect(outcome.answer.string(6) == "000000013400")
        #expect(outcome.answer.string(10) == "70893317")
        #expect(outcome.answer.string(51) == "156")
        let accounts = try await harness.issuerHost("GET", "/banks/jade-bank/accounts", key: bankKey).array
        let available = (accounts.first?["availableMinor"] as? NSNumber)?.int64Value
        #expect(available == Int64(1_000_000 - 13_400))
        await network.close()
        await harness.stop()
    }

    /// The operator's rates: without one the conversion is refused (57); a load converts
    /// from its effective time on; a later load takes over, the earlier authorization kept
    /// at its rate (field 10 in the journal, which clearing uses); the history answers for
    /// any time; a load with one bad line, in the past, of USD, or changing a rate keeps nothing.
    @Test func ratesLoadedByTheOperator() async throws {
        let harness = try await PlatformHarness.start { $0.exchangeRateSeed = nil }
        let (pos, phone, token, _, network) = try await Self.yuanCardInMoscow(harness)
        var wallet = phone
        var applet = ContactlessApplet(tokenID: token.tokenID)
        let op = harness.info.operatorKey
        func tap() async throws -> Message {
            try await pos.tap(amountMinor: 150_000) { applet.respond(to: $0, wallet: &wallet) }.answer
        }
        let iso: ISO8601DateFormatter = { let f = ISO8601DateFormatter(); f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]; return f }()
        func load(_ csv: String) async throws -> PlatformHarness.Answer {
            try await harness.api("POST", "/v1/exchange-rates", key: op, raw: csv, headers: ["Content-Type": "text/csv"])
        }

        let none = try await tap()
        #expect(none.string(39) == "57", "no rate loaded: no conversion")
        #expect(none.string(10) == nil)

        let firstAt = Date()
        let first = try await load("currency,units_per_usd,effective_at\nRUB,80,\(iso.string(from: firstAt))\r\nCNY,7.2,\(iso.string(from: firstAt))\n")
        #expect(first.status == 201, "\(first.json)")
        #expect((first["added"] as? Int) == 2)
        // 7.2 / 80 × 1.01 = 0.0909: 1,500 RUB is 136.35 CNY.
        let a = try await tap()
        #expect(a.string(39) == "00")
        #expect(a.string(10) == "70909000")
        #expect(a.string(6) == "000000013635")

        // A later rate for the yuan (JSON this time): 7.3 / 80 × 1.01 = 0.0921625, 138.24375 → 138.24.
        let secondAt = Date()
        let second = try await harness.api("POST", "/v1/exchange-rates", key: op, json: ["rates": [
            ["currency": "CNY", "unitsPerUSD": "7.3", "effectiveAt": iso.string(from: secondAt)]]])
        #expect(second.status == 201, "\(second.json)")
        let b = try await tap()
        #expect(b.string(10) == "70921625")
        #expect(b.string(6) == "000000013824")

        // The table at any time, and the history.
        let before = try await harness.api("GET", "/v1/exchange-rates?at=" + iso.string(from: secondAt.addingTimeInterval(-0.002)).replacingOccurrences(of: "+", with: "%2B"), key: op)
        let rates = (before.json as? [String: Any])?["rates"] as? [[String: Any]] ?? []
        #expect(rates.first { $0["currency"] as? String == "CNY" }?["unitsPerUSD"] as? String == "7.2")
        #expect(rates.first { $0["currency"] as? String == "USD" }?["unitsPerUSD"] as? String == "1")
        let history = try await harness.api("GET", "/v1/exchange-rates/history?currency=CNY", key: op).array
        #expect(history.map { $0["unitsPerUSD"] as? String } == ["7.2", "7.3"])

        // Refused, and nothing of them kept.
        let later = iso.string(from: Date().addingTimeInterval(3600))
        for (csv, status) in [
            ("currency,units_per_usd,effective_at\nEUR,0.86,\(later)\nXXX,1,\(later)\n", 422),     // an unknown currency on line 3
            ("currency,units_per_usd,effective_at\nEUR,0.86,2020-01-01T00:00:00Z\n", 422),          // the past
            ("currency,units_per_usd,effective_at\nUSD,1,\(later)\n", 422),                         // the base
            ("currency,units_per_usd,effective_at\nEUR,0,\(later)\n", 422),                         // zero
            ("currency;rate;when\nEUR;0.86;\(later)\n", 422),                                       // not the header
            ("currency,units_per_usd,effective_at\nEUR,0.86,\(later)\nCNY,7.25,\(iso.string(from: secondAt))\n", 409), // changes a rate
        ] {
            let refused = try await load(csv)
            #expect(refused.status == status, "\(csv): \(refused.json)")
        }
        #expect(try await harness.api("GET", "/v1/exchange-rates/history", key: op).array.count == 3)
        // Not for acquirers or wallets to load.
        #expect(try await harness.api("POST", "/v1/exchange-rates", key: nil, json: ["rates": []]).status == 401)

        // Clearing prices each with its own authorization's rate: the journal kept field 10.
        let journal = try SQLiteStore(path: (harness.dataDirectory as NSString).appendingPathComponent("passway.sqlite"))
        for (answer, rate) in [(a, "70909000"), (b, "70921625")] {
            let key = AuthorizationKey(acquirer: answer.string(32) ?? "", terminal: answer.string(41) ?? "", stan: answer.string(11) ?? "",
                                       transmission: answer.string(7) ?? "")
            #expect(try await journal.entry(key)?.conversionRate == rate)
        }
        await network.close()
        await harness.stop()
    }
}
