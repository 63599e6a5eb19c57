import Foundation
import IssuerContract
import Logging
import Participants
import Synchronization
import Testing
import TestSupport
@testable import TokenService
import Vault

/// The token service's outbox of token notifications: written with each change, delivered
/// to the issuer's host in order, repeated while the host fails, kept across a restart,
/// worked by one node at a time, and given up with an alarm at its limit. On SQLite and
/// PostgreSQL.
@Suite struct IssuerNoticesTests {
    /// Tries again at once, so that a test decides when rounds happen.
    static let eager = RetryPolicy(firstBackoff: .zero, maxBackoff: .zero)

    /// An issuer host that fails the next `failures` notifications, then takes them; it
    /// records every one it took.
    final class Host: IssuerHostClient {
        let state = Mutex<(failures: Int, received: [TokenNotification])>((0, []))
        init(failures: Int) { state.withLock { $0.failures = failures } }
        var received: [TokenNotification] { state.withLock { $0.received } }
        func fail(_ n: Int) { state.withLock { $0.failures = n } }

        func authorize(_ request: IDVRequest, at host: IssuerHostEndpoint) async throws -> IDVDecision { IDVDecision(decision: .green) }
        func deliverActivationCode(_ delivery: ActivationCodeDelivery, at host: IssuerHostEndpoint) async throws {}
        func notifyTokenUpdated(_ n: TokenNotification, at host: IssuerHostEndpoint) async throws {
            try state.withLock { s in
                if s.failures > 0 {
                    s.failures -= 1
                    throw ServiceError.issuerUnavailable("host down (test)")
                }
                s.received.append(n)
            }
        }
    }

    static let logger = Logger(label: "test.notices")
    static let issuer = Participant.issuer(ServiceRooms.issuerID)

    @Test(arguments: Backend.available)
    func noticesAreRepeatedUntilTheHostTakesThemInOrder(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let host = Host(failures: 2)
        let rooms = try await ServiceRooms.open(s.store, master: MasterKey.generate(), issuerHost: host, noticePolicy: Self.eager)
        guard case .approved(let token, _) = try await rooms.enroll(cardNumber("220070", seed: 41)).outcome else {
            Issue.record("not approved"); return
        }
        _ = try await rooms.tokens.change(tokenID: token.id, action: .suspend, by: Self.issuer, reason: "fraud check")
        _ = try await rooms.tokens.change(tokenID: token.id, action: .resume, by: Self.issuer, reason: nil)
        let notifier = IssuerNotifier(service: rooms.tokens, logger: Self.logger)
        #expect(await notifier.round() == 0, "the host fails: nothing delivered, the rest waits behind the first")
        #expect(await notifier.round() == 0)
        let depth = try #require(try await rooms.tokens.noticeDepths().first)
        #expect(depth.queued == 3 && depth.delivered == 0)
        #expect(abs((depth.oldestQueuedAt ?? .distantPast).timeIntervalSince(token.createdAt)) < 0.001, "the oldest is the creation's")
        #expect(await notifier.round() == 3)
        #expect(host.received.map(\.event) == [.created, .suspended, .resumed], "in the order the changes were made")
        #expect(host.received.map(\.status) == [.active, .suspended, .active])
        #expect(host.received.allSatisfy { $0.tokenID == token.id && $0.maskedToken == token.maskedNumber && $0.maskedPAN.hasPrefix("220070") })
        #expect(host.received[1].reason == "fraud check")
        let first = try #require(try await s.store.notice(id: host.received[0].id))
        #expect(first.attempts == 3 && first.state == .delivered && first.lastError == nil)
        #expect(await notifier.round() == 0, "delivered once")
        #expect(notifier.totals.delivered == 3 && notifier.totals.attempts == 5)
        // A change that does not change the token's state tells the issuer nothing.
        _ = try await rooms.tokens.change(tokenID: token.id, action: .suspend, by: .wallet(ServiceRooms.walletID), reason: nil)
        _ = try await rooms.tokens.change(tokenID: token.id, action: .suspend, by: Self.issuer, reason: nil)
        #expect(await notifier.round() == 1)
        #expect(host.received.count == 4)
    }

