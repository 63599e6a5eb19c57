import EMV
import Foundation
import ISO8583
import NetworkSwitch
import Participants
import Testing
import TokenService

/// Stand-in processing: with an issuer's rules, the network decides on its behalf while its
/// host is unavailable, within the rules, and owes the issuer an advice of each approval
/// (queued with the journal entry, before the acquirer hears anything).
@Suite struct StandInTests {
    typealias T = AuthorizationPipelineTests
    static let rules = StandInRules(perTransactionLimitMinor: ["RUB": 200_000], dailyCountPerToken: 2, dailyAmountPerTokenMinor: 350_000,
                                    processingCodes: ["00"], merchantCategoryGroups: ["other", "everyday"])
    static let eager = RetryPolicy(firstBackoff: .zero, maxBackoff: .zero)

    func open(_ owed: OwedMessage, _ n: T.Network) throws -> Message {
        try ISO8583Codec().unpack(try n.tokens.open(owed.sealed, context: owed.id))
    }

    @Test func anIssuerThatDoesNotAnswerIsStoodInForWithinItsRules() async throws {
        let n = try T.Network(.silent, forwarding: Self.eager, standIn: Self.rules)
        let answer = try #require(await n.pipeline.handle(try T.authorization()))
        #expect(answer.responseCode == .approved)
        let approval = try #require(answer.string(38))
        #expect(approval.hasPrefix("S") && approval.count == 6)
        #expect((try? answer.iccData())?.value(.issuerAuthenticationData).map { Array($0.suffix(2)) } == Array("00".utf8), "an ARPC for 00")
        let entry = try #require(n.journal.entries.first)
        #expect(entry.decidedBy == .standIn && entry.approvalCode == approval)
        // An advice is owed, not a reversal: the 0100 as the issuer was sent it, with 38 and 39.
        let owed = try #require(n.journal.owed.first)
        #expect(n.journal.owed.count == 1 && owed.kind == .advice && owed.id == "advice:" + entry.key)
        let advice = try open(owed, n)
        #expect(advice.mti == "0120" && advice.string(2) == T.card && advice.string(38) == approval && advice.string(39) == "00")
        #expect(advice.string(4) == "000000150000")
        // The issuer gets it as 0120, then 0121 until it answers.
        #expect(await n.pipeline.forwarder.round() == 0)
        n.links.behaviour.withLock { $0 = .answer(.approved) }
        #expect(await n.pipeline.forwarder.round() == 1)
        #expect(Array(n.links.messages.suffix(2).map(\.mti)) == ["0120", "0121"])
        #expect(try await n.journal.depths().first { $0.kind == .advice }?.delivered == 1)
    }

    @Test func outsideTheRulesItIsDeclinedAndTheIssuerOwedAReversal() async throws {
        let n = try T.Network(.silent, forwarding: Self.eager, standIn: Self.rules)
        // Over the per-transaction limit (150,000 is within; 250,000 is not).
        let over = try #require(await n.pipeline.handle(try T.authorization(stan: "000001", amount: "000000250000", atc: 1)))
        #expect(over.responseCode == .exceedsAmountLimit && over[38] == nil)
        #expect(n.journal.owed.map(\.kind) == [.reversal], "the issuer may have approved the 0100 it was sent")
        // A currency not in the rules.
        let yen = try #require(await n.pipeline.handle(try T.authorization(stan: "000002", currency: "392", atc: 2)))
        #expect(yen.responseCode == .transactionNotPermittedToCardholder)
        // Cash is not stood in for.
        var cash = try T.authorization(stan: "000003", atc: 3)
        cash.set(3, "010000")
        cash.mti = "0200"
        #expect(await n.pipeline.handle(cash)?.responseCode == .transactionNotPermittedToCardholder)
        // A merchant group not allowed (fuel, 5541).
        var fuel = try T.authorization(stan: "000004", atc: 4)
        fuel.set(18, "5541")
        #expect(await n.pipeline.handle(fuel)?.responseCode == .transactionNotPermittedToCardholder)
        #expect(n.journal.entries.allSatisfy { $0.decidedBy == .standIn })
    }

