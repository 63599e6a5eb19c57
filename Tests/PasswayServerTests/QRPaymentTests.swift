import APIContract
import EMV
import EMVQR
import Foundation
import ISO8583
import Simulators
import Testing
import TestSupport

/// QR payments through the network, both ways, with codes made and read by code nobody
/// here wrote: a merchant's code built by `cemacqr` and paid by the wallet over the API;
/// a device's consumer-presented code read by `pyemv`'s TLV codec, and one built by
/// `pyemv` read by the POS and paid over ISO 8583.
@Suite(.timed) struct QRPaymentTests {
    typealias Shop = NetworkFlowTests.Shop

    func oracleMissing() -> Bool {
        if case .failure(let failure) = Oracle.availability, !Oracle.isCI {
            print("⚠️ \(failure) — QR payment oracle checks NOT RUN")
            return true
        }
        return false
    }

    func pay(_ shop: Shop, _ body: [String: Any]) async throws -> PlatformHarness.Answer {
        try await PlatformHarness.call("POST", shop.harness.info.apiURL + "/v1/qr-payments", key: shop.scenario.walletKey, json: body, raw: nil, headers: [:])
    }

    @Test func aMerchantsCodeBuiltByCemacqrIsPaidWithTheTokenAndACryptogram() async throws {
        guard !oracleMissing() else { return }
        var shop = try await Shop.open()
        let built = try Oracle.lines(script: "qr_oracle.py", arguments: ["--mode", "merchant"], stdin: """
            {"acquirer": "25000001", "merchant": "GUM-DEPARTMENT1", "terminal": "MSK00001", "mcc": "5311", "currency": "643",
             "amount": "150.00", "country": "RU", "name": "GUM", "city": "MOSCOW"}
            """.replacingOccurrences(of: "\n", with: ""))
        let payload = try #require(built.first?["payload"] as? String)
        #expect(built.first?["crcOK"] as? Bool == true)
        let qr = try MerchantQR(payload: payload)
        let before = try await shop.available()
        let requests = shop.harness.info.counters.issuerHostRequests

        let chip = try #require(try shop.phone.chipData(paying: qr, amountMinor: 15_000, tokenID: shop.tokenID))
        let body: [String: Any] = ["tokenID": shop.tokenID, "payload": payload, "chipData": Hex.encode(BERTLV.encode(chip))]
        let paid = try await pay(shop, body)
        #expect(paid.status == 200, "\(paid.json)")
        #expect(paid.string("responseCode") == "00" && paid.object["approved"] as? Bool == true)
        #expect(paid.string("approvalCode")?.count == 6)
        #expect(paid.string("acquirer") == "25000001" && paid.string("terminalID") == "MSK00001" && paid.string("merchantID") == "GUM-DEPARTMENT1")
        #expect(paid.string("currency") == "RUB" && (paid.object["amountMinor"] as? NSNumber)?.int64Value == 15_000)
        #expect(paid.string("issuerAuthenticationData")?.count == 20, "ARPC ‖ ARC, TDES")
        #expect(try await shop.available() == before.map { $0 - 15_000 }, "the bank holds 150.00")
        #expect(shop.harness.info.counters.issuerHostRequests == requests + 1)

        // The same cryptogram again (a new STAN): its ATC was spent, 05, the bank not asked.
        let again = try await pay(shop, body)
        #expect(again.status == 200 && again.string("responseCode") == "05")
        #expect(shop.harness.info.counters.issuerHostRequests == requests + 1)
        await shop.close()
    }

    @Test func aStaticCodeTakesTheAmountTheCardholderEntered() async throws {
        var shop = try await Shop.open()
        let qr = MerchantQR(pointOfInitiation: "11", merchantAccounts: ["26": ["00": "RU.PASSWAY", "01": "25000001", "02": "CAFE-PUSHKIN001"]],
                            merchantCategoryCode: "5812", currency: "643", amount: nil, country: "RU", merchantName: "Кафе Пушкинъ", merchantCity: "Москва")
        let chip = try #require(try shop.phone.chipData(paying: qr, amountMinor: 2_050, tokenID: shop.tokenID))
        let paid = try await pay(shop, ["tokenID": shop.tokenID, "payload": qr.payload(), "amount": "20.50", "chipData": Hex.encode(BERTLV.encode(chip))])
        #expect(paid.status == 200 && paid.string("responseCode") == "00", "\(paid.json)")
        #expect(paid.string("merchantName") == "Кафе Пушкинъ" && paid.string("terminalID") == "QR      ")
        await shop.close()
    }

