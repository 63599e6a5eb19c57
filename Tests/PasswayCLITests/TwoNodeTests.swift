import APIContract
import EMV
import Crypto
import Foundation
import ISO8583
import ISO8583Transport
import Logging
import PostgresSupport
import Simulators
import Testing
import TestSupport
import TokenService
import Vault

/// Two `passway serve` processes on one PostgreSQL database: what is enrolled through
/// one node pays through the other, an authorization sent to both at once is approved
/// once, and a suspension through one is honoured by the other within the read cache's
/// bound (README, "Several nodes").
@Suite(.timed, .enabled(if: TestPostgres.url != nil, "needs PASSWAY_POSTGRES_URL"))
struct TwoNodeTests {
    static let quiet = Logger(label: "test-acquirer") { _ in SwiftLogNoOpLogHandler() }

    @Test func twoNodesShareOneDatabase() async throws {
        let database = try await TestPostgres.freshDatabase()
        // Both nodes open the same vault: the same master keys, given as operators do.
        let keys = ["PASSWAY_MASTER_KEY": MasterKey.generate().keyFileContents().trimmingCharacters(in: .whitespacesAndNewlines),
                    "PASSWAY_ISSUER_HOST_MASTER_KEY": MasterKey.generate().keyFileContents().trimmingCharacters(in: .whitespacesAndNewlines)]
        let a = try await ServeProcess.start(["--database", database.connectionString], environment: keys)
        let b: ServeProcess
        do { b = try await ServeProcess.start(["--database", database.connectionString], environment: keys) } catch { a.stop(); throw error }
        defer {
            a.stop(); b.stop()
            Task { await TestPostgres.dropDatabase(database) }
        }

        // Everything is set up through node A.
        let call = PlatformHarness.call
        let op = a.operatorKey
        let bank = try await call("POST", a.issuerHost + "/banks", a.issuerHostOperatorKey, ["id": "bank-moskva", "cardRanges": ["220070"]], nil, [:])
        #expect(bank.status == 201)
        let bankKey = try #require(bank.string("apiKey"))
        let pan = cardNumber("220070", seed: 31), bulkPAN = cardNumber("220070", seed: 32)
        for card in [pan, bulkPAN] {
            let account = try await call("POST", a.issuerHost + "/banks/bank-moskva/accounts", bankKey, [
                "pan": card, "expiry": "2912", "cvv2": "123", "holderName": "IVAN PETROV", "phone": "+79161234567", "currency": "RUB",
                "balanceMinor": 5_000_000,
            ], nil, [:])
            #expect(account.status == 201, "\(account.json)")
        }
        let wallet = try await call("POST", a.api + "/v1/wallets", op, ["id": "passway-pay", "name": "Passway Pay", "tokenRequestorID": "40010075001"], nil, [:])
        let walletKey = try #require(wallet.string("apiKey"))
        let issuer = try await call("POST", a.api + "/v1/issuers", op, [
            "id": "moskva-bank", "name": "Moskva Bank", "country": "RU", "currency": "RUB", "cardRanges": ["220070"], "tokenRanges": ["22017199"],
            "enabledWallets": ["passway-pay"], "hostURL": a.issuerHost + "/banks/bank-moskva", "hostKey": try #require(bank.string("tokenServiceKey")),
        ], nil, [:])
        let issuerKey = try #require(issuer.string("apiKey"))
        var phone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: "RU")
        let device = try await call("POST", a.api + "/v1/devices", walletKey, [
            "modelID": "samsung-galaxy-s24", "osVersion": "14", "country": "RU", "publicKey": try phone.publicKey,
        ], nil, [:])
        let deviceID = try #require(device.string("id"))
        phone.deviceID = deviceID
        let enrolled = try await call("POST", a.api + "/v1/enrollments", walletKey, [
            "deviceID": phone.deviceID!, "pan": pan, "expiry": "12/29", "cvv2": "123",
        ], nil, [:])
        #expect(enrolled.string("status") == "approved", "\(enrolled.json)")
        let token = try phone.receive(try JSONDecoder().decode(SealedProvisioning.self,
                                                               from: JSONSerialization.data(withJSONObject: enrolled.object["provisioning"] ?? [:])))

