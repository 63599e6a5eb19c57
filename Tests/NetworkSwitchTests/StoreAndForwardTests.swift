import EMV
import Foundation
import ISO8583
import Logging
@testable import NetworkSwitch
import Testing
import TokenService

/// Store-and-forward of the reversals the network owes issuers, and recovery of claims a
/// process left unanswered, against the in-memory journal (the stores' own queue
/// contract is in `StoreContractTests`).
@Suite struct StoreAndForwardTests {
    typealias T = AuthorizationPipelineTests
    /// Retries at once, so that a test decides when rounds happen.
    static let eager = RetryPolicy(firstBackoff: .zero, maxBackoff: .zero)

    func open(_ owed: OwedMessage, _ n: T.Network) throws -> Message {
        try ISO8583Codec().unpack(try n.tokens.open(owed.sealed, context: owed.id))
    }

    @Test func aReversalIsRepeatedAs0421UntilTheIssuerAnswers() async throws {
        let n = try T.Network(.silent, forwarding: Self.eager)
        #expect(await n.pipeline.handle(try T.authorization())?.responseCode == .issuerUnavailable)
        let sentBefore = n.links.messages.count
        // Still silent: tried, kept, with the reason.
        #expect(await n.pipeline.forwarder.round() == 0)
        #expect(await n.pipeline.forwarder.round() == 0)
        var owed = try #require(n.journal.owed.first)
        #expect(owed.state == .queued && owed.attempts == 2 && owed.lastError?.contains("did not answer") == true)
        let sent = n.links.messages.dropFirst(sentBefore).map(\.mti)
        #expect(sent == ["0420", "0421"])
        // An issuer that answers 96 could not process it: kept.
        n.links.behaviour.withLock { $0 = .answer(.systemMalfunction) }
        #expect(await n.pipeline.forwarder.round() == 0)
        #expect(n.journal.owed.first?.state == .queued)
        // Answered: delivered, and not sent again.
        n.links.behaviour.withLock { $0 = .answer(.approved) }
        #expect(await n.pipeline.forwarder.round() == 1)
        owed = try #require(n.journal.owed.first)
        #expect(owed.state == .delivered && owed.responseCode == "00" && owed.attempts == 4)
        let count = n.links.messages.count
        #expect(await n.pipeline.forwarder.round() == 0)
        #expect(n.links.messages.count == count)
        let last = try #require(n.links.messages.last)
        #expect(last.mti == "0421" && last.string(2) == T.card)
        #expect(try await n.journal.depths() == [QueueDepth(issuerID: "moskva", kind: .reversal, queued: 0, oldestQueuedAt: nil, expired: 0, delivered: 1)])
    }

    @Test func anIssuerThatDoesNotAnswerIsRetriedAfterABackOff() async throws {
        let n = try T.Network(.silent, forwarding: RetryPolicy(firstBackoff: .seconds(3600)))
        #expect(await n.pipeline.handle(try T.authorization())?.responseCode == .issuerUnavailable)
        #expect(await n.pipeline.forwarder.round() == 0)
        n.links.behaviour.withLock { $0 = .answer(.approved) }
        // Within its back-off the issuer is not tried again.
        #expect(await n.pipeline.forwarder.round() == 0)
        #expect(n.journal.owed.first?.attempts == 1)
    }

    @Test func aReversalIsGivenUpAfterItsRetryLimit() async throws {
        let n = try T.Network(.silent, forwarding: RetryPolicy(maxAttempts: 2, firstBackoff: .zero, maxBackoff: .zero))
        #expect(await n.pipeline.handle(try T.authorization())?.responseCode == .issuerUnavailable)
        for _ in 0..<3 { await n.pipeline.forwarder.round() }
        let owed = try #require(n.journal.owed.first)
        #expect(owed.state == .expired && owed.attempts == 2)
        #expect(n.pipeline.forwarder.totals.expired == 1)
        #expect(try await n.journal.depths().first?.expired == 1)
    }

    @Test func anIssuersQueueGoesInOrder() async throws {
        let n = try T.Network(.silent, forwarding: Self.eager)
        for i in 1...3 { _ = await n.pipeline.handle(try T.authorization(stan: String(format: "%06d", i), atc: UInt16(i))) }
        #expect(n.journal.owed.count == 3)
        n.links.behaviour.withLock { $0 = .answer(.approved) }
        let before = n.links.messages.count
        #expect(await n.pipeline.forwarder.round() == 3)
        let stans = n.links.messages.dropFirst(before).compactMap { $0.string(90).flatMap(OriginalDataElements.init(field90:))?.stan }
        #expect(stans == ["000001", "000002", "000003"])
    }

