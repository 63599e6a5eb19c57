import AsyncHTTPClient
import EMV
import Foundation
import Logging
import ISO8583Transport
import NIOCore
import NIOSSL
import PasswayServer
import Synchronization

/// A running platform for one test: the real `Platform.run` on ephemeral ports, a
/// temporary data directory, and every log line captured for inspection. The issuer
/// timeout is 20 s (a loaded machine must not turn an answer into a 91); tests of
/// timeouts set a short one towards an issuer that never answers.
public final class PlatformHarness: Sendable {
    public let info: PlatformInfo
    public let dataDirectory: String
    public let logs: LogCapture
    private let task: Task<Void, any Error>

    private init(info: PlatformInfo, dataDirectory: String, logs: LogCapture, task: Task<Void, any Error>) {
        self.info = info; self.dataDirectory = dataDirectory; self.logs = logs; self.task = task
    }

    public static func start(_ configure: (inout PlatformConfiguration) -> Void = { _ in }) async throws -> PlatformHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passway-test-\(UUID().uuidString)").path
        let logs = LogCapture()
        var logger = Logger(label: "passway") { _ in CapturingLogHandler(capture: logs) }
        logger.logLevel = .trace
        var config = PlatformConfiguration(apiPort: 0, networkPort: 0, issuerHost: .bundled(httpPort: 0, isoPort: 0), issuerTimeout: .seconds(20),
                                           dataDirectory: directory, environment: [:], logger: logger)
        config.exchangeRateSeed = .reference
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

    public func stop() async {
        await info.stop()
        _ = try? await task.value
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    public enum HarnessError: Error { case didNotStart, noIssuerHost }

    // MARK: HTTP

    public struct Answer: @unchecked Sendable {
        public let status: Int
        public let json: Any
        public let headers: [String: String]
        /// The body as it came.
        public var body = Data()
        public var object: [String: Any] { json as? [String: Any] ?? [:] }
        public var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
        public subscript(key: String) -> Any? { object[key] }
        public func string(_ key: String) -> String? { object[key] as? String }
    }

    public func api(_ method: String, _ path: String, key: String?, json: [String: Any]? = nil, raw: String? = nil, headers: [String: String] = [:]) async throws -> Answer {
        try await Self.call(method, info.apiURL + path, key: key, json: json, raw: raw, headers: headers)
    }

    /// The bundled issuer host's JSON API.
    public var issuerHostURL: String {
        get throws { guard let url = info.issuerHostURL else { throw HarnessError.noIssuerHost }; return url }
    }

    /// A call to the bundled issuer host's JSON API with `key` (the host operator's by default).
    public func issuerHost(_ method: String, _ path: String, key: String? = nil, json: [String: Any]? = nil) async throws -> Answer {
        try await Self.call(method, try issuerHostURL + path, key: key ?? info.issuerHostOperatorKey, json: json, raw: nil, headers: [:])
    }

    /// A call whose body is bytes (a file), sent as `application/octet-stream`.
    public func upload(_ path: String, key: String?, bytes: [UInt8]) async throws -> Answer {
        try await Self.send("POST", info.apiURL + path, key: key, json: nil, raw: nil, headers: [:], bytes: bytes)
    }

    public static func call(_ method: String, _ url: String, key: String?, json: [String: Any]?, raw: String?, headers: [String: String]) async throws -> Answer {
        try await send(method, url, key: key, json: json, raw: raw, headers: headers, bytes: nil)
    }

    public static func send(_ method: String, _ url: String, key: String?, json: [String: Any]?, raw: String?, headers: [String: String],
                            bytes: [UInt8]?) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        } else if let raw {
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { request.headers.add(name: "Content-Type", value: "application/json") }
            request.body = .bytes(ByteBuffer(string: raw))
        } else if let bytes {
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { request.headers.add(name: "Content-Type", value: "application/octet-stream") }
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        // https: a client of its own that trusts the test CAs (`trust(caFile:)`), closed after.
        let client = try url.hasPrefix("https://") ? Self.trustingClient() : HTTPClient.shared
        defer { if client !== HTTPClient.shared { Task { try? await client.shutdown() } } }
        // Long enough for a bank to post a clearing file of thousands of records on PostgreSQL.
        let response = try await client.execute(request, timeout: .seconds(300))
        let data = Data((try await response.body.collect(upTo: 8 << 20)).readableBytesView)
        var headerMap: [String: String] = [:]
        for h in response.headers { headerMap[h.name.lowercased()] = h.value }
        return Answer(status: Int(response.status.code), json: (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) ?? [:],
                      headers: headerMap, body: data)
    }
}

extension PlatformHarness {
    static let trustedCAs = Mutex<[String]>([])

    /// Lets `call` reach https URLs whose certificates this CA (PEM file) signed.
    public static func trust(caFile: String) { trustedCAs.withLock { $0.append(caFile) } }

    static func trustingClient() throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try trustedCAs.withLock { $0 }.flatMap { try NIOSSLCertificate.fromPEMFile($0) })
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }
}

/// Every log line the platform wrote during a test, rendered as a log backend would.
public final class LogCapture: @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var storage: [String] = []
    public func append(_ line: String) { lock.lock(); storage.append(line); lock.unlock() }
    public var lines: [String] { lock.lock(); defer { lock.unlock() }; return storage }

    /// Returns once a line contains `text` (or after 30 s, a bound for a loaded machine;
    /// the test's own expectations then fail).
    public func wait(for text: String) async {
        _ = await eventually { lines.contains(where: { $0.contains(text) }) }
    }
}

public struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(capture: LogCapture) { self.capture = capture }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        capture.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}

/// A Luhn-valid card number with the given prefix and length.
public func cardNumber(_ prefix: String, length: Int = 16, seed: Int) -> String {
    var digits = prefix
    var x = UInt64(seed) &* 6364136223846793005 &+ 1442695040888963407
    while digits.count < length - 1 {
        x = x &* 6364136223846793005 &+ 1442695040888963407
        digits.append(Character(String((x >> 33) % 10)))
    }
    return digits + String(Luhn.checkDigit(for: digits) ?? "0")
}
