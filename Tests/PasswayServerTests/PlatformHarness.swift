import AsyncHTTPClient
import EMV
import Foundation
import Logging
import NIOCore
import PasswayServer
import TestSupport

/// A running platform for one test: the real `Platform.run` on ephemeral ports, a
/// temporary data directory, and every log line captured for inspection.
final class PlatformHarness: Sendable {
    let info: PlatformInfo
    let dataDirectory: String
    let logs: LogCapture
    private let task: Task<Void, any Error>

    private init(info: PlatformInfo, dataDirectory: String, logs: LogCapture, task: Task<Void, any Error>) {
        self.info = info; self.dataDirectory = dataDirectory; self.logs = logs; self.task = task
    }

    static func start(_ configure: (inout PlatformConfiguration) -> Void = { _ in }) async throws -> PlatformHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passway-test-\(UUID().uuidString)").path
        let logs = LogCapture()
        var logger = Logger(label: "passway") { _ in CapturingLogHandler(capture: logs) }
        logger.logLevel = .trace
        var config = PlatformConfiguration(apiPort: 0, issuerHostPort: 0, networkPort: 0, issuerHostISOPort: 0, issuerTimeoutMilliseconds: 3000,
                                           dataDirectory: directory, environment: [:], logger: logger)
        configure(&config)
        let (stream, continuation) = AsyncStream.makeStream(of: PlatformInfo.self)
        let task = Task { try await Platform.run(config) { info in continuation.yield(info); continuation.finish() } }
        var iterator = stream.makeAsyncIterator()
        guard let info = await iterator.next() else {
            _ = try await task.value
            throw HarnessError.didNotStart
        }
        return PlatformHarness(info: info, dataDirectory: directory, logs: logs, task: task)
    }

    func stop() async {
        await info.stop()
        _ = try? await task.value
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    enum HarnessError: Error { case didNotStart }

    // MARK: HTTP

    struct Answer {
        let status: Int
        let json: Any
        let headers: [String: String]
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
        subscript(key: String) -> Any? { object[key] }
        func string(_ key: String) -> String? { object[key] as? String }
    }

    func api(_ method: String, _ path: String, key: String?, json: [String: Any]? = nil, raw: String? = nil, headers: [String: String] = [:]) async throws -> Answer {
        try await Self.call(method, info.apiURL + path, key: key, json: json, raw: raw, headers: headers)
    }

    func issuerHost(_ method: String, _ path: String, json: [String: Any]? = nil) async throws -> Answer {
        try await Self.call(method, info.issuerHostURL + path, key: nil, json: json, raw: nil, headers: [:])
    }

    static func call(_ method: String, _ url: String, key: String?, json: [String: Any]?, raw: String?, headers: [String: String]) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        } else if let raw {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: raw))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = Data((try await response.body.collect(upTo: 8 << 20)).readableBytesView)
        var headerMap: [String: String] = [:]
        for h in response.headers { headerMap[h.name.lowercased()] = h.value }
        return Answer(status: Int(response.status.code), json: (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) ?? [:], headers: headerMap)
    }
}

/// Every log line the platform wrote during a test, rendered as a log backend would.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ line: String) { lock.lock(); storage.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return storage }

    /// Returns once a line contains `text` (or after 30 s, a bound for a loaded machine;
    /// the test's own expectations then fail).
    func wait(for text: String) async {
        _ = await eventually { lines.contains(where: { $0.contains(text) }) }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let all = self.metadata.merging(explicit ?? [:]) { $1 }
        capture.append("\(level) \(message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}

/// A Luhn-valid card number with the given prefix and length.
func cardNumber(_ prefix: String, length: Int = 16, seed: Int) -> String {
    var digits = prefix
    var x = UInt64(seed) &* 6364136223846793005 &+ 1442695040888963407
    while digits.count < length - 1 {
        x = x &* 6364136223846793005 &+ 1442695040888963407
        digits.append(Character(String((x >> 33) % 10)))
    }
    return digits + String(Luhn.checkDigit(for: digits)!)
}
