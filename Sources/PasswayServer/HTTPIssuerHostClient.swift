import AsyncHTTPClient
import Foundation
import IssuerContract
import NIOCore
import Participants
import Synchronization
import TokenService

/// The token service's JSON/HTTP client for issuer hosts: the paths of `IssuerHostPath`
/// under each issuer's `hostURL`, each call signed and each answer's signature checked
/// (`RequestSignature`), each call bounded by `timeout`. An answer that is not the host's
/// (unsigned, or signed for another request) is treated as no answer.
public struct HTTPIssuerHostClient: IssuerHostClient {
    let client: HTTPClient
    let timeout: Duration
    /// Hosts (by URL) that answered the batch path 404 or 405, and when: sent one
    /// notification at a time for an hour, then asked again.
    let withoutBatches = WithoutBatches()

    final class WithoutBatches: Sendable {
        let hosts = Mutex<[String: Date]>([:])
        func contains(_ url: String, now: Date = Date()) -> Bool {
            hosts.withLock { hosts in
                guard let since = hosts[url] else { return false }
                if now.timeIntervalSince(since) < 3_600 { return true }
                hosts[url] = nil
                return false
            }
        }
        func add(_ url: String) { hosts.withLock { $0[url] = Date() } }
    }

    /// A host's answer of 404 or 405 to a path it may not have.
    struct PathNotServed: Error {}

    public init(client: HTTPClient = .shared, timeout: Duration = .seconds(5)) {
        self.client = client
        self.timeout = timeout
    }

    static let encoder: JSONEncoder = { let e = JSONEncoder(); e.dateEncodingStrategy = .iso8601; return e }()
    static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }()

    public func authorize(_ request: IDVRequest, at host: IssuerHostEndpoint) async throws -> IDVDecision {
        let data = try await post(host, IssuerHostPath.authorizeService, request)
        do { return try Self.decoder.decode(IDVDecision.self, from: data) } catch {
            throw ServiceError.issuerUnavailable("\(host.issuerID) answered ID&V with something that is not a decision")
        }
    }

    public func deliverActivationCode(_ delivery: ActivationCodeDelivery, at host: IssuerHostEndpoint) async throws {
        _ = try await post(host, IssuerHostPath.deliverActivationCode, delivery)
    }

    public func notifyTokenUpdated(_ notification: TokenNotification, at host: IssuerHostEndpoint) async throws {
        _ = try await post(host, IssuerHostPath.tokenNotification, notification)
    }

    /// Up to 64 in one call to the batch path, taken all or none; one at a time to a host
    /// that does not have it.
    public func notifyTokensUpdated(_ notifications: [TokenNotification], at host: IssuerHostEndpoint) async -> NotificationOutcome {
        if notifications.count > 1, !withoutBatches.contains(host.url) {
            let batch = Array(notifications.prefix(TokenNotificationBatch.maxCount))
            do {
                _ = try await post(host, IssuerHostPath.tokenNotificationBatch, TokenNotificationBatch(notifications: batch), notServed: true)
                return NotificationOutcome(taken: batch.count, failure: nil)
            } catch is PathNotServed {
                withoutBatches.add(host.url)
            } catch {
                return NotificationOutcome(taken: 0, failure: error)
            }
        }
        return await Self.oneAtATime(notifications) { try await notifyTokenUpdated($0, at: host) }
    }

    private func post(_ host: IssuerHostEndpoint, _ path: String, _ body: some Encodable, notServed: Bool = false) async throws -> Data {
        let url = (host.url.hasSuffix("/") ? String(host.url.dropLast()) : host.url) + path
        guard Issuer.acceptableHostURL(url), let urlPath = URL(string: url)?.path else {
            throw ServiceError.issuerUnavailable("\(host.issuerID)'s host URL is not one the token service calls (https://, or http:// to loopback)")
        }
        let bytes = Array(try Self.encoder.encode(body))
        let signed = RequestSignature.sign(method: "POST", path: urlPath, body: bytes, key: host.key)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: RequestSignature.timestampHeader, value: signed.timestamp)
        request.headers.add(name: RequestSignature.nonceHeader, value: signed.nonce)
        request.headers.add(name: RequestSignature.signatureHeader, value: signed.signature)
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: TimeAmount(timeout))
        } catch {
            throw ServiceError.issuerUnavailable("\(host.issuerID) at \(host.url) did not answer \(path)")
        }
        let data = Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
        if notServed, [404, 405].contains(response.status.code) { throw PathNotServed() }
        guard (200..<300).contains(response.status.code) else {
            throw ServiceError.issuerUnavailable("\(host.issuerID) answered \(path) with HTTP \(response.status.code)")
        }
        guard RequestSignature.verifyAnswer(status: Int(response.status.code), nonce: signed.nonce, body: Array(data),
                                            signature: response.headers.first(name: RequestSignature.signatureHeader), key: host.key) else {
            throw ServiceError.issuerUnavailable("\(host.issuerID)'s answer to \(path) is not signed with its key: not believed")
        }
        return data
    }
}
