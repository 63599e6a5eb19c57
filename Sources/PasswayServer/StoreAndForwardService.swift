import Logging
import NetworkSwitch
import TokenService
import ServiceLifecycle

/// The network's bad-day work, beside the listeners: the store-and-forward queue is
/// forwarded and the token service's notifications delivered to issuer hosts (each at
/// once when something is queued, otherwise every poll interval), and
/// authorizations whose process died unanswered are settled, at start and then every
/// `recoveryInterval`, until a graceful shutdown.
struct StoreAndForwardService: Service {
    let pipeline: AuthorizationPipeline
    let notifier: IssuerNotifier
    let recoverAfter: Duration
    let recoveryInterval: Duration
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await cancelWhenGracefulShutdown { await pipeline.forwarder.run() } }
            group.addTask { try? await cancelWhenGracefulShutdown { await notifier.run() } }
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
