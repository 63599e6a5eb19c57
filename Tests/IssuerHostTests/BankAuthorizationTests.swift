import Foundation
import EMV
import IssuerContract
import IPM
import IssuerHost
import Testing
import TestSupport
import Vault

/// The bundled bank deciding authorizations on its own database: funds and credit line,
/// holds, daily and cash limits, card status, expiry, and books that balance. The bank's
/// store contract: the same tests on SQLite and on PostgreSQL.
@Suite struct BankAuthorizationTests {
    struct Opened {
        let bank: Bank
        let pan: String
        let stores: BankStoreUnderTest
        let master: MasterKey
        /// The same bank served by another node.
        func anotherNode() async throws -> Bank { try await Bank(id: "bank", database: try await stores.openAnother(), master: master) }
    }

    func open(_ backend: Backend) async throws -> Opened {
        let stores = try await BankStoreUnderTest.open(backend)
        let master = MasterKey.generate()
        let bank = try await Bank(id: "bank", database: stores.store, master: master)
        let pan = cardNumber("220070", seed: 21)
        _ = try await bank.openAccount(.init(pan: pan, expiry: "2912", holderName: "IVAN PETROV", currency: "RUB",
                                             balanceMinor: 100_000, creditLimitMinor: 50_000, dailyLimitMinor: 120_000))
        return Opened(bank: bank, pan: pan, stores: stores, master: master)
    }

    func request(_ ref: String, _ pan: String, _ amount: Int64, type: String = "00", expiry: String = "2912") -> CardAuthorization {
        CardAuthorization(reference: ref, pan: pan, expiry: expiry, amountMinor: amount, transactionType: type)
    }

    /// The token service delivers a notification at least once: a repeat (same id) is
    /// not kept twice, on either backend and through either node.
    @Test(arguments: Backend.available)
    func aTokenNotificationIsKeptOnce(_ backend: Backend) async throws {
        let o = try await open(backend)
        defer { Task { await o.stores.close() } }
        func note(_ id: String, _ event: TokenNotification.Event) -> TokenNotification {
            TokenNotification(id: id, tokenID: "tok_1", maskedToken: "220171******1001", maskedPAN: "220070******1001", event: event,
                              status: event == .suspended ? .suspended : .active, reason: nil)
        }
        try await o.bank.tokenUpdated(note("ntf_1", .created))
        try await o.bank.tokenUpdated(note("ntf_1", .created))
        try await o.anotherNode().tokenUpdated(note("ntf_1", .created))
        try await o.bank.tokenUpdated(note("ntf_2", .suspended))
        let kept = try await o.bank.notifications()
        #expect(kept.map(\.id) == ["ntf_1", "ntf_2"])
        #expect(kept.map(\.event) == [.created, .suspended])
    }

    /// The network's clearing file posted: each presentment once across nodes however
    /// often the file comes, its hold released in full (a partial's rest back to the card),
    /// a presentment without a hold posted all the same, the books balanced.
    @Test(arguments: Backend.available)
    func aClearingFileIsPostedOnce(_ backend: Backend) async throws {
        let o = try await open(backend)
        defer { Task { await o.stores.close() } }
        #expect(try await o.bank.authorize(request("acq/T1/000001/1129101500", o.pan, 30_000)).responseCode == .approved)
        #expect(try await o.bank.authorize(request("acq/T1/000002/1129101500", o.pan, 20_000)).responseCode == .approved)
        func presentment(_ n: Int, reference: String, amount: Int64, currency: String = "643") throws -> IPMMessage {
            var m = IPMMessage(mti: "1240")
            m[2] = o.pan; m[3] = "000000"; m[4] = String(amount).leftPadded(to: 12); m[49] = currency; m[24] = "200"
            try m.setPDS([800: reference, 801: "prs_\(n)"])
            return m
        }
        let file = try ClearingFile.write(id: "0022611290000022007000001", messages: [
            try presentment(1, reference: "acq/T1/000001/1129101500", amount: 30_000),
            try presentment(2, reference: "acq/T1/000002/1129101500", amount: 15_000),   // partial: 5,000 back
            try presentment(3, reference: "acq/T1/000009/1129101500", amount: 1_000),    // its hold lapsed: posted all the same
            try presentment(4, reference: "acq/T1/000004/1129101500", amount: 1_000, currency: "978"),
        ])
        let before = try #require(try await o.bank.accounts().first)
        let report = try await o.bank.applyClearingFile(file)
        #expect(report.posted == 3 && report.postedMinor == ["RUB": 46_000] && report.already == 0)
        #expect(report.problems.map(\.messageNumber) == [5] && report.problems.first?.reason.contains("EUR") == true)
        let again = try await o.anotherNode().applyClearingFile(file)
        #expect(again.posted == 0 && again.already == 3, "once however often, through either node")
        let after = try #require(try await o.bank.accounts().first)
        #expect(after.balanceMinor == before.balanceMinor - 46_000)
        #expect(try await o.stores.store.heldMinor(accountID: after.id) == 0, "both holds released")
        #expect(try await o.bank.unbalancedReferences() == [])
        await #expect(throws: IssuerHostError.self) { try await o.bank.applyClearingFile(Array("garbage".utf8)) }
    }

