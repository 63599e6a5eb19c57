import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import IssuerContract
import NIOCore
@testable import PasswayServer
import Synchronization
import Testing
import TestSupport
import TokenService

/// Token notifications sent to an issuer's host in batches (`POST …/tokens/notify-batch`,
/// up to 64, all or none) over real signed HTTP, and one at a time to a host of the older
/// contract, which answers that path 404.
@Suite struct NotificationBatchTests {
    static func notifications(_ count: Int, from first: Int = 0) -> [TokenNotification] {
        (first..<first + count).map { i in
            TokenNotification(id: "ntf_" + String(format: "%024d", i), tokenID: "tok_\(i)", maskedToken: "220171******4242",
                              maskedPAN: "220070******1234", event: .suspended, status: .suspended, reason: "market suspended: drill")
        }
    }

    @Test func theBundledBankKeepsABatchOnceInOrderAndRefusesOneTooLarge() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let key = try #require(RequestSignature.key(hex: s.hostKey))
        let endpoint = IssuerHostEndpoint(issuerID: s.issuerID, url: try harness.issuerHostURL + "/banks/\(s.bankID)", key: key)
        let client = HTTPIssuerHostClient()
        let before = try await s.bankCall("GET", "/notifications").array.count

        let batch = Self.notifications(40)
        let sent = await client.notifyTokensUpdated(batch, at: endpoint)
        #expect(sent.taken == 40 && sent.failure == nil)
        // Again (a crash before the outbox recorded it): kept once.
        #expect(await client.notifyTokensUpdated(batch, at: endpoint).taken == 40)
        let kept = try await s.bankCall("GET", "/notifications").array.dropFirst(before)
        #expect(kept.compactMap { $0["id"] as? String } == batch.map(\.id))

        // More than 64, or none: refused, nothing kept. Signed with the host's key, so the
        // refusal is the bank's, not the signature check's.
        for size in [65, 0] {
            let body = Array(try JSONEncoder().encode(TokenNotificationBatch(notifications: Self.notifications(size, from: 100))))
            let path = "/banks/\(s.bankID)" + IssuerHostPath.tokenNotificationBatch
            let h = RequestSignature.sign(method: "POST", path: path, body: body, key: key)
            let answer = try await PlatformHarness.call("POST", try harness.issuerHostURL + path, key: nil, json: nil, raw: String(decoding: body, as: UTF8.self),
                                                        headers: [RequestSignature.timestampHeader: h.timestamp, RequestSignature.nonceHeader: h.nonce,
                                                                  RequestSignature.signatureHeader: h.signature])
            #expect([400, 422].contains(answer.status), "\(size): \(answer.status) \(answer.json)")
        }
        #expect(try await s.bankCall("GET", "/notifications").array.count == before + 40)
    }

    /// A host of the older contract: `/tokens/notify` only, its answers signed; every path
    /// it is asked is recorded.
    final class OlderHost: Sendable {
        let key = RequestSignature.newKey()
        let asked = Mutex<[String]>([])
        let failAfter: Int?

        init(failAfter: Int? = nil) { self.failAfter = failAfter }

        func run(_ body: (String) async throws -> Void) async throws {
            let router = Router()
            router.post("/old/tokens/notify") { [self] request, _ -> Response in
                let count = asked.withLock { $0.append("notify"); return $0.filter { $0 == "notify" }.count }
                if let failAfter, count > failAfter { return Response(status: .serviceUnavailable) }
                let nonce = request.headers[HTTPField.Name(RequestSignature.nonceHeader)!] ?? ""
                let answer = Array(#"{"received":true}"#.utf8)
                let signature = RequestSignature.signAnswer(status: 200, nonce: nonce, body: answer, key: key)
                return Response(status: .ok, headers: [.contentType: "application/json", HTTPField.Name(RequestSignature.signatureHeader)!: signature],
                                body: .init(byteBuffer: ByteBuffer(bytes: answer)))
            }
            router.post("/old/tokens/notify-batch") { [self] _, _ -> Response in
                asked.withLock { $0.append("batch") }
                return Response(status: .notFound)
            }
            let (port, portSet) = AsyncStream.makeStream(of: Int.self)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { channel in portSet.yield(channel.localAddress?.port ?? 0); portSet.finish() })
            let server = Task { try await app.runService() }
            defer { server.cancel() }
            var ports = port.makeAsyncIterator()
            let bound = try #require(await ports.next())
            try await body("http://127.0.0.1:\(bound)/old")
        }
    }

    @Test func aHostWithoutBatchesIsSentOneAtATimeAndNotAskedAgain() async throws {
        let host = OlderHost()
        try await host.run { url in
            let endpoint = IssuerHostEndpoint(issuerID: "old-bank", url: url, key: host.key)
            let client = HTTPIssuerHostClient()
            #expect(await client.notifyTokensUpdated(Self.notifications(3), at: endpoint).taken == 3)
            #expect(await client.notifyTokensUpdated(Self.notifications(2, from: 3), at: endpoint).taken == 2)
            // The batch path was asked once; then one call each.
            #expect(host.asked.withLock { $0 } == ["batch", "notify", "notify", "notify", "notify", "notify"])
        }
    }

    @Test func aHostThatStopsShortReportsHowManyItTook() async throws {
        let host = OlderHost(failAfter: 2)
        try await host.run { url in
            let outcome = await HTTPIssuerHostClient().notifyTokensUpdated(Self.notifications(5), at: IssuerHostEndpoint(issuerID: "old-bank", url: url, key: host.key))
            #expect(outcome.taken == 2)
            #expect("\(outcome.failure.map { "\($0)" } ?? "")".contains("503"))
        }
    }
}
