import Clearing
import Foundation
import ISO8583
import IssuerContract
import NetworkSwitch
import Participants
import Storage
import Testing
import TestSupport
@testable import TokenService
import WalletProvider

/// The stores' contracts (`ParticipantStore`, `TokenStore`, `WalletStore` and
/// `AuthorizationJournal`), the same tests on every backend. "Another node" is a second store opened on the same data: a second
/// connection pool on PostgreSQL, a second connection pool on the same file on SQLite.
@Suite struct StoreContractTests {
    static let at = Date(timeIntervalSince1970: 1_790_000_000)

    static func card(_ n: Int, issuer: String = "bank") -> VaultCard {
        VaultCard(id: "card_\(n)", issuerID: issuer, fingerprint: "card-fp-\(n)", sealedPAN: Data([1, 2, UInt8(n % 256)]), maskedPAN: "220070******\(1000 + n)",
                  expiry: "2912", par: String(repeating: "P", count: 29))
    }

    static func token(_ n: Int, card: Int, wallet: String = "wallet-1", device: String = "device-1", country: String = "RU") -> Token {
        Token(id: "tok_\(n)", numberFingerprint: "token-fp-\(n)", sealedNumber: Data([9, UInt8(n % 256)]), maskedNumber: "220171******\(1000 + n)",
              expiry: "2912", cardID: "card_\(card)", issuerID: "bank", walletID: wallet, tokenRequestorID: "40010075001", deviceID: device,
              country: country, par: String(repeating: "P", count: 29), status: .active, suspendedBy: nil, suspensionReason: nil, nextATC: 11,
              createdAt: at, updatedAt: at)
    }

    static func audit(_ token: String, _ event: TokenEvent) -> AuditEvent {
        AuditEvent(tokenID: token, at: at, actor: Actor(kind: .system, id: "test"), event: event, from: nil, to: .active, reason: nil)
    }

    static func notice(_ token: String, _ event: TokenNotification.Event, id: String? = nil, issuer: String = "bank", at: Date = at) -> IssuerNotice {
        IssuerNotice(issuerID: issuer, notification: TokenNotification(id: id ?? "ntf_\(token)_\(event.rawValue)", tokenID: token, maskedToken: "220171******1001",
                                                                       maskedPAN: "220070******1001", event: event, status: .active, reason: nil),
                     queuedAt: at, expiresAt: at + 86_400)
    }

    static func journalEntry(_ key: AuthorizationKey, digest: String, code: ResponseCode) -> JournalEntry {
        JournalEntry(key: key.description, requestDigest: digest, mti: "0100", maskedToken: "220171******1001", tokenID: "tok_1", issuerID: "bank",
                     maskedPAN: "220070******1001", processingCode: "000000", amountMinor: 150_000, currency: "643", billingAmountMinor: nil,
                     billingCurrency: nil, responseCode: code, approvalCode: code == .approved ? "123456" : nil, decidedBy: .issuer, reason: "test",
                     answer: Data([0x01, 0x10]), at: at)
    }

    @Test(arguments: Backend.available)
    func keysAndParticipants(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let store = s.store
        #expect(try await store.wrappedDataKey() == nil)
        try await store.saveWrappedDataKey(Data([1, 2, 3]))
        // A second data key would orphan every sealed card: refused, the first kept.
        await #expect(throws: StoreError.duplicate("data key")) { try await store.saveWrappedDataKey(Data([4])) }
        #expect(try await store.wrappedDataKey() == Data([1, 2, 3]))

        let issuer = Issuer(id: "bank", name: "Bank", country: "RU", currency: "RUB", cardRanges: ["220070"], tokenRanges: ["22017199"],
                            enabledWallets: ["wallet-1"], hostURL: "http://127.0.0.1:1")
        try await store.saveIssuer(issuer)
        #expect(try await store.saveIssuerMasterKey(issuerID: "bank", sealed: Data([7, 7])))
        // The issuer host's key: replaced by a rotation.
        #expect(try await store.sealedIssuerHostKey(issuerID: "bank") == nil)
        try await store.saveIssuerHostKey(issuerID: "bank", sealed: Data([1]))
        try await store.saveIssuerHostKey(issuerID: "bank", sealed: Data([2]))
        #expect(try await store.sealedIssuerHostKey(issuerID: "bank") == Data([2]))
        var renamed = issuer
        renamed.name = "Bank Two"
        try await store.saveIssuer(renamed)
        #expect(try await store.issuer(id: "bank") == renamed)
        #expect(try await store.issuers() == [renamed])
        // An issuer's master key is made once: a second one (another node's) is refused.
        #expect(try await store.saveIssuerMasterKey(issuerID: "bank", sealed: Data([8, 8])) == false)
        #expect(try await store.sealedIssuerMasterKey(issuerID: "bank") == Data([7, 7]))
        #expect(try await store.sealedIssuerMasterKey(issuerID: "other") == nil)

        let acquirer = Acquirer(id: "acq-1", name: "Acquirer", country: "RU", institutionID: "25000001")
        try await store.saveAcquirer(acquirer)
        #expect(try await store.acquirer(id: "acq-1") == acquirer)
        #expect(try await store.acquirers() == [acquirer])
        try await store.saveCredential(hash: "h-acq", participant: .acquirer("acq-1"))
        #expect(try await store.participant(credentialHash: "h-acq") == .acquirer("acq-1"))

        let wallet = Wallet(id: "wallet-1", name: "W", tokenRequestorID: "40010075001")
        try await store.saveWallet(wallet)
        #expect(try await store.wallet(id: "wallet-1") == wallet)
        #expect(try await store.wallets().map(\.id) == ["wallet-1"])
        try await store.saveCredential(hash: "h-wallet", participant: .wallet("wallet-1"))
        try await store.saveCredential(hash: "h-net", participant: .network)
        #expect(try await store.participant(credentialHash: "h-wallet") == .wallet("wallet-1"))
        #expect(try await store.participant(credentialHash: "h-net") == .network)
        #expect(try await store.participant(credentialHash: "nobody") == nil)

        for market in Market.rollout { try await store.saveMarket(market) }
        for market in Market.rollout { try await store.saveMarket(market) } // again: replaced, not doubled
        #expect(try await store.markets().count == Market.rollout.count)
        #expect(try await store.market(country: Market.rollout[0].country) == Market.rollout[0])
        for model in DeviceModel.catalog { try await store.saveDeviceModel(model) }
        #expect(try await store.deviceModels().count == DeviceModel.catalog.count)
        #expect(try await store.deviceModel(id: DeviceModel.catalog[0].id) == DeviceModel.catalog[0])
    }

    @Test(arguments: Backend.available)
    func tokensAreUniqueAndWrittenWhole(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let store = s.store
        try await store.createToken(Self.token(1, card: 1), card: Self.card(1), audit: Self.audit("tok_1", .create), notice: Self.notice("tok_1", .created))
        #expect(try await store.token(id: "tok_1") == Self.token(1, card: 1))
        #expect(try await store.notice(id: "ntf_tok_1_created") == Self.notice("tok_1", .created))
        #expect(try await store.token(numberFingerprint: "token-fp-1")?.id == "tok_1")
        #expect(try await store.card(fingerprint: "card-fp-1") == Self.card(1))
        #expect(try await store.card(id: "card_1") == Self.card(1))
        #expect(try await store.cards(fingerprints: ["card-fp-1", "card-fp-404"]) == ["card-fp-1": Self.card(1)])
        #expect(try await store.cards(fingerprints: []).isEmpty)

        // A token number taken (through another node too) is refused and writes nothing.
        let other = try await s.openAnother()
        var clash = Self.token(2, card: 2)
        clash.numberFingerprint = "token-fp-1"
        await #expect(throws: StoreError.self) {
            try await other.createToken(clash, card: Self.card(2), audit: Self.audit("tok_2", .create), notice: Self.notice("tok_2", .created))
        }
        #expect(try await store.token(id: "tok_2") == nil)
        #expect(try await store.notice(id: "ntf_tok_2_created") == nil, "the notice of a token not created is not kept")
        #expect(try await store.card(id: "card_2") == nil)
        #expect(try await store.audit(tokenID: "tok_2").isEmpty)

