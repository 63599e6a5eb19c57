import APIContract
import EMV
import ISO8583
import Foundation
import ISO8583Transport
import Logging
import Participants
@testable import PasswayServer
import Testing
import TestSupport
import Simulators

/// Each kind of participant is refused what is not its own: a wallet another wallet's
/// tokens and devices, an issuer another issuer's tokens and cards, and neither the
/// network operator's operations. "Not yours" answers as "not found", so nobody can
/// probe for others' identifiers.
@Suite(.timed, .serialized) struct AccessControlTests {
    @Test func everyKindOfParticipantIsRefusedWhatIsNotItsOwn() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let a = try await RussianBankScenario.make(harness)
        let b = try await RussianBankScenario.make(harness, suffix: "-b", cardPrefix: "220080", tokenPrefix: "22018099", seed: 2)
        var phoneA = try await a.register(model: "samsung-galaxy-s24", os: "14")
        let tokenA = try phoneA.receive(try a.sealed(try await a.enroll(phoneA)))
        var phoneB = try await b.register(model: "google-pixel-8", os: "14")
        let tokenB = try phoneB.receive(try b.sealed(try await b.enroll(phoneB)))
        let op = harness.info.operatorKey

        // No key, a wrong key.
        #expect(try await harness.api("GET", "/v1/tokens", key: nil).status == 401)
        #expect(try await harness.api("GET", "/v1/tokens", key: "pwk_not-a-key").status == 401)