    /// Written by one process whose host never answered, delivered by the next (or by
    /// another node): the outbox is in the database. Two nodes working at once deliver each
    /// notice once (one lease per issuer).
    @Test(arguments: Backend.available)
    func noticesOutliveTheProcessThatWroteThem(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let master = MasterKey.generate()
        let down = Host(failures: .max)
        let before = try await ServiceRooms.open(s.store, master: master, issuerHost: down, noticePolicy: Self.eager)
        var tokens: [Token] = []
        for seed in 50..<53 {
            guard case .approved(let token, _) = try await before.enroll(cardNumber("220070", seed: seed)).outcome else { Issue.record("not approved"); return }
            tokens.append(token)
        }
        #expect(await IssuerNotifier(service: before.tokens, logger: Self.logger).round() == 0)

        let up = Host(failures: 0)
        let a = try await ServiceRooms.open(try await s.openAnother(), master: master, issuerHost: up, noticePolicy: Self.eager, onboard: false)
        let b = try await ServiceRooms.open(try await s.openAnother(), master: master, issuerHost: up, noticePolicy: Self.eager, onboard: false)
        let (na, nb) = (IssuerNotifier(service: a.tokens, logger: Self.logger), IssuerNotifier(service: b.tokens, logger: Self.logger))
        async let ra = na.round()
        async let rb = nb.round()
        let delivered = await ra + rb
        #expect(delivered == 3)
        #expect(up.received.map(\.tokenID) == tokens.map(\.id), "each once, in order")
        #expect(Set(up.received.map(\.id)).count == 3)
    }

    /// A host that never takes a notice: given up (expired, an alarm) after the retry
    /// limit, and the next notice is tried.
    @Test(arguments: Backend.available)
    func aNoticeIsGivenUpAtItsLimit(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let host = Host(failures: 2)
        let rooms = try await ServiceRooms.open(s.store, master: MasterKey.generate(), issuerHost: host,
                                                noticePolicy: RetryPolicy(maxAttempts: 2, firstBackoff: .zero, maxBackoff: .zero))
        guard case .approved(let token, _) = try await rooms.enroll(cardNumber("220070", seed: 60)).outcome else { Issue.record("not approved"); return }
        _ = try await rooms.tokens.change(tokenID: token.id, action: .delete, by: Self.issuer, reason: nil)
        let notifier = IssuerNotifier(service: rooms.tokens, logger: Self.logger)
        #expect(await notifier.round() == 0)
        #expect(await notifier.round() == 0)
        #expect(await notifier.round() == 1, "the first given up after 2 sends, the second delivered")
        #expect(host.received.map(\.event) == [.deleted])
        #expect(try await rooms.tokens.noticeDepths() == [NoticeDepth(issuerID: "bank", queued: 0, oldestQueuedAt: nil, expired: 1, delivered: 1)])
        #expect(notifier.totals.expired == 1)
    }

