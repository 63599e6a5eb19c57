import Foundation
import Participants
import Simulators
import Testing
import TestSupport

/// What a cardholder reads comes in Russian, Chinese or English: the wallet's
/// `Accept-Language` first, else the language of the device's market; the machine fields
/// (a problem's `type` and `reason`, an outcome's `status`) are the same in every language.
@Suite(.timed) struct CardholderLanguageTests {
    @Test func theReadersLanguageThenTheMarketsThenEnglish() {
        #expect(Language.preferences("ru-RU,ru;q=0.9,en;q=0.8,zh;q=0") == ["ru", "ru", "en"])
        #expect(Language.preferences("en;q=0.2, zh-CN") == ["zh", "en"])
        #expect(Language.preferences("*;q=0.5, 12, de") == ["de"], "only language subtags count")
        #expect(CardholderText.language(acceptLanguage: "zh-CN,zh;q=0.9", market: ["ru"]) == "zh")
        #expect(CardholderText.language(acceptLanguage: "fr-FR", market: ["be", "ru"]) == "ru")
        #expect(CardholderText.language(acceptLanguage: nil, market: ["hy"]) == "en")
        for key in CardholderText.table.keys {
            for language in CardholderText.languages { #expect(CardholderText.table[key]?[language]?.isEmpty == false, "\(key) in \(language)") }
        }
    }

    func enroll(_ s: RussianBankScenario, _ device: DeviceWallet, language: String?) async throws -> PlatformHarness.Answer {
        try await PlatformHarness.call("POST", s.api + "/v1/enrollments", key: s.walletKey, json: [
            "deviceID": device.deviceID ?? "", "pan": s.pan, "expiry": s.expiryPrinted, "cvv2": "123",
        ], raw: nil, headers: language.map { ["Accept-Language": $0] } ?? [:])
    }

    @Test func outcomesRefusalsAndTheBanksCodeInTheCardholdersLanguage() async throws {
        let harness = try await PlatformHarness.start()
        let s = try await RussianBankScenario.make(harness)
        // Green, asked in Chinese.
        let phone = try await s.register(model: "samsung-galaxy-s24", os: "14")
        let green = try await enroll(s, phone, language: "zh-CN,zh;q=0.9")
        #expect(green.status == 201 && green.string("status") == "approved" && green.string("language") == "zh")
        #expect(green.string("message") == CardholderText.text("approved", "zh"))

        // Yellow, no header: the Russian market's language, and the bank's SMS in Russian too.
        let watch = try await s.register(model: "samsung-galaxy-watch7", os: "5")
        let yellow = try await enroll(s, watch, language: nil)
        #expect(yellow.status == 202 && yellow.string("language") == "ru", "\(yellow.json)")
        #expect(yellow.string("message")?.contains("+7 *** ***-**-67") == true && yellow.string("message")?.hasPrefix("Банк отправил") == true)
        let sms = try #require(try await s.bankCall("GET", "/outbox").array.last?["text"] as? String)
        #expect(sms.contains("код для добавления карты") && sms.contains("Passway Pay"), "\(sms)")
        // A wrong code, read in English: the same problem type and attempts, the message in English.
        let verificationID = try #require(yellow.string("verificationID"))
        let wrong = try await PlatformHarness.call("POST", s.api + "/v1/enrollments/\(verificationID)/verify", key: s.walletKey, json: ["code": "000000"],
                                                   raw: nil, headers: ["Accept-Language": "en-US"])
        #expect(wrong.status == 422 && wrong.string("type") == "https://passway.dev/problems/verification-failed" && wrong.string("language") == "en")
        #expect(wrong.string("message") == "The code is not right. Attempts left: 2.")

        // A refusal: the same type and reason whatever the language, the message in each.
        _ = try await harness.api("PUT", "/v1/markets/RU", key: harness.info.operatorKey, json: ["state": "suspended", "reason": "drill"])
        var seen: [String: String] = [:]
        for language in ["ru", "zh", "en"] {
            let refused = try await enroll(s, try await s.register(model: "samsung-galaxy-s24", os: "14"), language: language)
            #expect(refused.status == 422 && refused.string("type") == "https://passway.dev/problems/not-eligible" && refused.string("reason") == "market_suspended")
            #expect(refused.string("language") == language)
            seen[language] = refused.string("message")
        }
        #expect(Set(seen.values).count == 3 && seen["en"] == CardholderText.text("market_suspended", "en"))
        await harness.stop()
    }
}
