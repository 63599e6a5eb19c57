import APIContract
import Clearing
import EMV
import Foundation
import ISO8583
import ISO8583Transport
import NetworkSwitch
import Simulators
import Testing
import TestSupport

/// Issue 15's reconciliation: over ten thousand random authorizations through the real
/// network and the real bundled bank (three issuers, two in roubles and one in yuan; two
/// acquirers, one taking roubles and one yuan, so that a third of the traffic is converted),
/// some declined, some reversed, most presented (some in part), some never, some twice,
/// some presented when they cannot be. Then: every approved and presented authorization is
/// cleared exactly once, every reject has its reason, every window's net positions sum to
/// zero per currency, and each bank's postings (from its issuer file) equal its settlement
/// position net of fees. On SQLite, and on PostgreSQL when the suite has one.
/// `PASSWAY_SEED` replays a run.
@Suite(.timed) struct ReconciliationTests {
    struct Bank {
        var id: String, country: String, currency: String, cardRange: String, tokenRange: String, product: String
    }
    static let banks = [
        Bank(id: "rc-volga", country: "RU", currency: "RUB", cardRange: "22008801", tokenRange: "22188801", product: "debit"),
        Bank(id: "rc-neva", country: "RU", currency: "RUB", cardRange: "22008802", tokenRange: "22188802", product: "credit"),
        Bank(id: "rc-jade", country: "CN", currency: "CNY", cardRange: "62178803", tokenRange: "62188803", product: "debit"),
    ]
    struct Acquirer {
        var id: String, institution: String, terminal: String, currency: String, country: UInt16
    }
    static let acquirers = [
        Acquirer(id: "rc-moscow", institution: "25008801", terminal: "MSK88001", currency: "643", country: 643),
        Acquirer(id: "rc-beijing", institution: "25008802", terminal: "PEK88002", currency: "156", country: 156),
    ]
    static let cardsPerBank = 34
    static let keysPerCard = 100

    /// One authorization as the acquirer saw it.
    struct Sent: Sendable {
        var bank: Int, acquirer: Int
        var request: Message
        var code: String
        var approval: String?
        var reversed = false
        var key: String {
            AuthorizationKey(acquirer: request.string(32) ?? "", terminal: request.string(41) ?? "", stan: request.string(11) ?? "",
                             transmission: request.string(7) ?? "").description
        }
        var amount: Int64 { Int64(request.string(4) ?? "") ?? 0 }
    }

    /// What a record of a clearing file must come to.
    enum Expected: Equatable { case cleared(String), rejected(Reject.Reason) }

