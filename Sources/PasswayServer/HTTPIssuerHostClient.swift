import AsyncHTTPClient
import Foundation
import IssuerContract
import NIOCore
import Participants
import TokenService

/// The token service's JSON/HTTP client for issuer hosts: the paths of `IssuerHostPath`
/// under each issuer's `hostURL`, each call bounded by `timeout`.
public struct HTTPIssuerHostClient: IssuerHostClient {
    let client: HTTPClient
    let timeout: Duration

    public init(client: HTTPClient = .shared, timeout: Duration = .seconds(5)) {
        self.client = client
        self.timeout = timeout
    }

    static let encoder: JSONEncoder = { let e = JSONEncoder(); e.dateEncodingStrategy = .iso8601; return e }()
    static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }()

    public func authorize(_ request: IDVRequest, issuer: Issuer) async throws -> IDVDecision {
        let data = try await post(issuer, IssuerHostPath.authorizeService, request)
        do { return try Self.decoder.decode(IDVDecision.self, from: data) } catch {
            throw ServiceError.issuerUnavailable("\(issuer.id) answered ID&V with something that is not a decision")
        }
    }

    public func deliverActivationCode(_ delivery: ActivationCodeDelivery, issuer: Issuer) async throws {
        _ = try await post(issuer, IssuerHostPath.deliverActivationCode, delivery)
    }

    public func notifyTokenUpdated(_ notification: TokenNotification, issuer: Issuer) async throws {
        _ = try await post(issuer, IssuerHostPath.tokenNotification, notification)
    }

    private func post(_ issuer: Issuer, _ path: String, _ body: some Encodable) async throws -> Data {
        var request = HTTPClientRequest(url: (issuer.hostURL.hasSuffix("/") ? String(issuer.hostURL.dropLast()) : issuer.hostURL) + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try Self.encoder.encode(body)))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: TimeAmount(timeout))
        } catch {
            throw ServiceError.issuerUnavailable("\(issuer.id) at \(issuer.hostURL) did not answer \(path)")
        }
        let data = Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            throw ServiceError.issuerUnavailable("\(issuer.id) answered \(path) with HTTP \(response.status.code)")
        }
        return data
    }
}