        // Wallet B against wallet A's things.
        for (method, path) in [("GET", "/v1/tokens/\(tokenA.tokenID)"), ("GET", "/v1/tokens/\(tokenA.tokenID)/audit"),
                               ("POST", "/v1/tokens/\(tokenA.tokenID)/suspend"), ("POST", "/v1/tokens/\(tokenA.tokenID)/keys"),
                               ("GET", "/v1/devices/\(phoneA.deviceID!)"), ("POST", "/v1/devices/\(phoneA.deviceID!)/lost")] {
            let answer = try await harness.api(method, path, key: b.walletKey, json: method == "POST" ? [:] : nil)
            #expect(answer.status == 404, "wallet B \(method) \(path) → \(answer.status)")
        }
        #expect(try await harness.api("GET", "/v1/tokens", key: b.walletKey).array.map { $0["id"] as? String } == [tokenB.tokenID])
        // Wallet B cannot add wallet A's device's card through its own key.
        #expect(try await harness.api("POST", "/v1/enrollments", key: b.walletKey,
                                      json: ["deviceID": phoneA.deviceID!, "pan": a.pan, "expiry": "12/29"]).status == 404)

        // Issuer B against issuer A's things.
        for (method, path) in [("GET", "/v1/tokens/\(tokenA.tokenID)"), ("POST", "/v1/tokens/\(tokenA.tokenID)/suspend")] {
            #expect(try await harness.api(method, path, key: b.issuerKey, json: method == "POST" ? [:] : nil).status == 404, "issuer B \(path)")
        }
        #expect(try await harness.api("POST", "/v1/cards/renew", key: b.issuerKey, json: ["pan": a.pan, "newExpiry": "3012"]).status == 404)
        #expect(try await harness.api("PUT", "/v1/issuers/\(a.issuerID)/wallets", key: b.issuerKey, json: ["enabledWallets": []]).status == 404)
        #expect(try await harness.api("GET", "/v1/tokens", key: b.issuerKey).array.map { $0["id"] as? String } == [tokenB.tokenID])

        // Wallets and issuers cannot use the operator's operations, nor each other's.
        for key in [a.walletKey, a.issuerKey] {
            #expect(try await harness.api("POST", "/v1/wallets", key: key, json: ["id": "x1", "name": "x", "tokenRequestorID": "40010075999"]).status == 403)
            #expect(try await harness.api("GET", "/v1/issuers", key: key).status == 403)
            #expect(try await harness.api("PUT", "/v1/markets/RU", key: key, json: ["state": "suspended", "reason": "x"]).status == 403)
        }
        #expect(try await harness.api("POST", "/v1/cards/renew", key: a.walletKey, json: ["pan": a.pan, "newExpiry": "3012"]).status == 403)
        #expect(try await harness.api("POST", "/v1/enrollments", key: a.issuerKey, json: ["deviceID": phoneA.deviceID!, "pan": a.pan, "expiry": "12/29"]).status == 403)
        #expect(try await harness.api("POST", "/v1/devices/\(phoneA.deviceID!)/lost", key: op, json: [:]).status == 403)

        // The network sees every token, and nothing above changed token A.
        #expect(try await harness.api("GET", "/v1/tokens", key: op).array.count == 2)
        let stillActive = try await harness.api("GET", "/v1/tokens/\(tokenA.tokenID)", key: a.walletKey)
        #expect(stillActive.string("status") == "active")
        #expect(try await harness.api("GET", "/v1/tokens/\(tokenA.tokenID)/audit", key: op).array.count == 1)
    }

    /// Who may lift whose suspension, through the API.
    @Test func suspensionsAreLiftedOnlyByThoseAllowedTo() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let tokenID = try await s.phoneWithCard().tokenID
        let path = "/v1/tokens/\(tokenID)"
        let op = harness.info.operatorKey

        // The issuer suspends: neither the wallet nor the network can resume; the issuer can.
        #expect(try await harness.api("POST", path + "/suspend", key: s.issuerKey, json: ["reason": "fraud review"]).status == 200)
        #expect(try await harness.api("POST", path + "/resume", key: s.walletKey, json: [:]).status == 409)
        #expect(try await harness.api("POST", path + "/resume", key: op, json: [:]).status == 409)
        // The cardholder's own suspension is kept beside the issuer's: lifting the issuer's
        // leaves the token suspended by the cardholder.
        #expect(try await harness.api("POST", path + "/suspend", key: s.walletKey, json: [:]).status == 200)
        #expect(try await harness.api("POST", path + "/suspend", key: s.walletKey, json: [:]).status == 409)
        let lifted = try await harness.api("POST", path + "/resume", key: s.issuerKey, json: [:])
        #expect(lifted.status == 200 && lifted.string("status") == "suspended" && lifted.string("suspendedBy") == "wallet")
        #expect(try await harness.api("POST", path + "/resume", key: s.walletKey, json: [:]).string("status") == "active")
        // The cardholder suspends: the cardholder or the issuer can resume, the network cannot.
        #expect(try await harness.api("POST", path + "/suspend", key: s.walletKey, json: [:]).status == 200)
        #expect(try await harness.api("POST", path + "/resume", key: op, json: [:]).status == 409)
        #expect(try await harness.api("POST", path + "/resume", key: s.walletKey, json: [:]).status == 200)
        // Deleted is final.
        #expect(try await harness.api("POST", path + "/delete", key: s.walletKey, json: ["reason": "card removed by cardholder"]).status == 200)
        #expect(try await harness.api("POST", path + "/resume", key: s.issuerKey, json: [:]).status == 409)
        let audit = try await harness.api("GET", path + "/audit", key: op).array
        #expect(audit.map { "\($0["actor"]!):\($0["event"]!)" } == ["wallet:create", "issuer:suspend", "wallet:suspend", "issuer:resume", "wallet:resume", "wallet:suspend", "wallet:resume", "wallet:delete"])
    }

    /// The operator's changes are kept in an audit trail (key id, route, outcome; never a
    /// request's body), which only the operator reads, a page at a time.
    @Test func theOperatorsChangesAreInTheAuditTrail() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let (phone, _) = try await s.phoneWithCard()
        let op = harness.info.operatorKey
        let before = try await harness.api("GET", "/v1/operations/audit?limit=1000", key: op).array.count
        // A change made, one refused (a card outside the issuer's ranges: its number is in the body only).
        #expect(try await harness.api("PUT", "/v1/markets/BY", key: op, json: ["state": "pilot"], headers: Self.waitForSweep).status == 200)
        let stranger = cardNumber("999999", seed: 4)
        let refused = try await harness.api("POST", "/v1/issuers/\(s.issuerID)/bulk-tokens", key: op,
                                            json: ["walletID": "passway-pay", "deviceID": phone.deviceID ?? "", "keysPerToken": 1,
                                                   "cards": [["pan": stranger, "expiry": "12/29"]]])
        #expect(refused.status >= 400)
        // Reads are not changes; others' changes are not the operator's.
        _ = try await harness.api("GET", "/v1/markets", key: op)
        _ = try await harness.api("POST", "/v1/tokens/tok_none/suspend", key: s.walletKey, json: ["reason": "x"])

        let answer = try await harness.api("GET", "/v1/operations/audit?limit=1000", key: op)
        #expect(answer.status == 200)
        let trail = Array(answer.array.dropFirst(before))
        let keyID = ParticipantRegistry.keyID(of: op)
        #expect(trail.map { "\($0["method"] ?? "") \($0["path"] ?? "") \($0["status"] ?? "") \($0["via"] ?? "") \($0["keyID"] ?? "")" } == [
            "PUT /v1/markets/BY 200 api \(keyID)", "POST /v1/issuers/\(s.issuerID)/bulk-tokens \(refused.status) api \(keyID)"])
        #expect(trail.last?["problem"] as? String == refused.string("type")?.split(separator: "/").last.map(String.init))
        #expect(!String(decoding: answer.body, as: UTF8.self).contains(stranger), "no card number in the trail")
        // In order and in pages; the operator's alone.
        let seqs = answer.array.compactMap { ($0["seq"] as? NSNumber)?.int64Value }
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        let last = try #require(seqs.last)
        #expect(try await harness.api("GET", "/v1/operations/audit?after=\(last - 1)", key: op).array.count == 1)
        #expect(try await harness.api("GET", "/v1/operations/audit?after=-1", key: op).status == 400)
        #expect(try await harness.api("GET", "/v1/operations/audit", key: s.walletKey).status == 403)
        #expect(try await harness.api("GET", "/v1/operations/audit", key: s.issuerKey).status == 403)
    }

    static func link(_ answer: PlatformHarness.Answer) -> String? { answer.headers.first { $0.key.lowercased() == "link" }?.value }

    /// `GET /v1/tokens` in pages: each of `limit` (100 by default) in id order, a Link to the
    /// next while more follow, every token the caller may see exactly once, and nonsense
    /// refused.
    @Test func theTokenListComesInPagesOfWhatTheCallerMaySee() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let a = try await RussianBankScenario.make(harness)
        let b = try await RussianBankScenario.make(harness, suffix: "-b", cardPrefix: "220080", tokenPrefix: "22018099", seed: 2)
        let (phone, _) = try await a.phoneWithCard()
        _ = try await b.phoneWithCard()
        let op = harness.info.operatorKey
        let cards = (0..<249).map { ["pan": cardNumber("220070", seed: 9_000 + $0), "expiry": "12/29"] }
        let bulk = try await harness.api("POST", "/v1/issuers/\(a.issuerID)/bulk-tokens", key: op,
                                         json: ["walletID": "passway-pay", "deviceID": phone.deviceID ?? "", "keysPerToken": 1, "cards": cards])
        #expect(bulk.status == 201, "\(bulk.json)")

        /// Every page from `path` on, following the Link headers.
        func pages(_ path: String, key: String) async throws -> [[String]] {
            var pages: [[String]] = [], next: String? = path
            while let path = next, pages.count < 20 {
                let answer = try await harness.api("GET", path, key: key)
                #expect(answer.status == 200, "\(path): \(answer.json)")
                pages.append(answer.array.compactMap { $0["id"] as? String })
                next = Self.link(answer).flatMap { link in
                    link.hasSuffix(">; rel=\"next\"") && link.hasPrefix("<") ? String(link.dropFirst().dropLast(13)) : nil
                }
            }
            return pages
        }
        // Issuer A's 250 tokens: 100, 100, 50, in id order, each once, and none of B's.
        let issuerPages = try await pages("/v1/tokens", key: a.issuerKey)
        #expect(issuerPages.map(\.count) == [100, 100, 50])
        let issuerTokens = issuerPages.flatMap { $0 }
        #expect(issuerTokens == issuerTokens.sorted() && Set(issuerTokens).count == 250)
        // The network's 251 in pages of 120; the wallet's of the device, in pages of 200.
        let all = try await pages("/v1/tokens?limit=120", key: op)
        #expect(all.map(\.count) == [120, 120, 11] && Set(all.flatMap { $0 }).isSuperset(of: issuerTokens))
        let device = try await pages("/v1/tokens?deviceID=\(phone.deviceID ?? "")&limit=200", key: a.walletKey)
        #expect(device.map(\.count) == [200, 50] && device.flatMap { $0 } == issuerTokens)
        // A page that is the last exactly has no Link.
        #expect(Self.link(try await harness.api("GET", "/v1/tokens?limit=250", key: a.issuerKey)) == nil)
        // Nonsense is refused with the parameter named.
        for query in ["limit=0", "limit=1001", "limit=ten", "limit=-1", "after=" + String(repeating: "x", count: 65)] {
            let refused = try await harness.api("GET", "/v1/tokens?" + query, key: op)
            #expect(refused.status == 400 && refused.string("field") == String(query.prefix { $0 != "=" }), "\(query): \(refused.json)")
        }
        #expect(try await harness.api("GET", "/v1/wallet-events?after=x", key: a.walletKey).status == 400)
        #expect(try await harness.api("GET", "/v1/wallet-events?limit=5000", key: a.walletKey).status == 400)
    }

    /// PUTs of a market's state that wait for the sweep of its tokens (RFC 7240).
    static let waitForSweep = ["Prefer": "wait=60"]

    /// A market suspended in an orderly way: new enrollments refused with the reason, its
    /// tokens suspended by the network, and resumed when the market is live again.
    @Test func suspendingAMarketSuspendsItsTokensAndLiftingItResumesThem() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let tokenID = try await s.phoneWithCard().tokenID
        let op = harness.info.operatorKey
        #expect(try await harness.api("PUT", "/v1/markets/RU", key: op, json: ["state": "suspended"]).status == 422)
        #expect(try await harness.api("PUT", "/v1/markets/RU", key: op, json: ["state": "suspended", "reason": "scheme sanctions"], headers: Self.waitForSweep).status == 200)
        #expect(try await harness.api("GET", "/v1/tokens/\(tokenID)", key: s.walletKey).string("suspendedBy") == "network")
        let watch = try await s.register(model: "samsung-galaxy-watch7", os: "5")
        let refused = try await s.enroll(watch)
        #expect(refused.status == 422)
        #expect(refused.string("reason") == "market_suspended")
        #expect(refused.string("detail")?.contains("scheme sanctions") == true)
        #expect(try await harness.api("POST", "/v1/tokens/\(tokenID)/resume", key: s.walletKey, json: [:]).status == 409)
        #expect(try await harness.api("PUT", "/v1/markets/RU", key: op, json: ["state": "live"], headers: Self.waitForSweep).status == 200)
        #expect(try await harness.api("GET", "/v1/tokens/\(tokenID)", key: s.walletKey).string("status") == "active")
    }

    /// The market's state is saved before the answer and its tokens are swept after it:
    /// without `Prefer: wait` the answer does not wait (202, or 200 if the sweep was
    /// already done), `GET /v1/markets/{country}` follows the sweep, and asking again while
    /// it runs waits for the same sweep.
    @Test func aMarketsPUTAnswersBeforeItsSweepAndGETFollowsIt() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let tokenID = try await s.phoneWithCard().tokenID
        let op = harness.info.operatorKey
        let put = try await harness.api("PUT", "/v1/markets/RU", key: op, json: ["state": "suspended", "reason": "scheme sanctions"])
        let sweep = try #require(put.object["sweep"] as? [String: Any])
        let sweepID = try #require(sweep["id"] as? String)
        #expect(sweep["kind"] as? String == "suspend")
        if put.status == 202 {
            #expect(sweep["finishedAt"] == nil)
            #expect(put.headers["location"] == "/v1/markets/RU" || put.headers["Location"] == "/v1/markets/RU")
        } else {
            #expect(put.status == 200 && sweep["finishedAt"] != nil)
        }
        #expect(try await harness.api("GET", "/v1/markets/RU", key: s.walletKey).string("state") == "suspended")
        // Asked again with a wait: the same sweep if it still runs (a new one if it had finished), to its end.
        let again = try await harness.api("PUT", "/v1/markets/RU", key: op, json: ["state": "suspended", "reason": "scheme sanctions"],
                                          headers: ["Prefer": "respond-async, wait=60"])
        #expect(again.status == 200)
        let done = try #require(again.object["sweep"] as? [String: Any])
        #expect(done["finishedAt"] != nil)
        let followed = try #require(try await harness.api("GET", "/v1/markets/RU", key: op).object["sweep"] as? [String: Any])
        #expect(followed["id"] as? String == done["id"] as? String)
        if done["id"] as? String == sweepID { #expect(done["tokens"] as? Int == 1) }
        #expect(try await harness.api("GET", "/v1/tokens/\(tokenID)", key: s.walletKey).string("suspendedBy") == "network")
        #expect(try await harness.api("GET", "/v1/markets/XX", key: op).status == 404)
    }

    /// `Prefer: wait=N` as RFC 7240 spells it, bounded; anything else waits for nothing.
    @Test func theWaitPreferredIsReadAndBounded() {
        #expect(PasswayAPI.preferredWait("wait=5") == .seconds(5))
        #expect(PasswayAPI.preferredWait("respond-async, wait=100") == .seconds(60))
        #expect(PasswayAPI.preferredWait(" Wait = 7 ") == .seconds(7))
        for nonsense in [nil, "", "wait", "wait=", "wait=abc", "wait=-1", "wait=99999999999999999999", "handling=lenient"] {
            #expect(PasswayAPI.preferredWait(nonsense) == .zero, "\(nonsense ?? "nil")")
        }
    }

    /// "A lost phone pays again": suspend a market, report a phone in it lost, ask for
    /// the issuer's own suspension of a second token, lift the market. Each suspension was
    /// kept apart: both tokens stay suspended, and the lost phone's tap is declined.
    @Test func eachSuspensionIsKeptApartAndALostPhoneStaysSuspendedThroughAMarketLift() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        var (phone, lostToken) = try await s.phoneWithCard()
        var watch = try await s.register(model: "samsung-galaxy-watch7", os: "5")
        let watchEnrolled = try await s.enroll(watch)
        if watchEnrolled.status == 202, let verification = watchEnrolled.string("verificationID") {
            let code = try #require(try await s.lastCode())
            let verified = try await harness.api("POST", "/v1/enrollments/\(verification)/verify", key: s.walletKey, json: ["code": code])
            _ = try watch.receive(try s.sealed(verified))
        } else {
            _ = try watch.receive(try s.sealed(watchEnrolled))
        }
        let watchToken = try #require(watch.tokens.first?.tokenID)
        let op = harness.info.operatorKey
        func token(_ id: String) async throws -> PlatformHarness.Answer { try await harness.api("GET", "/v1/tokens/\(id)", key: op) }

        #expect(try await harness.api("PUT", "/v1/markets/RU", key: op, json: ["state": "suspended", "reason": "scheme sanctions"], headers: Self.waitForSweep).status == 200)
        #expect(try await harness.api("POST", "/v1/devices/\(phone.deviceID!)/lost", key: s.walletKey, json: [:]).status == 200)
        // The issuer's own suspension is taken beside the market's, not refused.
        #expect(try await harness.api("POST", "/v1/tokens/\(watchToken)/suspend", key: s.issuerKey, json: ["reason": "fraud review"]).status == 200)
        #expect(try await harness.api("PUT", "/v1/markets/RU", key: op, json: ["state": "live"], headers: Self.waitForSweep).status == 200)

        #expect(try await token(lostToken).string("status") == "suspended")
        #expect(try await token(watchToken).string("status") == "suspended")
        #expect(try await token(watchToken).string("suspendedBy") == "issuer")
        let held = try await token(watchToken).object["suspensions"] as? [[String: Any]]
        #expect(held?.compactMap { $0["kind"] as? String } == ["issuer"], "the market's was lifted, the issuer's holds")
        #expect((try await token(lostToken).object["suspensions"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } == ["lost_device"])
        let network = try await TestAcquirer.onboard(harness).client(harness)
        defer { Task { await network.close() } }
        let pos = Terminal(.init(kind: .pos, terminalID: "MSK00007", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                 nameLocation: "GUM MOSCOW RU", country: 643, currency: try #require(Currency.alpha("RUB"))), network: network)
        var applet = ContactlessApplet(tokenID: lostToken)
        #expect(try await pos.tap(amountMinor: 1_000) { applet.respond(to: $0, wallet: &phone) }.responseCode == "05")

        // Only the issuer lifts a lost device's suspension, and its own.
        for id in [lostToken, watchToken] {
            #expect(try await harness.api("POST", "/v1/tokens/\(id)/resume", key: s.walletKey, json: [:]).status == 409)
            #expect(try await harness.api("POST", "/v1/tokens/\(id)/resume", key: op, json: [:]).status == 409)
            #expect(try await harness.api("POST", "/v1/tokens/\(id)/resume", key: s.issuerKey, json: [:]).status == 200)
        }
        #expect(try await token(lostToken).string("status") == "active")
        #expect(try await token(watchToken).string("status") == "active")
        #expect(try await pos.tap(amountMinor: 1_000) { applet.respond(to: $0, wallet: &phone) }.responseCode == "00")
    }

    /// Keys rotated and revoked by the operator: a new key works beside the old one until
    /// the old one is revoked; then the old one gets 401 at once. Nobody else manages keys,
    /// and the operator cannot revoke the key it is using.
    @Test func theOperatorRotatesAndRevokesKeys() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let op = harness.info.operatorKey
        let rotated = try await harness.api("POST", "/v1/credentials", key: op, json: ["kind": "wallet", "participantID": "passway-pay"])
        #expect(rotated.status == 201)
        let newKey = try #require(rotated.string("apiKey")), newID = try #require(rotated.string("keyID"))
        for key in [s.walletKey, newKey] { #expect(try await harness.api("GET", "/v1/tokens", key: key).status == 200) }
        let listed = try await harness.api("GET", "/v1/credentials", key: op).array.filter { $0["participantID"] as? String == "passway-pay" }
        #expect(listed.count == 2 && listed.allSatisfy { ($0["keyID"] as? String)?.count == 16 && $0["apiKey"] == nil })
        let oldID = try #require(listed.compactMap { $0["keyID"] as? String }.first { $0 != newID })

        for key in [s.walletKey, s.issuerKey] {
            #expect(try await harness.api("GET", "/v1/credentials", key: key).status == 403)
            #expect(try await harness.api("DELETE", "/v1/credentials/\(oldID)", key: key).status == 403)
        }
        #expect(try await harness.api("DELETE", "/v1/credentials/\(oldID)", key: op).status == 204)
        #expect(try await harness.api("GET", "/v1/tokens", key: s.walletKey).status == 401)
        #expect(try await harness.api("GET", "/v1/tokens", key: newKey).status == 200)
        #expect(try await harness.api("DELETE", "/v1/credentials/\(oldID)", key: op).status == 404)
        let own = try await harness.api("GET", "/v1/credentials", key: op).array.first { $0["kind"] as? String == "network" }?["keyID"] as? String
        #expect(try await harness.api("DELETE", "/v1/credentials/\(try #require(own))", key: op).status == 409)
        #expect(try await harness.api("POST", "/v1/credentials", key: op, json: ["kind": "wallet", "participantID": "nobody"]).status == 404)
        #expect(try await harness.api("POST", "/v1/credentials", key: op, json: ["kind": "wallet"]).status == 422)
    }

    /// An acquirer's keys: its zone master key shown once at onboarding, then its MAC key
    /// only as a TR-31 block under it, for that acquirer (or the operator) alone.
    @Test func anAcquirerGetsItsMACKeyOnlyUnderItsZoneMasterKey() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let op = harness.info.operatorKey
        func onboard(_ id: String, _ institution: String) async throws -> PlatformHarness.Answer {
            try await harness.api("POST", "/v1/acquirers", key: op, json: ["id": id, "name": id, "country": "RU", "institutionID": institution])
        }
        let created = try await onboard("gum-acquirer", "25000001")
        let other = try await onboard("tsum-acquirer", "25000002")
        let zmk = try Hex.decode(try #require(created.string("zoneMasterKey")))
        let zmkCheckValue = Hex.encode(try AESKey(zmk).checkValue)
        #expect(zmk.count == 32 && created.string("zoneMasterKeyCheckValue") == zmkCheckValue)
        let acquirerKey = try #require(created.string("apiKey")), otherKey = try #require(other.string("apiKey"))

        let delivered = try await harness.api("POST", "/v1/acquirers/gum-acquirer/mac-key", key: acquirerKey)
        #expect(delivered.status == 201)
        let block = try #require(delivered.string("keyBlock"))
        let opened = try TR31.unwrap(block, kbpk: zmk)
        #expect(opened.header.keyUsage == "M3" && opened.header.algorithm == "T" && opened.header.modeOfUse == "C")
        let macCheckValue = Hex.encode(try TDESKey(opened.key).checkValue)
        #expect(macCheckValue == delivered.string("checkValue"))
        let otherZMK = try Hex.decode(try #require(other.string("zoneMasterKey")))
        #expect(throws: TR31.Failure.self) { try TR31.unwrap(block, kbpk: otherZMK) }
        // Another acquirer, a wallet: not theirs.
        #expect(try await harness.api("POST", "/v1/acquirers/gum-acquirer/mac-key", key: otherKey).status == 404)
        #expect(try await harness.api("POST", "/v1/acquirers/gum-acquirer/mac-key", key: s.walletKey).status == 403)
        #expect(try await harness.api("POST", "/v1/acquirers/nobody/mac-key", key: op).status == 404)
        // A new key replaces the old: the operator can rotate it.
        let again = try await harness.api("POST", "/v1/acquirers/gum-acquirer/mac-key", key: op)
        #expect(again.status == 201 && again.string("checkValue") != delivered.string("checkValue"))
        // The keys are nowhere in clear on disk.
        for file in try FileManager.default.subpathsOfDirectory(atPath: harness.dataDirectory) {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: harness.dataDirectory + "/" + file))) ?? Data()
            #expect(bytes.range(of: Data(zmk)) == nil && bytes.range(of: Data(opened.key)) == nil, "a key in clear in \(file)")
        }
    }
}

