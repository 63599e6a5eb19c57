import Clearing
import EMV
import ISO8583
import Vault
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import ISO8583Transport
import Logging
import Mustache
import NetworkSwitch
import Participants
import ServiceLifecycle
import TokenService

/// The operator's console at `/console`: HTML pages rendered on the server (swift-mustache),
/// live figures over server-sent events, charts by Chart.js (vendored from Debian's
/// `libjs-chart.js`). Signing in takes a network operator's API key once; then a session
/// cookie (HttpOnly, SameSite=Strict, Secure under TLS, 15 minutes idle), a CSRF token in
/// every form. Each action is what an API call does (the same room, the same checks), and
/// is logged at notice with the operator's key id.
struct Console: Sendable {
    /// The API whose routes the console's actions call, so that each is exactly an API call.
    let api: PasswayAPI
    let rooms: Rooms
    let metrics: PlatformMetrics
    let links: @Sendable () -> [ISO8583Client.LinkState]
    let sessions: ConsoleSessions
    let resources: ConsoleResources?
    /// Under TLS: the session cookie is `Secure`.
    let secure: Bool
    let logger: Logger

    static let sessionCookie = "passway_console"
    static let signInCookie = "passway_console_signin"
    static let languageCookie = "passway_console_lang"
    static let maxForm = 16 * 1_024
    /// How long one live stream lasts before the browser reconnects (so that a stopping
    /// server is never held by an open page).
    static let streamSeconds = 20

    static let pagePaths = ["/console/overview", "/console/participants", "/console/markets", "/console/tokens", "/console/money", "/console/queues"]

