import CoreMetrics
import Synchronization

/// What the network counts as it works, through swift-metrics: the platform hands it the
/// factory its `/metrics` reads (swift-prometheus); without one, nothing is kept.
///
/// - `passway_authorizations_total{mti, rc, issuer, acquirer, decided_by}`: every answered
///   0100 and 0200 (`decided_by`: issuer, network, stand-in, or duplicate for one answered
///   with its original's answer);
/// - `passway_reversals_total{mti, rc}`: 0400 and 0420;
/// - `passway_authorization_duration_seconds{mti}`: from the decoded request to its answer;
/// - `passway_issuer_duration_seconds{issuer}`: the issuer's share, from the request sent
///   to its answer (or the failure: a timeout counts its full wait);
/// - `passway_stand_in_total{issuer, outcome}`: stand-in decisions journaled, approved or
///   declined.
///
/// Label values come from the network's own tables (issuer and acquirer ids, response
/// codes it answered with), so their number stays bounded. Each series is made once and
/// kept: a lookup in a dictionary per event.
public final class NetworkMetrics: Sendable {
    let factory: (any MetricsFactory)?
    /// The last hour, for the console; nil: not kept.
    public let activity: Activity?
    let counters = Mutex<[SeriesKey: Counter]>([:])
    let timers = Mutex<[SeriesKey: Timer]>([:])

    struct SeriesKey: Hashable, Sendable {
        var name: String
        var values: [String]
    }

    /// No metrics: every call returns at once.
    public static let none = NetworkMetrics(factory: nil, activity: nil)

    public init(factory: (any MetricsFactory)?, activity: Activity? = nil) {
        self.factory = factory
        self.activity = activity
    }

    public static let authorizations = "passway_authorizations_total"
    public static let reversals = "passway_reversals_total"
    public static let authorizationDuration = "passway_authorization_duration_seconds"
    public static let issuerDuration = "passway_issuer_duration_seconds"
    public static let standIns = "passway_stand_in_total"

    func authorization(mti: String, rc: String, issuer: String?, acquirer: String?, decidedBy: String) {
        activity?.answered(rc: rc, issuer: issuer, decidedBy: decidedBy)
        count(Self.authorizations, [("mti", mti), ("rc", rc), ("issuer", issuer ?? "none"), ("acquirer", acquirer ?? "none"), ("decided_by", decidedBy)])
    }

    func reversal(mti: String, rc: String) {
        count(Self.reversals, [("mti", mti), ("rc", rc)])
    }

    func standIn(issuer: String, approved: Bool) {
        count(Self.standIns, [("issuer", issuer), ("outcome", approved ? "approved" : "declined")])
    }

    func authorizationTook(_ duration: Duration, mti: String) {
        activity?.took(duration)
        time(Self.authorizationDuration, [("mti", mti)], duration)
    }

    func issuerTook(_ duration: Duration, issuer: String) {
        time(Self.issuerDuration, [("issuer", issuer)], duration)
    }

    func count(_ name: String, _ labels: [(String, String)]) {
        guard let factory else { return }
        Self.series(counters, name, labels) { Counter(label: name, dimensions: labels, factory: factory) }.increment()
    }

    func time(_ name: String, _ labels: [(String, String)], _ duration: Duration) {
        guard let factory else { return }
        let timer = Self.series(timers, name, labels) { Timer(label: name, dimensions: labels, factory: factory) }
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow, seconds >= 0 else { return }
        timer.recordNanoseconds(nanoseconds.partialValue &+ attoseconds / 1_000_000_000)
    }

    /// The series of `name` with these labels' values, made the first time.
    static func series<Metric: Sendable>(_ made: borrowing Mutex<[SeriesKey: Metric]>, _ name: String, _ labels: [(String, String)],
                                         make: () -> Metric) -> Metric {
        let key = SeriesKey(name: name, values: labels.map(\.1))
        return made.withLock { made in
            if let metric = made[key] { return metric }
            let metric = make()
            made[key] = metric
            return metric
        }
    }
}
