import Foundation
import Logging
import Participants
import Synchronization

/// Runs markets' sweeps (`TokenService.runMarketSweep`) on this node: one task per market
/// at a time, started when a change of state is made here (`start`) and, for sweeps that
/// another node started or that a crash cut short, by `run`'s look at the markets every
/// `pollInterval`. On PostgreSQL a lease per market lets one node at a time sweep it; a
/// node that dies mid-sweep leaves it to another once the lease (60 s) runs out.
public final class MarketSweeper: Sendable {
    let service: TokenService
    let logger: Logger
    let pollInterval: Duration
    /// This process, in the leases.
    public let node = "markets/" + UUID().uuidString.lowercased()
    /// Per market: the task sweeping it, and how many times it was asked to (a task that
    /// ends checks that nobody asked again meanwhile).
    let runs = Mutex<[String: (task: Task<Void, Never>, asked: Int)]>([:])
    /// Set at a graceful shutdown: each sweep stops after the page it is on. (Not task
    /// cancellation, which the stores answer by abandoning the page's writes.)
    let stopping = Atomic<Bool>(false)

    public init(service: TokenService, pollInterval: Duration = .seconds(2), logger: Logger) {
        self.service = service; self.pollInterval = pollInterval; self.logger = logger
    }

    /// Sweeps the market's running sweep, if any, on a task of its own; a task already
    /// sweeping the market carries on, and looks again before it ends.
    @discardableResult
    public func start(_ country: String) -> Task<Void, Never> {
        runs.withLock { runs in
            if let run = runs[country] {
                runs[country] = (run.task, run.asked + 1)
                return run.task
            }
            let task = Task { await self.work(country) }
            runs[country] = (task, 1)
            return task
        }
    }

    /// Starts the market's sweep and waits for it for up to `limit`.
    public func finish(_ country: String, within limit: Duration) async {
        let task = start(country)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await task.value }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    func work(_ country: String) async {
        while true {
            let asked = runs.withLock { $0[country]?.asked ?? 0 }
            do {
                if let sweep = try await service.runMarketSweep(country: country, node: node, stop: { self.stopping.load(ordering: .relaxed) }),
                   let finished = sweep.finishedAt {
                    logger.notice("market sweep finished", metadata: [
                        "country": "\(country)", "sweep": "\(sweep.id)", "kind": "\(sweep.kind.rawValue)", "tokens": "\(sweep.tokens)",
                        "seconds": "\(String(format: "%.1f", finished.timeIntervalSince(sweep.startedAt)))"])
                }
            } catch {
                logger.error("market sweep interrupted: tried again later", metadata: ["country": "\(country)", "error": "\(error)"])
            }
            let done = runs.withLock { runs -> Bool in
                guard runs[country]?.asked == asked || stopping.load(ordering: .relaxed) else { return false }
                runs[country] = nil
                return true
            }
            if done { return }
        }
    }

    /// Until cancelled: every `pollInterval`, a task for each market with a running sweep
    /// that none here is sweeping. Cancelled (a graceful shutdown), it stops the sweeps
    /// running here and waits for them: each stops after the page it is on, saved, and lets
    /// its market's lease go.
    public func run() async {
        while !Task.isCancelled {
            do {
                for market in try await service.participants.markets() where market.sweep?.isRunning == true {
                    if runs.withLock({ $0[market.country] == nil }) { start(market.country) }
                }
            } catch {
                logger.error("markets unreadable: their sweeps wait", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: pollInterval)
        }
        stopping.store(true, ordering: .relaxed)
        for task in runs.withLock({ $0.values.map(\.task) }) { await task.value }
    }
}
