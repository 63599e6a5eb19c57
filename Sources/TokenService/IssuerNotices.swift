import Foundation
import IssuerContract
import Logging
import Participants
import Synchronization
import Vault

/// A token notification in the token service's outbox: written in the same transaction as
/// the token change it tells of, then delivered to the issuer's host by `IssuerNotifier`
/// (at least once, in the order written, repeated until the host answers).
public struct IssuerNotice: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Waiting for the issuer host to take it.
        case queued
        /// The host answered 2xx.
        case delivered
        /// Given up (retry limit or lifetime reached): an alarm was raised.
        case expired
    }
    public var issuerID: String
    /// What the host receives; its `id` is the notice's.
    public var notification: TokenNotification
    public var state: State
    /// Times sent.
    public var attempts: Int
    public var queuedAt: Date
    public var expiresAt: Date
    public var lastAttemptAt: Date?
    public var lastError: String?
    public var deliveredAt: Date?

    public var id: String { notification.id }

    public init(issuerID: String, notification: TokenNotification, queuedAt: Date, expiresAt: Date) {
        self.issuerID = issuerID; self.notification = notification
        state = .queued; attempts = 0; self.queuedAt = queuedAt; self.expiresAt = expiresAt
    }
}

/// How many notices wait for one issuer, and for how long.
public struct NoticeDepth: Codable, Sendable, Equatable {
    public var issuerID: String
    public var queued: Int
    public var oldestQueuedAt: Date?
    public var expired: Int
    public var delivered: Int

    public init(issuerID: String, queued: Int, oldestQueuedAt: Date?, expired: Int, delivered: Int) {
        self.issuerID = issuerID; self.queued = queued; self.oldestQueuedAt = oldestQueuedAt; self.expired = expired; self.delivered = delivered
    }
}

/// How many tokens one market has in one status.
public struct TokenCount: Codable, Sendable, Equatable {
    public var country: String
    public var status: String
    public var count: Int

    public init(country: String, status: String, count: Int) { self.country = country; self.status = status; self.count = count }
}

extension TokenService {
    /// The outbox per issuer, for the operator.
    public func noticeDepths() async throws -> [NoticeDepth] { try await store.noticeDepths() }
    /// Tokens per market and status, for the operator's metrics.
    public func tokenCounts() async throws -> [TokenCount] { try await store.tokenCounts() }

    /// The notice of `event` for `token` (its state as it is to be stored), to be written with the change.
    func notice(_ token: Token, _ event: TokenNotification.Event, maskedPAN: String, at: Date) -> IssuerNotice {
        IssuerNotice(issuerID: token.issuerID,
                     notification: TokenNotification(id: "ntf_" + SecureRandom.alphanumeric(24), tokenID: token.id, maskedToken: token.maskedNumber,
                                                     maskedPAN: maskedPAN, event: event, status: token.status, reason: token.suspensionReason),
                     queuedAt: at, expiresAt: at.addingTimeInterval(noticePolicy.lifetime.seconds))
    }

    /// The notices of the changes that change a token's state (a suspension added to a
    /// suspended token is not one), each with its card's masked number.
    func notices(_ changes: [TokenChange], _ event: TokenNotification.Event, at: Date) async throws -> [IssuerNotice] {
        var maskedPANs: [String: String] = [:]
        var notices: [IssuerNotice] = []
        for change in changes where change.before.status != change.after.status {
            let token = change.after
            if maskedPANs[token.cardID] == nil { maskedPANs[token.cardID] = try await store.card(id: token.cardID)?.maskedPAN ?? "" }
            notices.append(notice(token, event, maskedPAN: maskedPANs[token.cardID] ?? "", at: at))
        }
        return notices
    }
}

