import Foundation
import Logging
import Synchronization

/// How a durable outbox is retried: the store-and-forward queue of messages owed to issuers
/// (`Forwarder`) and the token notifications to issuer hosts (`IssuerNotifier`).
public struct RetryPolicy: Sendable {
    /// Sends of one message before it is given up.
    public var maxAttempts: Int
    /// How long after it was queued a message is given up.
    public var lifetime: Duration
    /// The wait after the first failed attempt at an issuer, doubling to `maxBackoff`.
    public var firstBackoff: Duration
    public var maxBackoff: Duration
    /// How often queues are looked at when nothing new was queued here.
    public var pollInterval: Duration
    /// How long one node keeps the right to work an issuer's queue without renewing it.
    public var lease: Duration

    public init(maxAttempts: Int = 5_000, lifetime: Duration = .seconds(7 * 86_400), firstBackoff: Duration = .seconds(1),
                maxBackoff: Duration = .seconds(60), pollInterval: Duration = .seconds(1), lease: Duration = .seconds(30)) {
        self.maxAttempts = maxAttempts; self.lifetime = lifetime; self.firstBackoff = firstBackoff; self.maxBackoff = maxBackoff
        self.pollInterval = pollInterval; self.lease = lease
    }

    public static let standard = RetryPolicy()

    /// One pass over an issuer's queue under its lease: `lease(until, now)` takes or renews
    /// it (false while another node holds it); `work` runs while it is held, and the lease
    /// is then let go (held until now), so that the next pass, here or on another node,
    /// need not wait for it to lapse. Returns what `work` returns (0 without the lease).
    public func underLease(_ issuerID: String, now: () -> Date, logger: Logger, _ what: String,
                           lease: (_ until: Date, _ now: Date) async throws -> Bool, work: () async -> Int) async -> Int {
        do {
            let at = now()
            guard try await lease(at.addingTimeInterval(self.lease.seconds), at) else { return 0 }
        } catch {
            logger.error("\(what): lease unavailable", metadata: ["issuer": "\(issuerID)", "error": "\(error)"])
            return 0
        }
        let done = await work()
        let at = now()
        _ = try? await lease(at, at)
        return done
    }

    /// Renews a lease taken by `underLease` between batches.
    public func renew(now: () -> Date, lease: (_ until: Date, _ now: Date) async throws -> Bool) async throws -> Bool {
        let at = now()
        return try await lease(at.addingTimeInterval(self.lease.seconds), at)
    }
}

/// Per destination (an issuer): failed attempts in a row and when to try again, the wait
/// doubling from the policy's first back-off to its longest. In this process's memory: a
/// restart tries every destination at once.
public final class Backoff: Sendable {
    let policy: RetryPolicy
    let state = Mutex<[String: (failures: Int, retryAt: ContinuousClock.Instant)]>([:])

    public init(policy: RetryPolicy) { self.policy = policy }

    /// True while `key` is waiting out a back-off.
    public func isWaiting(_ key: String) -> Bool {
        guard let retryAt = state.withLock({ $0[key]?.retryAt }) else { return false }
        return ContinuousClock.now < retryAt
    }

    public func succeeded(_ key: String) { state.withLock { _ = $0.removeValue(forKey: key) } }

    /// One more failure at `key`: how long it now waits.
    public func failed(_ key: String) -> Duration {
        state.withLock { b -> Duration in
            let failures = (b[key]?.failures ?? 0) + 1
            var wait = policy.firstBackoff
            for _ in 1..<min(failures, 20) where wait < policy.maxBackoff { wait = wait * 2 }
            wait = min(wait, policy.maxBackoff)
            b[key] = (failures, ContinuousClock.now + wait)
            return wait
        }
    }
}

/// A signal one task waits for, with a time limit: a signal given while nobody waits is
/// kept for the next wait. Cancelling the waiting task ends its wait.
public final class Wakeup: Sendable {
    let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    public func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter else { s.pending = true; return nil }
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    public func wait(upTo limit: Duration) async {
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            self?.signal()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.pending || Task.isCancelled { s.pending = false; return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            signal()
        }
        timer.cancel()
    }
}

extension Duration {
    /// In seconds, as a `TimeInterval`.
    public var seconds: TimeInterval {
        let (s, attoseconds) = components
        return TimeInterval(s) + TimeInterval(attoseconds) / 1e18
    }
}