/// The device catalog through the API: the operator edits it, nobody else; a model that
/// lacks a requirement turns its devices away.
@Suite(.timed) struct DeviceCatalogAPITests {
    @Test func theOperatorEditsTheCatalogAndItDecidesEligibility() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let scenario = try await RussianBankScenario.make(harness)
        let body: [String: Any] = ["manufacturer": "Acme", "model": "Band", "kind": "watch", "nfc": true, "keyStorage": "tee", "biometric": false,
                                   "minimumOS": "2", "markets": ["RU"]]
        #expect(try await harness.api("PUT", "/v1/device-models/acme-band", key: scenario.walletKey, json: body).status == 403)
        #expect(try await harness.api("PUT", "/v1/device-models/acme-band", key: nil, json: body).status == 401)
        var extra = body
        extra["colour"] = "red"
        #expect(try await harness.api("PUT", "/v1/device-models/acme-band", key: harness.info.operatorKey, json: extra).status == 400)
        var badMarket = body
        badMarket["markets"] = ["Russia"]
        #expect(try await harness.api("PUT", "/v1/device-models/acme-band", key: harness.info.operatorKey, json: badMarket).status == 422)
        let saved = try await harness.api("PUT", "/v1/device-models/acme-band", key: harness.info.operatorKey, json: body)
        #expect(saved.status == 200 && saved.object["biometric"] as? Bool == false && saved.object["keyStorage"] as? String == "tee")
        let models = try await harness.api("GET", "/v1/device-models", key: scenario.walletKey).array
        #expect(models.contains { $0["id"] as? String == "acme-band" })
        // Without a biometric sensor its watches do not register.
        let watch = DeviceWallet(modelID: "acme-band", osVersion: "2", country: "RU")
        let refused = try await harness.api("POST", "/v1/devices", key: scenario.walletKey,
                                            json: ["modelID": "acme-band", "osVersion": "2", "country": "RU", "publicKey": try watch.publicKey])
        #expect(refused.status == 422 && refused.object["reason"] as? String == "device_not_supported")
        var fixed = body
        fixed["biometric"] = true
        #expect(try await harness.api("PUT", "/v1/device-models/acme-band", key: harness.info.operatorKey, json: fixed).status == 200)
        #expect(try await harness.api("POST", "/v1/devices", key: scenario.walletKey,
                                      json: ["modelID": "acme-band", "osVersion": "2", "country": "RU", "publicKey": try watch.publicKey]).status == 201)
    }
}
