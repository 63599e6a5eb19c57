import AsyncHTTPClient
import Foundation
import NIOCore
import Participants
@testable import PasswayServer
import Synchronization
import Testing
import TestSupport

/// The console's doors, over HTTP: who gets in, how long a session lives, and that every
/// form needs its CSRF token. (The pages themselves are driven in Chromium by
/// Tests/Oracles/console_test.py in CI.)
@Suite(.timed) struct ConsoleTests {
    /// A browser without JavaScript: cookies kept by hand, redirects not followed.
    final class Browser: Sendable {
        let base: String
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let cookies = Mutex<[String: String]>([:])

        init(_ base: String) { self.base = base }

        struct Page { var status: Int; var headers: [(String, String)]; var body: String
            func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        }

        func send(_ method: String, _ path: String, form: [String: String]? = nil) async throws -> Page {
            var request = HTTPClientRequest(url: base + path)
            request.method = .init(rawValue: method)
            let jar = cookies.withLock { $0 }
            if !jar.isEmpty { request.headers.add(name: "Cookie", value: jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")) }
            if let form {
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await client.execute(request, timeout: .seconds(30))
            var body = ""
            // An event stream is read up to its first event, not to its end.
            for try await chunk in response.body {
                body += String(buffer: chunk)
                if response.headers["Content-Type"].first == "text/event-stream", body.contains("data: {"), body.hasSuffix("\n\n") { break }
            }
            let headers = response.headers.map { ($0.name, $0.value) }
            for (name, value) in headers where name.lowercased() == "set-cookie" {
                let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                let maxAgeZero = value.contains("Max-Age=0")
                cookies.withLock { $0[String(pair[0])] = maxAgeZero ? nil : String(pair[1]) }
            }
            return Page(status: Int(response.status.code), headers: headers, body: body)
        }

        /// The value of a hidden field in the last page.
        static func field(_ name: String, in page: Page) -> String? {
            guard let range = page.body.range(of: "name=\"\(name)\" value=\"") else { return nil }
            return String(page.body[range.upperBound...].prefix { $0 != "\"" })
        }

        func close() async { try? await client.shutdown() }
    }

    @Test func signInSessionsAndCSRF() async throws {
        let harness = try await PlatformHarness.start()
        let browser = Browser(harness.info.apiURL)
        defer { Task { await browser.close(); await harness.stop() } }

        // A stranger goes to the sign-in page; a form without the sign-in page's cookie is refused.
        let first = try await browser.send("GET", "/console/overview")
        #expect(first.status == 303 && first.header("Location") == "/console/sign-in")
        let stranger = Browser(harness.info.apiURL)
        #expect(try await stranger.send("POST", "/console/sign-in", form: ["key": harness.info.operatorKey, "csrf": "x"]).status == 403)
        await stranger.close()

        let signIn = try await browser.send("GET", "/console/sign-in")
        #expect(signIn.header("Content-Security-Policy")?.contains("script-src 'self'") == true)
        let token = try #require(Browser.field("csrf", in: signIn))
        // A wallet's key is no operator's.
        let wallet = try await harness.api("POST", "/v1/wallets", key: harness.info.operatorKey,
                                           json: ["id": "console-wallet", "name": "W", "tokenRequestorID": "40010077003"]).string("apiKey")
        let refused = try await browser.send("POST", "/console/sign-in", form: ["key": try #require(wallet), "csrf": token])
        #expect(refused.body.contains("signin-error"))
        #expect(browser.cookies.withLock { $0[Console.sessionCookie] } == nil)

        // A second network key for this test, so that revoking it ends its session.
        let issued = try await harness.api("POST", "/v1/credentials", key: harness.info.operatorKey, json: ["kind": "network"])
        let key = try #require(issued.string("apiKey")), keyID = try #require(issued.string("keyID"))
        let again = try await browser.send("GET", "/console/sign-in")
        let opened = try await browser.send("POST", "/console/sign-in", form: ["key": key, "csrf": try #require(Browser.field("csrf", in: again))])
        #expect(opened.status == 303 && opened.header("Location") == "/console/overview")
        let cookie = try #require(opened.headers.first { $0.0.lowercased() == "set-cookie" && $0.1.hasPrefix(Console.sessionCookie + "=") }?.1)
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] { #expect(cookie.contains(attribute), "\(attribute) in \(cookie)") }
        #expect(!cookie.contains("Secure"), "plain HTTP: no Secure attribute (it is set under TLS)")

        let overview = try await browser.send("GET", "/console/overview")
        #expect(overview.status == 200 && overview.body.contains("id=\"total\""))
        #expect(overview.body.contains(keyID), "the page names the key it was opened with")
        let csrf = try #require(Browser.field("csrf", in: overview))

        // Forms: without the token, or with another, refused and nothing changed.
        #expect(try await browser.send("POST", "/console/markets/RU/suspend", form: ["reason": "x", "confirm": "yes"]).status == 403)
        #expect(try await browser.send("POST", "/console/markets/RU/suspend", form: ["reason": "x", "confirm": "yes", "csrf": csrf + "x"]).status == 403)
        let markets = try await harness.api("GET", "/v1/markets", key: harness.info.operatorKey).array
        #expect(markets.first { $0["country"] as? String == "RU" }?["state"] as? String == "live")
        // With it, the confirmation step first, and nothing suspended by it.
        let confirm = try await browser.send("POST", "/console/markets/RU/suspend", form: ["reason": "drill", "csrf": csrf])
        #expect(confirm.status == 200 && confirm.body.contains("name=\"confirm\" value=\"yes\""))
        #expect(try await harness.api("GET", "/v1/markets", key: harness.info.operatorKey).array.first { $0["country"] as? String == "RU" }?["state"] as? String == "live")

        // Confirmed: suspended through the API's own route, audited with the operator's key id.
        let done = try await browser.send("POST", "/console/markets/BY/suspend", form: ["reason": "drill", "csrf": csrf, "confirm": "yes"])
        #expect(done.status == 303 && done.header("Location") == "/console/markets")
        func state(_ country: String) async throws -> String? {
            try await harness.api("GET", "/v1/markets", key: harness.info.operatorKey).array.first { $0["country"] as? String == country }?["state"] as? String
        }
        #expect(try await state("BY") == "suspended")
        #expect(harness.logs.lines.contains { $0.contains("operator request") && $0.contains("operator=\(keyID)") && $0.contains("via=console")
                && $0.contains("path=/console/markets/BY/suspend") })
        // A state that is none: the API's problem, shown, and nothing changed.
        let bad = try await browser.send("POST", "/console/markets/BY/resume", form: ["state": "open", "csrf": csrf])
        #expect(bad.status == 400 && bad.body.contains("id=\"message\""))
        #expect(try await state("BY") == "suspended")
        #expect(try await browser.send("POST", "/console/markets/BY/resume", form: ["state": "pilot", "csrf": csrf]).status == 303)
        #expect(try await state("BY") == "pilot")
        // The same change through the API names its key too.
        let operatorID = ParticipantRegistry.keyID(of: harness.info.operatorKey)
        #expect(try await harness.api("PUT", "/v1/markets/BY", key: harness.info.operatorKey, json: ["state": "pilot"],
                                          headers: ["Prefer": "wait=60"]).status == 200)
        #expect(harness.logs.lines.contains { $0.contains("operator request") && $0.contains("operator=\(operatorID)") && $0.contains("via=api") })
        // And both are in the audit trail, in order, with how each ended.
        let trail = try await harness.api("GET", "/v1/operations/audit", key: harness.info.operatorKey).array
        let byTrail = trail.filter { ($0["path"] as? String ?? "").contains("/markets/BY") }
        #expect(byTrail.map { "\($0["via"] ?? "") \($0["method"] ?? "") \($0["path"] ?? "") \($0["problem"] ?? "-")" } == [
            "console POST /console/markets/BY/suspend -", "console POST /console/markets/BY/resume invalid-request",
            "console POST /console/markets/BY/resume -", "api PUT /v1/markets/BY -"])
        #expect(byTrail.map { $0["keyID"] as? String } == [keyID, keyID, keyID, operatorID])
        let statuses = byTrail.compactMap { $0["status"] as? Int }
        #expect(statuses.count == 4 && statuses[1] == 400 && [0, 2, 3].allSatisfy { [200, 202].contains(statuses[$0]) }, "\(statuses)")

        // An acquirer onboarded from the form: its key shown once, and it works.
        let onboarded = try await browser.send("POST", "/console/participants/acquirers",
                                               form: ["id": "form-acquirer", "name": "Form Acquirer", "country": "ru", "institutionID": "25000099", "csrf": csrf])
        #expect(onboarded.status == 200)
        let acquirerKey = try #require(onboarded.body.range(of: "pwk_").map { String(onboarded.body[$0.lowerBound...].prefix { $0 != "<" }) })
        #expect(try await harness.api("GET", "/v1/exchange-rates", key: acquirerKey).status == 200)
        #expect(try await harness.api("GET", "/v1/acquirers", key: harness.info.operatorKey).array.contains { $0["id"] as? String == "form-acquirer" })
        // Twice: the API's conflict, shown.
        let twice = try await browser.send("POST", "/console/participants/acquirers",
                                           form: ["id": "form-acquirer", "name": "Form Acquirer", "country": "RU", "institutionID": "25000099", "csrf": csrf])
        #expect(twice.status == 409)

        // Tokens by their last four alone would read them all: the page asks for an issuer or a device.
        #expect(try await browser.send("GET", "/console/tokens?last4=1234").body.contains("id=\"narrow\""))
        let noSuchToken = try await browser.send("GET", "/console/tokens?token=tok_none")
        #expect(noSuchToken.status == 200 && noSuchToken.body.contains("id=\"no-history\""))

        // The live stream answers with the figures.
        let live = try await browser.send("GET", "/console/live")
        #expect(live.header("Content-Type") == "text/event-stream")
        #expect(live.body.contains("data: {"))

        // The key revoked through the API: its session ends with it.
        #expect(try await harness.api("DELETE", "/v1/credentials/\(keyID)", key: harness.info.operatorKey).status == 204)
        let after = try await browser.send("GET", "/console/overview")
        #expect(after.status == 303 && after.header("Location") == "/console/sign-in")
    }