    /// Holds that nothing clears or reverses expire after their lifetime (7 days unless
    /// told): released with a ledger entry, once; cash is final and stays.
    @Test(arguments: Backend.available)
    func holdsExpireAfterTheirLifetimeButCashIsFinal(_ backend: Backend) async throws {
        let stores = try await BankStoreUnderTest.open(backend)
        defer { Task { await stores.close() } }
        let clock = Clock()
        let bank = try await Bank(id: "bank", database: stores.store, master: MasterKey.generate(), now: { clock.now })
        let pan = cardNumber("220070", seed: 31)
        _ = try await bank.openAccount(.init(pan: pan, expiry: "2912", holderName: "IVAN PETROV", currency: "RUB",
                                             balanceMinor: 100_000, dailyLimitMinor: 100_000))
        #expect(try await bank.authorize(request("goods", pan, 10_000)).responseCode.rawValue == "00")
        #expect(try await bank.authorize(request("cash", pan, 5_000, type: "01")).responseCode.rawValue == "00")
        clock.advance(days: 6)
        #expect(try await bank.authorize(request("newer", pan, 1_000)).responseCode.rawValue == "00")
        #expect(try await bank.expireHolds().isEmpty, "nothing is 7 days old yet")
        clock.advance(days: 1.5)
        #expect(try await bank.expireHolds() == ["goods"])
        #expect(try await bank.expireHolds().isEmpty, "once")
        #expect(try await bank.availableMinor(pan: pan) == 100_000 - 5_000 - 1_000, "the cash stays, the newer hold too")
        #expect(try await bank.reverse(reference: "goods", card: pan) == false, "already released")
        #expect(try await bank.unbalancedReferences().isEmpty)
    }

    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var date = Date()
        var now: Date { lock.lock(); defer { lock.unlock() }; return date }
        func advance(days: Double) { lock.lock(); date += days * 86_400; lock.unlock() }
    }

    /// A reversal that reaches the bank before its original (the network gave up and
    /// reversed it first): remembered, and the original, when it comes, is declined and
    /// holds nothing, on this node and on another; a reversal with no card releases and
    /// remembers nothing; an original decided first is released as ever.
    @Test(arguments: Backend.available)
    func aReversalBeforeItsOriginalLeavesTheOriginalHoldingNothing(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let (bank, pan) = (opened.bank, opened.pan)
        #expect(try await bank.reverse(reference: "early", card: pan) == false, "nothing to release yet")
        let late = try await bank.authorize(request("early", pan, 30_000))
        #expect(late == AuthorizationDecision.reversedBeforeItArrived && late.responseCode.rawValue == "05")
        let other = try await opened.anotherNode()
        #expect(try await other.authorize(request("early", pan, 30_000)) == late, "the same on another node")
        #expect(try await bank.availableMinor(pan: pan) == 150_000)
        // A second reversal changes nothing.
        #expect(try await other.reverse(reference: "early", card: pan) == false)
        // In order, as ever: held, then released once.
        #expect(try await bank.authorize(request("inorder", pan, 20_000)).responseCode.rawValue == "00")
        #expect(try await other.reverse(reference: "inorder", card: pan))
        #expect(try await bank.availableMinor(pan: pan) == 150_000)
        #expect(try await bank.unbalancedReferences().isEmpty)
        // Reversals racing their originals on two nodes: whichever comes first, nothing
        // stays held.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask { _ = try await bank.authorize(self.request("race-\(i)", pan, 1_000)) }
                group.addTask { _ = try await other.reverse(reference: "race-\(i)", card: pan) }
            }
            try await group.waitForAll()
        }
        #expect(try await bank.availableMinor(pan: pan) == 150_000, "every raced authorization either held nothing or was released")
        #expect(try await bank.unbalancedReferences().isEmpty)
    }

    @Test(arguments: Backend.available)
    func holdsLimitsAndReversalsBalance(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let (bank, pan) = (opened.bank, opened.pan)
        let first = try await bank.authorize(request("r1", pan, 60_000))
        #expect(first.responseCode.rawValue == "00")
        #expect(first.approvalCode?.count == 6)
        #expect(try await bank.availableMinor(pan: pan) == 90_000)
        // The same reference again: the same answer, no second hold.
        #expect(try await bank.authorize(request("r1", pan, 60_000)) == first)
        #expect(try await bank.availableMinor(pan: pan) == 90_000)
        // Over the daily limit (60,000 + 70,000 > 120,000), though funds would allow it.
        #expect(try await bank.authorize(request("r2", pan, 70_000)).responseCode.rawValue == "61")
        // Cash is limited to half the daily limit.
        #expect(try await bank.authorize(request("r3", pan, 60_001, type: "01")).responseCode.rawValue == "61")
        #expect(try await bank.authorize(request("r4", pan, 50_000, type: "01")).responseCode.rawValue == "00")
        #expect(try await bank.availableMinor(pan: pan) == 40_000)
        // A reversal releases exactly its hold, once.
        #expect(try await bank.reverse(reference: "r1"))
        #expect(try await bank.reverse(reference: "r1") == false)
        #expect(try await bank.reverse(reference: "never") == false)
        // A reversal carrying another card does not release this card's hold.
        #expect(try await bank.authorize(request("r9", pan, 1_000)).responseCode.rawValue == "00")
        let other = cardNumber("220070", seed: 98)
        _ = try await bank.openAccount(.init(pan: other, expiry: "2912", holderName: "OTHER", currency: "RUB", balanceMinor: 10))
        #expect(try await bank.reverse(reference: "r9", card: other) == false)
        #expect(try await bank.reverse(reference: "r9", card: cardNumber("220070", seed: 99)) == false)
        #expect(try await bank.reverse(reference: "r9", card: pan))
        #expect(try await bank.availableMinor(pan: pan) == 100_000)
        // Beyond balance and credit line together: insufficient funds.
        #expect(try await bank.authorize(request("r5", pan, 100_001)).responseCode.rawValue == "51")
        #expect(try await bank.unbalancedReferences().isEmpty)
    }

    @Test(arguments: Backend.available)
    func declinesChangeNothing(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let (bank, pan) = (opened.bank, opened.pan)
        #expect(try await bank.authorize(request("e1", pan, 1_000, expiry: "2811")).responseCode.rawValue == "54")
        #expect(try await bank.authorize(request("u1", cardNumber("220070", seed: 22), 1_000)).responseCode.rawValue == "14")
        #expect(try await bank.authorize(request("t1", pan, 1_000, type: "31")).responseCode.rawValue == "57")
        #expect(try await bank.authorize(request("z1", pan, 0)).responseCode.rawValue == "13")
        try await bank.setStatus(pan: pan, .stolen)
        #expect(try await bank.authorize(request("s1", pan, 1_000)).responseCode.rawValue == "43")
        try await bank.setStatus(pan: pan, .active)
        #expect(try await bank.availableMinor(pan: pan) == 150_000)
        #expect(try await bank.authorize(request("ok", pan, 1_000)).responseCode.rawValue == "00")
    }

    /// Many authorizations at once on one account: never more held than available.
    /// Half of them go through a second node on the same data.
    @Test(arguments: Backend.available)
    func concurrentAuthorizationsNeverOverdraw(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let (bank, pan) = (opened.bank, opened.pan)
        let banks = [bank, try await opened.anotherNode()]
        let codes = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<40 { group.addTask { try await banks[i % 2].authorize(request("c\(i)", pan, 10_000)).responseCode.rawValue } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        // 120,000 daily limit / 10,000 each: exactly twelve approvals.
        #expect(codes.filter { $0 == "00" }.count == 12)
        #expect(try await bank.availableMinor(pan: pan) == 30_000)
        #expect(try await bank.unbalancedReferences().isEmpty)
    }

    /// One reference decided once, though both nodes are asked at the same moment; a
    /// reversal through either releases it once.
    @Test(arguments: Backend.available)
    func aReferenceIsDecidedOnceAcrossNodes(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let banks = [opened.bank, try await opened.anotherNode()]
        for n in 0..<10 {
            let decisions = try await withThrowingTaskGroup(of: AuthorizationDecision.self) { group in
                for i in 0..<4 { group.addTask { try await banks[i % 2].authorize(request("same-\(n)", opened.pan, 1_000)) } }
                return try await group.reduce(into: [AuthorizationDecision]()) { $0.append($1) }
            }
            #expect(Set(decisions.map(\.approvalCode)).count == 1, "one decision, the same answer to all")
            #expect(decisions.allSatisfy { $0.responseCode.rawValue == "00" })
        }
        #expect(try await opened.bank.availableMinor(pan: opened.pan) == 140_000)
        let releases = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<4 { group.addTask { try await banks[i % 2].reverse(reference: "same-0") } }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(releases == 1)
        #expect(try await banks[1].availableMinor(pan: opened.pan) == 141_000)
        #expect(try await opened.bank.unbalancedReferences().isEmpty)
    }

    /// Amounts that would overflow: refused when an account is opened; and a stored row
    /// out of range (an old or edited database) refuses its own authorizations with 96
    /// while the bank goes on deciding for its other cards.
    @Test(arguments: Backend.available)
    func amountsThatCouldOverflowAreRefusedNotComputed(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let bank = opened.bank
        let extreme = cardNumber("220070", seed: 23)
        for (balance, credit, daily) in [(Int64.max, Int64.max, nil), (0, Int64.max, nil), (nil, nil, Int64.max), (-1, nil, nil)] as [(Int64?, Int64?, Int64?)] {
            await #expect(throws: IssuerHostError.self) {
                try await bank.openAccount(.init(pan: extreme, expiry: "2912", holderName: "X", currency: "RUB",
                                                 balanceMinor: balance, creditLimitMinor: credit, dailyLimitMinor: daily))
            }
        }
        #expect(try await bank.accounts().count == 1)
        _ = try await bank.openAccount(.init(pan: extreme, expiry: "2912", holderName: "X", currency: "RUB",
                                             balanceMinor: Account.maxAmountMinor, creditLimitMinor: Account.maxAmountMinor))
        #expect(try await bank.availableMinor(pan: extreme) == 2 * Account.maxAmountMinor)

        // The row edited behind the bank's back.
        var row = try #require(try await opened.stores.store.accounts().first { $0.maskedPAN == PAN.mask(extreme) })
        row.balanceMinor = .max
        row.creditLimitMinor = .max
        try await opened.stores.store.replaceAccount(row)
        let refused = try await bank.authorize(request("x1", extreme, 1_000))
        #expect(refused.responseCode.rawValue == "96" && refused.reason == Bank.inconsistentAccount)
        #expect(try await bank.availableMinor(pan: extreme) == nil)
        #expect(try await bank.accounts().first { $0.maskedPAN == PAN.mask(extreme) }?.availableMinor == nil)
        #expect(try await bank.authorize(request("ok", opened.pan, 1_000)).responseCode.rawValue == "00")
        #expect(try await bank.unbalancedReferences().isEmpty)
    }

    /// The network's advice of a stand-in approval: held once, however often it comes and
    /// on whichever node, even beyond the account's funds (the network approved it for the
    /// bank); nothing more when the bank had approved the reference itself; nothing when a
    /// reversal of it came first; and a decline the network never heard gives way to it.
    @Test(arguments: Backend.available)
    func aStandInAdviceIsAppliedOnce(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let bank = opened.bank, other = try await opened.anotherNode(), pan = opened.pan
        // Available 150,000: the advice of 200,000 is held all the same.
        #expect(try await bank.applyAdvice(request("advised", pan, 200_000), approvalCode: "S00001") == true)
        #expect(try await other.applyAdvice(request("advised", pan, 200_000), approvalCode: "S00001") == false, "a repeat holds nothing more")
        #expect(try await bank.availableMinor(pan: pan) == -50_000)
        #expect(try await bank.authorize(request("advised", pan, 200_000)).approvalCode == "S00001", "the original, late, gets the advice's answer")
        #expect(try await bank.availableMinor(pan: pan) == -50_000)
        // Approved by the bank itself first: the advice adds nothing.
        #expect(try await bank.reverse(reference: "advised", card: pan))
        #expect(try await bank.authorize(request("own", pan, 10_000)).responseCode.rawValue == "00")
        #expect(try await bank.applyAdvice(request("own", pan, 10_000), approvalCode: "S00002") == false)
        #expect(try await bank.availableMinor(pan: pan) == 140_000)
        // Reversed before it arrived: nothing held.
        #expect(try await bank.reverse(reference: "early", card: pan) == false)
        #expect(try await bank.applyAdvice(request("early", pan, 5_000), approvalCode: "S00003") == false)
        // Declined by the bank (the network did not hear it), approved in stand-in: held.
        #expect(try await bank.authorize(request("declined", pan, 900_000)).responseCode.rawValue == "51")
        #expect(try await bank.applyAdvice(request("declined", pan, 900_000), approvalCode: "S00004") == true)
        #expect(try await bank.availableMinor(pan: pan) == 140_000 - 900_000)
        // Not this bank's card, or no account.
        #expect(try await bank.applyAdvice(request("x", cardNumber("990000", seed: 1), 1_000), approvalCode: "S00005") == nil)
        #expect(try await bank.applyAdvice(request("y", cardNumber("220070", seed: 99), 1_000), approvalCode: "S00006") == nil)
        #expect(try await bank.unbalancedReferences().isEmpty)
    }

    /// The store's parts of the bank's doors: secrets replaced by a rotation, a nonce
    /// taken once (on every node), failed attempts counted in their window.
    @Test(arguments: Backend.available)
    func secretsNoncesAndFailuresInTheStore(_ backend: Backend) async throws {
        let opened = try await open(backend)
        defer { Task { await opened.stores.close() } }
        let store = opened.stores.store, other = try await opened.stores.openAnother()
        let credentials = try await opened.bank.issueCredentials()
        #expect(try await opened.bank.authenticate(apiKey: credentials.apiKey))
        let rotated = try await opened.bank.issueCredentials()
        #expect(try await opened.bank.authenticate(apiKey: credentials.apiKey) == false)
        #expect(try await (try await opened.anotherNode()).authenticate(apiKey: rotated.apiKey))
        #expect(try await opened.bank.tokenServiceKey().map(RequestSignature.hex) == rotated.tokenServiceKey)

        let at = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await store.rememberNonce("N1", at: at, forgetBefore: at.addingTimeInterval(-600)))
        #expect(try await other.rememberNonce("N1", at: at, forgetBefore: at.addingTimeInterval(-600)) == false)
        // Forgotten once out of the window.
        #expect(try await other.rememberNonce("N1", at: at.addingTimeInterval(700), forgetBefore: at.addingTimeInterval(100)))

        try await store.recordFailure(subjects: ["card:a", "wallet:w"], at: at)
        try await other.recordFailure(subjects: ["wallet:w"], at: at.addingTimeInterval(60))
        #expect(try await store.failures(subjects: ["card:a", "wallet:w", "card:b"], since: at) == ["card:a": 1, "wallet:w": 2])
        #expect(try await store.failures(subjects: ["card:a", "wallet:w"], since: at.addingTimeInterval(30)) == ["wallet:w": 1])
    }
}
