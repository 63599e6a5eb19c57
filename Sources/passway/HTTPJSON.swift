import AsyncHTTPClient
import Foundation
import ISO8583Transport
import NIOCore

/// A small JSON-over-HTTP client for the command line (device emulator, issuer host
/// tools). Problem answers become one-line errors.
struct HTTPJSON {
    let base: String
    let apiKey: String?
    /// The HTTP client: the shared one, or one that trusts a private CA (`--tls-ca`).
    var client: HTTPClient = .shared
    /// How long one request may take, answer included (a large clearing file takes long).
    var timeout: TimeAmount = .seconds(30)

    init(base: String, apiKey: String?, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(30)) {
        self.base = base; self.apiKey = apiKey; self.client = client; self.timeout = timeout
    }

    /// An HTTP client for `--tls-ca`: the shared one, or one that trusts that CA (PEM).
    static func client(trusting tlsCA: String?) throws -> HTTPClient {
        guard let tlsCA else { return .shared }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: try TLSFiles.clientConfiguration(trusting: tlsCA)))
    }

    /// `body` with a client for `base` and `apiKey` that trusts `tlsCA`, shut down after.
    static func with(base: String, apiKey: String?, trusting tlsCA: String?, _ body: (HTTPJSON) async throws -> Void) async throws {
        let client = try client(trusting: tlsCA)
        do {
            try await body(HTTPJSON(base: base, apiKey: apiKey, client: client))
        } catch {
            if client !== HTTPClient.shared { try? await client.shutdown() }
            throw error
        }
        if client !== HTTPClient.shared { try? await client.shutdown() }
    }

    static let encoder: JSONEncoder = { let e = JSONEncoder(); e.dateEncodingStrategy = .iso8601; return e }()
    static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }()

    enum Method { case GET, POST, PUT }

    func call(_ method: Method, _ path: String, _ body: [String: Any]? = nil) async throws -> (status: Int, json: Any) {
        let (status, data) = try await send(method, path, body)
        return (status, (try? JSONSerialization.jsonObject(with: data)) ?? [:])
    }

    /// The answer decoded straight from its bytes as `T` (for large answers: no detour
    /// through `JSONSerialization`).
    func call<T: Decodable>(_ method: Method, _ path: String, _ body: [String: Any]? = nil, decoding type: T.Type) async throws -> T {
        let (_, data) = try await send(method, path, body)
        return try Self.decoder.decode(T.self, from: data)
    }

    /// A body of bytes (a file) in, the answer's bytes out.
    func send(_ method: Method, _ path: String, bytes: [UInt8]?, contentType: String = "application/octet-stream") async throws -> (status: Int, data: Data) {
        try await send(method, path, body: bytes.map { (ByteBuffer(bytes: $0), contentType) })
    }

    private func send(_ method: Method, _ path: String, _ body: [String: Any]?) async throws -> (status: Int, data: Data) {
        try await send(method, path, body: try body.map { (ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: $0)), "application/json") })
    }

    private func send(_ method: Method, _ path: String, body: (ByteBuffer, String)?) async throws -> (status: Int, data: Data) {
        var request = HTTPClientRequest(url: base.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
        request.method = switch method { case .GET: .GET; case .POST: .POST; case .PUT: .PUT }
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let (bytes, contentType) = body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(bytes)
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw CLIError("cannot reach \(base): is `passway serve` running?")
        }
        let data = Data((try await response.body.collect(upTo: 64 << 20)).readableBytesView)
        if response.status.code >= 400 {
            let problem = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            throw CLIError("\(response.status.code) \(problem?["title"] as? String ?? "error"): \(problem?["detail"] as? String ?? String(decoding: data, as: UTF8.self))")
        }
        return (Int(response.status.code), data)
    }

    func decode<T: Decodable>(_ type: T.Type, _ json: Any) throws -> T {
        try Self.decoder.decode(T.self, from: JSONSerialization.data(withJSONObject: json))
    }
}
