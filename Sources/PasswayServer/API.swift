import APIContract
import Clearing
import Storage
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import ISO8583
import ISO8583Transport
import Logging
import NetworkSwitch
import Participants
import TokenService
import WalletProvider

/// The Passway JSON API (documented in `openapi.yaml`, served at `/openapi.yaml`):
/// participants authenticate with their API key; each route says which kinds of
/// participant may call it and calls one room (participants, token service, wallet
/// provider), which scopes what they see. No route touches a store.
struct PasswayAPI: Sendable {
    let rooms: Rooms
    let idempotency: Idempotency
    /// The network's store-and-forward and issuer links, for the operator's view of them.
    let forwarder: Forwarder?
    let notifier: IssuerNotifier?
    /// Sweeps markets' tokens after a change of state, on this node at once.
    let sweeper: MarketSweeper
    /// The pipeline's stand-in decisions on this node.
    let standIns: (@Sendable () -> [StandInCount])?
    let links: (@Sendable () -> [ISO8583Client.LinkState])?
    /// Empties the network's caches of issuers on this node (other nodes hear of the
    /// change through PostgreSQL).
    let issuersChanged: (@Sendable () -> Void)?
    /// What `/metrics` shows; nil: that route answers 404.
    let metrics: PlatformMetrics?
    /// The network's authorization pipeline, for QR payments; nil: they answer 503.
    let authorize: (@Sendable (Message) async -> Message?)?
    let logger: Logger

    var participants: ParticipantRegistry { rooms.participants }
    var tokens: TokenService { rooms.tokens }
    var wallets: WalletProvider { rooms.wallets }

    init(rooms: Rooms, idempotency: Idempotency, forwarder: Forwarder? = nil, notifier: IssuerNotifier? = nil, sweeper: MarketSweeper, standIns: (@Sendable () -> [StandInCount])? = nil, links: (@Sendable () -> [ISO8583Client.LinkState])? = nil,
         issuersChanged: (@Sendable () -> Void)? = nil, metrics: PlatformMetrics? = nil, authorize: (@Sendable (Message) async -> Message?)? = nil,
         logger: Logger) {
        self.authorize = authorize
        self.issuersChanged = issuersChanged
        self.metrics = metrics
        self.rooms = rooms
        self.idempotency = idempotency
        self.forwarder = forwarder
        self.notifier = notifier
        self.sweeper = sweeper
        self.standIns = standIns
        self.links = links
        self.logger = logger
    }

    /// Every route as (method, path template), in the OpenAPI document's spelling; a
    /// test checks that the document and this list are the same.
    static var routes: [(method: String, path: String)] { table.map { ($0.method.rawValue.lowercased(), $0.path) } }

