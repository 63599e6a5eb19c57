import EMV
import Foundation
import Histogram
import ISO8583
import ISO8583Transport
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The traffic of `passway load`: many terminals on N connections to the network, each
/// connection with K authorizations in flight (closed loop), or a target rate (open
/// loop, latency measured from when each request was due, so a slow server cannot hide
/// its queueing). Every 0100 carries a real ARQC from the next single-use key of one of
/// the provisioned tokens.
public struct LoadCard: Sendable {
    public var tokenNumber: String
    public var expiry: String
    /// The single-use session keys, by ATC.
    public var keys: [(atc: UInt16, key: SessionKey)]

    public init(tokenNumber: String, expiry: String, keys: [(atc: UInt16, key: SessionKey)]) {
        self.tokenNumber = tokenNumber; self.expiry = expiry; self.keys = keys
    }
}

public struct LoadConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var connections: Int
    public var depth: Int
    /// Authorizations per second; nil for a closed loop.
    public var rate: Double?
    public var duration: Duration?
    public var count: Int?
    /// Traffic before the measurement: the same requests, left out of the report (the
    /// first use of each token fills the server's caches). `duration` starts after it.
    public var warmup: Duration = .zero
    /// Go round the single-use keys again when they run out. Only for the echo listener,
    /// which checks nothing: the network would decline a reused ATC.
    public var reusesKeys = false
    public var acquirerID = "25000099"
    /// How the load's connections sign on and MAC their messages (nil: they do not, as
    /// against the echo listener).
    public var signOn: ISO8583Client.SignOn?
    /// TLS towards the network's port, when set.
    public var tls: NIOSSLContext?
    public var amountMinor: Int64 = 1_000
    public var currency = "643"
    public var country: UInt16 = 643
    /// Every answer received, one JSON line each (`passway load --record`). With a record,
    /// the load also acts as an acquirer does on a bad day: a request that could not be
    /// sent is sent again, and one sent but not answered is reversed (0400, repeated as
    /// 0401 until answered).
    public var record: LoadRecord?
    /// Keeps every approved authorization, for the acquirer's clearing file.
    public var approvals: ApprovalBook?

    public init(host: String, port: Int, connections: Int, depth: Int, rate: Double?, duration: Duration?, count: Int?) {
        self.host = host; self.port = port; self.connections = connections; self.depth = depth
        self.rate = rate; self.duration = duration; self.count = count
    }
}

/// What a run measured.
public struct LoadReport: Codable, Sendable {
    public struct Latency: Codable, Sendable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
    }
    public var target: String
    public var connections: Int
    public var depth: Int
    public var rate: Double?
    /// Seconds of traffic before the measurement, not in the figures.
    public var warmup: Double
    /// Answered (or failed) in the warmup: sent, and left out of the figures.
    public var warmupAuthorizations: Int
    public var authorizations: Int
    public var errors: Int
    public var seconds: Double
    public var authorizationsPerSecond: Double
    public var latencyMs: Latency
    public var responseCodes: [String: Int]
    /// Completed per second of the run (the warmup included), for the chart.
    public var perSecond: [Int]

    enum CodingKeys: String, CodingKey {
        case target, connections, depth, rate, warmup, authorizations, errors, seconds
        case warmupAuthorizations = "warmup_authorizations"
        case authorizationsPerSecond = "authorizations_per_second"
        case latencyMs = "latency_ms"
        case responseCodes = "response_codes"
        case perSecond = "per_second"
    }
}

public enum LoadGenerator {
    /// Runs the traffic; `progress` is called about once a second with (elapsed, completed).
    public static func run(cards: [LoadCard], _ config: LoadConfiguration, target: String,
                           progress: @escaping @Sendable (Double, Int) -> Void) async -> LoadReport {
        let logger = Logger(label: "passway-load", factory: { _ in SwiftLogNoOpLogHandler() })
        let clients = (0..<config.connections).map { _ in
            ISO8583Client(host: config.host, port: config.port, connections: 1, timeout: .seconds(30), signOn: config.signOn, tls: config.tls, logger: logger)
        }
        final class Counters: Sendable {
            let next = Atomic<Int>(0)
            let completed = Atomic<Int>(0)
        }
        let counters = Counters()
        let capacity = cards.reduce(0) { $0 + $1.keys.count }
        let limit = min(config.count ?? Int.max, config.reusesKeys ? Int.max : capacity)
        let clock = ContinuousClock()
        let start = clock.now
        let measureFrom = start + config.warmup
        let deadline = config.duration.map { measureFrom + $0 }
        let workers = config.connections * config.depth
        func inSeconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

        // Progress, once a second, until the workers are done.
        let ticker = Task {
            var last = 0
            var perSecond: [Int] = []
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let done = counters.completed.load(ordering: .relaxed)
                perSecond.append(done - last)
                last = done
                progress(inSeconds(clock.now - start), done)
            }
            return perSecond
        }

