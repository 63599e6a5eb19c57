import Clearing
import Logging
import NetworkSwitch
import TokenService
import ServiceLifecycle

/// The network's background work, beside the listeners: the store-and-forward queue is
/// forwarded and the token service's notifications delivered to issuer hosts (each at
/// once when something is queued, otherwise every poll interval); authorizations whose
/// process died unanswered are settled, at start and then every `recoveryInterval`; and
/// every 30 seconds ATM withdrawals are cleared and settlement windows past their cut-off
/// closed; until a graceful shutdown.
struct StoreAndForwardService: Service {
    let pipeline: AuthorizationPipeline
    let notifier: IssuerNotifier
    let sweeper: MarketSweeper
    let clearing: ClearingService
    let recoverAfter: Duration
    let recoveryInterval: Duration
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await cancelWhenGracefulShutdown { await pipeline.forwarder.run() } }
            group.addTask { try? await cancelWhenGracefulShutdown { await notifier.run() } }
            group.addTask { try? await cancelWhenGracefulShutdown { await sweeper.run() } }
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    do {
                        try await clearing.clearSingleMessages()
                        try await clearing.closeDueWindows()
                    } catch {
                        logger.error("single-message clearing failed: tried again later", metadata: ["error": "\(error)"])
                    }
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(30)) }
                }
            }
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    await recover()
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: recoveryInterval) }
                }
            }
        }
    }

    func recover() async {
        do {
            // Batches of 1,000 until none is left.
            while try await pipeline.recoverUnanswered(olderThan: recoverAfter) > 0 {}
        } catch {
            logger.error("recovery of unanswered authorizations failed: tried again later", metadata: ["error": "\(error)"])
        }
    }
}
