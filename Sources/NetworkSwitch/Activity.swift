import Foundation
import Synchronization

/// The last hour of this node's authorizations, second by second, for the operator's
/// console: how many, how many approved, which response codes, and how long they took
/// (in buckets a quarter of an octave wide, from 100 µs to 3.3 s). Totals since the
/// process started are counted at the same place as `passway_authorizations_total`, so
/// the two agree.
public final class Activity: Sendable {
    /// Latency buckets: bucket i holds [100 µs × 2^(i/4), 100 µs × 2^((i+1)/4)); the
    /// last one holds everything above.
    public static let latencyBuckets = 61
    static let seconds = 3_600

    struct Second {
        var epoch: Int64 = -1
        var total = 0
        var approved = 0
        var latency = [UInt32](repeating: 0, count: Activity.latencyBuckets)
    }

    struct State {
        var ring = [Second](repeating: Second(), count: Activity.seconds)
        var total = 0
        var approved = 0
        var codes: [String: Int] = [:]
        var issuers: [String: IssuerTally] = [:]
    }

    /// One issuer's authorizations since the process started, and this minute's and the
    /// last minute's count (for its rate).
    public struct IssuerTally: Codable, Sendable, Equatable {
        public var total = 0
        public var approved = 0
        /// Answered 91: the issuer did not answer in time (or its link was down).
        public var timeouts = 0
        public var standIn = 0
        var minute: Int64 = 0
        var thisMinute = 0
        var lastMinute = 0

        public init() {}

        /// Per second over the last whole minute.
        public func perSecond(now: Date) -> Double {
            let current = Int64(now.timeIntervalSince1970.rounded(.down)) / 60
            if minute == current { return Double(lastMinute) / 60 }
            if minute == current - 1 { return Double(thisMinute) / 60 }
            return 0
        }
    }

    /// Per issuer, since the process started.
    public func issuers() -> [String: IssuerTally] { state.withLock { $0.issuers } }

    let state = Mutex(State())
    let clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date = Date.init) { self.clock = clock }

    /// One authorization answered with `rc`, by `decider` for `issuer`.
    func answered(rc: String, issuer: String? = nil, decidedBy decider: String = "") {
        let epoch = Int64(clock().timeIntervalSince1970.rounded(.down))
        let approved = rc == "00"
        state.withLock { s in
            s.total += 1
            if approved { s.approved += 1 }
            s.codes[rc, default: 0] += 1
            if let issuer {
                var tally = s.issuers[issuer] ?? IssuerTally()
                tally.total += 1
                if approved { tally.approved += 1 }
                if rc == "91" { tally.timeouts += 1 }
                if decider == "stand-in" { tally.standIn += 1 }
                let minute = epoch / 60
                if tally.minute != minute {
                    tally.lastMinute = tally.minute == minute - 1 ? tally.thisMinute : 0
                    tally.thisMinute = 0
                    tally.minute = minute
                }
                tally.thisMinute += 1
                s.issuers[issuer] = tally
            }
            Self.slot(&s, epoch) { second in
                second.total += 1
                if approved { second.approved += 1 }
            }
        }
    }

    /// How long one authorization took.
    func took(_ duration: Duration) {
        let epoch = Int64(clock().timeIntervalSince1970.rounded(.down))
        let bucket = Self.bucket(duration)
        state.withLock { s in Self.slot(&s, epoch) { $0.latency[bucket] &+= 1 } }
    }

    static func slot(_ s: inout State, _ epoch: Int64, _ change: (inout Second) -> Void) {
        let index = Int(epoch % Int64(seconds))
        guard index >= 0 else { return }
        if s.ring[index].epoch != epoch { s.ring[index] = Second(epoch: epoch) }
        change(&s.ring[index])
    }

    static func bucket(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let micro = Double(seconds) * 1e6 + Double(attoseconds) / 1e12
        guard micro >= 100 else { return 0 }
        let index = Int((4 * log2(micro / 100)).rounded(.down))
        return min(max(index, 0), latencyBuckets - 1)
    }

    /// The upper bound of a bucket, in milliseconds.
    static func upperMilliseconds(_ bucket: Int) -> Double { 0.1 * pow(2, Double(bucket + 1) / 4) }

    /// What the console shows.
    public struct Snapshot: Codable, Sendable, Equatable {
        /// Since the process started.
        public var total: Int
        public var approved: Int
        /// Response code → authorizations answered with it, since the process started.
        public var codes: [String: Int]
        /// Over the last 10 whole seconds.
        public var perSecond: Double
        /// Approved share of the last 60 whole seconds (nil without traffic).
        public var approvalRate: Double?
        /// Latency of the last 60 whole seconds, milliseconds (the upper bound of the bucket).
        public var p50Milliseconds: Double?
        public var p99Milliseconds: Double?
        /// The last hour by minute, oldest first: the start of each minute (seconds since
        /// 1970), authorizations per second in it, approved share, p50 and p99.
        public var minutes: [Minute]
    }

    public struct Minute: Codable, Sendable, Equatable {
        public var start: Int64
        public var perSecond: Double
        public var approvalRate: Double?
        public var p50Milliseconds: Double?
        public var p99Milliseconds: Double?
    }

    public func snapshot() -> Snapshot {
        let now = Int64(clock().timeIntervalSince1970.rounded(.down))
        let (ring, total, approved, codes) = state.withLock { ($0.ring, $0.total, $0.approved, $0.codes) }
        // The seconds of the last hour, before the current one (still filling).
        var byEpoch: [Int64: Second] = [:]
        for second in ring where second.epoch >= now - Int64(Self.seconds) && second.epoch < now { byEpoch[second.epoch] = second }
        func window(_ from: Int64, _ count: Int64) -> (total: Int, approved: Int, latency: [UInt32]) {
            var t = 0, a = 0
            var latency = [UInt32](repeating: 0, count: Self.latencyBuckets)
            for epoch in from..<(from + count) {
                guard let s = byEpoch[epoch] else { continue }
                t += s.total; a += s.approved
                for i in 0..<Self.latencyBuckets { latency[i] &+= s.latency[i] }
            }
            return (t, a, latency)
        }
        func percentile(_ latency: [UInt32], _ q: Double) -> Double? {
            let n = latency.reduce(0) { $0 + Int($1) }
            guard n > 0 else { return nil }
            let rank = max(1, Int((q * Double(n)).rounded(.up)))
            var seen = 0
            for (i, c) in latency.enumerated() {
                seen += Int(c)
                if seen >= rank { return Self.upperMilliseconds(i) }
            }
            return Self.upperMilliseconds(Self.latencyBuckets - 1)
        }
        let last10 = window(now - 10, 10)
        let last60 = window(now - 60, 60)
        let firstMinute = (now / 60 - 59) * 60
        let minutes = (0..<60).map { m -> Minute in
            let start = firstMinute + Int64(m) * 60
            let w = window(start, 60)
            let elapsed = min(60, max(1, now - start))
            return Minute(start: start, perSecond: Double(w.total) / Double(elapsed), approvalRate: w.total > 0 ? Double(w.approved) / Double(w.total) : nil,
                          p50Milliseconds: percentile(w.latency, 0.5), p99Milliseconds: percentile(w.latency, 0.99))
        }
        return Snapshot(total: total, approved: approved, codes: codes, perSecond: Double(last10.total) / 10,
                        approvalRate: last60.total > 0 ? Double(last60.approved) / Double(last60.total) : nil,
                        p50Milliseconds: percentile(last60.latency, 0.5), p99Milliseconds: percentile(last60.latency, 0.99), minutes: minutes)
    }
}