        // Many at once: all or none.
        let batch = (3...5).map { (token: Self.token($0, card: $0), card: Self.card($0), audit: Self.audit("tok_\($0)", .create)) }
        await #expect(throws: StoreError.self) { try await store.createTokens(batch + [(clash, Self.card(6), Self.audit("tok_2", .create))]) }
        #expect(try await store.tokens(TokenQuery()).map(\.id) == ["tok_1"])
        try await store.createTokens(batch)
        // A batch lookup larger than one statement's worth of parameters.
        let many = (0..<1200).map { "card-fp-\($0)" }
        #expect(try await store.cards(fingerprints: many).keys.sorted() == ["card-fp-1", "card-fp-3", "card-fp-4", "card-fp-5"])
        #expect(try await store.tokens(TokenQuery()).map(\.id) == ["tok_1", "tok_3", "tok_4", "tok_5"], "in the order created")

        // Two nodes drawing the same new number at the same moment: one wins.
        let contenders = try await withThrowingTaskGroup(of: Bool.self) { group in
            for (i, node) in [store, other].enumerated() {
                group.addTask {
                    var t = Self.token(10 + i, card: 10 + i)
                    t.numberFingerprint = "token-fp-contended"
                    do { try await node.createToken(t, card: Self.card(10 + i), audit: Self.audit(t.id, .create), notice: Self.notice(t.id, .created)); return true } catch StoreError.duplicate {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(contenders.filter { $0 }.count == 1)
    }

    @Test(arguments: Backend.available)
    func queriesUpdatesAndAudit(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let store = s.store
        try await store.createTokens([
            (Self.token(1, card: 1, wallet: "w1", device: "d1", country: "RU"), Self.card(1), Self.audit("tok_1", .create)),
            (Self.token(2, card: 1, wallet: "w1", device: "d2", country: "RU"), Self.card(1), Self.audit("tok_2", .create)),
            (Self.token(3, card: 3, wallet: "w2", device: "d3", country: "BY"), Self.card(3), Self.audit("tok_3", .create)),
        ])
        #expect(try await store.tokens(TokenQuery(walletID: "w1")).map(\.id) == ["tok_1", "tok_2"])
        #expect(try await store.tokens(TokenQuery(cardID: "card_1")).map(\.id) == ["tok_1", "tok_2"])
        #expect(try await store.tokens(TokenQuery(walletID: "w1", deviceID: "d2")).map(\.id) == ["tok_2"])
        #expect(try await store.tokens(TokenQuery(country: "BY", status: .active)).map(\.id) == ["tok_3"])
        #expect(try await store.tokenCounts() == [TokenCount(country: "BY", status: "active", count: 1), TokenCount(country: "RU", status: "active", count: 2)])

        let read = try #require(try await store.token(id: "tok_1"))
        var suspended = read
        suspended.status = .suspended
        suspended.suspendedBy = Actor(kind: .issuer, id: "bank")
        suspended.updatedAt = Self.at + 1
        try await store.updateTokens([TokenChange(before: read, after: suspended)], audit: [Self.audit("tok_1", .suspend)],
                                     notices: [Self.notice("tok_1", .suspended)])
        #expect(try await store.token(id: "tok_1") == suspended)
        #expect(try await store.notice(id: "ntf_tok_1_suspended") != nil)
        #expect(try await store.tokens(TokenQuery(status: .suspended)).map(\.id) == ["tok_1"])
        #expect(try await store.audit(tokenID: "tok_1").map(\.event) == [.create, .suspend])
        #expect(try await store.tokenCounts() == [TokenCount(country: "BY", status: "active", count: 1), TokenCount(country: "RU", status: "active", count: 1),
                                                  TokenCount(country: "RU", status: "suspended", count: 1)], "per market and status, as counted now")

        // Written from a stale read (another node changed it meanwhile): refused, nothing written.
        var resumed = read
        resumed.updatedAt = Self.at + 2
        await #expect(throws: StoreError.conflict("token tok_1")) {
            try await s.openAnother().updateTokens([TokenChange(before: read, after: resumed)], audit: [Self.audit("tok_1", .resume)],
                                                   notices: [Self.notice("tok_1", .resumed)])
        }
        #expect(try await store.token(id: "tok_1")?.status == .suspended)
        #expect(try await store.notice(id: "ntf_tok_1_resumed") == nil, "a change refused leaves no notice")

        // One unknown token in the batch: nothing of the batch is written.
        var deleted = suspended
        deleted.status = .deleted
        deleted.updatedAt = Self.at + 3
        let unknown = Self.token(404, card: 1)
        await #expect(throws: StoreError.notFound("token tok_404")) {
            try await store.updateTokens([TokenChange(before: suspended, after: deleted), TokenChange(before: unknown, after: unknown)],
                                         audit: [Self.audit("tok_1", .delete)], notices: [Self.notice("tok_1", .deleted)])
        }
        #expect(try await store.notice(id: "ntf_tok_1_deleted") == nil)
        #expect(try await store.token(id: "tok_1")?.status == .suspended)
        #expect(try await store.audit(tokenID: "tok_1").count == 2)

