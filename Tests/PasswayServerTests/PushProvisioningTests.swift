import APIContract
import EMV
import Foundation
import Simulators
import Testing
import TestSupport

/// Push provisioning as a bank and a wallet see it over HTTP: the bank's server seals the
/// card with `pyhpke` (an HPKE nobody here wrote) to the token service's key, gets a
/// receipt, and the wallet redeems it on a watch, which then pays at a POS. Each way to
/// misuse a receipt or a sealed card is refused with a problem and makes nothing.
@Suite(.timed) struct PushProvisioningTests {
    typealias Shop = NetworkFlowTests.Shop

    struct Sealed { var encapsulatedKey: String; var ciphertext: String }

    /// The card sealed by pyhpke to the token service's key, for `issuer` and `wallet`.
    func seal(_ shop: Shop, pan: String, issuer: String, wallet: String) async throws -> (keyID: String, sealed: Sealed) {
        let key = try await PlatformHarness.call("GET", shop.harness.info.apiURL + "/v1/push-provisioning/key", key: shop.scenario.issuerKey,
                                                 json: nil, raw: nil, headers: [:])
        #expect(key.status == 200 && key.object["kem"] as? Int == 16 && key.object["aead"] as? Int == 2)
        let request: [String: Any] = ["publicKey": key.string("publicKey") ?? "", "info": key.string("info") ?? "", "aad": issuer + "\n" + wallet,
                                      "card": ["pan": pan, "expiry": "12/29"]]
        let out = try #require(try Oracle.lines(script: "hpke_seal.py", arguments: [],
                                                stdin: String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)).first)
        return (key.string("keyID") ?? "", Sealed(encapsulatedKey: out["encapsulatedKey"] as? String ?? "", ciphertext: out["ciphertext"] as? String ?? ""))
    }

    func push(_ shop: Shop, keyID: String, _ sealed: Sealed, wallet: String = "passway-pay") async throws -> PlatformHarness.Answer {
        try await PlatformHarness.call("POST", shop.harness.info.apiURL + "/v1/push-receipts", key: shop.scenario.issuerKey, json: [
            "walletID": wallet, "keyID": keyID, "encapsulatedKey": sealed.encapsulatedKey, "ciphertext": sealed.ciphertext,
        ], raw: nil, headers: [:])
    }

    func redeem(_ shop: Shop, _ receipt: String, device: String, key: String? = nil) async throws -> PlatformHarness.Answer {
        try await PlatformHarness.call("POST", shop.harness.info.apiURL + "/v1/push-receipts/\(receipt)/redeem", key: key ?? shop.scenario.walletKey,
                                       json: ["deviceID": device], raw: nil, headers: [:])
    }

    func tokenCount(_ shop: Shop) async throws -> Int {
        try await PlatformHarness.call("GET", shop.harness.info.apiURL + "/v1/tokens", key: shop.scenario.issuerKey, json: nil, raw: nil, headers: [:]).array.count
    }

    @Test func aPushedCardGoesOntoTheDeviceThatRedeemsItOnceAndPays() async throws {
        if case .failure(let failure) = Oracle.availability, !Oracle.isCI { print("⚠️ \(failure) — push provisioning NOT RUN"); return }
        let shop = try await Shop.open()
        var watch = try await shop.scenario.register(model: "samsung-galaxy-watch7", os: "5")
        let watchID = try #require(watch.deviceID)
        let (keyID, sealed) = try await seal(shop, pan: shop.scenario.pan, issuer: shop.scenario.issuerID, wallet: "passway-pay")
        let issued = try await push(shop, keyID: keyID, sealed)
        #expect(issued.status == 201, "\(issued.json)")
        let receipt = try #require(issued.string("receipt"))
        #expect(issued.string("maskedPAN") == PAN.mask(shop.scenario.pan) && !"\(issued.json)".contains(shop.scenario.pan))
        let before = try await tokenCount(shop)

        let redeemed = try await redeem(shop, receipt, device: watchID)
        #expect(redeemed.status == 201 && redeemed.string("status") == "approved", "\(redeemed.json)")
        let token = try watch.receive(try shop.scenario.sealed(redeemed))
        #expect(try await tokenCount(shop) == before + 1)
        let audit = try await PlatformHarness.call("GET", shop.harness.info.apiURL + "/v1/tokens/\(token.tokenID)/audit", key: shop.scenario.issuerKey,
                                                   json: nil, raw: nil, headers: [:])
        #expect(audit.array.first?["actor"] as? String == "issuer" && (audit.array.first?["reason"] as? String)?.contains("push provisioning") == true)

        // The watch pays with it.
        var applet = ContactlessApplet(tokenID: token.tokenID)
        let outcome = try await shop.pos.tap(amountMinor: 99_00) { applet.respond(to: $0, wallet: &watch) }
        #expect(outcome.responseCode == "00")

        // Redeemed twice: refused, nothing made.
        let twice = try await redeem(shop, receipt, device: watchID)
        #expect(twice.status == 422 && "\(twice.json)".contains("receipt_used"), "\(twice.json)")
        #expect(try await tokenCount(shop) == before + 1)
        await shop.close()
    }

    @Test func aReceiptIsTheWalletsAndASealedCardOpensOnlyAsSealed() async throws {
        if case .failure(let failure) = Oracle.availability, !Oracle.isCI { print("⚠️ \(failure) — push provisioning NOT RUN"); return }
        let shop = try await Shop.open()
        let phoneID = try #require(shop.phone.deviceID)
        let op = shop.harness.info.operatorKey
        let other = try await PlatformHarness.call("POST", shop.harness.info.apiURL + "/v1/wallets", key: op,
                                                   json: ["id": "other-pay", "name": "Other Pay", "tokenRequestorID": "40010075099"], raw: nil, headers: [:])
        let otherKey = try #require(other.string("apiKey"))
        let before = try await tokenCount(shop)

        // For another wallet: its receipt is not found by this one, and this one's not by it.
        let (keyID, sealed) = try await seal(shop, pan: shop.scenario.pan, issuer: shop.scenario.issuerID, wallet: "passway-pay")
        let receipt = try #require(try await push(shop, keyID: keyID, sealed).string("receipt"))
        let stranger = try await redeem(shop, receipt, device: phoneID, key: otherKey)
        #expect(stranger.status == 404, "\(stranger.json)")
        #expect(try await redeem(shop, "pr_" + String(receipt.dropFirst(3).reversed()), device: phoneID).status == 404, "a made-up receipt")

        // Sealed for one wallet, sent for another: does not open.
        let misdirected = try await push(shop, keyID: keyID, sealed, wallet: "other-pay")
        #expect(misdirected.status == 422 && misdirected.string("field") == "ciphertext", "\(misdirected.json)")
        // One bit of the ciphertext changed: does not open.
        var bytes = try #require(Data(base64Encoded: sealed.ciphertext))
        bytes[bytes.count / 2] ^= 0x01
        let tampered = try await push(shop, keyID: keyID, Sealed(encapsulatedKey: sealed.encapsulatedKey, ciphertext: bytes.base64EncodedString()))
        #expect(tampered.status == 422 && tampered.string("field") == "ciphertext", "\(tampered.json)")
        // Another key's id; a card of another bank; a wallet that does not exist.
        #expect(try await push(shop, keyID: "0000000000000000", sealed).string("field") == "keyID")
        let (_, foreign) = try await seal(shop, pan: cardNumber("220071", seed: 5), issuer: shop.scenario.issuerID, wallet: "passway-pay")
        let notOurs = try await push(shop, keyID: keyID, foreign)
        #expect(notOurs.status == 422 && notOurs.string("field") == "pan", "\(notOurs.json)")
        #expect(try await push(shop, keyID: keyID, sealed, wallet: "nobody-pay").status == 404)
        // Only issuers push, only wallets redeem.
        let byWallet = try await PlatformHarness.call("POST", shop.harness.info.apiURL + "/v1/push-receipts", key: shop.scenario.walletKey, json: [
            "walletID": "passway-pay", "keyID": keyID, "encapsulatedKey": sealed.encapsulatedKey, "ciphertext": sealed.ciphertext], raw: nil, headers: [:])
        #expect(byWallet.status == 403)
        #expect(try await redeem(shop, receipt, device: phoneID, key: shop.scenario.issuerKey).status == 403)
        #expect(try await tokenCount(shop) == before, "nothing was made")
        // The receipt is still good for its own wallet.
        #expect(try await redeem(shop, receipt, device: phoneID).status == 201)
        await shop.close()
    }
}
