import EMV
import Foundation
import ISO8583
import PasswayServer
import Testing
import TestSupport

/// The issuer link on a bad day, against the real bundled bank behind a relay that
/// misbehaves (`FaultyLink`): an issuer that answers late, one that drops the connection
/// after reading, one that never answers, one that answers garbage. Each time the acquirer
/// hears 91, the network queues the reversal it owes before that, and the bank's available
/// balance is back where it was within 10 s (README, "Bad days"), its ledger balanced.
@Suite(.timed) struct IssuerFaultTests {
    static let linkKey = "0123456789ABCDEFFEDCBA9876543210"

    static func shop(through link: FaultyLink) async throws -> NetworkFlowTests.Shop {
        let shop = try await NetworkFlowTests.Shop.open {
            $0.issuerTimeout = .seconds(1)
            $0.environment["PASSWAY_ISSUER_HOST_LINK_KEY"] = Self.linkKey
            $0.issuerEndpoints = ["moskva-bank": ("127.0.0.1", link.port)]
            if let key = try? TDESKey(hex: Self.linkKey) { $0.issuerEndpointLinkKeys = ["moskva-bank": .tdes(key)] }
        }
        link.relay(to: "127.0.0.1", port: shop.harness.info.issuerHostISOPort ?? 0)
        return shop
    }

    @Test(arguments: [FaultyLink.Fault.late(.seconds(3)), .dropAfterRead, .silent, .garbage])
    func theBanksBalanceIsRestored(_ fault: FaultyLink.Fault) async throws {
        let link = try await FaultyLink.start()
        var shop = try await Self.shop(through: link)
        // Through the relay, untouched: approved and held.
        let start = try #require(try await shop.available())
        let (first, _) = try shop.read(amount: 10_000)
        #expect(try await shop.pos.send(first).responseCode == "00")
        #expect(try await shop.available() == start - 10_000)

        link.set(fault)
        let (request, _) = try shop.read(amount: 70_000)
        let relayedBefore = link.relayedAuthorizations
        let outcome = try await shop.pos.send(request)
        #expect(outcome.responseCode == "91", "\(fault): \(outcome.answer)")
        #expect(link.relayedAuthorizations == relayedBefore + (fault == .silent ? 0 : 1))
        link.set(.none)
        // The reversal was queued before the 91, and reaches the bank.
        #expect(shop.harness.logs.lines.contains { $0.contains("reversal queued for the issuer") })
        #expect(try await eventually(within: .seconds(10)) { try await shop.available() == start - 10_000 }, "\(fault): the bank's hold was not released")
        await shop.harness.logs.wait(for: "store-and-forward: delivered")
        let ledger = try await shop.scenario.bankCall("GET", "/ledger")
        #expect(ledger.status == 200 && (ledger["unbalancedReferences"] as? [Any])?.isEmpty == true, "\(ledger.json)")
        let holds = try await shop.scenario.bankCall("GET", "/holds").array
        let reference = "25000001/MSK00001/\(request.string(11) ?? "")/\(request.string(7) ?? "")"
        let hold = holds.first { $0["reference"] as? String == reference }
        #expect(fault == .silent ? hold == nil : hold?["state"] as? String == "released", "\(holds)")
        // The operator sees what was owed and delivered.
        let queues = try await shop.harness.api("GET", "/v1/operations/queues", key: shop.harness.info.operatorKey)
        let moskva = (queues["storeAndForward"] as? [[String: Any]])?.first { $0["issuerID"] as? String == "moskva-bank" }
        #expect(moskva?["queued"] as? Int == 0 && moskva?["delivered"] as? Int == 1 && moskva?["expired"] as? Int == 0, "\(queues.json)")
        #expect((queues["thisNode"] as? [String: Any])?["delivered"] as? Int == 1)
        #expect(try await shop.harness.api("GET", "/v1/operations/queues", key: shop.scenario.issuerKey).status == 403)
        // The journal, as the operator reads it: the 91, decided by the timeout, and no card number.
        let journal = try await shop.harness.api("GET", "/v1/journal?limit=100", key: shop.harness.info.operatorKey)
        let entry = journal.array.first { $0["key"] as? String == reference }
        #expect(entry?["responseCode"] as? String == "91" && entry?["decidedBy"] as? String == "timeout", "\(journal.json)")
        #expect(!String(decoding: journal.body, as: UTF8.self).contains(shop.scenario.pan))
        #expect(try await shop.harness.api("GET", "/v1/journal?limit=0", key: shop.harness.info.operatorKey).status == 400)
        // A retransmission of the 91'd authorization gets its 91 again and holds nothing.
        #expect(try await shop.pos.send(request).responseCode == "91")
        #expect(try await shop.available() == start - 10_000)
        await shop.close()
        await link.close()
    }