    func register(on router: Router<PasswayRequestContext>) {
        router.get("/console") { _, _ in Self.redirect("/console/overview") }
        router.get("/console/sign-in") { request, _ in try await self.signInPage(request, failed: false) }
        router.post("/console/sign-in") { request, context in try await self.signIn(request, context) }
        router.post("/console/sign-out") { request, context in
            try await self.withSession(request, context, form: true) { session, _ in
                if let id = request.cookies[Self.sessionCookie]?.value { try await sessions.close(id) }
                logger.notice("console: signed out", metadata: ["operator": "\(session.keyID)"])
                var response = Self.redirect("/console/sign-in")
                response.setCookie(Cookie(name: Self.sessionCookie, value: "", maxAge: 0, path: "/console", secure: secure, httpOnly: true, sameSite: .strict))
                return response
            }
        }
        router.get("/console/overview") { request, context in
            try await self.page(request, context, "overview") { _, _ in try await self.overview() }
        }
        router.get("/console/participants") { request, context in
            try await self.page(request, context, "participants") { _, _ in try await self.participants() }
        }
        router.get("/console/markets") { request, context in
            try await self.page(request, context, "markets") { _, t in try await self.markets(t) }
        }
        router.post("/console/participants/issuers") { request, context in
            try await self.onboard(request, context, path: "/v1/issuers") { f in
                var body: [String: Any] = ["id": f["id"] ?? "", "name": f["name"] ?? "", "country": (f["country"] ?? "").uppercased(),
                                           "currency": (f["currency"] ?? "").uppercased(), "cardRanges": Self.list(f["cardRanges"]),
                                           "tokenRanges": Self.list(f["tokenRanges"]), "enabledWallets": Self.list(f["enabledWallets"]), "hostURL": f["hostURL"] ?? ""]
                if let hostKey = f["hostKey"], !hostKey.isEmpty { body["hostKey"] = hostKey }
                if let profile = f["cryptogramProfile"], !profile.isEmpty { body["cryptogramProfile"] = profile }
                return body
            }
        }
        router.post("/console/participants/acquirers") { request, context in
            try await self.onboard(request, context, path: "/v1/acquirers") { f in
                ["id": f["id"] ?? "", "name": f["name"] ?? "", "country": (f["country"] ?? "").uppercased(), "institutionID": f["institutionID"] ?? ""]
            }
        }
        router.post("/console/markets/:country/suspend") { request, context in try await self.suspend(request, context) }
        router.post("/console/markets/:country/resume") { request, context in try await self.resume(request, context) }
        router.get("/console/tokens") { request, context in
            try await self.page(request, context, "tokens") { _, _ in try await self.tokens(request) }
        }
        router.get("/console/money") { request, context in
            try await self.page(request, context, "money") { _, _ in try await self.money() }
        }
        router.post("/console/money/close") { request, context in try await self.closeWindow(request, context) }
        router.get("/console/queues") { request, context in
            try await self.page(request, context, "queues") { _, _ in try await self.queues() }
        }
        router.get("/console/live") { request, context in try await self.live(request, context) }
        router.get("/console/static/:file") { _, context in
            let name = context.parameters.get("file") ?? ""
            guard let file = resources?.files[name] else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: file.contentType, .cacheControl: "public, max-age=3600", .init("X-Content-Type-Options")!: "nosniff"],
                            body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
        }
    }

    // MARK: - Sessions and forms

    static func redirect(_ to: String) -> Response { Response(status: .seeOther, headers: [.location: to, .cacheControl: "no-store"]) }

    func language(_ request: Request) -> String {
        if let asked = request.uri.queryParameters["lang"].map(String.init), ConsoleText.languages.contains(asked) { return asked }
        return ConsoleText.language(acceptLanguage: request.headers[.acceptLanguage], chosen: request.cookies[Self.languageCookie]?.value)
    }

    /// The form's fields (application/x-www-form-urlencoded, at most 16 KiB), read by
    /// Hummingbird's decoder; a body it cannot read is a 400.
    static func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let text = String(buffer: try await request.collectBody(upTo: maxForm))
        do { return try URLEncodedFormDecoder().decode([String: String].self, from: text) } catch {
            throw Problem.badRequest("the form is not application/x-www-form-urlencoded fields")
        }
    }

    /// The signed-in operator's session (its credential still valid) or the sign-in page;
    /// with `form`, the request's form, which must carry the session's CSRF token (403
    /// otherwise).
    func withSession(_ request: Request, _ context: PasswayRequestContext, form: Bool,
                     _ body: (ConsoleSessions.Session, [String: String]) async throws -> Response) async throws -> Response {
        guard let id = request.cookies[Self.sessionCookie]?.value, let session = try await sessions.touch(id),
              try await rooms.participants.authenticate(credentialHash: session.credentialHash) == .network else {
            if form || request.uri.path == "/console/live" { return try render("message", status: .unauthorized, request, session: nil, ["message": "401"]) }
            return Self.redirect("/console/sign-in")
        }
        var fields: [String: String] = [:]
        if form {
            fields = try await Self.form(request)
            guard ConsoleSessions.csrfMatches(session, fields["csrf"]) else {
                logger.warning("console: a form without its CSRF token refused", metadata: ["operator": "\(session.keyID)", "path": "\(request.uri.path)"])
                return try render("message", status: .forbidden, request, session: session, ["message": "403: CSRF"])
            }
        }
        return try await body(session, fields)
    }

    func page(_ request: Request, _ context: PasswayRequestContext, _ name: String,
              _ data: @escaping (ConsoleSessions.Session, [String: String]) async throws -> [String: Any]) async throws -> Response {
        try await withSession(request, context, form: false) { session, _ in
            let t = ConsoleText.table(language(request))
            var values = try await data(session, t)
            values["nav_" + name] = true
            values["title"] = t[name] ?? name
            return try render(name, status: .ok, request, session: session, values)
        }
    }

    func render(_ template: String, status: HTTPResponse.Status, _ request: Request, session: ConsoleSessions.Session?, _ values: [String: Any]) throws -> Response {
        guard let resources else {
            return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "the console's files are missing from this build\n")))
        }
        let language = language(request)
        var context = values
        context["t"] = ConsoleText.table(language)
        context["lang"] = language
        context["signedIn"] = session != nil
        context["csrf"] = session?.csrf ?? ""
        context["operator"] = session?.keyID ?? ""
        let html = resources.library.render(context, withTemplate: template) ?? "template \(template) missing"
        var response = Response(status: status, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
        if let asked = request.uri.queryParameters["lang"].map(String.init), ConsoleText.languages.contains(asked) {
            response.setCookie(Cookie(name: Self.languageCookie, value: asked, maxAge: 365 * 86_400, path: "/console", secure: secure, httpOnly: true, sameSite: .strict))
        }
        return response
    }

    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .init("X-Content-Type-Options")!: "nosniff",
        .init("X-Frame-Options")!: "DENY",
        .init("Referrer-Policy")!: "same-origin",
    ]

    // MARK: - Sign-in

    func signInPage(_ request: Request, failed: Bool) async throws -> Response {
        // Login CSRF: the form's token must equal a cookie this page set.
        let token = ConsoleSessions.token()
        // A refused key gets the form again with the reason, as 200: a browser logs any 4xx page as an error.
        var response = try render("signin", status: .ok, request, session: nil, ["signinToken": token, "failed": failed,
                                                                                "title": ConsoleText.table(language(request))["signIn"] ?? ""])
        response.setCookie(Cookie(name: Self.signInCookie, value: token, maxAge: 3_600, path: "/console", secure: secure, httpOnly: true, sameSite: .strict))
        return response
    }

    func signIn(_ request: Request, _ context: PasswayRequestContext) async throws -> Response {
        let fields = try await Self.form(request)
        guard let cookie = request.cookies[Self.signInCookie]?.value, let given = fields["csrf"], SecureRandom.constantTimeEquals(cookie, given) else {
            return try render("message", status: .forbidden, request, session: nil, ["message": "403: CSRF"])
        }
        let key = (fields["key"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard key.count <= 200, !key.isEmpty, try await rooms.participants.authenticate(apiKey: key) == .network else {
            logger.notice("console: sign-in refused")
            return try await signInPage(request, failed: true)
        }
        let (id, session) = try await sessions.open(credentialHash: ParticipantRegistry.credentialHash(key), keyID: ParticipantRegistry.keyID(of: key))
        logger.notice("console: signed in", metadata: ["operator": "\(session.keyID)"])
        var response = Self.redirect("/console/overview")
        response.setCookie(Cookie(name: Self.sessionCookie, value: id, maxAge: Int(ConsoleSessions.maxAge), path: "/console", secure: secure, httpOnly: true, sameSite: .strict))
        response.setCookie(Cookie(name: Self.signInCookie, value: "", maxAge: 0, path: "/console", secure: secure, httpOnly: true, sameSite: .strict))
        return response
    }

    // MARK: - Pages

    static func formatted(_ value: Double?, digits: Int) -> String {
        guard let value else { return "–" }
        return String(format: "%.\(digits)f", value)
    }

    static func percent(_ value: Double?) -> String { value.map { String(format: "%.1f%%", $0 * 100) } ?? "–" }

    func overview() async throws -> [String: Any] {
        let s = metrics.network.activity?.snapshot() ?? Activity().snapshot()
        return [
            "total": s.total, "approved": s.approved, "perSecond": Self.formatted(s.perSecond, digits: 1),
            "approvalRate": Self.percent(s.approvalRate), "p50": Self.formatted(s.p50Milliseconds, digits: 1), "p99": Self.formatted(s.p99Milliseconds, digits: 1),
            "codes": s.codes.sorted { $0.key < $1.key }.map { ["code": $0.key, "count": $0.value] },
        ]
    }

    func participants() async throws -> [String: Any] {
        let tallies = metrics.network.activity?.issuers() ?? [:]
        let now = Date()
        let issuers = try await rooms.participants.issuers().map { issuer -> [String: Any] in
            let tally = tallies[issuer.id] ?? Activity.IssuerTally()
            return ["id": issuer.id, "name": issuer.name, "country": issuer.country, "total": tally.total,
                    "rate": Self.formatted(tally.perSecond(now: now), digits: 1),
                    "approvalRate": Self.percent(tally.total > 0 ? Double(tally.approved) / Double(tally.total) : nil),
                    "timeouts": tally.timeouts, "standInShare": Self.percent(tally.total > 0 ? Double(tally.standIn) / Double(tally.total) : nil)]
        }
        let acquirers = try await rooms.participants.acquirers().map { ["id": $0.id, "name": $0.name, "country": $0.country, "institution": $0.institutionID] }
        return ["issuers": issuers, "acquirers": acquirers, "links": linkRows()]
    }

    func linkRows() -> [[String: Any]] {
        links().map { ["endpoint": "\($0.host):\($0.port)", "up": $0.connected > 0, "connections": $0.connected, "failures": $0.failures, "lastError": $0.lastError ?? ""] }
    }

    func markets(_ t: [String: String]) async throws -> [String: Any] {
        let rows = try await rooms.participants.markets().map { m -> [String: Any] in
            var row: [String: Any] = ["country": m.country, "name": m.name, "currency": m.currency, "state": m.state.rawValue,
                                      "stateLabel": t[m.state.rawValue] ?? m.state.rawValue, "reason": m.reason ?? "", "suspended": m.state == .suspended]
            if let sweep = m.sweep {
                // "suspended 12,000 · running", "resumed 1,000,000 · took 412 s"
                row["sweep"] = ["kind": sweep.kind.rawValue, "kindLabel": t[sweep.kind == .suspend ? "sweepSuspend" : "sweepResume"] ?? "",
                                "tokens": sweep.tokens.formatted(), "running": sweep.isRunning,
                                "seconds": sweep.finishedAt.map { String(format: "%.0f", $0.timeIntervalSince(sweep.startedAt)) } ?? ""]
            }
            return row
        }
        return ["markets": rows]
    }

    func queues() async throws -> [String: Any] {
        let now = Date()
        func age(_ d: Date?) -> String { d.map { String(max(0, Int(now.timeIntervalSince($0)))) } ?? "–" }
        var rows: [[String: Any]] = try await rooms.owed.depths().map {
            ["issuer": $0.issuerID, "kind": $0.kind.rawValue, "queued": $0.queued, "oldest": age($0.oldestQueuedAt), "expired": $0.expired, "delivered": $0.delivered]
        }
        rows += try await rooms.tokens.noticeDepths().map {
            ["issuer": $0.issuerID, "kind": "notification", "queued": $0.queued, "oldest": age($0.oldestQueuedAt), "expired": $0.expired, "delivered": $0.delivered]
        }
        let unanswered = try await rooms.journal.unanswered(claimedBefore: now, limit: 10_000).count
        return ["queues": rows, "unanswered": unanswered, "links": linkRows()]
    }

    func tokens(_ request: Request) async throws -> [String: Any] {
        let q = request.uri.queryParameters
        func field(_ name: String, max: Int) -> String? {
            guard let v = q[name[...]].map(String.init)?.trimmingCharacters(in: .whitespaces), !v.isEmpty, v.count <= max else { return nil }
            return v
        }
        let lastFour = field("last4", max: 4).flatMap { $0.count == 4 && $0.allSatisfy(\.isASCIIDigit) ? $0 : nil }
        let issuer = field("issuer", max: 64), device = field("device", max: 64)
        var values: [String: Any] = ["last4": lastFour ?? "", "issuer": issuer ?? "", "device": device ?? ""]
        if issuer == nil, device == nil, lastFour != nil {
            // The last four alone would read every token: an issuer or a device narrows it (an index).
            values["narrow"] = true
        } else if issuer != nil || device != nil {
            let found = try await rooms.tokens.tokens(for: issuer.map { .issuer($0) } ?? .network, deviceID: device)
                .filter { t in lastFour == nil || t.maskedNumber.hasSuffix(lastFour ?? "") }
                .prefix(200)
            values["results"] = found.map { ["id": $0.id, "masked": $0.maskedNumber, "issuer": $0.issuerID, "wallet": $0.walletID, "device": $0.deviceID,
                                             "country": $0.country, "status": $0.status.rawValue, "created": Self.time($0.createdAt)] }
            values["searched"] = true
        }
        if let id = field("token", max: 64) {
            // A token id that is none shows no history, not the API's 404 as JSON.
            let events: [AuditEvent]
            do { events = try await rooms.tokens.audit(tokenID: id, for: .network) } catch ServiceError.notFound { events = [] }
            values["history"] = events.map {
                ["at": Self.time($0.at), "event": $0.event.rawValue, "actor": "\($0.actor.kind.rawValue):\($0.actor.id)", "reason": $0.reason ?? ""]
            }
            values["historyOf"] = id
        }
        return values
    }

    func money() async throws -> [String: Any] {
        var windows: [[String: Any]] = []
        for w in try await rooms.clearing.windows(currency: nil).suffix(30).reversed() {
            let positions = try await rooms.clearing.positions(windowID: w.id)
            let exponent = Currency.alpha(w.currency)?.exponent ?? 2
            windows.append(["id": w.id, "currency": w.currency, "state": w.state.rawValue, "opened": Self.time(w.openedAt), "cutOff": Self.time(w.cutOff),
                            "closed": w.closedAt.map(Self.time) ?? "", "open": w.state == .open,
                            "positions": positions.map { ["participant": $0.participant, "net": Self.amount($0.amountMinor, exponent: exponent)] }])
        }
        return ["windows": windows]
    }

    static func time(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC") ?? .gmt)) }

    static func amount(_ minor: Int64, exponent: Int) -> String {
        guard exponent > 0 else { return String(minor) }
        let magnitude = minor.magnitude
        var divisor: UInt64 = 1
        for _ in 0..<exponent { divisor = divisor.multipliedReportingOverflow(by: 10).partialValue }
        let fraction = String(magnitude % divisor)
        return (minor < 0 ? "-" : "") + String(magnitude / divisor) + "." + String(repeating: "0", count: max(0, exponent - fraction.count)) + fraction
    }

    // MARK: - Actions

    static func list(_ text: String?) -> [String] {
        (text ?? "").split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" }).map(String.init).filter { !$0.isEmpty }
    }

    /// An API route called for the signed-in operator, with `json` as its body: the
    /// console's actions are these calls, with the API's checks and answers.
    func callAPI(_ method: HTTPRequest.Method, _ path: String, json: [String: Any], _ request: Request, _ context: PasswayRequestContext,
                 session: ConsoleSessions.Session) async throws -> APIResult {
        guard let route = PasswayAPI.table.first(where: { $0.method == method && $0.path == path }) else {
            throw Problem.notFound("no route \(method) \(path)")
        }
        var context = context
        context.participant = .network
        logger.notice("operator request", metadata: ["operator": "\(session.keyID)", "method": "\(method.rawValue)", "path": "\(request.uri.path)",
                                                     "route": "\(path)", "via": "console"])
        do {
            let result = try await route.handler(api, try JSONSerialization.data(withJSONObject: json), context, request)
            await api.auditOperator(keyID: session.keyID, method: request.method, path: request.uri.path, via: "console", status: Int(result.status.code),
                                    problem: nil)
            return result
        } catch {
            let problem = Problem.passway(error) ?? Problem.internalError
            await api.auditOperator(keyID: session.keyID, method: request.method, path: request.uri.path, via: "console", status: Int(problem.status.code),
                                    problem: problem.code)
            throw error
        }
    }

    func problem(_ error: any Error, _ request: Request, _ session: ConsoleSessions.Session) throws -> Response {
        let problem = Problem.passway(error) ?? Problem.internalError
        if problem.status.code >= 500 {
            // As the API logs its own: the type only, for an error it does not know.
            logger.error("console action failed", metadata: ["path": "\(request.uri.path)", "operator": "\(session.keyID)",
                                                             "error": "\(Problem.passway(error) == nil ? String(describing: type(of: error)) : problem.detail)"])
        }
        return try render("message", status: problem.status, request, session: session, ["message": problem.detail, "problem": true])
    }

    func suspend(_ request: Request, _ context: PasswayRequestContext) async throws -> Response {
        try await withSession(request, context, form: true) { session, fields in
            let country = context.parameters.get("country") ?? ""
            let reason = (fields["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard fields["confirm"] == "yes" else {
                // The confirmation step: what will happen, and the same form with confirm=yes.
                let market = try await rooms.participants.market(country: country)
                return try render("confirm", status: .ok, request, session: session,
                                  ["country": country, "name": market?.name ?? country, "reason": reason, "title": ConsoleText.table(language(request))["confirmSuspend"] ?? ""])
            }
            do {
                _ = try await callAPI(.put, "/v1/markets/{country}", json: ["state": "suspended", "reason": reason], request, context, session: session)
                return Self.redirect("/console/markets")
            } catch {
                return try problem(error, request, session)
            }
        }
    }

    func resume(_ request: Request, _ context: PasswayRequestContext) async throws -> Response {
        try await withSession(request, context, form: true) { session, fields in
            do {
                _ = try await callAPI(.put, "/v1/markets/{country}", json: ["state": fields["state"] ?? ""], request, context, session: session)
                return Self.redirect("/console/markets")
            } catch {
                return try problem(error, request, session)
            }
        }
    }

    func closeWindow(_ request: Request, _ context: PasswayRequestContext) async throws -> Response {
        try await withSession(request, context, form: true) { session, fields in
            do {
                _ = try await callAPI(.post, "/v1/settlement/windows/close", json: ["currency": fields["currency"] ?? ""], request, context, session: session)
                return Self.redirect("/console/money")
            } catch {
                return try problem(error, request, session)
            }
        }
    }

    /// An issuer or acquirer onboarded from a form: the API's answer shown once (its
    /// credentials, and an acquirer's zone master key, are not shown again).
    func onboard(_ request: Request, _ context: PasswayRequestContext, path: String,
                 _ body: @escaping @Sendable ([String: String]) -> [String: Any]) async throws -> Response {
        try await withSession(request, context, form: true) { session, fields in
            do {
                let result = try await callAPI(.post, path, json: body(fields), request, context, session: session)
                let answer = (try? JSONSerialization.jsonObject(with: result.body)) as? [String: Any] ?? [:]
                let shown = ["apiKey", "zoneMasterKey", "zoneMasterKeyCheckValue"].compactMap { key in answer[key].map { ["name": key, "value": "\($0)"] } }
                return try render("onboarded", status: .ok, request, session: session, ["id": fields["id"] ?? "", "secrets": shown,
                                                                                        "title": ConsoleText.table(language(request))["onboarded"] ?? ""])
            } catch {
                return try problem(error, request, session)
            }
        }
    }

    // MARK: - Live figures

    /// Server-sent events: the overview's figures every second (`Activity.Snapshot` as
    /// JSON), for `streamSeconds`; the browser's EventSource then reconnects.
    func live(_ request: Request, _ context: PasswayRequestContext) async throws -> Response {
        try await withSession(request, context, form: false) { _, _ in
            let activity = metrics.network.activity ?? Activity()
            let encoder = JSONEncoder()
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                for tick in 0..<Self.streamSeconds {
                    if tick > 0 { try await Task.sleep(for: .seconds(1)) }
                    if Task.isShuttingDownGracefully || Task.isCancelled { break }
                    let data = try encoder.encode(activity.snapshot())
                    try await writer.write(ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
        }
    }
}

/// The console's templates and static files, read once from the bundle.
struct ConsoleResources: Sendable {
    struct File: Sendable {
        var bytes: [UInt8]
        var contentType: String
    }

    let library: MustacheLibrary
    let files: [String: File]

    static func load() async -> ConsoleResources? {
        guard let directory = Bundle.module.url(forResource: "Console", withExtension: nil) else { return nil }
        guard let library = try? await MustacheLibrary(directory: directory.path) else { return nil }
        var files: [String: File] = [:]
        let types = ["js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "txt": "text/plain; charset=utf-8", "svg": "image/svg+xml"]
        let staticDirectory = directory.appendingPathComponent("static")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: staticDirectory.path)) ?? [] {
            guard let type = types[(name as NSString).pathExtension], let data = FileManager.default.contents(atPath: staticDirectory.appendingPathComponent(name).path) else { continue }
            files[name] = File(bytes: Array(data), contentType: type)
        }
        return ConsoleResources(library: library, files: files)
    }
}
