import APIContract
import Foundation
import ISO8583
import ISO8583Transport
import Logging
import Simulators
import Testing
import TestSupport

/// Currency conversion end to end (the arithmetic is `NetworkSwitchTests.CurrencyConversionTests`).
@Suite(.timed) struct ConversionOverSocketsTests {
    /// Over sockets: a yuan card taps in Moscow in roubles; the bank is asked for yuan
    /// and holds exactly the converted amount; the acquirer sees 6, 10 and 51.
    @Test func yuanCardBilledInYuan() async throws {
        let harness = try await PlatformHarness.start()
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
        var applet = ContactlessApplet(tokenID: token.tokenID)
        let outcome = try await pos.tap(amountMinor: 150_000) { applet.respond(to: $0, wallet: &phone) }
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
}