    /// Each refusal is a problem naming the field, and nothing moves: no hold, no call to
    /// the bank, the device's key not spent on the network.
    @Test func badCodesAndDataAreRefusedAndChangeNothing() async throws {
        var shop = try await Shop.open()
        let good = MerchantQR(pointOfInitiation: "12", merchantAccounts: ["26": ["00": "RU.PASSWAY", "01": "25000001", "02": "GUM-DEPARTMENT1", "03": "MSK00001"]],
                              merchantCategoryCode: "5311", currency: "643", amount: "150.00", country: "RU", merchantName: "GUM", merchantCity: "MOSCOW")
        let chip = try #require(try shop.phone.chipData(paying: good, amountMinor: 15_000, tokenID: shop.tokenID))
        let chipHex = Hex.encode(BERTLV.encode(chip))
        let before = try await shop.available()
        let requests = shop.harness.info.counters.issuerHostRequests
        var other = good
        other.merchantAccounts["26"]?["01"] = "99999999"
        var foreign = good
        foreign.merchantAccounts = ["27": ["00": "CN.UNIONPAY", "01": "1"]]
        var bigCode = good
        bigCode.amount = nil
        let payload = good.payload()
        let damaged = String(payload.dropLast()) + (payload.last == "0" ? "1" : "0")
        let cases: [(body: [String: Any], status: Int, mentions: String)] = [
            (["tokenID": shop.tokenID, "payload": damaged, "chipData": chipHex], 422, "CRC"),
            (["tokenID": shop.tokenID, "payload": other.payload(), "chipData": chipHex], 422, "99999999"),
            (["tokenID": shop.tokenID, "payload": foreign.payload(), "chipData": chipHex], 422, "RU.PASSWAY"),
            (["tokenID": shop.tokenID, "payload": payload, "amount": "150.00", "chipData": chipHex], 422, "amount"),
            (["tokenID": shop.tokenID, "payload": bigCode.payload(), "amount": "10000000000.00", "chipData": chipHex], 422, "12 digits"),
            (["tokenID": shop.tokenID, "payload": payload, "chipData": "9F0206000000000100"], 422, "9F02"),
            (["tokenID": shop.tokenID, "payload": payload, "chipData": "zz"], 422, "chipData"),
            (["tokenID": "tok_nobody", "payload": payload, "chipData": chipHex], 404, "tok_nobody"),
            (["tokenID": shop.tokenID, "payload": payload], 400, "chipData"),
        ]
        for c in cases {
            let answer = try await pay(shop, c.body)
            #expect(answer.status == c.status && "\(answer.json)".contains(c.mentions), "\(c.mentions): \(answer.status) \(answer.json)")
        }
        let issuer = try await PlatformHarness.call("POST", shop.harness.info.apiURL + "/v1/qr-payments", key: shop.scenario.issuerKey,
                                                    json: ["tokenID": shop.tokenID, "payload": payload, "chipData": chipHex], raw: nil, headers: [:])
        #expect(issuer.status == 403, "wallets only")
        #expect(try await shop.available() == before)
        #expect(shop.harness.info.counters.issuerHostRequests == requests)
        // The cryptogram was never spent: it still pays.
        let paid = try await pay(shop, ["tokenID": shop.tokenID, "payload": payload, "chipData": chipHex])
        #expect(paid.string("responseCode") == "00", "\(paid.json)")
        await shop.close()
    }

    @Test func aConsumerPresentedCodeIsReadByThePOSAndPaidOnce() async throws {
        guard !oracleMissing() else { return }
        var shop = try await Shop.open()
        let token = try #require(shop.phone.tokens.first { $0.tokenID == shop.tokenID })
        let ours = try #require(try shop.phone.consumerQR(tokenID: shop.tokenID))
        // Ours, read by pyemv: the format indicator, the token in track 2, a zero amount and currency.
        let read = try #require(try Oracle.lines(script: "qr_oracle.py", arguments: ["--mode", "cpm-read"],
                                                 stdin: String(decoding: try JSONSerialization.data(withJSONObject: ["payload": ours]), as: UTF8.self)).first)
        let v = read.compactMapValues { $0 as? String }
        #expect(v["85"] == Hex.encode(Array("CPV01".utf8)))
        #expect(v["57"]?.hasPrefix(token.tokenNumber + "D" + token.expiry + "201") == true)
        #expect(v["9F02"] == "000000000000" && v["5F2A"] == "0000" && v["9F1A"] == "0643" && v["9F26"]?.count == 16)

        // The same objects built into a code by pyemv, read by the POS's scanner and paid.
        let order = ["9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37", "82", "9F36", "9F26", "9F27", "9F10"]
        let spec: [String: Any] = ["aid": v["4F"] ?? "", "label": "PASSWAY", "track2": v["57"] ?? "", "psn": v["5F34"] ?? "00",
                                   "data": order.map { [$0, v[$0] ?? ""] }]
        let theirs = try #require(try Oracle.lines(script: "qr_oracle.py", arguments: ["--mode", "cpm-build"],
                                                   stdin: String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)).first?["payload"] as? String)
        let card = try Terminal.read(consumerQR: theirs)
        #expect(card.tokenNumber == token.tokenNumber && card.expiry == token.expiry)
        let request = shop.pos.request(for: card, amountMinor: 35_000, entryMode: "031")
        let outcome = try await shop.pos.send(request)
        #expect(outcome.responseCode == "00")
        #expect(outcome.answer.string(38)?.count == 6)
        // Shown twice: the second reading is refused (its ATC was spent).
        let twice = try await shop.pos.send(shop.pos.request(for: try Terminal.read(consumerQR: ours), amountMinor: 100, entryMode: "031"))
        #expect(twice.responseCode == "05")

        // A contactless tap's cryptogram covers the amount: sent as a QR code with another amount, 05.
        var (tap, _) = try shop.read(amount: 1_000)
        tap.set(22, "031")
        tap.set(4, "000000001001")
        #expect(try await shop.pos.send(tap).responseCode == "05")
        await shop.close()
    }
}