/// Delivers the token service's outbox to the issuers' hosts (`POST …/tokens/notify-batch`,
/// up to 64 at a time, or `…/tokens/notify` one at a time to a host without batches;
/// signed): each issuer's notices in the order written; a host that does
/// not answer 2xx is tried again after a back-off (1 s doubling to 60 s), and a notice is
/// given up with an alarm after `maxAttempts` sends or its `lifetime` (7 days). Runs on
/// every node; on PostgreSQL a lease per issuer lets one node at a time work its queue.
public final class IssuerNotifier: Sendable {
    let service: TokenService
    let logger: Logger
    /// This process, in the leases.
    public let node = "notices/" + UUID().uuidString.lowercased()
    let backoff: Backoff
    let counters = Mutex<(delivered: Int, expired: Int, attempts: Int)>((0, 0, 0))
    /// How long a delivered notice is kept, from when it was queued (30 days by default).
    public let retention: Duration
    /// When this node last purged delivered notices (at most once an hour).
    let lastPurge = Mutex<Date?>(nil)

    public static let defaultRetention: Duration = .seconds(30 * 86_400)

    public init(service: TokenService, retention: Duration = IssuerNotifier.defaultRetention, logger: Logger) {
        self.service = service; self.logger = logger; self.retention = retention
        backoff = Backoff(policy: service.noticePolicy)
    }

    var policy: RetryPolicy { service.noticePolicy }
    var store: any TokenStore { service.store }

    /// Delivers until cancelled: at once when a notice is written through this process,
    /// otherwise every poll interval.
    public func run() async {
        while !Task.isCancelled {
            await round()
            await purge()
            await service.noticeWritten.wait(upTo: policy.pollInterval)
        }
    }

    /// Deletes the delivered notices queued more than `retention` ago, a thousand per
    /// transaction so that writers wait little; at most once an hour unless `now` is
    /// forced. Queued notices and given-up ones (the alarms) stay. Returns how many went.
    @discardableResult
    public func purge(force: Bool = false) async -> Int {
        let now = service.now()
        let due = lastPurge.withLock { last -> Bool in
            if !force, let last, now.timeIntervalSince(last) < 3_600 { return false }
            last = now
            return true
        }
        guard due else { return 0 }
        var purged = 0
        do {
            while !Task.isCancelled {
                let gone = try await store.purgeNotices(deliveredBefore: now.addingTimeInterval(-retention.seconds), limit: 1_000)
                purged += gone
                if gone < 1_000 { break }
            }
        } catch {
            logger.error("issuer notices: purge failed, tried again in an hour", metadata: ["error": "\(error)"])
        }
        if purged > 0 {
            logger.notice("issuer notices purged", metadata: ["notices": "\(purged)", "days": "\(Int(retention.seconds / 86_400))"])
        }
        return purged
    }

    /// One pass over every issuer with queued notices that is not backing off. Returns the
    /// number delivered.
    @discardableResult
    public func round() async -> Int {
        let issuers: [String]
        do { issuers = try await store.issuersNoticed() } catch {
            logger.error("issuer notices unreadable", metadata: ["error": "\(error)"])
            return 0
        }
        var delivered = 0
        for issuerID in issuers where !Task.isCancelled && !backoff.isWaiting(issuerID) {
            delivered += await deliver(issuerID: issuerID)
        }
        return delivered
    }

    /// The issuer's lease on its notices, for this node.
    func lease(_ issuerID: String) -> (Date, Date) async throws -> Bool {
        { [store, node] until, now in try await store.leaseNotices(issuerID: issuerID, node: node, until: until, now: now) }
    }

    /// One issuer's notices, in order, until none is left or its host stops taking them;
    /// under the issuer's lease, let go at the end.
    func deliver(issuerID: String) async -> Int {
        await policy.underLease(issuerID, now: service.now, logger: logger, "issuer notices", lease: lease(issuerID)) {
            await deliverLeased(issuerID: issuerID)
        }
    }