        struct Tally: Sendable {
            var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var codes: [String: Int] = [:]
            var errors = 0
        }
        let tallies = await withTaskGroup(of: Tally.self, returning: [Tally].self) { group in
            for w in 0..<workers {
                let client = clients[w % clients.count]
                group.addTask {
                    var tally = Tally()
                    var stan = 0
                    let terminal = String(format: "LD%06d", w)
                    var due = start + (config.rate.map { Duration.seconds(Double(w) / $0) } ?? .zero)
                    let interval = config.rate.map { Duration.seconds(Double(workers) / $0) }
                    // With a warmup, a worker's first request is in it even if the worker
                    // started late (a loaded machine): it pays for the connection.
                    var first = config.warmup > .zero
                    while true {
                        let i = counters.next.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard i < limit else { break }
                        if let deadline, clock.now >= deadline { break }
                        let card = cards[i % cards.count]
                        var keyIndex = i / cards.count
                        if config.reusesKeys { keyIndex %= card.keys.count } else if keyIndex >= card.keys.count { break }
                        if let interval {
                            try? await Task.sleep(until: due, tolerance: .microseconds(100))
                            due += interval
                        }
                        stan = (stan + 1) % 1_000_000
                        let message = authorization(card: card, key: card.keys[keyIndex], terminal: terminal, stan: stan, config)
                        let sent = interval == nil ? clock.now : due - interval!
                        let measured = sent >= measureFrom && !first
                        first = false
                        do {
                            var answer: Message
                            while true {
                                do { answer = try await client.send(message); break } catch ISO8583Client.ClientError.unavailable where config.record != nil {
                                    // Not sent: sent again once the network takes connections.
                                    if let deadline, clock.now >= deadline + .seconds(30) { throw ISO8583Client.ClientError.unavailable("gave up") }
                                    try? await Task.sleep(for: .milliseconds(50))
                                }
                            }
                            let elapsed = clock.now - sent
                            config.record?.answer(to: message, answer, card: i % cards.count, atc: card.keys[keyIndex].atc)
                            if answer.responseCode?.isApproval == true { config.approvals?.add(message, answer) }
                            if measured {
                                _ = tally.histogram.record(UInt64(max(1, elapsed.components.attoseconds / 1_000_000_000_000 + elapsed.components.seconds * 1_000_000)))
                                tally.codes[answer.string(39) ?? "??", default: 0] += 1
                            }
                        } catch {
                            if measured { tally.errors += 1 }
                            if let record = config.record {
                                stan = (stan + 1) % 1_000_000
                                await reverse(message, stan: stan, client: client, record: record)
                            }
                        }
                        counters.completed.wrappingAdd(1, ordering: .relaxed)
                    }
                    return tally
                }
            }
            var all: [Tally] = []
            for await t in group { all.append(t) }
            return all
        }
        let elapsed = clock.now - measureFrom
        ticker.cancel()
        let perSecond = await ticker.value
        for c in clients { await c.close() }

        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var codes: [String: Int] = [:]
        var errors = 0
        for t in tallies {
            histogram.add(t.histogram)
            codes.merge(t.codes, uniquingKeysWith: +)
            errors += t.errors
        }
        let seconds = max(0, inSeconds(elapsed))
        let n = Int(histogram.totalCount)
        func ms(_ p: Double) -> Double { n == 0 ? 0 : Double(histogram.valueAtPercentile(p)) / 1000 }
        return LoadReport(target: target, connections: config.connections, depth: config.depth, rate: config.rate, warmup: inSeconds(config.warmup),
                          warmupAuthorizations: max(0, counters.completed.load(ordering: .relaxed) - n - errors), authorizations: n, errors: errors,
                          seconds: seconds, authorizationsPerSecond: seconds > 0 ? Double(n) / seconds : 0,
                          latencyMs: .init(p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9), max: n == 0 ? 0 : Double(histogram.maxRecorded) / 1000),
                          responseCodes: codes, perSecond: perSecond)
    }

    /// The acquirer's reversal of an authorization it sent and got no answer to: 0400, then
    /// 0401 until the network answers it (for up to two minutes).
    static func reverse(_ original: Message, stan: Int, client: ISO8583Client, record: LoadRecord) async {
        var reversal = Message(mti: "0400")
        for f in [2, 3, 4, 32, 41, 49] { reversal[f] = original[f] }
        reversal.set(7, transmissionTime())
        reversal.set(11, String(format: "%06d", stan))
        reversal.set(90, OriginalDataElements(mti: original.mti, stan: original.string(11) ?? "", transmission: original.string(7) ?? "",
                                              acquirer: original.string(32) ?? "").field90)
        let clock = ContinuousClock(), giveUp = clock.now + .seconds(120)
        while clock.now < giveUp {
            do {
                let answer = try await client.send(reversal)
                record.reversal(of: original, answer)
                return
            } catch {
                reversal.mti = "0401"
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        record.reversal(of: original, nil)
    }

    /// Field 7 now, MMDDhhmmss in UTC.
    static func transmissionTime() -> String {
        var now = time(nil)
        var t = tm()
        gmtime_r(&now, &t)
        return String(format: "%02d%02d%02d%02d%02d", Int(t.tm_mon) + 1, Int(t.tm_mday), Int(t.tm_hour), Int(t.tm_min), Int(t.tm_sec))
    }

    /// A contactless 0100 with the ARQC of `key` over the Passway CDOL1.
    public static func authorization(card: LoadCard, key: (atc: UInt16, key: SessionKey), terminal: String, stan: Int, _ config: LoadConfiguration) -> Message {
        var now = time(nil)
        var t = tm()
        gmtime_r(&now, &t)
        let month = Int(t.tm_mon) + 1, day = Int(t.tm_mday)
        let input = CryptogramInput(amountAuthorised: UInt64(config.amountMinor), terminalCountryCode: config.country,
                                    transactionCurrencyCode: UInt16(config.currency)!,
                                    transactionDate: String(format: "%02d%02d%02d", Int(t.tm_year) % 100, month, day),
                                    unpredictableNumber: (0..<4).map { _ in UInt8.random(in: 0...255) },
                                    atc: ApplicationTransactionCounter(key.atc))
        let arqc = key.key.cryptogram(input.bytes)
        var m = Message(mti: "0100")
        m.set(2, card.tokenNumber)
        m.set(3, "000000")
        m.set(4, String(format: "%012lld", config.amountMinor))
        m.set(7, String(format: "%02d%02d%02d%02d%02d", month, day, Int(t.tm_hour), Int(t.tm_min), Int(t.tm_sec)))
        m.set(11, String(format: "%06d", stan))
        m.set(14, card.expiry)
        m.set(22, "071")
        m.set(32, config.acquirerID)
        m.set(41, terminal)
        m.set(49, config.currency)
        try? m.setICCData(input.objects + [TLV(.applicationCryptogram, arqc), TLV(.cryptogramInformationData, [0x80])])
        return m
    }

    /// The transport floor: a listener that answers every message at once with a message
    /// of the same size (the request with its MTI turned into a response and field 39).
    public static func startEcho() async throws -> ISO8583Server {
        try await ISO8583Server.start(.init(port: 0, name: "echo", maxInFlight: 1 << 20),
                                      logger: Logger(label: "echo", factory: { _ in SwiftLogNoOpLogHandler() }),
                                      overloaded: { _ in nil }) { m in
            var answer = m
            answer.mti = "0110"
            answer.set(39, ResponseCode.approved.rawValue)
            return answer
        }
    }
}

/// What `passway load --record FILE` writes: one JSON object per line, for each answer
/// the load received (`"type": "answer"`: the key acquirer/terminal/STAN/transmission
/// time, field 39, field 38, the amount, the run (the load's acquirer code), the card's
/// index in the run and the ATC) and each of its own reversals (`"type": "reversal"`:
/// the original's key and the answer's field 39, or null when none came). The file is
/// created owner-only and appended to.
public final class LoadRecord: Sendable {
    let handle: FileHandle
    let lock = Mutex(())

    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw LoadRecordError(path: path, reason: String(cString: strerror(errno))) }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    struct LoadRecordError: Error, CustomStringConvertible {
        let path: String, reason: String
        var description: String { "cannot write \(path): \(reason)" }
    }

    static func key(_ m: Message) -> String {
        "\(m.string(32) ?? "")/\(m.string(41) ?? "")/\(m.string(11) ?? "")/\(m.string(7) ?? "")"
    }

    func write(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        lock.withLock { _ in handle.write(data + Data([0x0A])) }
    }

    func answer(to request: Message, _ answer: Message, card: Int, atc: UInt16) {
        write(["type": "answer", "key": Self.key(request), "rc": answer.string(39) ?? "", "approval": answer.string(38) ?? "",
               "amount": Int64(request.string(4) ?? "") ?? 0, "run": request.string(32) ?? "", "card": card, "atc": Int(atc)])
    }

    func reversal(of original: Message, _ answer: Message?) {
        write(["type": "reversal", "key": Self.key(original), "rc": answer?.string(39) ?? NSNull()])
    }
}

/// The approved authorizations of a load, as an acquirer keeps them to present them:
/// the request and the answer (with the approval code). Held in memory only.
public final class ApprovalBook: Sendable {
    private let approvals = Mutex<[(request: Message, answer: Message)]>([])
    public init() {}
    func add(_ request: Message, _ answer: Message) { approvals.withLock { $0.append((request, answer)) } }
    public var all: [(request: Message, answer: Message)] { approvals.withLock { $0 } }
}
