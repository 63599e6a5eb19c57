import APIContract
import Foundation
@testable import PasswayServer
import Testing
import TestSupport
import Simulators

/// Every kind of bad request gets a 4xx problem that says what to fix, and changes
/// nothing: malformed JSON, wrong types, unknown fields, out-of-range values, replayed
/// idempotency keys with another body.
@Suite(.timed, .serialized) struct BadInputTests {
    @Test func badBodiesAreProblemsAndChangeNothing() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let phone = try await s.register(model: "samsung-galaxy-s24", os: "14")
        let before = try await harness.api("GET", "/v1/tokens", key: harness.info.operatorKey).array.count

        let cases: [(String, [String: Any]?, String?, Int, String)] = [
            ("malformed JSON", nil, #"{"deviceID": "#, 400, "not valid JSON"),
            ("not an object", nil, "[1, 2]", 400, "must be a JSON object"),
            ("unknown field", ["deviceID": phone.deviceID!, "pan": s.pan, "expiry": "12/29", "pin": "1234"], nil, 400, "unknown field 'pin'"),
            ("wrong type", ["deviceID": phone.deviceID!, "pan": 2200701234567890, "expiry": "12/29"], nil, 400, "'pan' must be a string"),
            ("missing field", ["deviceID": phone.deviceID!, "expiry": "12/29"], nil, 400, "missing field 'pan'"),
            ("risk out of range", ["deviceID": phone.deviceID!, "pan": s.pan, "expiry": "12/29", "riskScore": 150], nil, 422, "riskScore"),
            ("expiry nonsense", ["deviceID": phone.deviceID!, "pan": s.pan, "expiry": "13/29"], nil, 422, "expiry"),
            ("expired card", ["deviceID": phone.deviceID!, "pan": s.pan, "expiry": "01/20"], nil, 422, "expired"),
            ("Luhn failure", ["deviceID": phone.deviceID!, "pan": String(s.pan.dropLast()) + String((Int(String(s.pan.last!))! + 1) % 10), "expiry": "12/29"], nil, 422, "Luhn"),
            ("unknown BIN", ["deviceID": phone.deviceID!, "pan": cardNumber("999999", seed: 3), "expiry": "12/29"], nil, 422, "not from an onboarded issuer"),
        ]
        for (name, json, raw, status, phrase) in cases {
            let answer = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, json: json, raw: raw)
            #expect(answer.status == status, "\(name): \(answer.status) \(answer.json)")
            #expect(answer.headers["content-type"] == "application/problem+json", "\(name)")
            #expect(answer.string("detail")?.contains(phrase) == true, "\(name): \(answer.string("detail") ?? "")")
            #expect(answer.string("type")?.hasPrefix("https://passway.dev/problems/") == true)
        }
        // Wrong types and values elsewhere, each naming its field.
        let device = try await harness.api("POST", "/v1/devices", key: s.walletKey, json: ["modelID": "samsung-galaxy-s24", "osVersion": "14", "country": "RU", "publicKey": "bm90IGEga2V5"])
        #expect(device.status == 422)
        #expect(device.string("field") == "publicKey")
        let market = try await harness.api("PUT", "/v1/markets/RU", key: harness.info.operatorKey, json: ["state": "closed"])
        #expect(market.status == 400)
        #expect(market.string("field") == "state")
        let trid = try await harness.api("POST", "/v1/wallets", key: harness.info.operatorKey, json: ["id": "w2", "name": "W", "tokenRequestorID": "123"])
        #expect(trid.status == 422)
        #expect(trid.string("field") == "tokenRequestorID")
        let overlap = try await harness.api("POST", "/v1/issuers", key: harness.info.operatorKey, json: [
            "id": "copycat", "name": "Copycat", "country": "RU", "currency": "RUB", "cardRanges": ["2200701"], "tokenRanges": ["22007299"],
            "hostURL": "http://127.0.0.1:1", "hostKey": String(repeating: "AB", count: 32),
        ])
        #expect(overlap.status == 409)
        let selfOverlap = try await harness.api("POST", "/v1/issuers", key: harness.info.operatorKey, json: [
            "id": "sloppy", "name": "Sloppy", "country": "RU", "currency": "RUB", "cardRanges": ["220090"], "tokenRanges": ["22009099"],
            "hostURL": "http://127.0.0.1:1", "hostKey": String(repeating: "AB", count: 32),
        ])
        #expect(selfOverlap.status == 422)
        #expect(selfOverlap.string("field") == "tokenRanges")
        let tooBig = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, raw: "{\"pan\": \"" + String(repeating: "1", count: 70_000) + "\"}")
        #expect(tooBig.status == 413)

        #expect(try await harness.api("GET", "/v1/tokens", key: harness.info.operatorKey).array.count == before)
        #expect(try await harness.api("GET", "/v1/wallets", key: harness.info.operatorKey).array.count == 1)
        #expect(try await harness.api("GET", "/v1/issuers", key: harness.info.operatorKey).array.count == 1)
    }

    @Test func idempotencyKeysReplayTheFirstAnswerAndRefuseAnotherBody() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let phone = try await s.register(model: "samsung-galaxy-s24", os: "14")
        let body: [String: Any] = ["deviceID": phone.deviceID!, "pan": s.pan, "expiry": "12/29", "cvv2": "123"]
        let first = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, json: body, headers: ["Idempotency-Key": "add-card-1"])
        #expect(first.status == 201)
        let again = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, json: body, headers: ["Idempotency-Key": "add-card-1"])
        #expect(again.status == 201, "\(again.json)")
        #expect(again.headers["idempotent-replayed"] == "true")
        #expect((again.object["token"] as? [String: Any])?["id"] as? String == (first.object["token"] as? [String: Any])?["id"] as? String)
        var other = body
        other["cvv2"] = "124"
        let misuse = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, json: other, headers: ["Idempotency-Key": "add-card-1"])
        #expect(misuse.status == 409)
        #expect(misuse.string("type") == "https://passway.dev/problems/idempotency-key-reused")
        // One token, however many times the request was sent.
        #expect(try await harness.api("GET", "/v1/tokens", key: s.walletKey).array.count == 1)
        // Keys are per participant: another wallet's identical key is its own.
        let bad = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, json: body, headers: ["Idempotency-Key": String(repeating: "k", count: 300)])
        #expect(bad.status == 400)
    }

    /// The same request with one key sent eight times at once runs once: the others get
    /// 409 "in progress" or, if they come after it finished, the replayed answer.
    @Test func simultaneousRequestsWithOneKeyRunOnce() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let phone = try await s.register(model: "samsung-galaxy-s24", os: "14")
        let body: [String: Any] = ["deviceID": phone.deviceID!, "pan": s.pan, "expiry": "12/29", "cvv2": "123"]
        let json = try JSONSerialization.data(withJSONObject: body)
        let answers = try await withThrowingTaskGroup(of: (Int, String?, String?).self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let a = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, raw: String(decoding: json, as: UTF8.self),
                                                  headers: ["Idempotency-Key": "add-card-at-once"])
                    return (a.status, a.string("type"), a.headers["idempotent-replayed"])
                }
            }
            return try await group.reduce(into: [(Int, String?, String?)]()) { $0.append($1) }
        }
        let ran = answers.filter { $0.0 == 201 && $0.2 == nil }
        #expect(ran.count == 1, "\(answers)")
        for (status, type, replayed) in answers where !(status == 201 && replayed == nil) {
            #expect((status == 201 && replayed == "true") || (status == 409 && type == "https://passway.dev/problems/idempotency-key-in-progress"),
                    "\(status) \(type ?? "-")")
        }
        #expect(try await harness.api("GET", "/v1/tokens", key: s.walletKey).array.count == 1)
    }
}

/// The OpenAPI document is the contract: it must describe exactly the routes served.
@Suite(.timed) struct OpenAPIDocumentTests {
    @Test func documentAndRoutesAgree() throws {
        var documented: Set<String> = []
        var currentPath: String?
        for line in OpenAPIDocument.text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("components:") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":") { currentPath = String(line.dropFirst(2).dropLast()) }
            else if let path = currentPath, let method = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" }) {
                documented.insert("\(method) \(path)")
            }
        }
        let served = Set(PasswayAPI.routes.map { "\($0.method) \($0.path)" } + ["get /health", "get /openapi.yaml"])
        #expect(documented == served, "only documented: \(documented.subtracting(served).sorted()); only served: \(served.subtracting(documented).sorted())")
        #expect(OpenAPIDocument.text.hasPrefix("openapi: 3.1.0"))
    }

    @Test func theServerServesTheDocument() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let answer = try await PlatformHarness.call("GET", harness.info.apiURL + "/openapi.yaml", key: nil, json: nil, raw: nil, headers: [:])
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"] == "application/yaml")
    }
}
