import APIContract
import EMV
import Foundation
import Testing
import TestSupport
import Simulators

/// The story over real HTTP: a Russian bank's cardholder adds a card to a phone
/// (green) and a watch (yellow, code from the bank's outbox); one PAR for both; the
/// watch is lost; the bank renews the card and the phone's token keeps its number.
@Suite(.timed, .serialized) struct EnrollmentFlowTests {
    @Test func phoneGreenWatchYellowLostWatchRenewedCard() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)

        var phone = try await s.register(model: "samsung-galaxy-s24", os: "14")
        var watch = try await s.register(model: "samsung-galaxy-watch7", os: "5")

        // Phone: the bank's rules approve at once.
        let green = try await s.enroll(phone)
        #expect(green.status == 201, "\(green.json)")
        #expect(green.string("status") == "approved")
        let phoneToken = try phone.receive(try s.sealed(green))
        #expect(phoneToken.tokenNumber.hasPrefix("22017199"))
        #expect(Luhn.isValid(phoneToken.tokenNumber))
        #expect(phoneToken.tokenNumber != s.pan)
        #expect(phoneToken.keys.count == 10)
        #expect(phoneToken.par.count == 29)

        // Watch: the bank steps up; the code arrives in its outbox and is typed in.
        let yellow = try await s.enroll(watch)
        #expect(yellow.status == 202, "\(yellow.json)")
        #expect(yellow.string("status") == "pending_verification")
        let verificationID = try #require(yellow.string("verificationID"))
        #expect((yellow.object["method"] as? [String: Any])?["destination"] as? String == "+7 *** ***-**-67")
        let code = try #require(try await s.lastCode())
        let wrong = try await harness.api("POST", "/v1/enrollments/\(verificationID)/verify", key: s.walletKey, json: ["code": code == "000000" ? "111111" : "000000"])
        #expect(wrong.status == 422)
        #expect(wrong.string("attemptsLeft") == "2")
        let verified = try await harness.api("POST", "/v1/enrollments/\(verificationID)/verify", key: s.walletKey, json: ["code": code])
        #expect(verified.status == 201, "\(verified.json)")
        let watchToken = try watch.receive(try s.sealed(verified))

        // Both active, one Payment Account Reference for the one card.
        let tokens = try await harness.api("GET", "/v1/tokens", key: s.walletKey).array
        #expect(tokens.count == 2)
        #expect(tokens.allSatisfy { $0["status"] as? String == "active" })
        #expect(Set(tokens.compactMap { $0["par"] as? String }) == [phoneToken.par])
        #expect(watchToken.par == phoneToken.par)
        #expect(watchToken.tokenNumber != phoneToken.tokenNumber)

        // The watch is lost: its token is suspended, the phone's is not.
        let lost = try await harness.api("POST", "/v1/devices/\(watch.deviceID!)/lost", key: s.walletKey, json: [:])
        #expect(lost.status == 200)
        #expect(lost.array.map { $0["id"] as? String } == [watchToken.tokenID])
        let watchAfter = try await harness.api("GET", "/v1/tokens/\(watchToken.tokenID)", key: s.walletKey)
        #expect(watchAfter.string("status") == "suspended")
        #expect(watchAfter.string("suspendedBy") == "wallet")
        let phoneAfter = try await harness.api("GET", "/v1/tokens/\(phoneToken.tokenID)", key: s.walletKey)
        #expect(phoneAfter.string("status") == "active")
        // Nobody can put keys on a lost device's token.
        #expect(try await harness.api("POST", "/v1/tokens/\(watchToken.tokenID)/keys", key: s.walletKey, json: [:]).status == 409)

        // The bank renews the card with a new number and expiry: the token keeps its number.
        let newPAN = cardNumber("220070", seed: 99)
        let renewed = try await harness.api("POST", "/v1/cards/renew", key: s.issuerKey, json: ["pan": s.pan, "newPan": newPAN, "newExpiry": "3112"])
        #expect(renewed.status == 200, "\(renewed.json)")
        #expect(renewed.string("maskedPAN") == PAN.mask(newPAN))
        let phoneRenewed = try await harness.api("GET", "/v1/tokens/\(phoneToken.tokenID)", key: s.walletKey)
        #expect(phoneRenewed.string("maskedNumber") == phoneAfter.string("maskedNumber"))
        #expect(phoneRenewed.string("status") == "active")
        let audit = try await harness.api("GET", "/v1/tokens/\(phoneToken.tokenID)/audit", key: s.issuerKey).array
        #expect(audit.map { $0["event"] as? String } == ["create", "card_renewed"])
        // The old number no longer finds the card.
        #expect(try await harness.api("POST", "/v1/cards/renew", key: s.issuerKey, json: ["pan": s.pan, "newExpiry": "3112"]).status == 404)

        // Keys are replenished for the phone, sealed to its key, with the next ATCs.
        let more = try await harness.api("POST", "/v1/tokens/\(phoneToken.tokenID)/keys", key: s.walletKey, json: [:])
        #expect(more.status == 200)
        let data = try JSONSerialization.data(withJSONObject: more.object)
        let refreshed = try phone.receive(try JSONDecoder().decode(SealedProvisioning.self, from: data))
        #expect(refreshed.keys.map(\.atc) == Array(1...20).map(UInt16.init))

        // The bank hears of every token change, through the token service's outbox (at
        // once, or after its back-off), each once.
        var notes: [[String: Any]] = []
        #expect(try await eventually {
            notes = try await s.bankCall("GET", "/notifications").array
            return notes.filter { $0["event"] as? String == "created" }.count == 2 && notes.contains { $0["event"] as? String == "suspended" }
        })
        #expect(Set(notes.compactMap { $0["id"] as? String }).count == notes.count, "each notification kept once")
        let queues = try await harness.api("GET", "/v1/operations/queues", key: harness.info.operatorKey)
        #expect(try #require(queues.object["issuerNotices"] as? [[String: Any]]).contains { $0["kind"] as? String == "notification" && ($0["delivered"] as? Int ?? 0) >= 2 })
    }

    /// ID&V as an oracle, tried: an unknown card, a wrong expiry, a wrong CVV2 and a
    /// missing CVV2 (the bank has one) get the same answer byte for byte and create nothing;
    /// the bank counts the failures, locks the card out after its limit (the right details
    /// then get the same answer), and a card that failed recently is asked for a code
    /// however low the wallet's risk score.
    @Test func theIssuerDeclinesOnRedAlikeCountsFailuresAndLocksOut() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        #expect(try await s.bankCall("PUT", "/rules", json: [
            "declineRiskAbove": 80, "stepUpRiskAbove": 40, "stepUpDeviceKinds": [String](), "requireKnownPhone": false,
            "maxFailuresPerCard": 3, "maxFailuresPerWallet": 20, "lockoutMinutes": 60,
        ]).status == 200)
        let phone = try await s.register(model: "xiaomi-14", os: "14")
        func enroll(pan: String? = nil, expiry: String = "12/29", cvv2: String?) async throws -> PlatformHarness.Answer {
            var body: [String: Any] = ["deviceID": phone.deviceID ?? "", "pan": pan ?? s.pan, "expiry": expiry, "riskScore": 0]
            if let cvv2 { body["cvv2"] = cvv2 }
            return try await harness.api("POST", "/v1/enrollments", key: s.walletKey, json: body)
        }
        let attempts = [
            ("unknown card", try await enroll(pan: cardNumber("220070", seed: 404), cvv2: "123")),
            ("wrong expiry", try await enroll(expiry: "11/29", cvv2: "123")),
            ("wrong CVV2", try await enroll(cvv2: "999")),
        ]
        for (what, answer) in attempts {
            #expect(answer.status == 200 && answer.string("status") == "declined", "\(what): \(answer.json)")
            #expect(answer.body == attempts[0].1.body, "\(what) answers differently: \(String(decoding: answer.body, as: UTF8.self))")
        }
        // Two failures on this card (the unknown card counts against the wallet only): the
        // right details are now asked for a code (yellow), though the wallet says the risk is nil.
        let stepped = try await enroll(cvv2: "123")
        #expect(stepped.status == 202, "\(stepped.json)")
        // The third (CVV2 left out although the bank has one) locks the card out.
        let missing = try await enroll(cvv2: nil)
        #expect(missing.body == attempts[0].1.body)
        let locked = try await enroll(cvv2: "123")
        #expect(locked.body == attempts[0].1.body, "a locked card answers as any failure: \(String(decoding: locked.body, as: UTF8.self))")
        #expect(try await harness.api("GET", "/v1/tokens", key: s.walletKey).array.isEmpty)
        // Limits the bank refuses.
        #expect(try await s.bankCall("PUT", "/rules", json: [
            "declineRiskAbove": 80, "stepUpRiskAbove": 40, "stepUpDeviceKinds": [String](), "requireKnownPhone": false, "maxFailuresPerCard": 0,
        ]).status == 422)
    }

    /// One wallet probing card numbers is locked out at the bank after its limit, for
    /// every card, its own included.
    @Test func aWalletThatProbesCardNumbersIsLockedOut() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        #expect(try await s.bankCall("PUT", "/rules", json: [
            "declineRiskAbove": 80, "stepUpRiskAbove": 40, "stepUpDeviceKinds": [String](), "requireKnownPhone": false, "maxFailuresPerWallet": 3,
        ]).status == 200)
        let phone = try await s.register(model: "xiaomi-14", os: "14")
        for seed in 500..<503 { #expect(try await s.enroll(phone, pan: cardNumber("220070", seed: seed)).string("status") == "declined") }
        #expect(try await s.enroll(phone).string("status") == "declined")
    }
}

import TokenService