    enum Allowed: Sendable { case anyone, network, issuer, wallet, acquirer, issuerOrNetwork, walletOrNetwork, acquirerOrNetwork, authenticated }

    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var allowed: Allowed
        /// The largest body the route reads.
        var maxBody: Int = JSONBody.maxBytes
        var handler: @Sendable (PasswayAPI, Data, PasswayRequestContext, Request) async throws -> APIResult
    }

    func router() -> Router<PasswayRequestContext> {
        let router = Router(context: PasswayRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        router.get("/health") { _, _ in try JSONBody.result(["status": "ok"]).response }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.text)))
        }
        for route in Self.table {
            router.on(Self.routerPath(route.path), method: route.method) { request, context in
                try await self.handle(route, request, context)
            }
        }
        // A method the document does not list for a path: 405 with the ones it does.
        var declared: [String: [HTTPRequest.Method]] = ["/health": [.get], "/openapi.yaml": [.get]]
        for route in Self.table { declared[route.path, default: []].append(route.method) }
        MethodNotAllowed.register(on: router, declared: Dictionary(uniqueKeysWithValues: declared.map { (Self.routerPathText($0.key), $0.value) }))
        return router
    }

    static func routerPath(_ template: String) -> RouterPath { RouterPath(routerPathText(template)) }

    /// `/v1/tokens/{tokenID}` as the router spells it: `/v1/tokens/:tokenID`.
    static func routerPathText(_ template: String) -> String {
        template.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
    }

    private func handle(_ route: Route, _ request: Request, _ context: PasswayRequestContext) async throws -> Response {
        var request = request
        var context = context
        // The operator's changes, audited with the key that made them and how they ended.
        var operatorKeyID: String?
        var refusal: String?
        let response: Response
        do {
            let participant = try await authenticate(request, route.allowed)
            context.participant = participant
            if participant == .network, route.method != .get {
                let keyID = ParticipantRegistry.keyID(of: BearerToken.from(request.headers) ?? "")
                operatorKeyID = keyID
                logger.notice("operator request", metadata: ["operator": "\(keyID)", "method": "\(route.method.rawValue)", "path": "\(request.uri.path)",
                                                             "via": "api"])
            }
            let body = route.method == .get ? Data() : try await JSONBody.read(&request, upTo: route.maxBody)
            if route.method == .post, let key = request.headers[Idempotency.header] {
                let owner = participant.map { "\($0.actor.kind.rawValue):\($0.actor.id)" } ?? "anonymous"
                let (api, context) = (self, context)
                response = try await idempotency.respond(key: key, owner: owner, path: request.uri.path, body: body) {
                    try await route.handler(api, body, context, request)
                }
            } else {
                response = try await route.handler(self, body, context, request).response
            }
        } catch {
            refusal = Problem.passway(error)?.code ?? Problem.internalError.code
            response = problemResponse(error, request)
        }
        if let operatorKeyID {
            await auditOperator(keyID: operatorKeyID, method: route.method, path: request.uri.path, via: "api", status: Int(response.status.code),
                                problem: refusal)
        }
        return response
    }

    /// Appends to the operator's audit trail (before the answer leaves); a failure to is
    /// an alarm, not a refusal: the change it records is made already.
    func auditOperator(keyID: String, method: HTTPRequest.Method, path: String, via: String, status: Int, problem: String?) async {
        let entry = OperatorAuditEntry(at: Date(), keyID: keyID, method: method.rawValue, path: String(path.prefix(512)), via: via, status: status,
                                       problem: problem)
        do {
            try await participants.store.appendOperatorAudit(entry)
        } catch {
            logger.critical("ALARM operator audit: a change by the operator is missing from the audit trail", metadata: [
                "operator": "\(keyID)", "method": "\(entry.method)", "path": "\(entry.path)", "status": "\(status)", "error": "\(error)"])
        }
    }

    private func problemResponse(_ error: any Error, _ request: Request) -> Response {
        if let problem = Problem.passway(error) {
            if problem.status.code >= 500 {
                logger.error("request failed", metadata: ["path": "\(request.uri.path)", "problem": "\(problem.code)", "detail": "\(problem.detail)"])
            }
            return problem.response()
        }
        logger.error("unexpected error", metadata: ["path": "\(request.uri.path)", "error": "\(String(describing: type(of: error)))"])
        return Problem.internalError.response()
    }

    private func authenticate(_ request: Request, _ allowed: Allowed) async throws -> Participant? {
        if allowed == .anyone { return nil }
        guard let token = BearerToken.from(request.headers), let participant = try await participants.authenticate(apiKey: token) else {
            throw Problem.unauthorized
        }
        let ok: Bool = switch (allowed, participant) {
        case (.anyone, _), (.authenticated, _): true
        case (.network, .network), (.issuer, .issuer), (.wallet, .wallet), (.acquirer, .acquirer): true
        case (.issuerOrNetwork, .issuer), (.issuerOrNetwork, .network): true
        case (.walletOrNetwork, .wallet), (.walletOrNetwork, .network): true
        case (.acquirerOrNetwork, .acquirer), (.acquirerOrNetwork, .network): true
        default: false
        }
        guard ok else { throw Problem.forbidden("this operation is not open to \(participant.actor.kind.rawValue)s") }
        return participant
    }

    static func settlementWindow(_ api: PasswayAPI, _ context: PasswayRequestContext, _ request: Request) async throws -> SettlementWindow {
        let id = try param(request, context, "windowID")
        guard let window = try await api.rooms.clearing.window(id: id) else { throw Problem.notFound("settlement window \(id) not found") }
        return window
    }

    /// A clearing file's result, for the acquirer that sent it or the operator.
    static func clearingFile(_ api: PasswayAPI, _ context: PasswayRequestContext, _ request: Request) async throws -> ClearingFileResult {
        let id = try param(request, context, "fileID")
        guard let file = try await api.rooms.clearing.file(id: id) else { throw Problem.notFound("clearing file \(id) not found") }
        if case .acquirer(let own) = try caller(context), own != file.acquirerID { throw Problem.notFound("clearing file \(id) not found") }
        return file
    }

    static func param(_ request: Request, _ context: PasswayRequestContext, _ name: String) throws -> String {
        try context.parameters.require(name)
    }

    static let prefer = HTTPField.Name("Prefer")!
    /// The longest `Prefer: wait=N` honoured.
    static let longestWait: Duration = .seconds(60)

    /// How long the caller prefers to wait (RFC 7240 `wait=N` seconds among its
    /// preferences), at most `longestWait`; zero when it says nothing or nonsense.
    static func preferredWait(_ header: String?) -> Duration {
        for preference in (header ?? "").split(separator: ",") {
            let parts = preference.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0].lowercased() == "wait", parts[1].count <= 6, let seconds = Int(parts[1]), seconds >= 0 else { continue }
            return min(.seconds(seconds), longestWait)
        }
        return .zero
    }

    /// A route whose refusals a cardholder reads: each problem with a `reason` (or a wrong
    /// code) also carries `message` in the cardholder's `language`; its `type`, `title`,
    /// `detail` and `reason` stay as they are, for programs.
    static func forCardholder(_ language: String, _ body: () async throws -> APIResult) async throws -> APIResult {
        do { return try await body() } catch {
            guard var problem = Problem.passway(error) else { throw error }
            let key = problem.extra["reason"] ?? (problem.code == "verification-failed" ? "verification_failed" : nil)
            if let key, let message = CardholderText.text(key, language, ["attemptsLeft": problem.extra["attemptsLeft"] ?? ""]) {
                problem.extra["message"] = message
                problem.extra["language"] = language
            }
            throw problem
        }
    }

    /// The authenticated caller of a route that is not open to anyone.
    static func caller(_ context: PasswayRequestContext) throws -> Participant {
        guard let participant = context.participant else { throw Problem.unauthorized }
        return participant
    }

    /// RFC 3986's unreserved characters, ASCII only: what a query value keeps unencoded in
    /// a Link header.
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A list's page size from `limit`: 1 to 1,000, 100 when not given.
    static func pageLimit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["limit"] else { return 100 }
        guard text.utf8.count <= 4, let limit = Int(String(text)), (1...1_000).contains(limit) else {
            throw Problem.badRequest("limit: a whole number from 1 to 1000", field: "limit")
        }
        return limit
    }

    /// A sequence-numbered list's cursor from `after`: 0 when not given, else a whole
    /// number from 0 to 2^63−1 (`what` says what it is in the problem).
    static func pageAfter(_ request: Request, _ what: String) throws -> Int64 {
        guard let text = request.uri.queryParameters["after"] else { return 0 }
        guard text.utf8.count <= 19, let after = Int64(String(text)), after >= 0 else {
            throw Problem.badRequest("after: \(what), a whole number from 0", field: "after")
        }
        return after
    }

    // MARK: The routes

    static let table: [Route] = [
        Route(method: .post, path: "/v1/wallets", allowed: .network) { api, body, _, _ in
            let wallet = try JSONBody.decode(Wallet.self, from: body)
            try await api.participants.createWallet(wallet)
            let key = try await api.participants.issueCredential(for: .wallet(wallet.id))
            api.logger.info("wallet created", metadata: ["wallet": "\(wallet.id)"])
            return try JSONBody.result(Created(apiKey: key, participant: wallet), status: .created)
        },
        Route(method: .get, path: "/v1/wallets", allowed: .network) { api, _, _, _ in
            try JSONBody.result(try await api.participants.wallets())
        },
        Route(method: .post, path: "/v1/issuers", allowed: .network) { api, body, _, _ in
            let issuer = try JSONBody.decode(Issuer.self, from: body)
            try await api.participants.onboardIssuer(issuer)
            // Its master key for the token ranges now (made at its first token otherwise).
            try await api.tokens.prepareIssuer(issuer)
            let key = try await api.participants.issueCredential(for: .issuer(issuer.id))
            api.logger.info("issuer onboarded", metadata: ["issuer": "\(issuer.id)", "cardRanges": "\(issuer.cardRanges.count)"])
            return try JSONBody.result(Created(apiKey: key, participant: issuer), status: .created)
        },
        Route(method: .post, path: "/v1/issuers/{issuerID}/bulk-tokens", allowed: .network) { api, body, context, request in
            let r = try JSONBody.decode(BulkProvisioning.self, from: body)
            let issuerID = try param(request, context, "issuerID")
            let sealed = try await api.wallets.bulkProvision(issuerID: issuerID, walletID: r.walletID, deviceID: r.deviceID,
                                                             cards: r.cards.map { .init(pan: $0.pan, expiry: $0.expiry) }, keys: r.keysPerToken)
            api.logger.notice("bulk provisioning", metadata: ["issuer": "\(issuerID)", "tokens": "\(sealed.count)", "device": "\(r.deviceID)"])
            return try JSONBody.result(BulkProvisioningView(provisionings: sealed), status: .created)
        },
        Route(method: .get, path: "/v1/issuers", allowed: .network) { api, _, _, _ in
            try JSONBody.result(try await api.participants.issuers())
        },
        Route(method: .post, path: "/v1/acquirers", allowed: .network) { api, body, _, _ in
            let acquirer = try JSONBody.decode(Acquirer.self, from: body)
            try await api.participants.onboardAcquirer(acquirer)
            let key = try await api.participants.issueCredential(for: .acquirer(acquirer.id))
            let zmk = try await api.rooms.acquirerKeys.newZoneMasterKey(acquirerID: acquirer.id)
            api.logger.info("acquirer onboarded", metadata: ["acquirer": "\(acquirer.id)", "institution": "\(acquirer.institutionID)",
                                                             "zmkCheckValue": "\(zmk.checkValue)"])
            return try JSONBody.result(CreatedAcquirer(apiKey: key, participant: acquirer, zoneMasterKey: zmk.hex, zoneMasterKeyCheckValue: zmk.checkValue),
                                       status: .created)
        },
        Route(method: .post, path: "/v1/acquirers/{acquirerID}/mac-key", allowed: .acquirerOrNetwork) { api, body, context, request in
            let id = try param(request, context, "acquirerID")
            let algorithm: Character = try JSONBody.decode(MACKeyRequest.self, from: body).algorithm == .aes ? "A" : "T"
            if case .acquirer(let own) = context.participant, own != id { throw Problem.notFound("acquirer \(id) not found") }
            guard try await api.participants.acquirers().contains(where: { $0.id == id }) else { throw Problem.notFound("acquirer \(id) not found") }
            let issued = try await api.rooms.acquirerKeys.issueMACKey(acquirerID: id, algorithm: algorithm)
            api.logger.notice("acquirer MAC key issued", metadata: ["acquirer": "\(id)", "checkValue": "\(issued.checkValue)"])
            return try JSONBody.result(MACKeyDelivery(keyBlock: issued.keyBlock, checkValue: issued.checkValue), status: .created)
        },
        Route(method: .get, path: "/v1/operations/audit", allowed: .network) { api, _, _, request in
            let after = try pageAfter(request, "the seq of the last entry read")
            return try JSONBody.result(try await api.participants.store.operatorAudit(after: after, limit: try pageLimit(request)))
        },
        Route(method: .get, path: "/v1/operations/queues", allowed: .network) { api, _, _, _ in
            let now = Date()
            let queues = try await api.rooms.owed.depths().map { d in
                QueueView(issuerID: d.issuerID, kind: d.kind.rawValue, queued: d.queued,
                          oldestAgeSeconds: d.oldestQueuedAt.map { max(0, Int(now.timeIntervalSince($0))) }, expired: d.expired, delivered: d.delivered)
            }
            let notices = try await api.rooms.tokens.noticeDepths().map { d in
                QueueView(issuerID: d.issuerID, kind: "notification", queued: d.queued,
                          oldestAgeSeconds: d.oldestQueuedAt.map { max(0, Int(now.timeIntervalSince($0))) }, expired: d.expired, delivered: d.delivered)
            }
            let forwarded = api.forwarder?.totals ?? (delivered: 0, expired: 0, attempts: 0)
            let notified = api.notifier?.totals ?? (delivered: 0, expired: 0, attempts: 0)
            let unanswered = try await api.rooms.journal.unanswered(claimedBefore: now, limit: 10_000).count
            return try JSONBody.result(QueuesView(storeAndForward: queues, issuerNotices: notices, unansweredClaims: unanswered,
                                                  thisNode: .init(delivered: forwarded.delivered, expired: forwarded.expired, attempts: forwarded.attempts),
                                                  thisNodeNotices: .init(delivered: notified.delivered, expired: notified.expired, attempts: notified.attempts),
                                                  thisNodeStandIn: api.standIns?() ?? []))
        },
        Route(method: .get, path: "/v1/journal", allowed: .network) { api, _, _, request in
            let query = request.uri.queryParameters
            let limit = query["limit"].map { Int(String($0)) } ?? 1_000
            guard let limit, (1...10_000).contains(limit) else { throw Problem.badRequest("limit: 1 to 10000", field: "limit") }
            let after = query["after"].map(String.init)
            guard (after?.unicodeScalars.count ?? 0) <= 120 else { throw Problem.badRequest("after: a journal key, at most 120 characters", field: "after") }
            return try JSONBody.result(try await api.rooms.journal.entries(after: after, limit: limit).map(JournalEntryView.init))
        },
        Route(method: .get, path: "/v1/operations/links", allowed: .network) { api, _, _, _ in
            try JSONBody.result((api.links?() ?? []).map(LinkView.init))
        },
        Route(method: .get, path: "/metrics", allowed: .network) { api, _, _, _ in
            guard let metrics = api.metrics else { throw Problem.notFound("this server keeps no metrics") }
            let text = try await metrics.scrape(owed: api.rooms.owed, tokens: api.tokens, clearing: api.rooms.clearing, links: api.links?() ?? [])
            return APIResult(status: .ok, body: Data(text.utf8), contentType: "text/plain; version=0.0.4; charset=utf-8")
        },
        Route(method: .post, path: "/v1/clearing/files", allowed: .acquirer, maxBody: ClearingLimits.maxFileBytes) { api, body, context, _ in
            guard case .acquirer(let id) = try caller(context),
                  let acquirer = try await api.participants.acquirers().first(where: { $0.id == id }) else { throw Problem.forbidden("acquirers only") }
            let result = try await api.rooms.clearing.submit(Array(body), from: ClearingAcquirer(id: acquirer.id, institutionID: acquirer.institutionID))
            api.logger.notice("clearing file taken", metadata: ["acquirer": "\(acquirer.id)", "file": "\(result.fileID)",
                                                               "cleared": "\(result.cleared)", "rejected": "\(result.rejected)"])
            api.metrics?.presentments(cleared: result.cleared, rejected: result.rejected)
            // 100,000 records in a large file: written by hand, not by JSONEncoder.
            return APIResult(status: .created, body: Data(ClearingDocuments.result(result, dates: .iso8601).utf8))
        },
        Route(method: .get, path: "/v1/clearing/files/{fileID}", allowed: .acquirerOrNetwork) { api, _, context, request in
            APIResult(status: .ok, body: Data(ClearingDocuments.result(try await clearingFile(api, context, request), dates: .iso8601).utf8))
        },
        Route(method: .get, path: "/v1/clearing/files/{fileID}/rejects", allowed: .acquirerOrNetwork) { api, _, context, request in
            let file = try await clearingFile(api, context, request)
            guard let bytes = try ClearingService.rejectFile(file) else { throw Problem.notFound("file \(file.fileID) has no rejects") }
            return APIResult(status: .ok, body: Data(bytes), contentType: "application/octet-stream")
        },
        Route(method: .get, path: "/v1/clearing/presentments/{presentmentID}", allowed: .authenticated) { api, _, context, request in
            let id = try param(request, context, "presentmentID")
            guard let p = try await api.rooms.clearing.presentment(id: id) else { throw Problem.notFound("presentment \(id) not found") }
            switch try caller(context) {
            case .network: break
            case .acquirer(let own) where own == p.acquirerID: break
            case .issuer(let own) where own == p.issuerID: break
            default: throw Problem.notFound("presentment \(id) not found")
            }
            return try JSONBody.result(p)
        },
        Route(method: .post, path: "/v1/clearing/presentments/{presentmentID}/chargeback", allowed: .issuer) { api, body, context, request in
            let input = try JSONBody.decode(ChargebackInput.self, from: body)
            guard case .issuer(let issuerID) = try caller(context) else { throw Problem.forbidden("issuers only") }
            let p = try await api.rooms.clearing.chargeBack(try param(request, context, "presentmentID"), issuerID: issuerID,
                                                            reasonCode: input.reasonCode, amountMinor: input.amountMinor)
            api.logger.notice("chargeback", metadata: ["presentment": "\(p.id)", "issuer": "\(issuerID)", "reason": "\(input.reasonCode)"])
            return try JSONBody.result(p)
        },
        Route(method: .post, path: "/v1/clearing/presentments/{presentmentID}/second-presentment", allowed: .acquirer) { api, body, context, request in
            let input = try JSONBody.decode(SecondPresentmentInput.self, from: body)
            guard case .acquirer(let acquirerID) = try caller(context) else { throw Problem.forbidden("acquirers only") }
            let p = try await api.rooms.clearing.represent(try param(request, context, "presentmentID"), acquirerID: acquirerID, amountMinor: input.amountMinor)
            api.logger.notice("second presentment", metadata: ["presentment": "\(p.id)", "acquirer": "\(acquirerID)"])
            return try JSONBody.result(p)
        },
        Route(method: .post, path: "/v1/clearing/issuer-files", allowed: .issuerOrNetwork) { api, body, context, _ in
            let input = try JSONBody.decode(IssuerFileInput.self, from: body)
            let issuerID: String
            switch try caller(context) {
            case .issuer(let own):
                if let asked = input.issuerID, asked != own { throw Problem.notFound("issuer \(asked) not found") }
                issuerID = own
            default:
                guard let asked = input.issuerID else { throw Problem.badRequest("issuerID: the issuer whose file to make", field: "issuerID") }
                issuerID = asked
            }
            guard let issuer = try await api.participants.issuer(id: issuerID) else { throw Problem.notFound("issuer \(issuerID) not found") }
            let file = try await api.rooms.clearing.makeIssuerFile(issuerID: issuer.id, processor: issuer.cardRanges.first ?? "0")
            api.logger.notice("issuer clearing file made", metadata: ["issuer": "\(issuer.id)", "file": "\(file.id)", "presentments": "\(file.presentments)"])
            return try JSONBody.result(file, status: .created)
        },
        Route(method: .get, path: "/v1/clearing/issuer-files/{fileID}", allowed: .issuerOrNetwork) { api, _, context, request in
            let id = try param(request, context, "fileID")
            guard let file = try await api.rooms.clearing.issuerFile(id: id) else { throw Problem.notFound("issuer file \(id) not found") }
            if case .issuer(let own) = try caller(context), own != file.issuerID { throw Problem.notFound("issuer file \(id) not found") }
            let tokens = api.tokens
            let bytes = try await api.rooms.clearing.issuerFileBytes(file) { tokenID in
                try await tokens.detokenize(try await tokens.token(id: tokenID, for: .network)).pan.digits
            }
            return APIResult(status: .ok, body: Data(bytes), contentType: "application/octet-stream")
        },
        Route(method: .get, path: "/v1/clearing/fees", allowed: .network) { api, _, _, _ in
            try JSONBody.result(try await api.rooms.clearing.feeSchedule())
        },
        Route(method: .put, path: "/v1/clearing/fees", allowed: .network) { api, body, context, _ in
            let schedule = try JSONBody.decode(FeeSchedule.self, from: body)
            do { try await api.rooms.clearing.setFeeSchedule(schedule) } catch let e as FeeSchedule.Invalid {
                throw Problem(.unprocessableContent, code: "invalid-value", title: "A value is not acceptable", detail: e.description)
            }
            api.logger.notice("fee schedule set", metadata: ["lines": "\(schedule.interchange.count)", "schemeFeeBasisPoints": "\(schedule.schemeFeeBasisPoints)"])
            return try JSONBody.result(schedule)
        },
        Route(method: .post, path: "/v1/exchange-rates", allowed: .network, maxBody: ExchangeRateLoadInput.maxBytes) { api, body, _, request in
            let inputs: [ExchangeRateInput]
            if request.headers[.contentType]?.lowercased().hasPrefix("text/csv") == true {
                inputs = try ExchangeRateService.parseCSV(String(decoding: body, as: UTF8.self))
            } else {
                inputs = try JSONBody.decode(ExchangeRateLoadInput.self, from: body).rates
            }
            let result = try await api.rooms.rates.load(inputs)
            api.logger.notice("exchange rates loaded", metadata: ["added": "\(result.added)", "unchanged": "\(result.unchanged)"])
            return try JSONBody.result(result, status: .created)
        },
        Route(method: .get, path: "/v1/exchange-rates", allowed: .authenticated) { api, _, _, request in
            var at = Date()
            if let text = request.uri.queryParameters["at"].map(String.init) {
                guard let given = ExchangeRateService.parseTime(text) else {
                    throw Problem.badRequest("at: an ISO 8601 time with its zone, like 2026-12-01T00:00:00Z", field: "at")
                }
                at = given
            }
            return try JSONBody.result(ExchangeRateTableView(api.rooms.rates.book, at: at))
        },
        Route(method: .get, path: "/v1/exchange-rates/history", allowed: .network) { api, _, _, request in
            let currency = request.uri.queryParameters["currency"].map(String.init)
            if let currency, currency.utf8.count != 3 || !currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) {
                throw Problem.badRequest("currency: three letters, an ISO 4217 alpha code", field: "currency")
            }
            return try JSONBody.result(try await api.rooms.rates.history(currency: currency?.uppercased()).map(ExchangeRateView.init))
        },
        Route(method: .get, path: "/v1/settlement/windows", allowed: .network) { api, _, _, request in
            let currency = request.uri.queryParameters["currency"].map(String.init)
            if let currency, currency.utf8.count != 3 || !currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) {
                throw Problem.badRequest("currency: three letters, an ISO 4217 alpha code", field: "currency")
            }
            return try JSONBody.result(try await api.rooms.clearing.windows(currency: currency?.uppercased()))
        },
        Route(method: .post, path: "/v1/settlement/windows/close", allowed: .network) { api, body, _, _ in
            let input = try JSONBody.decode(CloseWindowInput.self, from: body)
            guard input.currency.utf8.count == 3, input.currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) else {
                throw Problem.badRequest("currency: three capital letters, an ISO 4217 alpha code", field: "currency")
            }
            guard let currency = Currency.alpha(input.currency) else { throw Problem.notFound("no open settlement window in \(input.currency)") }
            guard let window = try await api.rooms.clearing.closeWindow(currency: currency.alpha) else {
                throw Problem.notFound("no open settlement window in \(currency.alpha)")
            }
            api.logger.notice("settlement window closed", metadata: ["window": "\(window.id)", "currency": "\(window.currency)"])
            return try JSONBody.result(SettlementReport(window: window, positions: try await api.rooms.clearing.positions(windowID: window.id)))
        },
        Route(method: .get, path: "/v1/settlement/windows/{windowID}", allowed: .network) { api, _, context, request in
            let window = try await settlementWindow(api, context, request)
            return try JSONBody.result(SettlementReport(window: window, positions: try await api.rooms.clearing.positions(windowID: window.id)))
        },
        Route(method: .post, path: "/v1/settlement/windows/{windowID}/settled", allowed: .network) { api, _, context, request in
            let window = try await settlementWindow(api, context, request)
            do {
                let settled = try await api.rooms.clearing.settleWindow(id: window.id)
                api.logger.notice("settlement window settled", metadata: ["window": "\(settled.id)"])
                return try JSONBody.result(settled)
            } catch let e as ClearingStoreError {
                throw Problem(.conflict, code: "conflict", title: "Conflicts with the current state", detail: e.description)
            }
        },
        Route(method: .get, path: "/v1/settlement/windows/{windowID}/report", allowed: .authenticated) { api, _, context, request in
            let window = try await settlementWindow(api, context, request)
            let asked = request.uri.queryParameters["participant"].map(String.init)
            let participant: String
            switch try caller(context) {
            case .network:
                guard let asked, !asked.isEmpty, asked.unicodeScalars.count <= 120 else {
                    throw Problem.badRequest("participant: acquirer:ID, issuer:ID or network", field: "participant")
                }
                participant = asked
            case .acquirer(let id): participant = "acquirer:" + id
            case .issuer(let id): participant = "issuer:" + id
            default: throw Problem.forbidden("a settlement report is for the network, an acquirer or an issuer")
            }
            if let asked, asked != participant { throw Problem.notFound("no report of \(asked) for you") }
            let report = ParticipantReport(window: window, participant: participant,
                                           lines: try await api.rooms.clearing.lines(windowID: window.id, participant: participant))
            switch request.uri.queryParameters["format"].map(String.init) ?? "json" {
            case "json": return try JSONBody.result(report)
            case "csv": return APIResult(status: .ok, body: Data(report.csv.utf8), contentType: "text/csv")
            default: throw Problem.badRequest("format: json or csv", field: "format")
            }
        },
        Route(method: .get, path: "/v1/acquirers", allowed: .network) { api, _, _, _ in
            try JSONBody.result(try await api.participants.acquirers())
        },
        Route(method: .put, path: "/v1/issuers/{issuerID}/wallets", allowed: .issuerOrNetwork) { api, body, context, request in
            let id = try param(request, context, "issuerID")
            if case .issuer(let own) = context.participant, own != id { throw Problem.notFound("issuer \(id) not found") }
            let change = try JSONBody.decode(EnabledWallets.self, from: body)
            return try JSONBody.result(try await api.participants.updateIssuerWallets(issuerID: id, enabledWallets: change.enabledWallets))
        },
        Route(method: .put, path: "/v1/issuers/{issuerID}/stand-in", allowed: .issuerOrNetwork) { api, body, context, request in
            let id = try param(request, context, "issuerID")
            if case .issuer(let own) = context.participant, own != id { throw Problem.notFound("issuer \(id) not found") }
            let rules = try JSONBody.decode(StandInRulesBody.self, from: body).rules
            let actor = try caller(context).actor
            let issuer = try await api.participants.setStandIn(issuerID: id, rules, by: "\(actor.kind.rawValue):\(actor.id)")
            api.issuersChanged?()
            api.logger.notice("stand-in rules set", metadata: ["issuer": "\(id)", "by": "\(actor.kind.rawValue):\(actor.id)",
                                                              "rules": "\(String(decoding: (try? JSONBody.encoder.encode(issuer.standIn)) ?? Data(), as: UTF8.self))"])
            return try JSONBody.result(issuer.standIn)
        },
        Route(method: .get, path: "/v1/issuers/{issuerID}/stand-in", allowed: .issuerOrNetwork) { api, _, context, request in
            let id = try param(request, context, "issuerID")
            if case .issuer(let own) = context.participant, own != id { throw Problem.notFound("issuer \(id) not found") }
            guard let issuer = try await api.participants.issuer(id: id) else { throw Problem.notFound("issuer \(id) not found") }
            guard let rules = issuer.standIn else { throw Problem.notFound("issuer \(id) has no stand-in rules: the network answers 91 for it") }
            return try JSONBody.result(rules)
        },
        Route(method: .delete, path: "/v1/issuers/{issuerID}/stand-in", allowed: .issuerOrNetwork) { api, _, context, request in
            let id = try param(request, context, "issuerID")
            if case .issuer(let own) = context.participant, own != id { throw Problem.notFound("issuer \(id) not found") }
            let actor = try caller(context).actor
            _ = try await api.participants.setStandIn(issuerID: id, nil, by: "\(actor.kind.rawValue):\(actor.id)")
            api.issuersChanged?()
            api.logger.notice("stand-in rules removed", metadata: ["issuer": "\(id)", "by": "\(actor.kind.rawValue):\(actor.id)"])
            return APIResult(status: .noContent, body: Data())
        },
        Route(method: .put, path: "/v1/issuers/{issuerID}/host-key", allowed: .issuerOrNetwork) { api, body, context, request in
            let id = try param(request, context, "issuerID")
            if case .issuer(let own) = context.participant, own != id { throw Problem.notFound("issuer \(id) not found") }
            let change = try JSONBody.decode(HostKeyChange.self, from: body)
            guard try await api.participants.issuer(id: id) != nil else { throw Problem.notFound("issuer \(id) not found") }
            try await api.tokens.setIssuerHostKey(issuerID: id, hex: change.hostKey)
            api.logger.notice("issuer host key replaced", metadata: ["issuer": "\(id)"])
            return APIResult(status: .noContent, body: Data())
        },
        Route(method: .post, path: "/v1/credentials", allowed: .network) { api, body, _, _ in
            let new = try JSONBody.decode(NewCredential.self, from: body)
            let participant: Participant
            switch (new.kind, new.participantID) {
            case ("network", nil), ("network", "network"): participant = .network
            case ("issuer", let id?): participant = .issuer(id)
            case ("wallet", let id?): participant = .wallet(id)
            case ("acquirer", let id?): participant = .acquirer(id)
            default: throw ServiceError.invalid(field: "kind", reason: "network, or issuer, wallet or acquirer with its participantID")
            }
            let (key, info) = try await api.participants.rotateCredential(for: participant)
            api.logger.notice("API key issued", metadata: ["keyID": "\(info.keyID)", "participant": "\(info.kind.rawValue):\(info.participantID)"])
            return try JSONBody.result(CreatedCredential(apiKey: key, keyID: info.keyID, kind: info.kind.rawValue, participantID: info.participantID),
                                       status: .created)
        },
        Route(method: .get, path: "/v1/credentials", allowed: .network) { api, _, _, _ in
            try JSONBody.result(try await api.participants.credentials())
        },
        Route(method: .delete, path: "/v1/credentials/{keyID}", allowed: .network) { api, _, context, request in
            let keyID = try param(request, context, "keyID")
            try await api.participants.revokeCredential(keyID: keyID, callerKey: BearerToken.from(request.headers) ?? "")
            api.logger.notice("API key revoked", metadata: ["keyID": "\(keyID)"])
            return APIResult(status: .noContent, body: Data())
        },
        Route(method: .get, path: "/v1/markets", allowed: .authenticated) { api, _, _, _ in
            try JSONBody.result(try await api.participants.markets())
        },
        Route(method: .get, path: "/v1/markets/{country}", allowed: .authenticated) { api, _, context, request in
            let country = try param(request, context, "country")
            guard let market = try await api.participants.market(country: country) else { throw ServiceError.notFound("market \(country)") }
            return try JSONBody.result(market)
        },
        // The state is saved before the answer; the sweep of the market's tokens runs after
        // it. `Prefer: wait=N` (RFC 7240, at most 60) waits up to N seconds for the sweep:
        // 200 when it has finished, 202 while it runs (`sweep` in the market says how far).
        Route(method: .put, path: "/v1/markets/{country}", allowed: .network) { api, body, context, request in
            let country = try param(request, context, "country")
            let change = try JSONBody.decode(MarketChange.self, from: body)
            var market = try await api.tokens.setMarketState(country: country, state: change.state, reason: change.reason)
            api.logger.notice("market state changed", metadata: ["country": "\(country)", "state": "\(market.state.rawValue)",
                                                                  "sweep": "\(market.sweep?.isRunning == true ? market.sweep?.id ?? "" : "none")"])
            guard market.sweep?.isRunning == true else { return try JSONBody.result(market) }
            let wait = preferredWait(request.headers[prefer])
            if wait > .zero { await api.sweeper.finish(country, within: wait) } else { api.sweeper.start(country) }
            market = try await api.participants.market(country: country) ?? market
            var result = try JSONBody.result(market, status: market.sweep?.isRunning == true ? .accepted : .ok)
            if market.sweep?.isRunning == true { result.headers[.location] = "/v1/markets/\(country)" }
            return result
        },
        Route(method: .get, path: "/v1/device-models", allowed: .authenticated) { api, _, _, _ in
            try JSONBody.result(try await api.wallets.deviceModels())
        },
        Route(method: .put, path: "/v1/device-models/{modelID}", allowed: .network) { api, body, context, request in
            let id = try param(request, context, "modelID")
            let saved = try await api.wallets.saveDeviceModel(try JSONBody.decode(DeviceModelBody.self, from: body).deviceModel(id: id))
            api.logger.notice("device model saved", metadata: ["model": "\(saved.id)", "eligible": "\(saved.unmetRequirement == nil)"])
            return try JSONBody.result(saved)
        },
        Route(method: .post, path: "/v1/devices", allowed: .wallet) { api, body, context, _ in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let n = try JSONBody.decode(NewDevice.self, from: body)
            let device = try await api.wallets.registerDevice(walletID: walletID, modelID: n.modelID, osVersion: n.osVersion,
                                                              country: n.country, publicKey: n.publicKey)
            api.logger.info("device registered", metadata: ["device": "\(device.id)", "model": "\(device.modelID)"])
            return try JSONBody.result(DeviceView(device), status: .created)
        },
        Route(method: .get, path: "/v1/devices/{deviceID}", allowed: .walletOrNetwork) { api, _, context, request in
            try JSONBody.result(DeviceView(try await api.wallets.device(id: try param(request, context, "deviceID"), for: try caller(context))))
        },
        Route(method: .post, path: "/v1/devices/{deviceID}/lost", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            _ = try JSONBody.decode(NoBody.self, from: body)
            let id = try param(request, context, "deviceID")
            let suspended = try await api.wallets.reportLost(deviceID: id, walletID: walletID)
            api.logger.notice("device reported lost", metadata: ["device": "\(id)", "tokensSuspended": "\(suspended.count)"])
            return try JSONBody.result(suspended.map(TokenView.init))
        },
        Route(method: .post, path: "/v1/enrollments", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let n = try JSONBody.decode(NewEnrollment.self, from: body)
            let language = await api.wallets.cardholderLanguage(walletID: walletID, deviceID: n.deviceID, acceptLanguage: request.headers[.acceptLanguage])
            return try await forCardholder(language) {
                let outcome: TokenService.TokenRequestOutcome
                do {
                    outcome = try await api.wallets.enroll(walletID: walletID, .init(deviceID: n.deviceID, pan: n.pan, expiry: n.expiry, cvv2: n.cvv2,
                                                                                      riskScore: n.riskScore ?? 0, acceptedTerms: n.acceptedTerms, language: language))
                } catch {
                    api.metrics?.enrollment("refused")
                    throw error
                }
                switch outcome {
                case .approved(let token, let sealed):
                    api.metrics?.enrollment("approved")
                    api.logger.info("token created", metadata: ["token": "\(token.id)", "number": "\(token.maskedNumber)", "path": "green"])
                    return try JSONBody.result(EnrollmentView(status: .approved, token: TokenView(token), provisioning: sealed, language: language),
                                               status: .created)
                case .pendingVerification(let pending, let method):
                    api.metrics?.enrollment("pending_verification")
                    api.logger.info("verification sent", metadata: ["verification": "\(pending.id)", "channel": "\(method.channel.rawValue)"])
                    return try JSONBody.result(EnrollmentView(status: .pendingVerification, verificationID: pending.id, method: method,
                                                              expiresAt: pending.expiresAt, language: language), status: .accepted)
                case .declined(let reason):
                    api.metrics?.enrollment("declined")
                    api.logger.info("enrollment declined by issuer", metadata: ["reason": "\(reason)"])
                    return try JSONBody.result(EnrollmentView(status: .declined, reason: reason, language: language))
                }
            }
        },
        Route(method: .post, path: "/v1/enrollments/{verificationID}/verify", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let entry = try JSONBody.decode(CodeEntry.self, from: body)
            let language = await api.wallets.cardholderLanguage(walletID: walletID, deviceID: nil, acceptLanguage: request.headers[.acceptLanguage])
            return try await forCardholder(language) {
                let (token, sealed) = try await api.wallets.verify(verificationID: try param(request, context, "verificationID"), walletID: walletID,
                                                                   code: entry.code)
                api.metrics?.enrollment("verified")
                api.logger.info("token created", metadata: ["token": "\(token.id)", "number": "\(token.maskedNumber)", "path": "yellow"])
                return try JSONBody.result(EnrollmentView(status: .approved, token: TokenView(token), provisioning: sealed, language: language),
                                           status: .created)
            }
        },
        Route(method: .get, path: "/v1/tokens", allowed: .authenticated) { api, _, context, request in
            // Pages in id order: `limit` (1 to 1,000, 100 by default) after the id `after`,
            // with a Link to the next page while there is one (RFC 8288).
            let deviceID = request.uri.queryParameters["deviceID"].map { String($0) }
            let limit = try pageLimit(request)
            let after = request.uri.queryParameters["after"].map { String($0) }
            if let after, after.utf8.count > 64 { throw Problem.badRequest("after: a token id, as the last page ended with", field: "after") }
            let read = try await api.tokens.tokens(for: try caller(context), deviceID: deviceID, after: after, limit: limit + 1)
            let page = read.prefix(limit)
            var result = try JSONBody.result(page.map(TokenView.init))
            if read.count > limit, let last = page.last {
                let query = ["limit": String(limit), "after": last.id, "deviceID": deviceID].compactMapValues { $0 }
                    .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? "")" }
                result.headers[HTTPField.Name("Link")!] = "</v1/tokens?\(query.joined(separator: "&"))>; rel=\"next\""
            }
            return result
        },
        Route(method: .get, path: "/v1/tokens/{tokenID}", allowed: .authenticated) { api, _, context, request in
            try JSONBody.result(TokenView(try await api.tokens.token(id: try param(request, context, "tokenID"), for: try caller(context))))
        },
        Route(method: .get, path: "/v1/tokens/{tokenID}/audit", allowed: .authenticated) { api, _, context, request in
            try JSONBody.result(try await api.tokens.audit(tokenID: try param(request, context, "tokenID"), for: try caller(context)).map(AuditView.init))
        },
        Route(method: .post, path: "/v1/assets", allowed: .issuer, maxBody: Asset.maxImageBytes) { api, body, context, request in
            guard case .issuer(let issuerID) = context.participant else { throw Problem.unauthorized }
            let asset = try await api.participants.saveAsset(issuerID: issuerID, contentType: request.headers[.contentType] ?? "", bytes: Array(body))
            return try JSONBody.result(AssetView(assetID: asset.id, contentType: asset.contentType, bytes: asset.bytes.count), status: .created)
        },
        Route(method: .get, path: "/v1/assets/{assetID}", allowed: .authenticated) { api, _, context, request in
            let id = try param(request, context, "assetID")
            guard let asset = try await api.participants.asset(id: id) else { throw ServiceError.notFound("asset \(id.prefix(40))") }
            // An asset never changes: a year's cache, and a 304 for a copy the reader has.
            var headers: HTTPFields = [.cacheControl: "public, max-age=31536000, immutable", .eTag: "\"\(asset.id)\"",
                                       HTTPField.Name("X-Content-Type-Options")!: "nosniff"]
            if asset.contentType == Asset.svg { headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'" }
            if request.headers[.ifNoneMatch]?.contains("\"\(asset.id)\"") == true { return APIResult(status: .notModified, body: Data(), headers: headers) }
            return APIResult(status: .ok, body: Data(asset.bytes), contentType: asset.contentType, headers: headers)
        },
        Route(method: .put, path: "/v1/issuers/{issuerID}/card-profiles/{profileID}", allowed: .issuerOrNetwork) { api, body, context, request in
            let issuerID = try param(request, context, "issuerID")
            if case .issuer(let own) = try caller(context), own != issuerID { throw Problem.forbidden("an issuer sets its own card profiles") }
            let b = try JSONBody.decode(CardProfileBody.self, from: body)
            let profile = CardProfile(id: try param(request, context, "profileID"), name: b.name, cardRanges: b.cardRanges, artAssetID: b.artAssetID,
                                      contact: b.contact ?? .init(), terms: b.terms)
            let issuer = try await api.participants.setCardProfile(issuerID: issuerID, profile)
            api.issuersChanged?()
            api.logger.notice("card profile set", metadata: ["issuer": "\(issuerID)", "profile": "\(profile.id)", "terms": "\(profile.terms?.version ?? "none")"])
            return try JSONBody.result(issuer.cardProfiles?.first { $0.id == profile.id })
        },
        Route(method: .post, path: "/v1/card-profiles/lookup", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let lookup = try JSONBody.decode(CardProfileLookup.self, from: body)
            guard let (issuer, profile, languages) = try await api.wallets.cardProfile(walletID: walletID, pan: lookup.pan, deviceID: lookup.deviceID) else {
                throw ServiceError.notFound("card profile for this card")
            }
            return try JSONBody.result(CardProfileView(issuer: issuer, profile: profile, acceptLanguage: request.headers[.acceptLanguage],
                                                       marketLanguages: languages))
        },
        Route(method: .get, path: "/v1/push-receipts/{receipt}", allowed: .wallet) { api, _, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let deviceID = request.uri.queryParameters["deviceID"].map { String($0) }
            let (record, issuer, profile, languages) = try await api.wallets.pushReceipt(walletID: walletID, receipt: try param(request, context, "receipt"),
                                                                                         deviceID: deviceID)
            var view: CardProfileView?
            if let issuer, let profile {
                view = CardProfileView(issuer: issuer, profile: profile, acceptLanguage: request.headers[.acceptLanguage], marketLanguages: languages)
            }
            return try JSONBody.result(PushReceiptInfo(maskedPAN: record.maskedPAN, issuerID: record.issuerID, expiresAt: record.expiresAt, cardProfile: view))
        },
        Route(method: .get, path: "/v1/wallet-events", allowed: .wallet) { api, _, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let after = try pageAfter(request, "the sequence number of the last event read")
            let limit = try pageLimit(request)
            return try JSONBody.result(try await api.participants.walletEvents(walletID: walletID, after: after, limit: limit))
        },
        Route(method: .get, path: "/v1/push-provisioning/key", allowed: .issuerOrNetwork) { api, _, _, _ in
            try JSONBody.result(try await api.tokens.pushKey())
        },
        Route(method: .post, path: "/v1/push-receipts", allowed: .issuer) { api, body, context, _ in
            guard case .issuer(let issuerID) = context.participant else { throw Problem.unauthorized }
            let r = try JSONBody.decode(PushReceiptRequest.self, from: body)
            guard let issuer = try await api.participants.issuer(id: issuerID) else { throw ServiceError.notFound("issuer \(issuerID)") }
            guard let wallet = try await api.participants.wallet(id: r.walletID) else { throw ServiceError.notFound("wallet \(r.walletID.prefix(64))") }
            let receipt = try await api.tokens.issuePushReceipt(issuer: issuer, wallet: wallet, request: r)
            api.logger.info("push receipt issued", metadata: ["issuer": "\(issuerID)", "wallet": "\(wallet.id)", "card": "\(receipt.maskedPAN)"])
            return try JSONBody.result(receipt, status: .created)
        },
        Route(method: .post, path: "/v1/push-receipts/{receipt}/redeem", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let r = try JSONBody.decode(PushRedemption.self, from: body)
            let language = await api.wallets.cardholderLanguage(walletID: walletID, deviceID: r.deviceID, acceptLanguage: request.headers[.acceptLanguage])
            return try await forCardholder(language) {
                let (token, sealed) = try await api.wallets.redeemPushReceipt(walletID: walletID, receipt: try param(request, context, "receipt"),
                                                                           deviceID: r.deviceID, acceptedTerms: r.acceptedTerms)
                api.metrics?.enrollment("pushed")
                api.logger.info("token created", metadata: ["token": "\(token.id)", "number": "\(token.maskedNumber)", "path": "push"])
                return try JSONBody.result(EnrollmentView(status: .approved, token: TokenView(token), provisioning: sealed, language: language),
                                           status: .created)
            }
        },
        Route(method: .post, path: "/v1/qr-payments", allowed: .wallet) { api, body, context, _ in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let payment = try JSONBody.decode(QRPayment.self, from: body)
            guard let authorize = api.authorize else { throw ServiceError.issuerUnavailable("this node runs no network") }
            let paid = try await QRPayments(tokens: api.tokens, participants: api.participants, authorize: authorize, now: { Date() })
                .pay(payment, walletID: walletID)
            api.logger.info("QR payment", metadata: ["acquirer": "\(paid.acquirer)", "terminal": "\(paid.terminalID)", "stan": "\(paid.stan)",
                                                    "rc": "\(paid.responseCode)"])
            return try JSONBody.result(paid)
        },
        Route(method: .post, path: "/v1/tokens/{tokenID}/keys", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            _ = try JSONBody.decode(NoBody.self, from: body)
            return try JSONBody.result(try await api.wallets.replenish(tokenID: try param(request, context, "tokenID"), walletID: walletID))
        },
        lifecycle(.suspend),
        lifecycle(.resume),
        lifecycle(.delete),
        Route(method: .post, path: "/v1/cards/renew", allowed: .issuer) { api, body, context, _ in
            guard case .issuer(let issuerID) = context.participant else { throw Problem.unauthorized }
            let r = try JSONBody.decode(CardRenewal.self, from: body)
            let (card, tokens) = try await api.tokens.renewCard(issuerID: issuerID, pan: r.pan, newPAN: r.newPan, newExpiry: r.newExpiry)
            api.logger.notice("card renewed", metadata: ["card": "\(card.maskedPAN)", "tokens": "\(tokens.count)"])
            return try JSONBody.result(RenewalView(maskedPAN: card.maskedPAN, expiry: card.expiry, tokens: tokens.map(TokenView.init)))
        },
    ]

    static func lifecycle(_ action: TokenService.LifecycleAction) -> Route {
        Route(method: .post, path: "/v1/tokens/{tokenID}/\(action.rawValue)", allowed: .authenticated) { api, body, context, request in
            let reason = try JSONBody.decode(LifecycleReason.self, from: body).reason
            let id = try param(request, context, "tokenID")
            let caller = try caller(context)
            // A cardholder's request goes through the wallet provider, which knows the device.
            let token = if case .wallet(let walletID) = caller {
                try await api.wallets.changeToken(tokenID: id, action: action, walletID: walletID, reason: reason)
            } else {
                try await api.tokens.change(tokenID: id, action: action, by: caller, reason: reason)
            }
            api.logger.notice("token \(action.rawValue)", metadata: ["token": "\(id)", "by": "\(caller.actor.kind.rawValue)"])
            return try JSONBody.result(TokenView(token))
        }
    }
}
