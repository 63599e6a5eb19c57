import Crypto
import EMV
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TokenService

/// The Passway JSON API (documented in `openapi.yaml`, served at `/openapi.yaml`):
/// participants authenticate with their API key; each route says which kinds of
/// participant may call it, and the token service scopes what they see.
public struct PasswayAPI: Sendable {
    let service: TokenService
    let logger: Logger

    public init(service: TokenService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    /// Every route as (method, path template), in the OpenAPI document's spelling; a
    /// test checks that the document and this list are the same.
    public static var routes: [(method: String, path: String)] { table.map { ($0.method.rawValue.lowercased(), $0.path) } }

    enum Allowed: Sendable { case anyone, network, issuer, wallet, issuerOrNetwork, walletOrNetwork, authenticated }

    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var allowed: Allowed
        var handler: @Sendable (PasswayAPI, Data, PasswayRequestContext, Request) async throws -> APIResult
    }

    public func router() -> Router<PasswayRequestContext> {
        let router = Router(context: PasswayRequestContext.self)
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
        for (path, methods) in declared {
            let allow = methods.map(\.rawValue).joined(separator: ", ")
            var others: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .options, .trace, .head, HTTPRequest.Method("QUERY")!].filter { !methods.contains($0) }
            if methods.contains(.get) { others.removeAll { $0 == .head } }
            for method in others {
                router.on(Self.routerPath(path), method: method) { _, _ in
                    var response = Problem(.methodNotAllowed, code: "method-not-allowed", title: "Method not allowed",
                                           detail: "\(path) accepts \(allow)").response()
                    response.headers[.allow] = allow
                    return response
                }
            }
        }
        return router
    }

    static func routerPath(_ template: String) -> RouterPath {
        RouterPath(template.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: ""))
    }

    private func handle(_ route: Route, _ request: Request, _ context: PasswayRequestContext) async throws -> Response {
        var request = request
        var context = context
        do {
            let participant = try await authenticate(request, route.allowed)
            context.participant = participant
            let body = route.method == .get ? Data() : try await JSONBody.read(&request)
            if route.method == .post, let key = request.headers[HTTPField.Name("Idempotency-Key")!] {
                return try await idempotent(key: key, participant: participant, route: route, body: body, request: request, context: context)
            }
            return try await route.handler(self, body, context, request).response
        } catch {
            return problemResponse(error, request)
        }
    }

    private func problemResponse(_ error: any Error, _ request: Request) -> Response {
        if let problem = Problem.from(error) {
            if problem.status.code >= 500 {
                logger.error("request failed", metadata: ["path": "\(request.uri.path)", "problem": "\(problem.code)", "detail": "\(problem.detail)"])
            }
            return problem.response()
        }
        logger.error("unexpected error", metadata: ["path": "\(request.uri.path)", "error": "\(String(describing: type(of: error)))"])
        return Problem(.internalServerError, code: "internal", title: "Internal error", detail: "the platform could not complete this request; nothing was changed").response()
    }

    private func authenticate(_ request: Request, _ allowed: Allowed) async throws -> Participant? {
        if allowed == .anyone { return nil }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              let participant = try await service.authenticate(apiKey: String(header.dropFirst(7))) else {
            throw Problem.unauthorized
        }
        let ok: Bool = switch (allowed, participant) {
        case (.anyone, _), (.authenticated, _): true
        case (.network, .network), (.issuer, .issuer), (.wallet, .wallet): true
        case (.issuerOrNetwork, .issuer), (.issuerOrNetwork, .network): true
        case (.walletOrNetwork, .wallet), (.walletOrNetwork, .network): true
        default: false
        }
        guard ok else { throw Problem.forbidden("this operation is not open to \(participant.actor.kind.rawValue)s") }
        return participant
    }

    /// `Idempotency-Key`: the first answer to a key is kept and replayed; the same key
    /// with a different request is refused rather than silently answered.
    private func idempotent(key: String, participant: Participant?, route: Route, body: Data, request: Request,
                            context: PasswayRequestContext) async throws -> Response {
        guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw Problem.badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters", field: "Idempotency-Key")
        }
        let who = participant.map { "\($0.actor.kind.rawValue):\($0.actor.id)" } ?? "anonymous"
        // The same JSON with its keys in another order is the same request.
        let canonical = (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]))
            .flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) } ?? body
        let hash = Hex.encode(Array(SHA256.hash(data: Data("POST \(request.uri.path)\n".utf8) + canonical)))
        func reused() -> Problem {
            Problem(.conflict, code: "idempotency-key-reused", title: "Idempotency-Key reused",
                    detail: "this Idempotency-Key was used for a different request; use a new key for a new request")
        }
        switch try await service.store.reserveIdempotencyKey(participant: who, key: key, requestHash: hash, at: Date()) {
        case .answered(let stored):
            guard stored.requestHash == hash else { throw reused() }
            var response = APIResult(status: HTTPResponse.Status(code: stored.status), body: stored.body).response
            response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return response
        case .inProgress(let requestHash):
            guard requestHash == hash else { throw reused() }
            throw Problem(.conflict, code: "idempotency-key-in-progress", title: "Request in progress",
                          detail: "a request with this Idempotency-Key is still running; repeat it later to get its answer")
        case .reserved:
            break
        }
        let result: APIResult
        do {
            result = try await route.handler(self, body, context, request)
        } catch {
            try? await service.store.releaseIdempotencyKey(participant: who, key: key)
            throw error
        }
        try await service.store.saveIdempotentResponse(participant: who, key: key,
                                                       response: StoredResponse(requestHash: hash, status: Int(result.status.code), body: result.body))
        return result.response
    }

    static func param(_ request: Request, _ context: PasswayRequestContext, _ name: String) throws -> String {
        try context.parameters.require(name)
    }

    // MARK: The routes

    static let table: [Route] = [
        Route(method: .post, path: "/v1/wallets", allowed: .network) { api, body, _, _ in
            let new = try JSONBody.decode(NewWallet.self, from: body)
            let wallet = Wallet(id: new.id, name: new.name, tokenRequestorID: new.tokenRequestorID)
            try await api.service.createWallet(wallet)
            let key = try await api.service.issueCredential(for: .wallet(wallet.id))
            api.logger.info("wallet created", metadata: ["wallet": "\(wallet.id)"])
            return try JSONBody.result(Created(apiKey: key, participant: wallet), status: .created)
        },
        Route(method: .get, path: "/v1/wallets", allowed: .network) { api, _, _, _ in
            try JSONBody.result(try await api.service.store.wallets())
        },
        Route(method: .post, path: "/v1/issuers", allowed: .network) { api, body, _, _ in
            let n = try JSONBody.decode(NewIssuer.self, from: body)
            let issuer = Issuer(id: n.id, name: n.name, country: n.country, currency: n.currency, cardRanges: n.cardRanges,
                                tokenRanges: n.tokenRanges, enabledWallets: n.enabledWallets ?? [], hostURL: n.hostURL)
            try await api.service.onboardIssuer(issuer)
            let key = try await api.service.issueCredential(for: .issuer(issuer.id))
            api.logger.info("issuer onboarded", metadata: ["issuer": "\(issuer.id)", "cardRanges": "\(issuer.cardRanges.count)"])
            return try JSONBody.result(Created(apiKey: key, participant: issuer), status: .created)
        },
        Route(method: .post, path: "/v1/issuers/{issuerID}/bulk-tokens", allowed: .network) { api, body, context, request in
            let r = try JSONBody.decode(BulkProvisioning.self, from: body)
            let issuerID = try param(request, context, "issuerID")
            let sealed = try await api.service.bulkProvision(issuerID: issuerID, walletID: r.walletID, deviceID: r.deviceID,
                                                            cards: r.cards.map { .init(pan: $0.pan, expiry: $0.expiry) }, keys: r.keysPerToken)
            api.logger.notice("bulk provisioning", metadata: ["issuer": "\(issuerID)", "tokens": "\(sealed.count)", "device": "\(r.deviceID)"])
            return try JSONBody.result(BulkProvisioningView(provisionings: sealed), status: .created)
        },
        Route(method: .get, path: "/v1/issuers", allowed: .network) { api, _, _, _ in
            try JSONBody.result(try await api.service.store.issuers())
        },
        Route(method: .put, path: "/v1/issuers/{issuerID}/wallets", allowed: .issuerOrNetwork) { api, body, context, request in
            let id = try param(request, context, "issuerID")
            if case .issuer(let own) = context.participant, own != id { throw Problem.notFound("issuer \(id) not found") }
            let change = try JSONBody.decode(EnabledWallets.self, from: body)
            return try JSONBody.result(try await api.service.updateIssuerWallets(issuerID: id, enabledWallets: change.enabledWallets))
        },
        Route(method: .get, path: "/v1/markets", allowed: .authenticated) { api, _, _, _ in
            try JSONBody.result(try await api.service.store.markets())
        },
        Route(method: .put, path: "/v1/markets/{country}", allowed: .network) { api, body, context, request in
            let country = try param(request, context, "country")
            let change = try JSONBody.decode(MarketChange.self, from: body)
            let market = try await api.service.setMarketState(country: country, state: change.state, reason: change.reason)
            api.logger.notice("market state changed", metadata: ["country": "\(country)", "state": "\(market.state.rawValue)"])
            return try JSONBody.result(market)
        },
        Route(method: .get, path: "/v1/device-models", allowed: .authenticated) { api, _, _, _ in
            try JSONBody.result(try await api.service.store.deviceModels())
        },
        Route(method: .post, path: "/v1/devices", allowed: .wallet) { api, body, context, _ in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let n = try JSONBody.decode(NewDevice.self, from: body)
            let device = try await api.service.registerDevice(walletID: walletID, modelID: n.modelID, osVersion: n.osVersion,
                                                              country: n.country, publicKey: n.publicKey)
            api.logger.info("device registered", metadata: ["device": "\(device.id)", "model": "\(device.modelID)"])
            return try JSONBody.result(DeviceView(device), status: .created)
        },
        Route(method: .get, path: "/v1/devices/{deviceID}", allowed: .walletOrNetwork) { api, _, context, request in
            try JSONBody.result(DeviceView(try await api.service.device(id: try param(request, context, "deviceID"), for: context.participant!)))
        },
        Route(method: .post, path: "/v1/devices/{deviceID}/lost", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            _ = try JSONBody.decode(NoBody.self, from: body)
            let id = try param(request, context, "deviceID")
            let suspended = try await api.service.reportLost(deviceID: id, walletID: walletID)
            api.logger.notice("device reported lost", metadata: ["device": "\(id)", "tokensSuspended": "\(suspended.count)"])
            return try JSONBody.result(suspended.map(TokenView.init))
        },
        Route(method: .post, path: "/v1/enrollments", allowed: .wallet) { api, body, context, _ in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let n = try JSONBody.decode(NewEnrollment.self, from: body)
            let outcome = try await api.service.enroll(walletID: walletID, .init(deviceID: n.deviceID, pan: n.pan, expiry: n.expiry,
                                                                                  cvv2: n.cvv2, riskScore: n.riskScore ?? 0))
            switch outcome {
            case .approved(let token, let sealed):
                api.logger.info("token created", metadata: ["token": "\(token.id)", "number": "\(token.maskedNumber)", "path": "green"])
                return try JSONBody.result(EnrollmentView(status: "approved", token: TokenView(token), provisioning: sealed), status: .created)
            case .pendingVerification(let pending, let method):
                api.logger.info("verification sent", metadata: ["verification": "\(pending.id)", "channel": "\(method.channel.rawValue)"])
                return try JSONBody.result(EnrollmentView(status: "pending_verification", verificationID: pending.id, method: method,
                                                          expiresAt: pending.expiresAt), status: .accepted)
            case .declined(let reason):
                api.logger.info("enrollment declined by issuer", metadata: ["reason": "\(reason)"])
                return try JSONBody.result(EnrollmentView(status: "declined", reason: reason))
            }
        },
        Route(method: .post, path: "/v1/enrollments/{verificationID}/verify", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            let entry = try JSONBody.decode(CodeEntry.self, from: body)
            let (token, sealed) = try await api.service.verify(verificationID: try param(request, context, "verificationID"), walletID: walletID, code: entry.code)
            api.logger.info("token created", metadata: ["token": "\(token.id)", "number": "\(token.maskedNumber)", "path": "yellow"])
            return try JSONBody.result(EnrollmentView(status: "approved", token: TokenView(token), provisioning: sealed), status: .created)
        },
        Route(method: .get, path: "/v1/tokens", allowed: .authenticated) { api, _, context, request in
            let deviceID = request.uri.queryParameters["deviceID"].map { String($0) }
            return try JSONBody.result(try await api.service.tokens(for: context.participant!, deviceID: deviceID).map(TokenView.init))
        },
        Route(method: .get, path: "/v1/tokens/{tokenID}", allowed: .authenticated) { api, _, context, request in
            try JSONBody.result(TokenView(try await api.service.token(id: try param(request, context, "tokenID"), for: context.participant!)))
        },
        Route(method: .get, path: "/v1/tokens/{tokenID}/audit", allowed: .authenticated) { api, _, context, request in
            try JSONBody.result(try await api.service.audit(tokenID: try param(request, context, "tokenID"), for: context.participant!).map(AuditView.init))
        },
        Route(method: .post, path: "/v1/tokens/{tokenID}/keys", allowed: .wallet) { api, body, context, request in
            guard case .wallet(let walletID) = context.participant else { throw Problem.unauthorized }
            _ = try JSONBody.decode(NoBody.self, from: body)
            return try JSONBody.result(try await api.service.replenish(tokenID: try param(request, context, "tokenID"), walletID: walletID))
        },
        lifecycle(.suspend),
        lifecycle(.resume),
        lifecycle(.delete),
        Route(method: .post, path: "/v1/cards/renew", allowed: .issuer) { api, body, context, _ in
            guard case .issuer(let issuerID) = context.participant else { throw Problem.unauthorized }
            let r = try JSONBody.decode(CardRenewal.self, from: body)
            let (card, tokens) = try await api.service.renewCard(issuerID: issuerID, pan: r.pan, newPAN: r.newPan, newExpiry: r.newExpiry)
            api.logger.notice("card renewed", metadata: ["card": "\(card.maskedPAN)", "tokens": "\(tokens.count)"])
            return try JSONBody.result(RenewalView(maskedPAN: card.maskedPAN, expiry: card.expiry, tokens: tokens.map(TokenView.init)))
        },
    ]

    static func lifecycle(_ action: TokenService.LifecycleAction) -> Route {
        Route(method: .post, path: "/v1/tokens/{tokenID}/\(action.rawValue)", allowed: .authenticated) { api, body, context, request in
            let reason = try JSONBody.decode(LifecycleReason.self, from: body).reason
            let id = try param(request, context, "tokenID")
            let token = try await api.service.change(tokenID: id, action: action, by: context.participant!, reason: reason)
            api.logger.notice("token \(action.rawValue)", metadata: ["token": "\(id)", "by": "\(context.participant!.actor.kind.rawValue)"])
            return try JSONBody.result(TokenView(token))
        }
    }
}