    /// Delivered notices are deleted once older than the retention (at most once an hour
    /// per node); a notice still queued stays whatever its age.
    @Test(arguments: Backend.available)
    func deliveredNoticesArePurgedAfterTheirRetention(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let host = Host(failures: 0)
        let rooms = try await ServiceRooms.open(s.store, master: MasterKey.generate(), issuerHost: host, noticePolicy: Self.eager)
        guard case .approved(let token, _) = try await rooms.enroll(cardNumber("220070", seed: 70)).outcome else { Issue.record("not approved"); return }
        _ = try await rooms.tokens.change(tokenID: token.id, action: .suspend, by: Self.issuer, reason: "fraud check")
        _ = try await rooms.tokens.change(tokenID: token.id, action: .resume, by: Self.issuer, reason: nil)
        let keeper = IssuerNotifier(service: rooms.tokens, logger: Self.logger)
        #expect(await keeper.round() == 3)
        host.fail(100)
        _ = try await rooms.tokens.change(tokenID: token.id, action: .delete, by: Self.issuer, reason: nil)
        #expect(await keeper.round() == 0, "the deletion's notice waits")

        // Thirty days: nothing is that old.
        #expect(await keeper.purge() == 0)
        #expect(try await rooms.tokens.noticeDepths().first?.delivered == 3)
        // No retention: the three delivered go, the queued one stays.
        let purger = IssuerNotifier(service: rooms.tokens, retention: .zero, logger: Self.logger)
        #expect(await purger.purge() == 3)
        let left = try await rooms.tokens.noticeDepths()
        #expect(left.map(\.issuerID) == ["bank"] && left.map(\.queued) == [1] && left.map(\.delivered) == [0] && left.map(\.expired) == [0])
        host.fail(0)
        #expect(await purger.round() == 1)
        #expect(await purger.purge() == 0, "not again within the hour")
        #expect(await purger.purge(force: true) == 1)
        #expect(try await rooms.tokens.noticeDepths().isEmpty)
        #expect(host.received.map(\.event) == [.created, .suspended, .resumed, .deleted])
    }

    /// A host that takes batches: each call recorded; it can be told to take only the first
    /// `k` of the next call and fail the rest.
    final class BatchHost: IssuerHostClient {
        let state = Mutex<(calls: [[String]], takeOnly: Int?)>(([], nil))
        func authorize(_ request: IDVRequest, at host: IssuerHostEndpoint) async throws -> IDVDecision { IDVDecision(decision: .green) }
        func deliverActivationCode(_ delivery: ActivationCodeDelivery, at host: IssuerHostEndpoint) async throws {}
        func notifyTokenUpdated(_ n: TokenNotification, at host: IssuerHostEndpoint) async throws { Issue.record("sent one at a time") }
        func notifyTokensUpdated(_ notifications: [TokenNotification], at host: IssuerHostEndpoint) async -> NotificationOutcome {
            state.withLock { s in
                s.calls.append(notifications.map(\.id))
                defer { s.takeOnly = nil }
                guard let k = s.takeOnly else { return NotificationOutcome(taken: notifications.count, failure: nil) }
                return NotificationOutcome(taken: k, failure: ServiceError.issuerUnavailable("host stopped short (test)"))
            }
        }
    }

    /// Notices go in one call per batch; when the host stops short, those it took are
    /// delivered, the one it refused is counted and waits, and the rest wait untouched.
    @Test(arguments: Backend.available)
    func noticesGoInBatchesAndAHostThatStopsShortKeepsTheRestInOrder(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let host = BatchHost()
        let rooms = try await ServiceRooms.open(s.store, master: MasterKey.generate(), issuerHost: host, noticePolicy: Self.eager)
        guard case .approved(let token, _) = try await rooms.enroll(cardNumber("220070", seed: 80)).outcome else { Issue.record("not approved"); return }
        let notifier = IssuerNotifier(service: rooms.tokens, logger: Self.logger)
        #expect(await notifier.round() == 1)
        for action in [TokenService.LifecycleAction.suspend, .resume, .suspend] {
            _ = try await rooms.tokens.change(tokenID: token.id, action: action, by: Self.issuer, reason: action == .suspend ? "check" : nil)
        }
        host.state.withLock { $0.takeOnly = 1 }
        #expect(await notifier.round() == 1, "the first taken")
        let waiting = try await rooms.store.queuedNotices(issuerID: "bank", limit: 10)
        #expect(waiting.map(\.attempts) == [1, 0], "the refused one counted, the one behind it not sent")
        #expect(waiting.first?.lastError?.contains("stopped short") == true)
        #expect(await notifier.round() == 2)
        let calls = host.state.withLock { $0.calls }
        #expect(calls.map(\.count) == [1, 3, 2], "one call per batch")
        #expect(calls[2] == Array(calls[1].dropFirst()), "the rest again, in order")
        #expect(try await rooms.tokens.noticeDepths().first?.delivered == 4)
        #expect(notifier.totals.attempts == 5 && notifier.totals.delivered == 4)
    }
}
