import Clearing
import CoreMetrics
import Foundation
import ISO8583Transport
import Logging
import NetworkSwitch
import Prometheus
import Synchronization
import TokenService

/// The platform's metrics at `/metrics`, in the Prometheus text format: one registry per
/// platform (swift-prometheus), filled through swift-metrics by the network as it works
/// (`NetworkMetrics`) and by the API (enrollments, clearing files), and, at each scrape,
/// with gauges read from where the state lives (queues, links, tokens, windows).
///
/// Every metric is named here, with one set of label names each, so that the registry
/// never meets a name used two ways (it would stop the process).
final class PlatformMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let network: NetworkMetrics
    /// Gauge series set at the last scrape, so that one gone since is set to 0.
    let lastGauges = Mutex<Set<GaugeKey>>([])

    struct GaugeKey: Hashable, Sendable {
        var name: String
        var labels: [String]
        var values: [String]
    }

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Authorizations take milliseconds: finer buckets than the default's 5 ms to 10 s.
        let fine: [Duration] = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
                                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
                                .seconds(5), .seconds(10)]
        factory.durationHistogramBuckets = [NetworkMetrics.authorizationDuration: fine, NetworkMetrics.issuerDuration: fine]
        self.factory = factory
        network = NetworkMetrics(factory: factory, activity: Activity())
    }

    static let enrollments = "passway_enrollments_total"
    static let presentments = "passway_presentments_total"
    static let queued = "passway_store_and_forward_queued"
    static let oldest = "passway_store_and_forward_oldest_age_seconds"
    static let linkUp = "passway_issuer_link_up"
    static let linkConnections = "passway_issuer_link_connections"
    static let tokens = "passway_tokens"
    static let windows = "passway_settlement_windows"
    static let positions = "passway_settlement_open_position_minor"

    /// An enrollment's outcome: approved (green), pending_verification (yellow), declined
    /// (red), verified (a code entered), refused (a problem: a market suspended, a card
    /// not eligible).
    func enrollment(_ outcome: String) {
        Counter(label: Self.enrollments, dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// A clearing file's presentments: cleared and rejected.
    func presentments(cleared: Int, rejected: Int) {
        Counter(label: Self.presentments, dimensions: [("outcome", "cleared")], factory: factory).increment(by: max(0, cleared))
        Counter(label: Self.presentments, dimensions: [("outcome", "rejected")], factory: factory).increment(by: max(0, rejected))
    }

    /// The scrape: the gauges read now, then every series in the text format.
    func scrape(owed: any OwedMessageStore, tokens: TokenService, clearing: ClearingService,
                links: [ISO8583Client.LinkState], now: Date = Date()) async throws -> String {
        var gauges: [(GaugeKey, Double)] = []
        func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
            gauges.append((GaugeKey(name: name, labels: labels.map(\.0), values: labels.map(\.1)), value))
        }
        func age(_ date: Date?) -> Double { date.map { max(0, now.timeIntervalSince($0)) } ?? 0 }
        for depth in try await owed.depths() {
            gauge(Self.queued, [("issuer", depth.issuerID), ("kind", depth.kind.rawValue)], Double(depth.queued))
            gauge(Self.oldest, [("issuer", depth.issuerID), ("kind", depth.kind.rawValue)], age(depth.oldestQueuedAt))
        }
        for depth in try await tokens.noticeDepths() {
            gauge(Self.queued, [("issuer", depth.issuerID), ("kind", "notification")], Double(depth.queued))
            gauge(Self.oldest, [("issuer", depth.issuerID), ("kind", "notification")], age(depth.oldestQueuedAt))
        }
        for link in links {
            let endpoint = "\(link.host):\(link.port)"
            gauge(Self.linkUp, [("endpoint", endpoint)], link.connected > 0 ? 1 : 0)
            gauge(Self.linkConnections, [("endpoint", endpoint)], Double(link.connected))
        }
        for count in try await tokens.tokenCounts() {
            gauge(Self.tokens, [("market", count.country), ("status", count.status)], Double(count.count))
        }
        var windows: [[String]: Int] = [:]
        for window in try await clearing.windows(currency: nil) {
            windows[[window.currency, window.state.rawValue], default: 0] += 1
            // Where the money stands before cut-off: each participant's net in the open windows.
            guard window.state == .open else { continue }
            for position in try await clearing.positions(windowID: window.id) {
                gauge(Self.positions, [("currency", window.currency), ("participant", position.participant)], Double(position.amountMinor))
            }
        }
        for (key, count) in windows { gauge(Self.windows, [("currency", key[0]), ("state", key[1])], Double(count)) }
        let now = Set(gauges.map(\.0))
        let gone = lastGauges.withLock { last in
            defer { last = now }
            return last.subtracting(now)
        }
        for key in gone { gauges.append((key, 0)) }
        for (key, value) in gauges {
            Gauge(label: key.name, dimensions: Array(zip(key.labels, key.values)), factory: factory).record(value)
        }
        return registry.emitToString()
    }
}