    /// Sessions live in the platform's database: a session opened through one node is
    /// good on another (a second store on the same database), signing out on one ends it
    /// on both, and a session dies idle or old. Nothing in the store is the cookie or the
    /// CSRF token.
    @Test(arguments: Backend.available)
    func sessionsAreSharedByTheNodesAndExpireWhenIdleOrOld(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let clock = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        let sessions = ConsoleSessions(store: s.store, now: { clock.withLock { $0 } })
        let otherNode = ConsoleSessions(store: try await s.openAnother(), now: { clock.withLock { $0 } })
        let (id, session) = try await sessions.open(credentialHash: "h", keyID: "K")
        #expect(try await sessions.touch(id) == session)
        #expect(try await otherNode.touch(id) == session, "the other node knows it, CSRF token included")
        #expect(try await sessions.touch("another") == nil)
        let stored = try #require(try await s.store.consoleSession(key: ConsoleSessions.key(id)))
        #expect(!"\(stored)".contains(id) && !"\(stored)".contains(session.csrf), "neither the cookie nor the CSRF token is stored")
        // Used every 14 minutes: alive for the 12 hours, then gone.
        var used = 0
        while try await (used % 2 == 0 ? sessions : otherNode).touch(id) != nil {
            clock.withLock { $0 += 14 * 60 }
            used += 1
            if used > 100 { break }
        }
        #expect(used == Int(ConsoleSessions.maxAge / (14 * 60)) + 1, "alive until 12 hours old (\(used) uses)")
        #expect(try await s.store.consoleSession(key: ConsoleSessions.key(id)) == nil, "an expired session is removed")
        // Idle for 15 minutes: gone.
        let (idle, _) = try await sessions.open(credentialHash: "h", keyID: "K")
        clock.withLock { $0 += ConsoleSessions.idleTimeout - 1 }
        #expect(try await otherNode.touch(idle) != nil)
        clock.withLock { $0 += ConsoleSessions.idleTimeout }
        #expect(try await sessions.touch(idle) == nil)
        // Signed out on one node: gone on both.
        let (closed, opened) = try await sessions.open(credentialHash: "h", keyID: "K")
        #expect(ConsoleSessions.csrfMatches(opened, opened.csrf))
        #expect(!ConsoleSessions.csrfMatches(opened, nil))
        #expect(!ConsoleSessions.csrfMatches(opened, String(opened.csrf.dropLast())))
        #expect(opened.csrf != ConsoleSessions.csrf(id), "each session its own token")
        try await otherNode.close(closed)
        #expect(try await sessions.touch(closed) == nil)
        // Opening a session clears out the expired ones, never touched since.
        let (stale, _) = try await sessions.open(credentialHash: "h", keyID: "K")
        clock.withLock { $0 += ConsoleSessions.idleTimeout }
        #expect(try await s.store.consoleSession(key: ConsoleSessions.key(stale)) != nil)
        _ = try await otherNode.open(credentialHash: "h", keyID: "K")
        #expect(try await s.store.consoleSession(key: ConsoleSessions.key(stale)) == nil)
    }

    @Test func theLanguageFollowsTheBrowserUntilChosen() {
        #expect(ConsoleText.language(acceptLanguage: "ru-RU,ru;q=0.9,en-US;q=0.8", chosen: nil) == "ru")
        #expect(ConsoleText.language(acceptLanguage: "de-DE,de;q=0.9,en;q=0.5", chosen: nil) == "en")
        #expect(ConsoleText.language(acceptLanguage: "en;q=0.2, ru;q=0.8", chosen: nil) == "ru")
        #expect(ConsoleText.language(acceptLanguage: "zh-CN", chosen: nil) == "en")
        #expect(ConsoleText.language(acceptLanguage: nil, chosen: nil) == "en")
        #expect(ConsoleText.language(acceptLanguage: "ru", chosen: "en") == "en")
        #expect(ConsoleText.language(acceptLanguage: "en", chosen: "xx") == "en")
        // Every text in both languages.
        #expect(Set(ConsoleText.en.keys) == Set(ConsoleText.ru.keys))
    }
}
