import IssuerHost
import Logging
import ServiceLifecycle

/// Releases, for every bank of the host, the holds of goods and services that nothing
/// cleared or reversed within their lifetime (cash is final): at start, then every tenth
/// of the lifetime (at least every second, at most every hour), until shutdown.
struct HoldExpiry: Service {
    let registry: BankRegistry
    let lifetime: Duration
    let logger: Logger

    var interval: Duration { min(.seconds(3600), max(.seconds(1), lifetime / 10)) }

    /// Sweeps until a graceful shutdown (or cancellation), which also ends the wait
    /// between two sweeps at once.
    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await sweep()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    func sweep() async {
        do {
            for bank in try await registry.banks() {
                let expired = try await bank.expireHolds(lifetime: lifetime)
                if !expired.isEmpty {
                    logger.info("holds expired: released", metadata: ["bank": "\(bank.id)", "holds": "\(expired.count)", "lifetime": "\(lifetime)"])
                }
            }
        } catch {
            logger.error("hold expiry failed: tried again later", metadata: ["error": "\(error)"])
        }
    }
}