    /// The acquirer's own 0400 for an authorization answered 91 is answered 00 and reaches
    /// the issuer once, through the queue the timeout filled (the same id).
    @Test func anAcquirersReversalOfA91IsQueuedOnce() async throws {
        let n = try T.Network(.silent, forwarding: Self.eager)
        let original = try T.authorization()
        #expect(await n.pipeline.handle(original)?.responseCode == .issuerUnavailable)
        let reversed = try #require(await n.pipeline.handle(T.reversal(of: original)))
        #expect(reversed.responseCode == .approved && reversed.mti == "0410")
        #expect(n.journal.owed.count == 1)
        n.links.behaviour.withLock { $0 = .answer(.approved) }
        #expect(await n.pipeline.forwarder.round() == 1)
    }

    /// An approved original whose issuer is down when the acquirer reverses it: 00, queued.
    @Test func aReversalTheIssuerCannotTakeNowIsQueued() async throws {
        let n = try T.Network(forwarding: Self.eager)
        let original = try T.authorization()
        #expect(await n.pipeline.handle(original)?.responseCode == .approved)
        n.links.behaviour.withLock { $0 = .silent }
        let reversed = try #require(await n.pipeline.handle(T.reversal(of: original)))
        #expect(reversed.responseCode == .approved)
        let owed = try #require(n.journal.owed.first)
        let queued = try open(owed, n)
        #expect(queued.mti == "0420" && queued.string(2) == T.card && queued.string(90) == T.reversal(of: original).string(90))
        #expect(n.journal.entries.first { $0.mti == "0400" }?.reason.contains("queued") == true)
    }

    /// A process that died after the issuer approved and before it journaled the answer:
    /// the claim is settled by recovery (91, a reversal queued with it); a retransmission
    /// gets 91, not 94; a claim not yet old enough is left alone.
    @Test func recoverySettlesAClaimNobodyAnswered() async throws {
        let n = try T.Network(forwarding: Self.eager)
        n.journal.failCompletes()
        let original = try T.authorization()
        #expect(await n.pipeline.handle(original)?.responseCode == .systemMalfunction)
        n.journal.failCompletes(false)
        #expect(try await n.pipeline.recoverUnanswered(olderThan: .seconds(60)) == 0, "too young")
        #expect(try await n.pipeline.recoverUnanswered(olderThan: .zero) == 1)
        let entry = try #require(n.journal.entries.first)
        #expect(entry.responseCode == .issuerUnavailable && entry.decidedBy == .timeout && entry.amountMinor == 150_000)
        let owed = try #require(n.journal.owed.first)
        #expect(try open(owed, n).string(2) == T.card)
        let again = try #require(await n.pipeline.handle(original))
        #expect(again.responseCode == .issuerUnavailable && again.mti == "0110" && again.string(11) == "000001")
        #expect(try await n.pipeline.recoverUnanswered(olderThan: .zero) == 0, "settled once")
        // The issuer gets the reversal.
        #expect(await n.pipeline.forwarder.round() == 1)
        #expect(n.links.messages.last?.mti == "0420")
    }

    /// An acquirer's reversal whose process died before it answered spent nothing: recovery
    /// forgets its claim, and the acquirer's repeat (0401) reaches the issuer, not a 96.
    @Test func recoveryForgetsAClaimThatSpentNothing() async throws {
        let n = try T.Network(forwarding: Self.eager)
        let original = try T.authorization()
        #expect(await n.pipeline.handle(original)?.responseCode == .approved)
        n.journal.failCompletes()
        #expect(await n.pipeline.handle(T.reversal(of: original))?.responseCode == .systemMalfunction)
        n.journal.failCompletes(false)
        #expect(try await n.pipeline.recoverUnanswered(olderThan: .zero) == 1)
        #expect(n.journal.owed.isEmpty, "nothing is owed for a claim that spent nothing")
        let sent = n.links.messages.count
        var repeated = T.reversal(of: original)
        repeated.mti = "0401"
        let answer = try #require(await n.pipeline.handle(repeated))
        #expect(answer.responseCode == .approved && answer.mti == "0410")
        #expect(n.links.messages.count == sent + 1 && n.links.messages.last?.mti == "0400", "worked out anew: the issuer gets it")
    }
}