    func deliverLeased(issuerID: String) async -> Int {
        var delivered = 0
        // The issuer's host and key, looked up once per pass (at its first send).
        var host: IssuerHostEndpoint?
        do {
            while !Task.isCancelled {
                let batch = try await store.queuedNotices(issuerID: issuerID, limit: TokenNotificationBatch.maxCount)
                if batch.isEmpty { break }
                var live: [IssuerNotice] = []
                for var notice in batch {
                    if notice.attempts >= policy.maxAttempts || service.now() >= notice.expiresAt {
                        notice.state = .expired
                        try await store.updateNotice(notice)
                        counters.withLock { $0.expired += 1 }
                        logger.critical("ALARM issuer notices: a token notification was given up: the issuer's host never took it", metadata: [
                            "id": "\(notice.id)", "issuer": "\(issuerID)", "token": "\(notice.notification.tokenID)",
                            "event": "\(notice.notification.event.rawValue)", "attempts": "\(notice.attempts)", "error": "\(notice.lastError ?? "-")",
                        ])
                        continue
                    }
                    live.append(notice)
                }
                if live.isEmpty { continue }
                // What the host took is recorded a batch at a time: a crash before that means
                // those notices are sent again, which the host keeps once (by id).
                let (taken, stopped) = try await send(live, host: &host)
                try await store.updateNotices(taken)
                delivered += taken.count
                if stopped { return delivered }
                guard try await policy.renew(now: service.now, lease: lease(issuerID)) else { break }
            }
        } catch {
            logger.error("issuer notices: delivery failed", metadata: ["issuer": "\(issuerID)", "error": "\(error)"])
        }
        return delivered
    }

    /// Sends `notices` of one issuer in order (to `host`, looked up when nil): a batch in one
    /// call when the host takes batches. Returns those taken, marked delivered for the caller
    /// to record, and whether one was not taken; that one is recorded here with its error
    /// and the issuer backs off. Only the taken and the one refused count as sent.
    func send(_ notices: [IssuerNotice], host: inout IssuerHostEndpoint?) async throws -> (taken: [IssuerNotice], stopped: Bool) {
        guard let issuerID = notices.first?.issuerID else { return ([], false) }
        let at = service.now()
        let outcome: NotificationOutcome
        do {
            let endpoint: IssuerHostEndpoint
            if let host { endpoint = host } else {
                guard let issuer = try await service.participants.issuer(id: issuerID) else { throw ServiceError.notFound("issuer \(issuerID)") }
                endpoint = try await service.hostEndpoint(issuer)
                host = endpoint
            }
            outcome = await service.issuerHost.notifyTokensUpdated(notices.map(\.notification), at: endpoint)
        } catch {
            outcome = NotificationOutcome(taken: 0, failure: error)
        }
        let count = min(max(outcome.taken, 0), notices.count)
        let deliveredAt = service.now()
        let taken = notices.prefix(count).map { notice in
            var notice = notice
            notice.attempts += 1
            notice.lastAttemptAt = at
            notice.lastError = nil
            notice.state = .delivered
            notice.deliveredAt = deliveredAt
            return notice
        }
        guard let failure = outcome.failure, count < notices.count else {
            counters.withLock { $0.delivered += count; $0.attempts += count }
            backoff.succeeded(issuerID)
            return (taken, false)
        }
        var refused = notices[count]
        refused.attempts += 1
        refused.lastAttemptAt = at
        refused.lastError = "\(failure)"
        counters.withLock { $0.delivered += count; $0.attempts += count + 1 }
        try await store.updateNotice(refused)
        let wait = backoff.failed(issuerID)
        logger.warning("issuer notices: the issuer's host did not take a notification: retrying", metadata: [
            "id": "\(refused.id)", "issuer": "\(issuerID)", "attempts": "\(refused.attempts)", "error": "\(refused.lastError ?? "-")",
            "retryIn": "\(wait)", "takenBefore": "\(count)",
        ])
        return (taken, true)
    }

    /// Since this process started: notices delivered, given up, sends.
    public var totals: (delivered: Int, expired: Int, attempts: Int) { counters.withLock { $0 } }
}