    /// With the issuer's stand-in rules (set through the API by the issuer), an issuer that
    /// never answers is stood in for: 00 with the network's approval code, the advice
    /// queued before the answer and delivered once the link works, and the bank holds the
    /// amount once; over the rules, 61 and the bank's balance comes back.
    @Test func anIssuerThatNeverAnswersIsStoodInFor() async throws {
        let link = try await FaultyLink.start()
        var shop = try await Self.shop(through: link)
        let rules: [String: Any] = ["perTransactionLimitMinor": ["RUB": 100_000], "dailyCountPerToken": 5, "dailyAmountPerTokenMinor": 500_000,
                                    "processingCodes": ["00"], "merchantCategoryGroups": ["retail", "everyday"]]
        let set = try await shop.harness.api("PUT", "/v1/issuers/moskva-bank/stand-in", key: shop.scenario.issuerKey, json: rules)
        #expect(set.status == 200 && set.string("updatedBy") == "issuer:moskva-bank", "\(set.json)")
        #expect(try await shop.harness.api("PUT", "/v1/issuers/moskva-bank/stand-in", key: shop.scenario.issuerKey,
                                           json: rules.merging(["processingCodes": ["99"]]) { $1 }).status == 422)
        #expect(try await shop.harness.api("GET", "/v1/issuers/moskva-bank/stand-in", key: shop.harness.info.operatorKey)
                    .string("updatedBy") == "issuer:moskva-bank")
        // The network read the issuer before the rules were set: it reads them again at once.
        let (warm, _) = try shop.read(amount: 1_000)
        #expect(try await shop.pos.send(warm).responseCode == "00")
        #expect(try await shop.harness.api("PUT", "/v1/issuers/moskva-bank/stand-in", key: shop.scenario.issuerKey, json: rules).status == 200)
        let start = try #require(try await shop.available()) + 1_000

        link.set(.silent)
        let (request, _) = try shop.read(amount: 60_000)
        let outcome = try await shop.pos.send(request)
        #expect(outcome.responseCode == "00", "\(outcome.answer)")
        #expect(outcome.answer.string(38)?.hasPrefix("S") == true)
        let (over, _) = try shop.read(amount: 150_000)
        #expect(try await shop.pos.send(over).responseCode == "61")
        link.set(.none)
        #expect(try await eventually(within: .seconds(10)) { try await shop.available() == start - 1_000 - 60_000 },
                "the bank holds the stand-in approval once, and not the declined one")
        let queues = try await shop.harness.api("GET", "/v1/operations/queues", key: shop.harness.info.operatorKey)
        let advices = (queues["storeAndForward"] as? [[String: Any]])?.first { $0["kind"] as? String == "advice" }
        #expect(advices?["delivered"] as? Int == 1 && advices?["queued"] as? Int == 0, "\(queues.json)")
        let stood = (queues["thisNodeStandIn"] as? [[String: Any]])?.first { $0["issuerID"] as? String == "moskva-bank" }
        #expect(stood?["approved"] as? Int == 1 && stood?["declined"] as? Int == 1, "\(queues.json)")
        let journal = try await shop.harness.api("GET", "/v1/journal", key: shop.harness.info.operatorKey).array
        #expect(journal.contains { $0["decidedBy"] as? String == "stand-in" && $0["responseCode"] as? String == "00" })
        let ledger = try await shop.scenario.bankCall("GET", "/ledger")
        #expect((ledger["unbalancedReferences"] as? [Any])?.isEmpty == true)
        // Removed: the network answers 91 again.
        #expect(try await shop.harness.api("DELETE", "/v1/issuers/moskva-bank/stand-in", key: shop.scenario.issuerKey).status == 204)
        #expect(try await shop.harness.api("GET", "/v1/issuers/moskva-bank/stand-in", key: shop.scenario.issuerKey).status == 404)
        await shop.close()
        await link.close()
    }
}