    /// The card's status as last known: an issuer's answer that stops the card (41 here)
    /// is kept, and the stand-in declines with it while the issuer is away; once the issuer
    /// approves the card again, the stand-in approves within its rules. Kept once, not per
    /// answer.
    @Test func theStandInDeclinesACardTheIssuerLastSaidWasLost() async throws {
        let n = try T.Network(.answer(.lostCard), forwarding: Self.eager, standIn: Self.rules)
        #expect(await n.pipeline.handle(try T.authorization(stan: "000001", atc: 1))?.responseCode == .lostCard)
        #expect(await n.pipeline.handle(try T.authorization(stan: "000002", atc: 2))?.responseCode == .lostCard)
        #expect(n.tokens.statusWrites.load(ordering: .relaxed) == 1, "written when it changes, not per answer")
        n.links.behaviour.withLock { $0 = .down }
        let stood = try #require(await n.pipeline.handle(try T.authorization(stan: "000003", atc: 3)))
        #expect(stood.responseCode == .lostCard && stood[38] == nil)
        let entry = try #require(n.journal.entries.first { $0.key.contains("/000003/") })
        #expect(entry.decidedBy == .standIn && entry.reason.contains("last answer for the card was 41"))
        // The issuer approves the card again: forgotten, and the stand-in approves.
        n.links.behaviour.withLock { $0 = .answer(.approved) }
        #expect(await n.pipeline.handle(try T.authorization(stan: "000004", atc: 4))?.responseCode == .approved)
        n.links.behaviour.withLock { $0 = .down }
        #expect(await n.pipeline.handle(try T.authorization(stan: "000005", atc: 5))?.responseCode == .approved)
        #expect(n.tokens.statusWrites.load(ordering: .relaxed) == 2)
        #expect(n.pipeline.standInCounts.map { [$0.approved, $0.declined] } == [[1, 1]], "this node's stand-in decisions, counted")
    }

    @Test func aTokensDailyStandInAllowanceIsCountedDurably() async throws {
        let n = try T.Network(.down, forwarding: Self.eager, standIn: Self.rules)
        #expect(await n.pipeline.handle(try T.authorization(stan: "000001", amount: "000000150000", atc: 1))?.responseCode == .approved)
        // 150,000 + 150,000 is within 350,000; a third is over the count of two.
        #expect(await n.pipeline.handle(try T.authorization(stan: "000002", amount: "000000150000", atc: 2))?.responseCode == .approved)
        #expect(await n.pipeline.handle(try T.authorization(stan: "000003", amount: "000000001000", atc: 3))?.responseCode == .exceedsFrequencyLimit)
        // Nothing was sent to the issuer (no connection): declines owe it nothing.
        #expect(n.journal.owed.map(\.kind) == [.advice, .advice])
    }

    @Test func theDailyAmountIsInTheIssuersBillingCurrency() async throws {
        let rules = StandInRules(perTransactionLimitMinor: ["RUB": 500_000], dailyCountPerToken: 10, dailyAmountPerTokenMinor: 250_000,
                                 processingCodes: ["00"], merchantCategoryGroups: ["other"])
        let n = try T.Network(.down, forwarding: Self.eager, standIn: rules)
        #expect(await n.pipeline.handle(try T.authorization(stan: "000001", amount: "000000200000", atc: 1))?.responseCode == .approved)
        #expect(await n.pipeline.handle(try T.authorization(stan: "000002", amount: "000000100000", atc: 2))?.responseCode == .exceedsAmountLimit)
        #expect(await n.pipeline.handle(try T.authorization(stan: "000003", amount: "000000050000", atc: 3))?.responseCode == .approved)
    }

    /// The acquirer's reversal of a stand-in approval reaches the issuer after the advice,
    /// through the same queue, in order.
    @Test func aReversalOfAStandInApprovalFollowsItsAdvice() async throws {
        let n = try T.Network(.silent, forwarding: Self.eager, standIn: Self.rules)
        let original = try T.authorization()
        #expect(await n.pipeline.handle(original)?.responseCode == .approved)
        n.links.behaviour.withLock { $0 = .answer(.approved) }
        #expect(await n.pipeline.handle(T.reversal(of: original))?.responseCode == .approved)
        #expect(n.journal.owed.map(\.kind) == [.advice, .reversal])
        let before = n.links.messages.count
        #expect(await n.pipeline.forwarder.round() == 2)
        #expect(n.links.messages.dropFirst(before).map(\.mti) == ["0120", "0420"])
    }

    @Test func rulesAreValidated() throws {
        var bad = Self.rules
        bad.processingCodes = ["30"]
        #expect(throws: ServiceError.self) { try bad.validated() }
        bad = Self.rules
        bad.merchantCategoryGroups = ["casinos"]
        #expect(throws: ServiceError.self) { try bad.validated() }
        bad = Self.rules
        bad.perTransactionLimitMinor = ["rub": 1]
        #expect(throws: ServiceError.self) { try bad.validated() }
        bad = Self.rules
        bad.dailyAmountPerTokenMinor = -1
        #expect(throws: ServiceError.self) { try bad.validated() }
        #expect(MerchantCategoryGroup.of("5411") == .everyday && MerchantCategoryGroup.of("5541") == .fuel && MerchantCategoryGroup.of("3005") == .travel)
        #expect(MerchantCategoryGroup.of("5732") == .retail && MerchantCategoryGroup.of("6011") == .cash && MerchantCategoryGroup.of(nil) == .other)
        #expect(MerchantCategoryGroup.of("abcd") == .other)
    }
}