        let profile = Terminal.Profile(kind: .pos, terminalID: "MSK00001", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                       nameLocation: "GUM, Red Square 3       MOSCOW       RU", country: 643, currency: Currency.alpha("RUB")!)
        // One acquirer, onboarded through node A, signs on at both nodes.
        let acquirer = try await TestAcquirer.onboard(api: a.api, operatorKey: op)
        let clientA = acquirer.client(host: a.networkHost, port: a.networkPort, timeout: .seconds(15))
        let clientB = acquirer.client(host: b.networkHost, port: b.networkPort, timeout: .seconds(15))
        let posA = Terminal(profile, network: clientA), posB = Terminal(profile, network: clientB)
        defer { Task { await clientA.close(); await clientB.close() } }
        var applet = ContactlessApplet(tokenID: token.tokenID)
        func read(_ pos: Terminal, amount: Int64) throws -> Message {
            let card = try pos.read(amountMinor: amount, transactionType: 0) { applet.respond(to: $0, wallet: &phone) }
            return pos.request(for: card, amountMinor: amount)
        }
        func available() async throws -> Int64 {
            let accounts = try await call("GET", b.issuerHost + "/banks/bank-moskva/accounts", bankKey, nil, nil, [:]).array
            return try #require((accounts.first { ($0["maskedPAN"] as? String) == PAN.mask(pan) }?["availableMinor"] as? NSNumber)?.int64Value)
        }

        // 1. Enrolled through A, paid through B (and B's bundled issuer host finds the bank A created).
        let first = try await posB.send(try read(posB, amount: 150_000))
        #expect(first.responseCode == "00", "\(first.answer)")
        #expect(try await available() == 5_000_000 - 150_000)

