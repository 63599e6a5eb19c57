import EMV
import Foundation
import ISO8583
import ISO8583Transport
import IssuerContract
import IssuerHostServer
import Logging
import Simulators
import Testing
import TestSupport

/// The bundled issuer host's doors, tried as an attacker on the same network would:
/// every route needs the right credential, the token service's calls and the host's
/// answers are signed, and no request stops the platform.
@Suite(.timed, .serialized) struct IssuerHostDoorsTests {
    static let quiet = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }

    /// The outbox attack: read another cardholder's one-time code and finish their
    /// enrollment. Without the bank's own key nothing at the host answers, and nothing changes.
    @Test func theBanksRoutesNeedItsOwnKey() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let a = try await RussianBankScenario.make(harness)
        let b = try await RussianBankScenario.make(harness, suffix: "-b", cardPrefix: "220080", tokenPrefix: "22018099", seed: 2)
        // A watch needs a code: it is in bank A's outbox.
        let watch = try await a.register(model: "huawei-watch-gt4", os: "4.0")
        #expect(try await a.enroll(watch).status == 202)
        let hostOperator = try #require(harness.info.issuerHostOperatorKey)

        let bankRoutes: [(String, String, [String: Any]?)] = [
            ("GET", "/outbox", nil), ("GET", "/accounts", nil), ("GET", "/notifications", nil),
            ("PUT", "/rules", ["declineRiskAbove": 99, "stepUpRiskAbove": 99, "stepUpDeviceKinds": [String](), "requireKnownPhone": false]),
            ("POST", "/accounts", ["pan": cardNumber("220070", seed: 77), "expiry": "2912", "holderName": "MALLORY", "currency": "RUB",
                                   "balanceMinor": 999_999_999]),
        ]
        for key in [nil, "pwb_not-a-key", b.bankKey, hostOperator, harness.info.operatorKey] as [String?] {
            for (method, path, json) in bankRoutes {
                let answer = try await harness.issuerHost(method, "/banks/\(a.bankID)" + path, key: key ?? "", json: json)
                #expect(answer.status == 401, "\(method) \(path) with \(key.map { String($0.prefix(4)) } ?? "no key"): \(answer.status)")
                #expect(answer.headers["content-type"] == "application/problem+json")
                #expect(!String(decoding: answer.body, as: UTF8.self).contains("code\""), "a code leaked")
            }
        }
        // An unknown bank answers as a wrong key does: nobody learns which banks exist.
        #expect(try await harness.issuerHost("GET", "/banks/no-such-bank/outbox", key: a.bankKey).status == 401)
        // Creating and listing banks is the host operator's.
        for key in ["", a.bankKey, harness.info.operatorKey] {
            #expect(try await harness.issuerHost("POST", "/banks", key: key, json: ["id": "mallory", "cardRanges": ["220090"]]).status == 401)
            #expect(try await harness.issuerHost("GET", "/banks", key: key).status == 401)
        }
        // Nothing changed: the rules still ask the watch for a code, no account was added.
        let banks = try await harness.issuerHost("GET", "/banks").array
        #expect(Set(banks.compactMap { $0["id"] as? String }) == [a.bankID, b.bankID])
        #expect(try await a.bankCall("GET", "/accounts").array.count == 1)
        #expect(try await a.enroll(try await a.register(model: "huawei-watch-gt4", os: "4.0")).status == 202)
        // The bank's own key opens its outbox; the scheme name is case-insensitive.
        let outbox = try await PlatformHarness.call("GET", try harness.issuerHostURL + "/banks/\(a.bankID)/outbox", key: nil, json: nil, raw: nil,
                                                    headers: ["Authorization": "bearer \(a.bankKey)"])
        #expect(outbox.status == 200 && outbox.array.count == 2)
        #expect(try await harness.api("GET", "/v1/markets", key: nil, headers: ["Authorization": "BEARER \(a.walletKey)"]).status == 200)
    }

    /// ID&V as an oracle for card number, expiry and CVV2, and a recorded call played
    /// again: the host answers only calls signed with the bank's key, each once, within
    /// five minutes of its clock; its answer is signed for that call.
    @Test func theTokenServicesCallsAndTheHostsAnswersAreSigned() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let url = try harness.issuerHostURL + "/banks/\(s.bankID)" + IssuerHostPath.authorizeService
        let path = "/banks/\(s.bankID)" + IssuerHostPath.authorizeService
        let body = #"{"pan":"\#(s.pan)","expiry":"2912","cvv2":"123","walletID":"passway-pay","tokenRequestorID":"40010075001","deviceKind":"phone","deviceModel":"samsung-galaxy-s24","country":"RU","riskScore":0}"#
        let key = try #require(RequestSignature.key(hex: s.hostKey))
        func send(_ h: RequestSignature.Headers?) async throws -> PlatformHarness.Answer {
            var headers: [String: String] = [:]
            if let h {
                headers = [RequestSignature.timestampHeader: h.timestamp, RequestSignature.nonceHeader: h.nonce, RequestSignature.signatureHeader: h.signature]
            }
            return try await PlatformHarness.call("POST", url, key: nil, json: nil, raw: body, headers: headers)
        }
        let other = RequestSignature.newKey()
        let refused = [
            ("unsigned", try await send(nil)),
            ("another key", try await send(RequestSignature.sign(method: "POST", path: path, body: Array(body.utf8), key: other))),
            ("another path", try await send(RequestSignature.sign(method: "POST", path: "/banks/x/idv/authorize", body: Array(body.utf8), key: key))),
            ("another body", try await send(RequestSignature.sign(method: "POST", path: path, body: Array((body + " ").utf8), key: key))),
            ("ten minutes old", try await send(RequestSignature.sign(method: "POST", path: path, body: Array(body.utf8), key: key,
                                                                     at: Date().addingTimeInterval(-600)))),
        ]
        for (what, answer) in refused {
            #expect(answer.status == 401, "\(what): \(answer.status)")
            #expect(answer.headers["content-type"] == "application/problem+json")
            #expect(answer.object["decision"] == nil, "\(what) got a decision")
        }
        let signed = RequestSignature.sign(method: "POST", path: path, body: Array(body.utf8), key: key)
        let answer = try await send(signed)
        #expect(answer.status == 200 && answer.string("decision") == "green")
        #expect(RequestSignature.verifyAnswer(status: 200, nonce: signed.nonce, body: Array(answer.body),
                                              signature: answer.headers[RequestSignature.signatureHeader.lowercased()], key: key))
        #expect(!RequestSignature.verifyAnswer(status: 200, nonce: signed.nonce, body: Array(answer.body),
                                               signature: answer.headers[RequestSignature.signatureHeader.lowercased()], key: other))
        let replayed = try await send(signed)
        #expect(replayed.status == 401 && replayed.string("detail")?.contains("replay") == true)
    }

    /// A rotation at the bank's host: the old keys stop at once; enrollment is refused
    /// (the host's answers no longer verify, nothing is created) until the network has
    /// the new key.
    @Test func rotatedCredentialsStopTheOldOnesAtOnce() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        _ = try await s.phoneWithCard()
        let rotated = try await harness.issuerHost("POST", "/banks/\(s.bankID)/credentials")
        #expect(rotated.status == 201)
        let newBankKey = try #require(rotated.string("apiKey")), newHostKey = try #require(rotated.string("tokenServiceKey"))
        #expect(newBankKey != s.bankKey && newHostKey != s.hostKey)
        #expect(try await s.bankCall("GET", "/accounts").status == 401)
        #expect(try await harness.issuerHost("GET", "/banks/\(s.bankID)/accounts", key: newBankKey).status == 200)

        let tokensBefore = try await harness.api("GET", "/v1/tokens", key: harness.info.operatorKey).array.count
        let phone = try await s.register(model: "google-pixel-8", os: "14")
        let refused = try await s.enroll(phone)
        #expect(refused.status == 502, "\(refused.json)")
        #expect(try await harness.api("GET", "/v1/tokens", key: harness.info.operatorKey).array.count == tokensBefore)

        // Only the issuer itself or the operator may set it; then enrollment works again.
        #expect(try await harness.api("PUT", "/v1/issuers/\(s.issuerID)/host-key", key: s.walletKey, json: ["hostKey": newHostKey]).status == 403)
        #expect(try await harness.api("PUT", "/v1/issuers/\(s.issuerID)/host-key", key: s.issuerKey, json: ["hostKey": "12"]).status == 422)
        #expect(try await harness.api("PUT", "/v1/issuers/\(s.issuerID)/host-key", key: s.issuerKey, json: ["hostKey": newHostKey]).status == 204)
        #expect(try await s.enroll(phone).string("status") == "approved")
        // No answer shows a host key.
        let issuers = try await harness.api("GET", "/v1/issuers", key: harness.info.operatorKey)
        #expect(!String(decoding: issuers.body, as: UTF8.self).contains(newHostKey) && issuers.array.first?["hostKey"] == nil)
    }

    /// The crashing request: an account with amounts whose sum overflows. Refused with a
    /// problem; the API, the network and the bank go on (a tap is approved after it).
    @Test func amountsThatWouldOverflowAreRefusedAndThePlatformGoesOn() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        var (phone, tokenID) = try await s.phoneWithCard()
        for (balance, credit) in [(Int64.max, Int64.max), (Int64.max, 0), (0, -1)] {
            let answer = try await s.bankCall("POST", "/accounts", json: [
                "pan": cardNumber("220070", seed: 99), "expiry": "2912", "holderName": "MALLORY", "currency": "RUB",
                "balanceMinor": balance, "creditLimitMinor": credit,
            ])
            #expect(answer.status == 422 && answer.headers["content-type"] == "application/problem+json", "\(answer.json)")
        }
        #expect(try await s.bankCall("GET", "/accounts").array.count == 1)
        #expect(try await harness.issuerHost("GET", "/health", key: "").status == 200)
        let network = try await TestAcquirer.onboard(harness).client(harness)
        defer { Task { await network.close() } }
        let pos = Terminal(.init(kind: .pos, terminalID: "MSK00009", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                 nameLocation: "GUM MOSCOW RU", country: 643, currency: try #require(Currency.alpha("RUB"))), network: network)
        var applet = ContactlessApplet(tokenID: tokenID)
        #expect(try await pos.tap(amountMinor: 10_000) { applet.respond(to: $0, wallet: &phone) }.responseCode == "00")
    }

    /// The issuer host's OpenAPI document describes exactly what it serves: every
    /// documented route answers (200, or 401 without its credential), never 404.
    /// The bank's ISO 8583 port, tried directly: an 0100 with a clear card number and an
    /// 0400 for a hold are refused (63) unless the connection signed on with the link key
    /// and the message carries its MAC; nothing is held or released. The network, which
    /// has the key, is served, and its answers carry the bank's MAC.
    @Test func theBanksISOPortServesOnlyTheNetworkWithTheLinkKey() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let s = try await RussianBankScenario.make(harness)
        let port = try #require(harness.info.issuerHostISOPort)
        let linkKey = try LinkKey.read(file: harness.dataDirectory + "/issuer-host-link.key")
        let attrs = try FileManager.default.attributesOfItem(atPath: harness.dataDirectory + "/issuer-host-link.key")
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let wrongKey = MACKey.tdes(try TDESKey(hex: "0123456789ABCDEFFEDCBA9876543210"))
        let codec = ISO8583Codec()
        func sealed(_ m: Message, _ key: MACKey) throws -> Message { try MessageAuthentication.seal(m, key: key, codec: codec).message }
        let plain = ISO8583Client(host: "127.0.0.1", port: port, connections: 1, timeout: .seconds(10), logger: Self.quiet)
        defer { Task { await plain.close() } }
        var forged = Message(mti: "0100")
        forged.set(2, s.pan); forged.set(3, "000000"); forged.set(4, "000000100000"); forged.set(7, "1129120000"); forged.set(11, "000001")
        forged.set(14, "2912"); forged.set(32, "25000001"); forged.set(41, "MALLORY1"); forged.set(49, "643")
        let available = try await s.available()
        // Not signed on: with or without a MAC, 63.
        #expect(try await plain.send(forged).string(39) == "63")
        #expect(try await plain.send(try sealed(forged, linkKey)).string(39) == "63")
        // A sign-on under another key: 63; under the link key: 00, MAC'd by the bank.
        #expect(try await plain.send(try sealed(ISO8583Client.signOnMessage("99000001"), wrongKey)).string(39) == "63")
        let signedOn = try await plain.send(try sealed(ISO8583Client.signOnMessage("99000001"), linkKey))
        #expect(signedOn.string(39) == "00")
        #expect(throws: Never.self) { try MessageAuthentication.verify(frame: try codec.pack(signedOn), message: signedOn, key: linkKey) }
        // Signed on, but without a MAC, or with one under another key: 63.
        #expect(try await plain.send(forged).string(39) == "63")
        #expect(try await plain.send(try sealed(forged, wrongKey)).string(39) == "63")
        var reversal = Message(mti: "0400")
        for f in [2, 3, 4, 7, 11, 14, 32, 41, 49] { reversal[f] = forged[f] }
        reversal.set(11, "000002")
        reversal.set(90, "0100" + "000001" + "1129120000" + String(repeating: "0", count: 22))
        #expect(try await plain.send(try sealed(reversal, wrongKey)).string(39) == "63")
        #expect(try await s.available() == available, "nothing held or released")
        // The network has the key: a tap is decided by the bank.
        var (phone, tokenID) = try await s.phoneWithCard()
        let network = try await TestAcquirer.onboard(harness).client(harness)
        defer { Task { await network.close() } }
        let pos = Terminal(.init(kind: .pos, terminalID: "MSK00010", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                 nameLocation: "GUM MOSCOW RU", country: 643, currency: try #require(Currency.alpha("RUB"))), network: network)
        var applet = ContactlessApplet(tokenID: tokenID)
        let card = try pos.read(amountMinor: 1_000, transactionType: 0) { applet.respond(to: $0, wallet: &phone) }
        #expect(try await pos.send(pos.request(for: card, amountMinor: 1_000)).responseCode == "00")
        #expect(try await s.available() == available.map { $0 - 1_000 })
    }

    @Test func theIssuerHostsDocumentAndRoutesAgree() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        let served = try await PlatformHarness.call("GET", try harness.issuerHostURL + "/openapi.yaml", key: nil, json: nil, raw: nil, headers: [:])
        #expect(served.status == 200 && served.headers["content-type"] == "application/yaml")
        let text = String(decoding: served.body, as: UTF8.self)
        #expect(text.hasPrefix("openapi: 3.1.0"))
        var documented: [(String, String)] = []
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("components:") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":") { currentPath = String(line.dropFirst(2).dropLast()) }
            else if let path = currentPath, let method = ["get", "post", "put", "delete"].first(where: { line == "    \($0):" }) {
                documented.append((method.uppercased(), path.replacingOccurrences(of: "{bank}", with: "some-bank")))
            }
        }
        #expect(documented.count == 18, "the 18 routes IssuerHostHTTP serves")
        for (method, path) in documented {
            let answer = try await PlatformHarness.call(method, try harness.issuerHostURL + path, key: nil, json: nil, raw: method == "GET" ? nil : "{}", headers: [:])
            #expect([200, 401].contains(answer.status), "\(method) \(path): \(answer.status)")
        }
    }

    /// Every refusal is a problem document, an unknown path included, on both APIs.
    @Test func unknownPathsAreProblems() async throws {
        let harness = try await PlatformHarness.start()
        defer { Task { await harness.stop() } }
        for answer in [try await harness.api("GET", "/v1/no-such-thing", key: harness.info.operatorKey),
                       try await harness.api("GET", "/nothing", key: nil),
                       try await harness.issuerHost("GET", "/nothing/here")] {
            #expect(answer.status == 404)
            #expect(answer.headers["content-type"] == "application/problem+json")
            #expect(answer.string("type") == "https://passway.dev/problems/not-found")
        }
    }
}