    @Test(arguments: Backend.available)
    func tenThousandAuthorizationsClearOnceAndSettleToZero(_ backend: Backend) async throws {
        var rng = SplitMix64(seed: SplitMix64.seed(for: "ReconciliationTests (\(backend))"))
        let database = backend == .postgres ? try await TestPostgres.freshDatabase() : nil
        let harness = try await PlatformHarness.start { if let database { $0.databaseURL = database.connectionString } }
        defer {
            Task {
                await harness.stop()
                if let database { await TestPostgres.dropDatabase(database) }
            }
        }
        let op = harness.info.operatorKey
        let clock = ContinuousClock(), began = clock.now
        func phase(_ what: String) { print("ReconciliationTests (\(backend)): \(what) at \(clock.now - began)") }
        func api(_ method: String, _ path: String, _ json: [String: Any]? = nil, key: String? = op) async throws -> PlatformHarness.Answer {
            let answer = try await harness.api(method, path, key: key, json: json)
            guard answer.status < 300 else { throw Failed("\(method) \(path): \(answer.status) \(answer.json)") }
            return answer
        }

        // The banks, their issuers, the cards (a fifth of them with little money: declines).
        let wallet = try await api("POST", "/v1/wallets", ["id": "rc-wallet", "name": "Reconciliation Pay", "tokenRequestorID": "40010088001"])
        let walletKey = try #require(wallet.string("apiKey"))
        var device = DeviceWallet(modelID: "google-pixel-8", osVersion: "14", country: "RU")
        device.deviceID = try #require(try await api("POST", "/v1/devices", [
            "modelID": "google-pixel-8", "osVersion": "14", "country": "RU", "publicKey": try device.publicKey,
        ], key: walletKey).string("id"))
        var bankKeys: [String] = []
        var cards: [[LoadCard]] = []
        for bank in Self.banks {
            let created = try await harness.issuerHost("POST", "/banks", json: ["id": bank.id, "cardRanges": [bank.cardRange]])
            let bankKey = try #require(created.string("apiKey")), hostKey = try #require(created.string("tokenServiceKey"))
            bankKeys.append(bankKey)
            _ = try await api("POST", "/v1/issuers", [
                "id": bank.id, "name": bank.id, "country": bank.country, "currency": bank.currency, "cardRanges": [bank.cardRange],
                "tokenRanges": [bank.tokenRange], "enabledWallets": ["rc-wallet"], "hostURL": try harness.issuerHostURL + "/banks/\(bank.id)",
                "hostKey": hostKey, "cardProduct": bank.product,
            ])
            let pans = (0..<Self.cardsPerBank).map { i -> String in
                let body = bank.cardRange + String(format: "%07d", i)
                return body + String(Luhn.checkDigit(for: body)!)
            }
            let accounts = pans.enumerated().map { i, pan -> [String: Any] in
                ["pan": pan, "expiry": "2912", "holderName": "RECONCILIATION", "currency": bank.currency,
                 "balanceMinor": i % 5 == 0 ? 2_000_000 : 100_000_000_000, "dailyLimitMinor": 1_000_000_000_000]
            }
            let opened = try await harness.issuerHost("POST", "/banks/\(bank.id)/accounts/bulk", key: bankKey, json: ["accounts": accounts])
            #expect(opened.status == 201, "\(opened.json)")
            let provisioned = try await api("POST", "/v1/issuers/\(bank.id)/bulk-tokens", [
                "walletID": "rc-wallet", "deviceID": device.deviceID ?? "", "keysPerToken": Self.keysPerCard,
                "cards": pans.map { ["pan": $0, "expiry": "12/29"] },
            ])
            let sealed = try JSONDecoder().decode(BulkProvisioningView.self, from: provisioned.body).provisionings
            cards.append(try device.receive(all: sealed).map { token in
                LoadCard(tokenNumber: token.tokenNumber, expiry: token.expiry, keys: try token.keys.map { (atc: $0.atc, key: try token.sessionKey($0)) })
            })
            device.tokens.removeAll()
        }
        #expect(cards.map(\.count) == Array(repeating: Self.cardsPerBank, count: 3))

        phase("tokens provisioned")
        // The acquirers and their connections.
        var acquirerKeys: [String] = []
        var clients: [ISO8583Client] = []
        for a in Self.acquirers {
            let onboarded = try await TestAcquirer.onboard(harness, id: a.id, institutionID: a.institution)
            acquirerKeys.append(onboarded.apiKey)
            clients.append(onboarded.client(harness, connections: 4, timeout: .seconds(30)))
        }

        // The traffic: each card's keys in order (its ATCs stay in the window), all cards at
        // once; at each tap the acquirer is drawn, the amount too, and whether the acquirer
        // reverses it.
        struct Plan: Sendable { var acquirer: Int, amount: Int64, reverse: Bool }
        var plans: [[[Plan]]] = []
        for b in cards.indices {
            plans.append(cards[b].map { _ in
                (0..<Self.keysPerCard).map { _ in
                    Plan(acquirer: Int(rng.next() % 2), amount: Int64(rng.next() % 300_000) + 100, reverse: rng.next() % 100 < 8)
                }
            })
        }
        // Each tap its own STAN, and its reversal the next.
        @Sendable func stan(_ b: Int, _ c: Int, _ k: Int, reversal: Bool = false) -> String {
            String(format: "%06d", (((b * Self.cardsPerBank + c) * Self.keysPerCard + k) * 2 + (reversal ? 1 : 0) + 1) % 1_000_000)
        }
        let (clientsNow, cardsNow, plansNow) = (clients, cards, plans)
        let sent: [Sent] = try await withThrowingTaskGroup(of: [Sent].self) { group in
            for b in cardsNow.indices {
                for c in cardsNow[b].indices {
                    group.addTask {
                        var out: [Sent] = []
                        let card = cardsNow[b][c]
                        for (k, plan) in plansNow[b][c].enumerated() {
                            let a = Self.acquirers[plan.acquirer]
                            var config = LoadConfiguration(host: "", port: 0, connections: 1, depth: 1, rate: nil, duration: nil, count: nil)
                            config.acquirerID = a.institution
                            config.amountMinor = plan.amount
                            config.currency = a.currency
                            config.country = a.country
                            var request = LoadGenerator.authorization(card: card, key: card.keys[k], terminal: a.terminal, stan: 0, config)
                            request.set(11, stan(b, c, k))
                            let answer = try await clientsNow[plan.acquirer].send(request)
                            var s = Sent(bank: b, acquirer: plan.acquirer, request: request, code: answer.string(39) ?? "", approval: answer.string(38))
                            if s.code == "00" && plan.reverse {
                                let reversal = try await clientsNow[plan.acquirer].send(NetworkFlowTests.reversal(of: request, stan: stan(b, c, k, reversal: true)))
                                s.reversed = reversal.string(39) == "00"
                                if !s.reversed { throw Failed("reversal answered \(reversal.string(39) ?? "nothing")") }
                            }
                            out.append(s)
                        }
                        return out
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        for client in clients { await client.close() }
        let approved = sent.filter { $0.code == "00" }
        let codes = Dictionary(grouping: sent, by: \.code).mapValues(\.count)
        print("ReconciliationTests (\(backend)): \(sent.count) authorizations \(codes), \(approved.filter(\.reversed).count) reversed")
        #expect(sent.count >= 10_000)
        #expect(codes["00", default: 0] > 8_000, "\(codes)")
        #expect(codes["51", default: 0] > 0, "some declined: \(codes)")
        #expect(Set(codes.keys).isSubset(of: ["00", "51"]), "\(codes)")

        phase("authorized")
        // The presentments: two files from each acquirer, the second with what is presented again.
        let now = Date()
        let localTime = ClearingService.localTime(now)
        var references = 0
        func reference() -> String { references += 1; return "7" + String(references).leftPadded(to: 22) }
        var files: [(acquirer: Int, id: String, records: [(Presentment, Expected)])] = []
        var expectedCleared: [String: Int64] = [:]  // authorization key → presented amount
        for (ai, a) in Self.acquirers.enumerated() {
            var first: [(Presentment, Expected)] = [], second: [(Presentment, Expected)] = []
            func presentment(_ s: Sent, amount: Int64? = nil, approval: String? = nil, ref: String? = nil) -> Presentment? {
                var answer = Message(mti: "0110")
                answer.set(2, s.request.string(2) ?? "")
                answer.set(38, approval ?? s.approval ?? "")
                return Presentment(approved: s.request, answer: answer, messageNumber: 0, acquirerReference: ref ?? reference(),
                                   localTime: localTime, amountMinor: amount)
            }
            for s in approved where s.acquirer == ai {
                let r = rng.next() % 100
                if s.reversed {
                    if r < 40, let p = presentment(s) { first.append((p, .rejected(.reversed))) }
                    continue
                }
                if r < 12 { continue }  // never presented: its hold lapses at the bank
                let amount = r < 27 ? max(1, s.amount * Int64(20 + rng.next() % 76) / 100) : s.amount
                guard let p = presentment(s, amount: amount) else { continue }
                first.append((p, .cleared(s.key)))
                expectedCleared[s.key] = amount
                if rng.next() % 100 < 8, let again = presentment(s) { second.append((again, .rejected(.alreadyCleared))) }
                if rng.next() % 1000 < 5, let same = presentment(s, ref: p.acquirerReference) { first.append((same, .rejected(.duplicateReference))) }
            }
            // An approval code nobody gave, and another acquirer's authorization.
            for s in approved.filter({ $0.acquirer == ai }).prefix(20) {
                if let p = presentment(s, approval: "ZZZZZ9") { second.append((p, .rejected(.noAuthorization))) }
            }
            for s in approved.filter({ $0.acquirer != ai && !$0.reversed }).prefix(10) {
                var other = s
                other.request.set(32, a.institution)
                if let p = presentment(other) { second.append((p, .rejected(.noAuthorization))) }
            }
            let day = localTime.prefix(6)
            files.append((ai, "001" + day + a.institution.leftPadded(to: 11) + "00001", first))
            files.append((ai, "001" + day + a.institution.leftPadded(to: 11) + "00002", second))
        }

        var clearedBy: [String: Int] = [:]
        var acquirerCleared: [Int: Int64] = [:]
        var rejectsByReason: [Reject.Reason: Int] = [:]
        for file in files {
            let messages = file.records.enumerated().map { i, r -> IPMMessage in
                var p = r.0
                p.messageNumber = i + 2
                return p.message
            }
            let bytes = try ClearingFile.write(id: file.id, messages: messages)
            let answer = try await harness.upload("/v1/clearing/files", key: acquirerKeys[file.acquirer], bytes: bytes)
            #expect(answer.status == 201, "\(answer.json)")
            let result = try JSONDecoder.iso8601.decode(ClearingFileResult.self, from: answer.body)
            #expect(result.results.count == file.records.count)
            for r in result.results {
                let expected = file.records[r.messageNumber - 2].1
                switch (expected, r.outcome) {
                case (.cleared(let key), .cleared):
                    #expect(r.authorization == key)
                    #expect(r.amountMinor == expectedCleared[key])
                    clearedBy[key, default: 0] += 1
                    acquirerCleared[file.acquirer, default: 0] += r.amountMinor ?? 0
                case (.rejected(let reason), .rejected):
                    let reject = try #require(r.reject, "a reject without its reason: record \(r.messageNumber)")
                    #expect(reject.reason == reason, "record \(r.messageNumber): \(reject)")
                    #expect(!reject.detail.isEmpty)
                    rejectsByReason[reject.reason, default: 0] += 1
                default:
                    Issue.record("file \(file.id) record \(r.messageNumber): expected \(expected), got \(r.outcome) \(r.reject.map { "\($0)" } ?? "")")
                }
            }
            // The reject file has one 1644/691 per reject, each with its PDS 0005 code.
            if result.rejected > 0 {
                let rejects = try await harness.api("GET", "/v1/clearing/files/\(file.id)/rejects", key: acquirerKeys[file.acquirer])
                let read = try ClearingFile.read(Array(rejects.body))
                let records = try read.records.map { try $0.get() }
                #expect(records.count == result.rejected && records.allSatisfy { $0.mti == "1644" })
                #expect(try records.allSatisfy { Reject.Reason(rawValue: String((try $0.pds()[5] ?? "").prefix(4))) != nil })
            }
        }
        print("ReconciliationTests (\(backend)): \(clearedBy.count) cleared, rejects \(rejectsByReason.map { "\($0.key.rawValue): \($0.value)" }.sorted())")
        #expect(Set(clearedBy.keys) == Set(expectedCleared.keys), "every approved and presented authorization cleared")
        #expect(clearedBy.values.allSatisfy { $0 == 1 }, "each exactly once")
        #expect(Set(rejectsByReason.keys) == [.reversed, .alreadyCleared, .noAuthorization, .duplicateReference] || rejectsByReason[.duplicateReference] == nil)

        phase("presented")
        // The windows: every window of each currency, closed; net positions sum to zero.
        var lines: [SettlementLine] = []
        for currency in ["RUB", "CNY"] {
            _ = try await api("POST", "/v1/settlement/windows/close", ["currency": currency])
            for window in try await api("GET", "/v1/settlement/windows?currency=\(currency)").array {
                let id = try #require(window["id"] as? String)
                let report = try JSONDecoder.iso8601.decode(SettlementReport.self, from: try await api("GET", "/v1/settlement/windows/\(id)").body)
                #expect(report.totalMinor == 0 && report.positions.reduce(0) { $0 + $1.amountMinor } == 0, "\(currency) window \(id)")
                for p in report.positions {
                    let mine = try await api("GET", "/v1/settlement/windows/\(id)/report?participant=\(p.participant)")
                    let participant = try JSONDecoder.iso8601.decode(ParticipantReport.self, from: mine.body)
                    #expect(participant.netMinor == p.amountMinor)
                    lines += participant.lines
                }
            }
        }
        // Each acquirer is paid what it presented and cleared, in its currency.
        for (ai, a) in Self.acquirers.enumerated() {
            let paid = lines.filter { $0.participant == "acquirer:\(a.id)" && $0.kind == .amount }.reduce(0) { $0 + $1.amountMinor }
            #expect(paid == acquirerCleared[ai, default: 0], "\(a.id)")
        }

        phase("settled")
        // Each bank: its issuer file posted; what it posts is what it settles, fees aside.
        for (bi, bank) in Self.banks.enumerated() {
            let made = try await api("POST", "/v1/clearing/issuer-files", ["issuerID": bank.id])
            let fileID = try #require(made.string("id"))
            let clearedHere = approved.filter { $0.bank == bi && expectedCleared[$0.key] != nil }.count
            #expect(made["presentments"] as? Int == clearedHere, "\(bank.id)")
            let bytes = try await api("GET", "/v1/clearing/issuer-files/\(fileID)").body
            let url = try harness.issuerHostURL + "/banks/\(bank.id)/clearing"
            let posted = try await PlatformHarness.send("POST", url, key: bankKeys[bi], json: nil, raw: nil, headers: [:], bytes: Array(bytes))
            #expect(posted.status == 200, "\(posted.json)")
            #expect(posted["posted"] as? Int == clearedHere)
            let postings = Int64((posted["postedMinor"] as? [String: Int])?[bank.currency] ?? 0)
            let mine = lines.filter { $0.participant == "issuer:\(bank.id)" }
            #expect(Set(mine.map(\.currency)) == [bank.currency])
            let net = mine.reduce(Int64(0)) { $0 + $1.amountMinor }
            let fees = mine.filter { $0.kind == .interchange || $0.kind == .schemeFee }.reduce(Int64(0)) { $0 + $1.amountMinor }
            #expect(postings == -(net - fees), "\(bank.id): posted \(postings), settles \(net) of which fees \(fees)")
            #expect(postings > 0)
            let again = try await PlatformHarness.send("POST", url, key: bankKeys[bi], json: nil, raw: nil, headers: [:], bytes: Array(bytes))
            #expect(again["posted"] as? Int == 0 && again["already"] as? Int == clearedHere, "posted once")
            let ledger = try await harness.issuerHost("GET", "/banks/\(bank.id)/ledger", key: bankKeys[bi])
            #expect(ledger["unbalancedReferences"] as? [String] == [], "\(bank.id)")
        }
        phase("posted")
    }

    struct Failed: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