        // 2. The same 0100 to both nodes at the same moment, 200 times: one approval each
        //    time (both answers, when both are 00, are the one authorization: same approval
        //    code), and the bank holds each amount once.
        let bulk = try await call("POST", a.api + "/v1/issuers/moskva-bank/bulk-tokens", op, [
            "walletID": "passway-pay", "deviceID": phone.deviceID!, "keysPerToken": 450, "cards": [["pan": bulkPAN, "expiry": "12/29"]],
        ], nil, [:])
        #expect(bulk.status == 201, "\(bulk.json)")
        let sealed = try JSONDecoder().decode([SealedProvisioning].self, from: JSONSerialization.data(withJSONObject: bulk.object["provisionings"] ?? []))
        let many = try phone.receive(try #require(sealed.first))
        var bulkApplet = ContactlessApplet(tokenID: many.tokenID)
        let amount: Int64 = 1_000
        var doubleApprovals = 0, approvals = 0, codes: [String: Int] = [:]
        let bulkBefore = try await bulkAvailable(call, b.issuerHost, bulkPAN, bankKey: bankKey)
        for _ in 0..<200 {
            let card = try posA.read(amountMinor: amount, transactionType: 0) { bulkApplet.respond(to: $0, wallet: &phone) }
            let request = posA.request(for: card, amountMinor: amount)
            async let atA = posA.send(request)
            async let atB = posB.send(request)
            let (x, y) = try await (atA, atB)
            for code in [x.responseCode, y.responseCode] { codes[code, default: 0] += 1 }
            let approved = [x, y].filter(\.approved)
            if approved.count == 2, x.answer.string(38) != y.answer.string(38) { doubleApprovals += 1 }
            if !approved.isEmpty { approvals += 1 }
        }
        #expect(doubleApprovals == 0)
        #expect(approvals == 200, "codes: \(codes)")
        #expect(try await bulkAvailable(call, b.issuerHost, bulkPAN, bankKey: bankKey) == bulkBefore - 200 * amount, "the bank held each authorization once")

        // 3. The same cryptogram in two different messages (a replayed ARQC, new STAN), one
        //    to each node at once: the ATC is accepted by exactly one, 100 times.
        var replayWins: [Int: Int] = [:]
        for _ in 0..<100 {
            let card = try posA.read(amountMinor: amount, transactionType: 0) { bulkApplet.respond(to: $0, wallet: &phone) }
            let original = posA.request(for: card, amountMinor: amount)
            var replay = original
            replay.set(11, String(format: "%06d", (Int(original.string(11)!)! + 500_000) % 1_000_000))
            async let atA = posA.send(original)
            async let atB = posB.send(replay)
            let (x, y) = try await (atA, atB)
            replayWins[[x, y].filter(\.approved).count, default: 0] += 1
            #expect(Set([x.responseCode, y.responseCode]) == ["00", "05"], "\(x.responseCode) \(y.responseCode)")
        }
        #expect(replayWins == [1: 100])

        // 4. Suspended through A: B declines at once when PostgreSQL's notification reached
        //    it (B has just read the token, so without it B's cache would answer 00 for up
        //    to a second), and in any case within the bound.
        #expect(try await posB.send(try read(posB, amount: 1_000)).responseCode == "00")
        let emptied = "caches emptied: another node changed a token"
        let before = b.log.components(separatedBy: emptied).count
        let suspended = try await call("POST", a.api + "/v1/tokens/\(token.tokenID)/suspend", issuerKey, ["reason": "fraud review"], nil, [:])
        #expect(suspended.status == 200)
        #expect(await b.waitForLog { $0.components(separatedBy: emptied).count > before }, "B heard of the suspension")
        #expect(try await posB.send(try read(posB, amount: 1_000)).responseCode == "05", "declined by B as soon as it heard")
        // Without the notification (a lost listener connection), the bound: resumed and
        // suspended again, B declines one bound later whatever it heard.
        #expect(try await call("POST", a.api + "/v1/tokens/\(token.tokenID)/resume", issuerKey, ["reason": "cleared"], nil, [:]).status == 200)
        try await ContinuousClock().sleep(until: .now + .seconds(ReadCacheBound.seconds))
        #expect(try await posB.send(try read(posB, amount: 1_000)).responseCode == "00", "resumed through A, paid through B")
        #expect(try await call("POST", a.api + "/v1/tokens/\(token.tokenID)/suspend", issuerKey, ["reason": "again"], nil, [:]).status == 200)
        try await ContinuousClock().sleep(until: .now + .seconds(ReadCacheBound.seconds))
        let afterBound = try await posB.send(try read(posB, amount: 1_000))
        #expect(afterBound.responseCode == "05", "a token suspended through A is declined by B within \(ReadCacheBound.seconds) s")

        // 5. A key revoked through A is refused by B at once.
        #expect(try await call("GET", b.api + "/v1/tokens", issuerKey, nil, nil, [:]).status == 200)
        let revoked = try await call("DELETE", a.api + "/v1/credentials/\(String(issuerKeyID(issuerKey)))", op, nil, nil, [:])
        #expect(revoked.status == 204)
        #expect(try await call("GET", b.api + "/v1/tokens", issuerKey, nil, nil, [:]).status == 401)
    }

    /// The id the API names a key by: the first 16 hex digits of its SHA-256.
    func issuerKeyID(_ key: String) -> String { String(Hex.encode(SHA256.hash(data: Array(key.utf8))).prefix(16)) }

    func bulkAvailable(_ call: (String, String, String?, [String: Any]?, String?, [String: String]) async throws -> PlatformHarness.Answer,
                       _ issuerHost: String, _ pan: String, bankKey: String) async throws -> Int64 {
        let accounts = try await call("GET", issuerHost + "/banks/bank-moskva/accounts", bankKey, nil, nil, [:]).array
        return try #require((accounts.first { ($0["maskedPAN"] as? String) == PAN.mask(pan) }?["availableMinor"] as? NSNumber)?.int64Value)
    }
}

/// The bound the README states for a change made through one node to reach the others.
enum ReadCacheBound {
    static let seconds: Int64 = 1
}
