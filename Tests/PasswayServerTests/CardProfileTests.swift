import APIContract
import Crypto
import Foundation
import Testing
import TestSupport

/// Card art and terms as the issuer sets them and a wallet reads them over HTTP: assets
/// checked and cached, the terms in the reader's language, a token made only once the
/// terms in force are accepted (and the acceptance kept on it), a change of terms told
/// to the wallets.
@Suite(.timed) struct CardProfileTests {
    struct Bank {
        let harness: PlatformHarness
        let scenario: RussianBankScenario
        func asset(_ type: String, _ bytes: [UInt8], key: String? = nil) async throws -> PlatformHarness.Answer {
            try await PlatformHarness.send("POST", harness.info.apiURL + "/v1/assets", key: key ?? scenario.issuerKey, json: nil, raw: nil,
                                           headers: ["Content-Type": type], bytes: bytes)
        }
        func setProfile(_ body: [String: Any], id: String = "mir-classic", key: String? = nil) async throws -> PlatformHarness.Answer {
            try await harness.api("PUT", "/v1/issuers/\(scenario.issuerID)/card-profiles/\(id)", key: key ?? scenario.issuerKey, json: body)
        }
    }

    /// A PNG's signature and IHDR (64×40, RGB), as far as the platform reads a PNG.
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
        + [0, 0, 0, 64, 0, 0, 0, 40, 8, 2, 0, 0, 0, 0x8D, 0x4B, 0x73, 0x1B] + [0, 0, 0, 0] + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82]
    static let svg = ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 86 54"><rect id="x" width="86" height="54" rx="4" fill="#0a7"/><use href="#x"/></svg>"##

    func open() async throws -> Bank {
        let harness = try await PlatformHarness.start()
        return Bank(harness: harness, scenario: try await RussianBankScenario.make(harness))
    }

    /// Art, two texts and the profile: the ids of the English and Russian texts.
    func publish(_ bank: Bank, version: String = "2026-11") async throws -> (art: String, en: String, ru: String) {
        let art = try await bank.asset("image/png", Self.png)
        #expect(art.status == 201, "\(art.json)")
        let en = try await bank.asset("text/plain; charset=utf-8", Array("Terms of the Mir Classic card, \(version).".utf8))
        let ru = try await bank.asset("text/plain", Array("Условия карты «Мир Классическая», \(version).".utf8))
        let set = try await bank.setProfile(["name": "Mir Classic", "cardRanges": ["220070"], "artAssetID": art.string("assetID") ?? "",
                                             "contact": ["phone": "+7 800 100-00-00", "email": "cards@moskva.example", "website": "https://moskva.example/cards"],
                                             "terms": ["version": version, "texts": ["en": en.string("assetID") ?? "", "ru": ru.string("assetID") ?? ""]]])
        #expect(set.status == 200, "\(set.json)")
        return (art.string("assetID") ?? "", en.string("assetID") ?? "", ru.string("assetID") ?? "")
    }

    @Test func assetsAreCheckedAndServedWithAYearsCache() async throws {
        let bank = try await open()
        let art = try await bank.asset("image/png", Self.png)
        let id = try #require(art.string("assetID"))
        #expect(try await bank.asset("image/png", Self.png).string("assetID") == id, "the same file is the same asset")
        let fetched = try await bank.harness.api("GET", "/v1/assets/\(id)", key: bank.scenario.walletKey)
        #expect(fetched.status == 200 && Array(fetched.body) == Self.png && fetched.headers["content-type"] == "image/png")
        #expect(fetched.headers["cache-control"] == "public, max-age=31536000, immutable" && fetched.headers["etag"] == "\"\(id)\"")
        #expect(try await bank.harness.api("GET", "/v1/assets/\(id)", key: bank.scenario.walletKey, headers: ["If-None-Match": "\"\(id)\""]).status == 304)
        let svg = try await bank.asset("image/svg+xml", Array(Self.svg.utf8))
        #expect(svg.status == 201, "\(svg.json)")
        let served = try await bank.harness.api("GET", "/v1/assets/\(svg.string("assetID") ?? "")", key: bank.scenario.walletKey)
        #expect(served.headers["content-security-policy"]?.hasPrefix("default-src 'none'") == true)
        #expect(try await bank.harness.api("GET", "/v1/assets/\(id)", key: nil).status == 401)
        #expect(try await bank.harness.api("GET", "/v1/assets/ast_00000000000000000000000000000000", key: bank.scenario.walletKey).status == 404)

        let refused: [(String, [UInt8], String)] = [
            ("image/svg+xml", Array(#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.utf8), "script"),
            ("image/svg+xml", Array(#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#.utf8), "event"),
            ("image/svg+xml", Array(#"<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>"#.utf8), "outside"),
            ("image/svg+xml", Array(#"<!DOCTYPE svg [<!ENTITY x "y">]><svg/>"#.utf8), "DOCTYPE"),
            ("image/svg+xml", Array("<html></html>".utf8), "SVG"),
            ("image/png", Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 40), "PNG"),
            ("image/png", Array(Self.png[0..<16]) + [0, 0, 0x20, 0, 0, 0, 0, 40] + Array(Self.png[24...]), "pixels"),
            ("image/gif", [0x47, 0x49, 0x46], "Content-Type"),
            ("text/plain", [0xFF, 0xFE, 0x00], "UTF-8"),
            ("image/png", [UInt8](repeating: 0, count: 256 * 1024 + 1), "bytes"),
        ]
        for (type, bytes, reason) in refused {
            let answer = try await bank.asset(type, bytes)
            #expect((answer.status == 422 || answer.status == 413) && (answer.status == 413 || "\(answer.json)".contains(reason)), "\(reason): \(answer.status) \(answer.json)")
        }
        #expect(try await bank.asset("image/png", Self.png, key: bank.scenario.walletKey).status == 403, "issuers only")
        await bank.harness.stop()
    }

    @Test func aCardIsAddedOnlyOnceItsTermsAreAcceptedAndAChangeIsToldToTheWallet() async throws {
        let bank = try await open()
        let texts = try await publish(bank)
        let phone = try await bank.scenario.register(model: "samsung-galaxy-s24", os: "14")
        let deviceID = try #require(phone.deviceID)

        // The wallet reads the product, its terms in the reader's language, else the market's.
        func lookup(_ language: String?, device: String? = nil) async throws -> PlatformHarness.Answer {
            var body: [String: Any] = ["pan": bank.scenario.pan]
            if let device { body["deviceID"] = device }
            return try await bank.harness.api("POST", "/v1/card-profiles/lookup", key: bank.scenario.walletKey, json: body,
                                              headers: language.map { ["Accept-Language": $0] } ?? [:])
        }
        let english = try await lookup("en-GB,en;q=0.9")
        #expect(english.string("name") == "Mir Classic" && english.string("artAssetID") == texts.art)
        let terms = try #require(english.object["terms"] as? [String: Any])
        #expect(terms["version"] as? String == "2026-11" && terms["language"] as? String == "en" && terms["textAssetID"] as? String == texts.en)
        #expect((try await lookup("zh-CN,zh;q=0.9", device: deviceID).object["terms"] as? [String: Any])?["language"] as? String == "ru",
                "no Chinese text: the Russian market's language")
        #expect((try await lookup("ru, en;q=0.5").object["terms"] as? [String: Any])?["language"] as? String == "ru")
        #expect((english.object["contact"] as? [String: Any])?["email"] as? String == "cards@moskva.example")

        // Not accepted, or another version: refused, nothing made.
        func enroll(_ accepted: String?) async throws -> PlatformHarness.Answer {
            var body: [String: Any] = ["deviceID": deviceID, "pan": bank.scenario.pan, "expiry": bank.scenario.expiryPrinted, "cvv2": "123"]
            if let accepted { body["acceptedTerms"] = accepted }
            return try await bank.harness.api("POST", "/v1/enrollments", key: bank.scenario.walletKey, json: body)
        }
        for accepted in [nil, "2026-10"] {
            let refused = try await enroll(accepted)
            #expect(refused.status == 422 && refused.string("reason") == "terms_not_accepted", "\(refused.json)")
        }
        #expect(try await bank.harness.api("GET", "/v1/tokens?deviceID=\(deviceID)", key: bank.scenario.walletKey).array.isEmpty)
        let added = try await enroll("2026-11")
        #expect(added.status == 201 && added.string("status") == "approved", "\(added.json)")
        let token = try #require((added.object["token"] as? [String: Any])?["id"] as? String)
        let shown = try await bank.harness.api("GET", "/v1/tokens/\(token)", key: bank.scenario.issuerKey)
        let acceptance = try #require(shown.object["termsAcceptance"] as? [String: Any])
        #expect(acceptance["version"] as? String == "2026-11" && acceptance["deviceID"] as? String == deviceID && acceptance["profileID"] as? String == "mir-classic")
        #expect(acceptance["at"] is String)

        // A card pushed from the bank's app: the wallet sees its product, and redeems it once the terms are accepted.
        let key = try await bank.harness.api("GET", "/v1/push-provisioning/key", key: bank.scenario.issuerKey)
        let publicKey = try P256.KeyAgreement.PublicKey(x963Representation: try #require(Data(base64Encoded: key.string("publicKey") ?? "")))
        let sealed = try PushCard(pan: bank.scenario.pan, expiry: "12/29").sealed(to: publicKey, issuerID: bank.scenario.issuerID, walletID: "passway-pay")
        let receipt = try #require(try await bank.harness.api("POST", "/v1/push-receipts", key: bank.scenario.issuerKey, json: [
            "walletID": sealed.walletID, "keyID": sealed.keyID, "encapsulatedKey": sealed.encapsulatedKey, "ciphertext": sealed.ciphertext]).string("receipt"))
        let info = try await bank.harness.api("GET", "/v1/push-receipts/\(receipt)?deviceID=\(deviceID)", key: bank.scenario.walletKey)
        #expect(((info.object["cardProfile"] as? [String: Any])?["terms"] as? [String: Any])?["language"] as? String == "ru")
        let unaccepted = try await bank.harness.api("POST", "/v1/push-receipts/\(receipt)/redeem", key: bank.scenario.walletKey, json: ["deviceID": deviceID])
        #expect(unaccepted.status == 422 && unaccepted.string("reason") == "terms_not_accepted")
        let pushed = try await bank.harness.api("POST", "/v1/push-receipts/\(receipt)/redeem", key: bank.scenario.walletKey,
                                                json: ["deviceID": deviceID, "acceptedTerms": "2026-11"])
        #expect(pushed.status == 201, "the refusal left the receipt good: \(pushed.json)")

        // New terms: the wallet hears of it once, in order; the same version again says nothing.
        let before = try await bank.harness.api("GET", "/v1/wallet-events", key: bank.scenario.walletKey).array.count
        _ = try await publish(bank, version: "2026-12")
        _ = try await publish(bank, version: "2026-12")
        let events = try await bank.harness.api("GET", "/v1/wallet-events", key: bank.scenario.walletKey).array
        #expect(events.count == before + 1)
        let last = try #require(events.last)
        #expect(last["type"] as? String == "terms_changed" && last["termsVersion"] as? String == "2026-12" && last["profileID"] as? String == "mir-classic")
        let messages = try #require(last["messages"] as? [String: String])
        #expect(Set(messages.keys) == ["ru", "zh", "en"] && messages["zh"]?.contains("Mir Classic") == true && messages["ru"]?.contains("2026-12") == true)
        let seq = try #require((last["seq"] as? NSNumber)?.int64Value)
        #expect(try await bank.harness.api("GET", "/v1/wallet-events?after=\(seq)", key: bank.scenario.walletKey).array.isEmpty)
        #expect(try await enroll("2026-11").string("reason") == "terms_not_accepted", "the old version no longer adds a card")

        // Only the issuer itself (or the network) sets its profiles; references must be its own.
        #expect(try await bank.setProfile(["name": "X", "cardRanges": ["220070"]], key: bank.scenario.walletKey).status == 403)
        let bad: [([String: Any], String)] = [
            (["name": "X", "cardRanges": ["220071"]], "cardRanges"),
            (["name": "X", "cardRanges": ["220070"], "artAssetID": texts.en], "artAssetID"),
            (["name": "X", "cardRanges": ["220070"], "terms": ["version": "v 1", "texts": ["en": texts.en]]], "terms.version"),
            (["name": "X", "cardRanges": ["220070"], "terms": ["version": "1", "texts": ["english": texts.en]]], "terms.texts"),
            (["name": "X", "cardRanges": ["220070"], "terms": ["version": "1", "texts": ["en": texts.art]]], "terms.texts.en"),
            (["name": "X", "cardRanges": ["220070"], "contact": ["website": "http://moskva.example"]], "contact.website"),
            (["name": "X", "cardRanges": ["220070"], "colour": "red"], "colour"),
        ]
        #expect(try await bank.setProfile(["name": "Y", "cardRanges": ["220070"]], id: "other").string("field") == "cardRanges", "one profile per range")
        for (body, field) in bad {
            let answer = try await bank.setProfile(body)
            #expect((answer.status == 422 || answer.status == 400) && "\(answer.json)".contains(field), "\(field): \(answer.json)")
        }
        await bank.harness.stop()
    }
}