        // A batch (a page of a market's sweep) with one token read stale: refused whole.
        let two = try #require(try await store.token(id: "tok_2"))
        var twoSuspended = two
        twoSuspended.status = .suspended
        twoSuspended.updatedAt = Self.at + 4
        var oneAgain = suspended
        oneAgain.updatedAt = Self.at + 4
        await #expect(throws: StoreError.conflict("token tok_1")) {
            try await store.updateTokens([TokenChange(before: two, after: twoSuspended), TokenChange(before: read, after: oneAgain)],
                                         audit: [Self.audit("tok_2", .suspend), Self.audit("tok_1", .suspend)], notices: [Self.notice("tok_2", .suspended)])
        }
        #expect(try await store.token(id: "tok_2") == two)
        #expect(try await store.notice(id: "ntf_tok_2_suspended") == nil)
        // Both as they are: written together, with their audit lines and notices.
        try await store.updateTokens([TokenChange(before: two, after: twoSuspended), TokenChange(before: suspended, after: oneAgain)],
                                     audit: [Self.audit("tok_2", .suspend), Self.audit("tok_1", .suspend)], notices: [Self.notice("tok_2", .suspended)])
        #expect(try await store.token(id: "tok_2") == twoSuspended)
        #expect(try await store.token(id: "tok_1") == oneAgain)
        #expect(try await store.audit(tokenID: "tok_1").map(\.event) == [.create, .suspend, .suspend])
        #expect(try await store.audit(tokenID: "tok_2").map(\.event) == [.create, .suspend])
        #expect(try await store.notice(id: "ntf_tok_2_suspended") != nil)

        // Renewal replaces the card only as it was read.
        var renewed = Self.card(1)
        renewed.fingerprint = "card-fp-1-renewed"
        try await store.updateCard(renewed, previousFingerprint: "card-fp-1", audit: [Self.audit("tok_1", .cardRenewed), Self.audit("tok_2", .cardRenewed)])
        #expect(try await store.card(fingerprint: "card-fp-1-renewed")?.id == "card_1")
        #expect(try await store.card(fingerprint: "card-fp-1") == nil)
        await #expect(throws: StoreError.self) { try await store.updateCard(renewed, previousFingerprint: "card-fp-1", audit: []) }
        var taken = Self.card(3)
        taken.fingerprint = "card-fp-1-renewed"
        await #expect(throws: StoreError.duplicate("card fingerprint")) {
            try await store.updateCard(taken, previousFingerprint: "card-fp-3", audit: [Self.audit("tok_3", .cardRenewed)])
        }
        #expect(try await store.audit(tokenID: "tok_3").map(\.event) == [.create])

        let device = Device(id: "d1", walletID: "w1", modelID: "samsung-galaxy-s24", kind: .phone, osVersion: "14", country: "RU",
                            publicKey: "key", lost: false, registeredAt: Self.at)
        try await store.saveDevice(device)
        #expect(try await store.device(id: "d1") == device)
        let pending = PendingVerification(id: "v1", walletID: "w1", deviceID: "d1", cardID: "card_1", issuerID: "bank", codeHash: "h", method: "sms-1",
                                          attemptsLeft: 3, expiresAt: Self.at, state: .pending)
        try await store.savePendingVerification(pending)
        var failed = pending
        failed.attemptsLeft = 0
        failed.state = .failed
        try await store.savePendingVerification(failed)
        #expect(try await store.pendingVerification(id: "v1") == failed)

        // An attempt is a conditional write: of two made from the same read, one counts.
        let fresh = PendingVerification(id: "v2", walletID: "w1", deviceID: "d1", cardID: "card_1", issuerID: "bank", codeHash: "h", method: "sms-1",
                                        attemptsLeft: 3, expiresAt: Self.at, state: .pending)
        try await store.savePendingVerification(fresh)
        var wrongGuess = fresh
        wrongGuess.attemptsLeft = 2
        var rightGuess = fresh
        rightGuess.state = .approved
        let (wrong, right) = (wrongGuess, rightGuess)
        let other = try await s.openAnother()
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await store.replacePendingVerification(wrong, before: fresh) }
            group.addTask { try await other.replacePendingVerification(right, before: fresh) }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(wins == 1)
        #expect([wrong, right].contains(try await store.pendingVerification(id: "v2")))
    }

    /// A push receipt is redeemed once across nodes; a secret made by two nodes at once is
    /// the first one stored, for both.
    @Test(arguments: Backend.available)
    func pushReceiptsAndSecretsAreWrittenOnceAcrossNodes(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let other = try await s.openAnother()
        let issued = PushReceipt(id: "r1", issuerID: "bank", walletID: "w1", cardID: "card_1", maskedPAN: "220070******7896", createdAt: Self.at,
                                 expiresAt: Self.at.addingTimeInterval(600), state: .issued)
        try await s.store.savePushReceipt(issued)
        #expect(try await other.pushReceipt(id: "r1") == issued)
        #expect(try await s.store.pushReceipt(id: "r2") == nil)
        var onPhone = issued, onWatch = issued
        onPhone.state = .redeemed; onPhone.deviceID = "phone"
        onWatch.state = .redeemed; onWatch.deviceID = "watch"
        let (phone, watch) = (onPhone, onWatch)
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await s.store.replacePushReceipt(phone, before: issued) }
            group.addTask { try await other.replacePushReceipt(watch, before: issued) }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(wins == 1)
        #expect([phone, watch].contains(try await s.store.pushReceipt(id: "r1")))

        let first = try await s.store.saveSecretIfAbsent(name: "k", sealed: Data([1]))
        let second = try await other.saveSecretIfAbsent(name: "k", sealed: Data([2]))
        #expect(first && !second)
        #expect(try await other.sealedSecret(name: "k") == Data([1]))
    }

    /// A market's tokens (its devices' and its issuers' cards'), a page at a time in id order.
    @Test(arguments: Backend.available)
    func aMarketsTokensComeInPages(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        var expected: [String] = []
        for n in 1...12 {
            var token = Self.token(n, card: n, country: n % 3 == 0 ? "KZ" : "RU")
            if n % 4 == 0 { token.issuerID = "kz-bank" }
            if n == 3 || n == 9 { token.issuerID = "bank-2" } // a second Russian bank's cards on Kazakh devices
            try await s.store.createTokens([(token, Self.card(n), Self.audit(token.id, .create))])
            // Covered: on a Russian device, or a card of "bank" or "bank-2" (Russian issuers).
            if token.country == "RU" || token.issuerID == "bank" || token.issuerID == "bank-2" { expected.append(token.id) }
        }
        let market = TokenQuery.Market(country: "RU", issuerIDs: ["bank", "bank-2"])
        var seen: [String] = []
        var after: String?
        while true {
            let page = try await s.store.tokens(TokenQuery(market: market, after: after, limit: 4)).map(\.id)
            seen += page
            guard page.count == 4, let last = page.last else { break }
            after = last
        }
        #expect(seen == expected.sorted())
        #expect(try await s.store.tokens(TokenQuery(market: .init(country: "KZ", issuerIDs: []))).map(\.id).sorted() == ["tok_12", "tok_3", "tok_6", "tok_9"])
    }

    /// A market's sweep progress is written only while the stored market runs that sweep:
    /// a change of state that started another one wins.
    @Test(arguments: Backend.available)
    func aMarketsSweepProgressYieldsToANewerSweep(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        var market = Market(country: "RU", name: "Russia", currency: "RUB", languages: ["ru"], state: .live)
        try await s.store.saveMarket(market)
        var first = Market.Sweep(id: "swp_a", kind: .suspend, startedAt: Self.at)
        #expect(try await s.store.updateMarketSweep(country: "RU", first) == false, "no sweep running: nothing written")
        market.state = .suspended
        market.reason = "drill"
        market.sweep = first
        try await s.store.saveMarket(market)
        first.tokens = 2_000
        first.after = "tok_9"
        #expect(try await s.store.updateMarketSweep(country: "RU", first))
        #expect(try await s.store.market(country: "RU") == { var m = market; m.sweep = first; return m }())
        // A new reason saved from a copy read before that progress: the progress stays.
        var stale = market
        stale.reason = "drill, second notice"
        #expect(stale.sweep?.tokens == 0)
        try await s.store.saveMarketKeepingSweep(stale)
        #expect(try await s.store.market(country: "RU") == { var m = stale; m.sweep = first; return m }())
        market.state = .live
        market.reason = nil
        market.sweep = Market.Sweep(id: "swp_b", kind: .resume, startedAt: Self.at)
        try await s.store.saveMarket(market)
        first.tokens = 4_000
        #expect(try await s.store.updateMarketSweep(country: "RU", first) == false, "the lift's sweep replaced it")
        #expect(try await s.store.market(country: "RU") == market)
        #expect(try await s.store.updateMarketSweep(country: "KZ", first) == false)
    }

    /// The operator's audit trail: appended in order, each with its seq, read after a seq.
    @Test(arguments: Backend.available)
    func theOperatorsAuditTrailIsReadInOrder(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        var entries: [OperatorAuditEntry] = []
        for i in 0..<5 {
            let refused = i == 3
            let via = i % 2 == 0 ? "api" : "console"
            entries.append(OperatorAuditEntry(at: Self.at.addingTimeInterval(Double(i)), keyID: "K\(i)", method: "PUT", path: "/v1/markets/RU",
                                              via: via, status: refused ? 422 : 200, problem: refused ? "invalid-request" : nil))
        }
        for entry in entries { try await s.store.appendOperatorAudit(entry) }
        let all = try await s.store.operatorAudit(after: 0, limit: 100)
        #expect(all.map { (e: OperatorAuditEntry) in e.keyID } == entries.map { (e: OperatorAuditEntry) in e.keyID })
        #expect(all.map { (e: OperatorAuditEntry) -> OperatorAuditEntry in var c = e; c.seq = 0; return c } == entries)
        let seqs = all.map { (e: OperatorAuditEntry) in e.seq }
        #expect(seqs == seqs.sorted() && Set(seqs).count == 5)
        let page = try await s.store.operatorAudit(after: seqs[1], limit: 2)
        #expect(page.map { (e: OperatorAuditEntry) in e.keyID } == ["K2", "K3"])
    }

    /// Assets are kept once by id; an issuer and its wallets' events are written together,
    /// each wallet's events in order after a seq.
    @Test(arguments: Backend.available)
    func assetsAndWalletEvents(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let asset = try Asset.make(issuerID: "bank", contentType: "text/plain", bytes: Array("Условия".utf8), at: Self.at)
        try await s.store.saveAsset(asset)
        try await s.store.saveAsset(asset)
        #expect(try await s.store.asset(id: asset.id) == asset)
        #expect(try await s.store.asset(id: "ast_none") == nil)
        let issuer = Issuer(id: "bank", name: "Bank", country: "RU", currency: "RUB", cardRanges: ["220070"], tokenRanges: ["22017199"],
                            enabledWallets: ["w1", "w2"], hostURL: "http://127.0.0.1:1")
        func event(_ wallet: String, _ version: String) -> WalletEvent {
            WalletEvent(walletID: wallet, at: Self.at, type: "terms_changed", issuerID: "bank", profileID: "p", cardRanges: ["220070"], termsVersion: version)
        }
        try await s.store.saveIssuer(issuer, walletEvents: [event("w1", "1"), event("w2", "1")])
        try await s.store.saveIssuer(issuer, walletEvents: [event("w1", "2")])
        let w1 = try await s.store.walletEvents(walletID: "w1", after: 0, limit: 10)
        #expect(w1.map(\.termsVersion) == ["1", "2"] && w1[0].seq < w1[1].seq)
        #expect(try await s.store.walletEvents(walletID: "w1", after: w1[0].seq, limit: 10).map(\.termsVersion) == ["2"])
        #expect(try await s.store.walletEvents(walletID: "w1", after: 0, limit: 1).count == 1)
        #expect(try await s.store.walletEvents(walletID: "w2", after: 0, limit: 10).count == 1)
        #expect(try await s.store.issuer(id: "bank") == issuer)
    }

    /// The heart of several nodes: an ATC is accepted once, whoever asks and however
    /// many ask at the same moment.
    @Test(arguments: Backend.available)
    func anATCIsAcceptedOnceAcrossNodes(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let nodes = [s.store, try await s.openAnother()]
        for atc in UInt16(1)...30 {
            let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<8 { group.addTask { try await nodes[i % 2].recordATC(tokenID: "tok_1", atc: atc) } }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(accepted == 1, "ATC \(atc) accepted \(accepted) times")
        }
        #expect(try await s.store.recordATC(tokenID: "tok_2", atc: 1), "per token")
        #expect(try await s.store.recordATC(tokenID: "tok_1", atc: 1) == false)
    }

    @Test(arguments: Backend.available)
    func aJournalKeyIsClaimedOnceAcrossNodes(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let nodes = [s.store, try await s.openAnother()]
        for n in 0..<20 {
            let key = AuthorizationKey(acquirer: "25000001", terminal: "MSK00001", stan: String(format: "%06d", n), transmission: "1125103000")
            let claims = try await withThrowingTaskGroup(of: JournalClaim.self) { group in
                for i in 0..<6 { group.addTask { try await nodes[i % 2].claim(key, requestDigest: "d\(n)", at: Self.at) } }
                return try await group.reduce(into: [JournalClaim]()) { $0.append($1) }
            }
            #expect(claims.filter { $0 == .claimed }.count == 1)
            #expect(claims.filter { $0 != .claimed }.allSatisfy { $0 == .pending(requestDigest: "d\(n)") })
        }
        let key = AuthorizationKey(acquirer: "25000001", terminal: "MSK00001", stan: "000000", transmission: "1125103000")
        #expect(try await nodes[1].entry(key) == nil, "claimed is not answered")
        let entry = Self.journalEntry(key, digest: "d0", code: .approved)
        try await nodes[0].complete(entry)
        #expect(try await nodes[1].entry(key) == entry)
        #expect(try await nodes[1].claim(key, requestDigest: "other", at: Self.at) == .answered(entry))
        // An answered key keeps its entry: another message's answer does not replace it.
        await #expect(throws: JournalError.alreadyAnswered(key: entry.key)) {
            try await nodes[1].complete(Self.journalEntry(key, digest: "forged", code: .originalNotFound))
        }
        #expect(try await nodes[0].entry(key) == entry)
        // An answer journaled without a claim (an overload answer) is kept too.
        let unclaimed = AuthorizationKey(acquirer: "25000001", terminal: "MSK00002", stan: "000001", transmission: "1125103000")
        try await nodes[0].complete(Self.journalEntry(unclaimed, digest: "u", code: .systemMalfunction))
        #expect(try await nodes[1].entry(unclaimed)?.responseCode == .systemMalfunction)
    }

    /// The network's one write before asking an issuer: the key claimed and the ATC
    /// spent together. Many nodes, many keys, one cryptogram: one claim spends it; a key
    /// claimed before spends nothing, so its ATC stays free.
    @Test(arguments: Backend.available)
    func aClaimSpendsItsATCOnceAcrossNodes(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let nodes = [s.store, try await s.openAnother()]
        func key(_ stan: Int) -> AuthorizationKey {
            AuthorizationKey(acquirer: "25000001", terminal: "MSK00003", stan: String(format: "%06d", stan), transmission: "1125103000")
        }
        for atc in UInt16(1)...20 {
            // Eight messages replaying one cryptogram under eight keys, at once on two nodes.
            let results = try await withThrowingTaskGroup(of: (JournalClaim, Bool).self) { group in
                for i in 0..<8 {
                    group.addTask {
                        let r = try await nodes[i % 2].claim(key(Int(atc) * 100 + i), requestDigest: "d", at: Self.at, spendingATC: atc, ofToken: "tok_9")
                        return (r.claim, r.atcFresh)
                    }
                }
                return try await group.reduce(into: [(JournalClaim, Bool)]()) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.0 == .claimed }, "every key is new")
            #expect(results.filter(\.1).count == 1, "ATC \(atc) spent \(results.filter(\.1).count) times")
        }
        // The same key again (a duplicate) with a fresh ATC: not claimed, and the ATC not spent.
        let again = try await nodes[1].claim(key(100), requestDigest: "d", at: Self.at, spendingATC: 500, ofToken: "tok_9")
        #expect(again.claim == .pending(requestDigest: "d"))
        #expect(again.atcFresh == false)
        // The highest ATC spent before: what the issuer's ATC window is measured from.
        let next = try await nodes[0].claim(key(9000), requestDigest: "d", at: Self.at, spendingATC: 7, ofToken: "tok_9")
        #expect(next.claim == .claimed && next.atcFresh == false && next.highestSpent == 20)
        let first = try await nodes[1].claim(key(9001), requestDigest: "d", at: Self.at, spendingATC: 3, ofToken: "tok_new")
        #expect(first.atcFresh && first.highestSpent == nil)
        #expect(try await nodes[0].recordATC(tokenID: "tok_9", atc: 500), "a duplicate's claim spent nothing")
        #expect(try await nodes[0].recordATC(tokenID: "tok_9", atc: 1) == false, "spent by the claim")
    }

    /// A card's status as the issuer last answered: set and removed alone (the rest of the
    /// card as it is), seen through another node; an unknown card is not found.
    @Test(arguments: Backend.available)
    func aCardsIssuerStatus(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let a = s.store, b = try await s.openAnother()
        try await a.saveCard(Self.card(1))
        let lost = CardIssuerStatus(responseCode: "41", at: Self.at)
        try await b.setIssuerStatus(cardID: "card_1", lost)
        var expected = Self.card(1)
        expected.issuerStatus = lost
        #expect(try await a.card(id: "card_1") == expected)
        #expect(try await a.card(fingerprint: "card-fp-1")?.issuerStatus == lost)
        try await a.setIssuerStatus(cardID: "card_1", nil)
        #expect(try await b.card(id: "card_1") == Self.card(1))
        await #expect(throws: StoreError.notFound("card card_404")) { try await a.setIssuerStatus(cardID: "card_404", lost) }
    }

    /// The token service's outbox: notices written with their token changes (one
    /// transaction, in order per issuer), their state written back, depths per issuer, and
    /// a lease per issuer apart from the store-and-forward one of the same issuer.
    /// Clearing reads the journal's approvals by token and approval code, sees reversals and
    /// what was cleared, and records a file once and an authorization cleared once, across
    /// nodes.
    @Test(arguments: Backend.available)
    func clearingClearsEachAuthorizationOnce(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let a = s.store, b = try await s.openAnother()
        func key(_ stan: String) -> AuthorizationKey { AuthorizationKey(acquirer: "25000001", terminal: "T1", stan: stan, transmission: "1129101500") }
        try await a.complete(Self.journalEntry(key("000001"), digest: "d1", code: .approved))
        try await a.complete(Self.journalEntry(key("000002"), digest: "d2", code: .approved))
        try await a.complete(Self.journalEntry(key("000003"), digest: "d3", code: .insufficientFunds))
        var other = Self.journalEntry(key("000004"), digest: "d4", code: .approved)
        other.approvalCode = "654321"
        try await a.complete(other)
        // 000002 reversed (answered 00); a reversal answered 25 of 000001 reverses nothing.
        var reversal = Self.journalEntry(key("900002"), digest: "r2", code: .approved)
        reversal.mti = "0400"; reversal.approvalCode = nil; reversal.original = key("000002").description
        try await a.complete(reversal)
        var refused = Self.journalEntry(key("900001"), digest: "r1", code: .originalNotFound)
        refused.mti = "0400"; refused.original = key("000001").description
        try await a.complete(refused)

        let wanted = ApprovalKey(tokenID: "tok_1", approvalCode: "123456")
        let found = try #require(try await b.clearable([wanted, ApprovalKey(tokenID: "tok_9", approvalCode: "123456")])[wanted])
        #expect(found.map(\.key).sorted() == [key("000001").description, key("000002").description], "approvals only, of this code")
        #expect(found.first { $0.key == key("000002").description }?.reversed == true)
        #expect(found.first { $0.key == key("000001").description }?.reversed == false)
        #expect(found.allSatisfy { $0.clearedBy == nil && $0.amountMinor == 150_000 && $0.currency == "643" && $0.issuerID == "bank" && $0.at == Self.at })

        func file(_ id: String) -> ClearingFileResult {
            ClearingFileResult(fileID: id, acquirerID: "acq", receivedAt: Self.at, characterSet: "ebcdic", blocked: true, cleared: 1, rejected: 0,
                               results: [PresentmentResult(messageNumber: 2, outcome: .cleared, acquirerReference: "1".padding(toLength: 23, withPad: "0", startingAt: 0))])
        }
        func presentment(_ id: String, _ file: String, authorization: String, arn: String) -> ClearedPresentment {
            ClearedPresentment(id: id, fileID: file, messageNumber: 2, acquirerID: "acq", acquirerReference: arn, authorization: authorization,
                               tokenID: "tok_1", maskedToken: "220171******1001", issuerID: "bank", processingCode: "000000", mcc: "5411",
                               amountMinor: 100_000, currency: "643", authorizedMinor: 150_000, billingCurrency: nil, billingAmountMinor: nil,
                               localTime: "261129101500", authorizedAt: Self.at, clearedAt: Self.at)
        }
        let arn1 = String(repeating: "1", count: 23), arn2 = String(repeating: "2", count: 23)
        try await a.record(file("001261129000250000010001"), cleared: [presentment("prs_1", "001261129000250000010001", authorization: key("000001").description, arn: arn1)], lines: [], at: Self.at, nextCutOff: Self.at + 86_400)
        #expect(try await b.clearingFile(id: "001261129000250000010001") == file("001261129000250000010001"))
        #expect(try await b.clearingFile(id: "nope") == nil)
        #expect(try await b.clearable([wanted])[wanted]?.first { $0.key == key("000001").description }?.clearedBy == "prs_1")
        #expect(try await b.presentedReferences(acquirerID: "acq", [arn1, arn2]) == [arn1])
        #expect(try await b.presentedReferences(acquirerID: "other", [arn1]) == [])
        // The same file ID again: refused, nothing written.
        await #expect(throws: ClearingStoreError.duplicateFile("001261129000250000010001")) {
            try await b.record(file("001261129000250000010001"), cleared: [presentment("prs_2", "001261129000250000010001", authorization: key("000004").description, arn: arn2)], lines: [], at: Self.at, nextCutOff: Self.at + 86_400)
        }
        // Another file clearing the same authorization (from another node): refused whole.
        await #expect(throws: ClearingStoreError.clearedMeanwhile) {
            try await b.record(file("001261129000250000010002"), cleared: [presentment("prs_3", "001261129000250000010002", authorization: key("000004").description, arn: arn2),
                                                                          presentment("prs_4", "001261129000250000010002", authorization: key("000001").description, arn: String(repeating: "3", count: 23))], lines: [], at: Self.at, nextCutOff: Self.at + 86_400)
        }
        #expect(try await a.clearingFile(id: "001261129000250000010002") == nil)
        #expect(try await a.presentedReferences(acquirerID: "acq", [arn2]) == [], "the refused file left nothing")

        // A dispute step replaces the presentment only from the state it was read in.
        var disputed = try #require(try await b.presentment(id: "prs_1"))
        #expect(disputed.disputeState == .cleared && disputed.authorization == key("000001").description)
        disputed.state = .chargedBack
        disputed.chargeback = Chargeback(reasonCode: "4837", amountMinor: 100_000, at: Self.at)
        let back = [SettlementLine(participant: "acquirer:acq", currency: "RUB", amountMinor: -100_000, kind: .amount, source: "prs_1"),
                    SettlementLine(participant: "issuer:bank", currency: "RUB", amountMinor: 100_000, kind: .amount, source: "prs_1")]
        try await a.updatePresentment(disputed, expected: .cleared, lines: back, at: Self.at, nextCutOff: Self.at + 86_400)
        await #expect(throws: ClearingStoreError.clearedMeanwhile) {
            try await b.updatePresentment(disputed, expected: .cleared, lines: back, at: Self.at, nextCutOff: Self.at + 86_400)
        }
        #expect(try await b.presentment(id: "prs_1") == disputed)
        let window = try #require(try await b.windows(currency: "RUB").first)
        #expect(try await a.positions(windowID: window.id) == [NetPosition(participant: "acquirer:acq", amountMinor: -100_000),
                                                               NetPosition(participant: "issuer:bank", amountMinor: 100_000)], "the refused step wrote no line")
    }

    /// Settlement windows: lines go to the open window of their currency; a window past its
    /// cut-off is closed at it and the next opened; closing by hand, settling, positions and
    /// lines; the fee schedule kept. Across two pools.
    @Test(arguments: Backend.available)
    func settlementWindows(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let a = s.store, b = try await s.openAnother()
        #expect(try await a.feeSchedule() == nil)
        try await a.saveFeeSchedule(.standard)
        var changed = FeeSchedule.standard
        changed.schemeFeeBasisPoints = 7
        try await b.saveFeeSchedule(changed)
        #expect(try await a.feeSchedule() == changed)

        func file(_ n: Int) -> ClearingFileResult {
            ClearingFileResult(fileID: "file-\(n)", acquirerID: "acq", receivedAt: Self.at, characterSet: "ebcdic", blocked: true, cleared: 0, rejected: 0, results: [])
        }
        func lines(_ presentment: String) -> [SettlementLine] {
            [SettlementLine(participant: "acquirer:acq", currency: "RUB", amountMinor: 990, kind: .amount, source: presentment),
             SettlementLine(participant: "issuer:bank", currency: "RUB", amountMinor: -1_000, kind: .amount, source: presentment),
             SettlementLine(participant: "network", currency: "RUB", amountMinor: 10, kind: .schemeFee, source: presentment),
             SettlementLine(participant: "network", currency: "CNY", amountMinor: 0, kind: .conversion, source: presentment)]
        }
        let cutOff = Self.at + 3_600
        try await a.record(file(1), cleared: [], lines: lines("p1"), at: Self.at, nextCutOff: cutOff)
        try await b.record(file(2), cleared: [], lines: lines("p2"), at: Self.at + 60, nextCutOff: cutOff)
        let rub = try #require(try await a.windows(currency: "RUB").first)
        #expect(rub.state == .open && rub.cutOff == cutOff && rub.openedAt == Self.at)
        #expect(try await b.windows(currency: nil).map(\.currency).sorted() == ["CNY", "RUB"])
        #expect(try await b.positions(windowID: rub.id) == [NetPosition(participant: "acquirer:acq", amountMinor: 1_980),
                                                            NetPosition(participant: "issuer:bank", amountMinor: -2_000),
                                                            NetPosition(participant: "network", amountMinor: 20)])
        #expect(try await b.lines(windowID: rub.id, participant: "network").map(\.source) == ["p1", "p2"])
        #expect(try await b.lines(windowID: rub.id, participant: nil).count == 6)
        await #expect(throws: ClearingStoreError.notClosed(rub.id)) { _ = try await b.settleWindow(id: rub.id, at: Self.at) }

        // After the cut-off: the next file's lines open the next window; the first closed at its cut-off.
        try await b.record(file(3), cleared: [], lines: lines("p3"), at: cutOff + 5, nextCutOff: cutOff + 86_400)
        let closed = try #require(try await a.window(id: rub.id))
        #expect(closed.state == .closed && closed.closedAt == cutOff)
        let next = try #require(try await a.windows(currency: "RUB").last)
        #expect(next.id != rub.id && next.state == .open && next.cutOff == cutOff + 86_400)
        #expect(try await a.positions(windowID: next.id).map(\.amountMinor) == [990, -1_000, 10])
        // By hand; then settled, once.
        let handClosed = try #require(try await a.closeWindow(currency: "RUB", at: cutOff + 10))
        #expect(handClosed.id == next.id && handClosed.state == .closed && handClosed.closedAt == cutOff + 10)
        #expect(try await b.closeWindow(currency: "RUB", at: cutOff + 11) == nil, "nothing open")
        let settled = try await b.settleWindow(id: rub.id, at: cutOff + 20)
        #expect(settled.state == .settled && settled.settledAt == cutOff + 20)
        await #expect(throws: ClearingStoreError.notClosed(rub.id)) { _ = try await a.settleWindow(id: rub.id, at: cutOff + 30) }
        // Due windows close on their own.
        try await a.closeDueWindows(at: cutOff + 86_400)
        #expect(try await b.windows(currency: "CNY").allSatisfy { $0.state == .closed })
    }

    /// ATM withdrawals (0200) clear by themselves once past the grace, not when reversed,
    /// once each (two nodes sweeping), into the open windows with cash interchange.
    @Test(arguments: Backend.available)
    func singleMessagesClearThemselvesOnce(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let a = s.store, b = try await s.openAnother()
        func key(_ stan: String) -> AuthorizationKey { AuthorizationKey(acquirer: "25000001", terminal: "ATM1", stan: stan, transmission: "1129101500") }
        for stan in ["000001", "000002", "000003"] {
            var cash = Self.journalEntry(key(stan), digest: stan, code: .approved)
            cash.mti = "0200"; cash.processingCode = "010000"
            _ = try await a.claim(key(stan), requestDigest: stan, at: Self.at)
            try await a.complete(cash)
        }
        var reversal = Self.journalEntry(key("900003"), digest: "r3", code: .approved)
        reversal.mti = "0400"; reversal.approvalCode = nil; reversal.original = key("000003").description
        try await a.complete(reversal)
        func service(_ store: StoreUnderTest.Store, now: Date) -> ClearingService {
            ClearingService(store: store, now: { now }, acquirerID: { $0 == "25000001" ? "atm-acquirer" : nil }) { _ in nil }
        }
        #expect(try await service(a, now: Self.at + 30).clearSingleMessages() == 0, "within the grace: a reversal may still come")
        async let one = service(a, now: Self.at + 61).clearSingleMessages()
        async let two = service(b, now: Self.at + 61).clearSingleMessages()
        #expect(try await one + two == 2, "each once, the reversed one never")
        #expect(try await service(b, now: Self.at + 120).clearSingleMessages() == 0)
        let window = try #require(try await a.windows(currency: "RUB").first)
        let net = Dictionary(uniqueKeysWithValues: try await b.positions(windowID: window.id).map { ($0.participant, $0.amountMinor) })
        // 2 × 1,500.00 RUB cash: 0.50% interchange to the acquirer, 0.05% scheme fee each side.
        #expect(net == ["acquirer:atm-acquirer": 300_000 + 1_500 - 150, "issuer:bank": -300_000 - 1_500 - 150, "network": 300])
        #expect(try await service(a, now: Self.at + 8 * 86_400).clearSingleMessages() == 0, "past the presentment window: not swept again")
    }

    /// An issuer's file gathers its presentments not yet in one, each into exactly one
    /// file (two nodes making files at once), oldest first, up to the limit.
    @Test(arguments: Backend.available)
    func issuerFilesTakeEachPresentmentOnce(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let a = s.store, b = try await s.openAnother()
        func presentment(_ n: Int, issuer: String = "bank") -> ClearedPresentment {
            ClearedPresentment(id: "prs_\(n)", fileID: "f", messageNumber: n, acquirerID: "acq", acquirerReference: "ref-\(n)", authorization: "key-\(n)",
                               tokenID: "tok_1", maskedToken: nil, issuerID: issuer, processingCode: "000000", mcc: "5411", amountMinor: 100,
                               currency: "643", authorizedMinor: 100, billingCurrency: nil, billingAmountMinor: nil, localTime: "261129101500",
                               authorizedAt: Self.at, clearedAt: Self.at + Double(n))
        }
        try await a.record(nil, cleared: (1...30).map { presentment($0) } + [presentment(99, issuer: "other")], lines: [], at: Self.at, nextCutOff: Self.at + 86_400)
        let first = try await a.makeIssuerFile(IssuerFile(id: "file-1", issuerID: "bank", createdAt: Self.at, presentments: 0), limit: 10)
        #expect(first.presentments == 10)
        #expect(try await b.presentments(issuerFile: "file-1").map(\.id) == (1...10).map { "prs_\($0)" }, "oldest first")
        async let two = a.makeIssuerFile(IssuerFile(id: "file-2", issuerID: "bank", createdAt: Self.at, presentments: 0), limit: 1_000)
        async let three = b.makeIssuerFile(IssuerFile(id: "file-3", issuerID: "bank", createdAt: Self.at, presentments: 0), limit: 1_000)
        let (f2, f3) = try await (two, three)
        #expect(f2.presentments + f3.presentments == 20, "each presentment in one file")
        let all = try await a.presentments(issuerFile: "file-1") + a.presentments(issuerFile: "file-2") + b.presentments(issuerFile: "file-3")
        #expect(Set(all.map(\.id)).count == 30 && !all.contains { $0.issuerID != "bank" })
        #expect(try await b.issuerFile(id: "file-2") == f2)
        #expect(try await b.issuerFileCount(issuerID: "bank", since: Self.at) == 3)
        #expect(try await b.issuerFileCount(issuerID: "other", since: Self.at) == 0)
        await #expect(throws: ClearingStoreError.duplicateFile("file-1")) {
            _ = try await b.makeIssuerFile(IssuerFile(id: "file-1", issuerID: "bank", createdAt: Self.at, presentments: 0), limit: 10)
        }
    }

    @Test(arguments: Backend.available)
    func theIssuerNoticesOutbox(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let a = s.store, b = try await s.openAnother()
        try await a.createToken(Self.token(1, card: 1), card: Self.card(1), audit: Self.audit("tok_1", .create), notice: Self.notice("tok_1", .created))
        var other = Self.token(2, card: 2)
        other.issuerID = "other"
        try await b.createToken(other, card: Self.card(2, issuer: "other"), audit: Self.audit("tok_2", .create),
                                notice: Self.notice("tok_2", .created, issuer: "other", at: Self.at + 5))
        let read = try #require(try await a.token(id: "tok_1"))
        var suspended = read
        suspended.status = .suspended
        suspended.updatedAt = Self.at + 1
        try await b.updateTokens([TokenChange(before: read, after: suspended)], audit: [Self.audit("tok_1", .suspend)],
                                 notices: [Self.notice("tok_1", .suspended, at: Self.at + 1)])
        #expect(try await a.issuersNoticed().sorted() == ["bank", "other"])
        #expect(try await a.queuedNotices(issuerID: "bank", limit: 10).map(\.id) == ["ntf_tok_1_created", "ntf_tok_1_suspended"], "in the order written")
        #expect(try await a.queuedNotices(issuerID: "bank", limit: 1).map(\.id) == ["ntf_tok_1_created"])

        var first = try #require(try await b.queuedNotices(issuerID: "bank", limit: 1).first)
        first.attempts = 2; first.state = .delivered; first.deliveredAt = Self.at + 2; first.lastError = nil
        try await b.updateNotice(first)
        #expect(try await a.notice(id: first.id) == first)
        #expect(try await a.queuedNotices(issuerID: "bank", limit: 10).map(\.id) == ["ntf_tok_1_suspended"])
        var given = Self.notice("tok_2", .created, issuer: "other", at: Self.at + 5)
        given.state = .expired
        try await a.updateNotice(given)
        #expect(try await b.issuersNoticed() == ["bank"])
        #expect(try await b.noticeDepths() == [
            NoticeDepth(issuerID: "bank", queued: 1, oldestQueuedAt: Self.at + 1, expired: 0, delivered: 1),
            NoticeDepth(issuerID: "other", queued: 0, oldestQueuedAt: nil, expired: 1, delivered: 0),
        ])

        // The notices' lease of an issuer is not its store-and-forward lease.
        #expect(try await a.lease(issuerID: "bank", node: "a", until: Self.at + 30, now: Self.at))
        #expect(try await b.leaseNotices(issuerID: "bank", node: "b", until: Self.at + 30, now: Self.at))
        #expect(try await a.leaseNotices(issuerID: "bank", node: "a", until: Self.at + 40, now: Self.at + 10) == false)
        #expect(try await b.leaseNotices(issuerID: "bank", node: "b", until: Self.at + 60, now: Self.at + 20))
        #expect(try await a.leaseNotices(issuerID: "bank", node: "a", until: Self.at + 90, now: Self.at + 61))

        // Several notices' states in one write; an empty write is nothing. And a market's
        // sweep lease is neither of the issuer's.
        var last = try #require(try await a.queuedNotices(issuerID: "bank", limit: 1).first)
        last.attempts = 1; last.state = .delivered; last.deliveredAt = Self.at + 3
        try await b.updateNotices([last])
        try await b.updateNotices([])
        #expect(try await a.notice(id: last.id) == last)
        #expect(try await a.issuersNoticed().isEmpty)
        #expect(try await a.leaseMarket(country: "bank", node: "a", until: Self.at + 30, now: Self.at))
        #expect(try await b.leaseMarket(country: "bank", node: "b", until: Self.at + 40, now: Self.at + 10) == false)
    }

    /// The store-and-forward queue: a message queued once per id, in order per issuer, its
    /// state written back; one node at a time holds an issuer's lease; an answer and the
    /// reversal it owes are written together or not at all; a claim left unanswered is
    /// found by recovery with the reversal it kept, and only once it is old enough.
    @Test(arguments: Backend.available)
    func theStoreAndForwardQueue(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let a = s.store, b = try await s.openAnother()
        func owed(_ n: Int, issuer: String = "bank") -> OwedMessage {
            OwedMessage(id: "reversal:25000001/MSK00001/\(String(format: "%06d", n))/1129101500", kind: .reversal, issuerID: issuer,
                        sealed: Data([UInt8(n), 1, 2]), maskedPAN: "220070******1001", reason: "test", queuedAt: Self.at.addingTimeInterval(Double(n)),
                        expiresAt: Self.at.addingTimeInterval(86_400))
        }
        for n in [3, 1, 2] { #expect(try await a.enqueue(owed(n))) }
        #expect(try await b.enqueue(owed(1)) == false, "one message per id, whichever node")
        #expect(try await a.enqueue(owed(9, issuer: "other")))
        #expect(try await b.issuersOwed().sorted() == ["bank", "other"])
        #expect(try await b.queued(issuerID: "bank", limit: 10).map(\.id) == [3, 1, 2].map { owed($0).id }, "in the order queued")
        #expect(try await b.queued(issuerID: "bank", limit: 2).count == 2)
        var first = try #require(try await b.queued(issuerID: "bank", limit: 1).first)
        first.attempts = 1; first.state = .delivered; first.responseCode = "00"; first.deliveredAt = Self.at
        try await b.update(first)
        #expect(try await a.owed(id: first.id) == first)
        #expect(try await a.queued(issuerID: "bank", limit: 10).count == 2)
        var given = owed(9, issuer: "other")
        given.state = .expired
        try await a.update(given)
        #expect(try await a.issuersOwed() == ["bank"])
        #expect(try await b.depths() == [
            QueueDepth(issuerID: "bank", kind: .reversal, queued: 2, oldestQueuedAt: Self.at.addingTimeInterval(1), expired: 0, delivered: 1),
            QueueDepth(issuerID: "other", kind: .reversal, queued: 0, oldestQueuedAt: nil, expired: 1, delivered: 0),
        ])

        // Leases: held by one node until they lapse; renewed by their holder.
        #expect(try await a.lease(issuerID: "bank", node: "a", until: Self.at.addingTimeInterval(30), now: Self.at))
        #expect(try await b.lease(issuerID: "bank", node: "b", until: Self.at.addingTimeInterval(40), now: Self.at.addingTimeInterval(10)) == false)
        #expect(try await a.lease(issuerID: "bank", node: "a", until: Self.at.addingTimeInterval(60), now: Self.at.addingTimeInterval(20)))
        #expect(try await b.lease(issuerID: "bank", node: "b", until: Self.at.addingTimeInterval(90), now: Self.at.addingTimeInterval(61)))

        // An answer with a reversal owed: both written, or neither.
        let key = AuthorizationKey(acquirer: "25000001", terminal: "MSK00002", stan: "000001", transmission: "1129101500")
        let lost = ReversalIfLost(id: OwedMessage.reversalID(key), issuerID: "bank", sealed: Data([0xAB, 0xCD]))
        #expect(try await a.claim(key, requestDigest: "d", at: Self.at, spendingATC: 1, ofToken: "tok_1", ifLost: lost).claim == .claimed)
        #expect(try await b.unanswered(claimedBefore: Self.at, limit: 10).isEmpty, "not old enough")
        #expect(try await b.unanswered(claimedBefore: Self.at.addingTimeInterval(1), limit: 10)
                == [UnansweredClaim(key: key.description, requestDigest: "d", claimedAt: Self.at, ifLost: lost)])
        var reversal = owed(50)
        reversal.id = lost.id
        try await b.complete(Self.journalEntry(key, digest: "d", code: .issuerUnavailable), owing: reversal)
        #expect(try await a.owed(id: lost.id) == reversal)
        #expect(try await a.unanswered(claimedBefore: Self.at.addingTimeInterval(1), limit: 10).isEmpty, "answered")
        var another = reversal
        another.id = "reversal:another"
        await #expect(throws: JournalError.alreadyAnswered(key: key.description)) {
            try await a.complete(Self.journalEntry(key, digest: "d", code: .approved), owing: another)
        }
        #expect(try await b.owed(id: "reversal:another") == nil, "nothing queued when the answer was refused")
        // A claim that spent no ATC is unanswered without a reversal.
        let plain = AuthorizationKey(acquirer: "25000001", terminal: "MSK00002", stan: "000002", transmission: "1129101500")
        #expect(try await a.claim(plain, requestDigest: "p", at: Self.at) == .claimed)
        #expect(try await b.unanswered(claimedBefore: Self.at.addingTimeInterval(1), limit: 10).map(\.ifLost) == [nil])
        // Forgotten by recovery (once, and never an answered entry): the key is free again.
        #expect(try await a.forget(unanswered: key.description) == false, "answered: stays")
        #expect(try await b.forget(unanswered: plain.description))
        #expect(try await a.forget(unanswered: plain.description) == false)
        #expect(try await a.claim(plain, requestDigest: "p", at: Self.at) == .claimed)
    }

    /// A stand-in approval takes from its token's daily allowance with its journal entry,
    /// on any node, never past either limit; refused, nothing of it is written.
    @Test(arguments: Backend.available)
    func aStandInAllowanceIsTakenWithTheEntry(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let nodes = [s.store, try await s.openAnother()]
        func key(_ n: Int) -> AuthorizationKey { AuthorizationKey(acquirer: "25000001", terminal: "MSK00009", stan: String(format: "%06d", n), transmission: "1129101500") }
        func spend(_ amount: Int64, day: String = "2026-11-29") -> StandInSpend {
            StandInSpend(tokenID: "tok_5", day: day, amountMinor: amount, maxCount: 3, maxAmountMinor: 10_000)
        }
        // Eight at once on two nodes, 2,000 each: three fit the count.
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    (try? await nodes[i % 2].complete(Self.journalEntry(key(i), digest: "d", code: .approved), owing: nil, standIn: spend(2_000))) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 3)
        await #expect(throws: JournalError.standInAllowanceExhausted(countReached: true)) {
            try await nodes[0].complete(Self.journalEntry(key(20), digest: "d", code: .approved), owing: nil, standIn: spend(1))
        }
        #expect(try await nodes[1].entry(key(20)) == nil, "refused: nothing written")
        // The amount: another day, 6,000 then 5,000 is over 10,000.
        try await nodes[1].complete(Self.journalEntry(key(30), digest: "d", code: .approved), owing: nil, standIn: spend(6_000, day: "2026-11-30"))
        await #expect(throws: JournalError.standInAllowanceExhausted(countReached: false)) {
            try await nodes[0].complete(Self.journalEntry(key(31), digest: "d", code: .approved), owing: nil, standIn: spend(5_000, day: "2026-11-30"))
        }
        try await nodes[0].complete(Self.journalEntry(key(32), digest: "d", code: .approved), owing: nil, standIn: spend(4_000, day: "2026-11-30"))
        // Over the amount by itself: refused before anything is counted.
        await #expect(throws: JournalError.standInAllowanceExhausted(countReached: false)) {
            try await nodes[0].complete(Self.journalEntry(key(40), digest: "d", code: .approved), owing: nil, standIn: spend(20_000, day: "2026-12-01"))
        }
    }

    /// Exchange rates are a history: a load is kept whole or not at all, a rate loaded again
    /// with its value is unchanged, one with another value refused, every node reads the same.
    @Test(arguments: Backend.available)
    func exchangeRatesAreAHistory(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let other = try await s.openAnother()
        let day = Self.at, later = Self.at + 86_400.5
        func rate(_ c: String, _ micro: Int64, _ at: Date) -> ExchangeRateEntry {
            ExchangeRateEntry(currency: c, microUnitsPerUSD: micro, effectiveAt: at, loadedAt: Self.at)
        }
        #expect(try await s.store.exchangeRates().isEmpty)
        let first = try await s.store.addExchangeRates([rate("RUB", 80_500_000, day), rate("EUR", 860_000, day), rate("RUB", 81_000_000, later)])
        #expect(first.added == 3 && first.unchanged == 0)
        // Again, with one more: the three unchanged, the new one added.
        let again = try await other.addExchangeRates([rate("RUB", 80_500_000, day), rate("EUR", 860_000, day), rate("RUB", 81_000_000, later),
                                                      rate("CNY", 7_120_000, later)])
        #expect(again.added == 1 && again.unchanged == 3)
        // A changed rate refuses the whole load: the new CZK before it is not kept either.
        await #expect(throws: ExchangeRateConflict(currency: "EUR", effectiveAt: day)) {
            try await s.store.addExchangeRates([rate("CZK", 20_900_000, later), rate("EUR", 870_000, day)])
        }
        let history = try await other.exchangeRates()
        #expect(history.map(\.currency) == ["CNY", "EUR", "RUB", "RUB"])
        #expect(history.map(\.microUnitsPerUSD) == [7_120_000, 860_000, 80_500_000, 81_000_000])
        #expect(history.last?.effectiveAt == later, "to the millisecond")
    }

    /// On PostgreSQL a node hears at once when another changes tokens, cards or issuers
    /// (and empties its caches; their age is only the backstop).
    @Test(.timed, .enabled(if: TestPostgres.url != nil, "needs PASSWAY_POSTGRES_URL"))
    func anotherNodeHearsOfChanges() async throws {
        let s = try await StoreUnderTest.open(.postgres)
        defer { Task { await s.close() } }
        let other = try #require(try await s.openAnother() as? PostgresStore)
        let heard = Heard()
        let listening = Task { await other.listenForChanges { heard.add($0) } }
        #expect(await heard("listening"))
        try await s.store.createToken(Self.token(1, card: 1), card: Self.card(1), audit: Self.audit("tok_1", .create), notice: Self.notice("tok_1", .created))
        var suspended = Self.token(1, card: 1)
        suspended.status = .suspended
        suspended.updatedAt = Self.at + 1
        try await s.store.updateTokens([TokenChange(before: Self.token(1, card: 1), after: suspended)], audit: [Self.audit("tok_1", .suspend)], notices: [])
        #expect(await heard("token"))
        var renewed = Self.card(1)
        renewed.fingerprint = "card-fp-1-renewed"
        try await s.store.updateCard(renewed, previousFingerprint: "card-fp-1", audit: [])
        #expect(await heard("card"))
        try await s.store.saveIssuer(Issuer(id: "bank", name: "Bank", country: "RU", currency: "RUB", cardRanges: ["220070"], tokenRanges: ["22017199"],
                                            enabledWallets: [], hostURL: "http://127.0.0.1:1"))
        #expect(await heard("issuer"))
        _ = try await s.store.addExchangeRates([ExchangeRateEntry(currency: "EUR", microUnitsPerUSD: 860_000, effectiveAt: Self.at, loadedAt: Self.at)])
        #expect(await heard("exchange-rates"))
        listening.cancel()
        await listening.value
    }
}

/// What a listener heard, in order; `await heard("x")` until it has heard "x", or 30 s.
final class Heard: @unchecked Sendable {
    private let lock = NSLock()
    private var payloads: [String] = []

    func add(_ payload: String) { lock.withLock { payloads.append(payload) } }

    private func take(_ payload: String) -> Bool {
        lock.withLock { payloads.firstIndex(of: payload).map { payloads.remove(at: $0) } != nil }
    }

    func callAsFunction(_ payload: String) async -> Bool {
        await eventually { take(payload) }
    }
}

/// CI must not pass on SQLite alone by accident: `.ci/run` starts PostgreSQL and says so.
@Suite struct BackendsInCI {
    @Test func ciRunsTheContractSuitesOnPostgreSQLToo() {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(Backend.available == [.sqlite, .postgres], "CI without PASSWAY_POSTGRES_URL: .ci/run starts a PostgreSQL and sets it")
        }
    }
}
