import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import IssuerContract
import IssuerHost
import Logging
import Vault

extension NewBank: StrictBody {}
extension NewAccount: StrictBody {}
extension NewAccounts: StrictBody {}
extension IDVRules: StrictBody {}
extension IDVRequest: StrictBody {}
extension ActivationCodeDelivery: StrictBody {}
extension TokenNotification: StrictBody {}
extension TokenNotificationBatch: StrictBody {}

/// The bundled issuer host's JSON API. One process can host several banks, each under
/// `/banks/{bank}`. Every route but `/health` needs a credential:
/// - the host's operator key (`issuer-host-operator.key`) creates banks, lists them and
///   rotates a bank's credentials;
/// - a bank's API key (made with the bank) opens its accounts, sets its ID&V rules and
///   reads its outbox and notifications: its own and no other bank's;
/// - what the token service calls (`IssuerHostPath`: ID&V, activation codes, token
///   notifications) is signed with the bank's token service key (`RequestSignature`),
///   and so is the answer.
/// An unknown bank is refused as a wrong credential is (401), so that the API does not
/// tell which banks exist.
enum IssuerHostHTTP {
    enum Access { case hostOperator, bank, signed, bankOrHostOperator }

    static let signatureHeaders = (timestamp: HTTPField.Name(RequestSignature.timestampHeader)!, nonce: HTTPField.Name(RequestSignature.nonceHeader)!,
                                   signature: HTTPField.Name(RequestSignature.signatureHeader)!)

    static func router(registry: BankRegistry, operatorKey: String, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        let operatorKeyHash = Bank.keyHash(operatorKey)
        var declared: [String: [HTTPRequest.Method]] = ["/health": [.get], "/openapi.yaml": [.get]]

        func route(_ method: HTTPRequest.Method, _ path: String, _ access: Access, maxBody: Int = JSONBody.maxBytes,
                   _ handler: @escaping @Sendable (Data, Bank?) async throws -> APIResult) {
            route(method, path, access, maxBody: maxBody) { body, bank, _ in try await handler(body, bank) }
        }
        func route(_ method: HTTPRequest.Method, _ path: String, _ access: Access, maxBody: Int = JSONBody.maxBytes,
                   _ handler: @escaping @Sendable (Data, Bank?, [String: String]) async throws -> APIResult) {
            declared[path, default: []].append(method)
            router.on(RouterPath(path), method: method) { request, context in
                var request = request
                var query: [String: String] = [:]
                for item in request.uri.queryParameters { query[String(item.key)] = String(item.value) }
                do {
                    let body = method == .get ? Data() : try await JSONBody.read(&request, upTo: maxBody)
                    switch access {
                    case .hostOperator:
                        guard let token = BearerToken.from(request.headers), SecureRandom.constantTimeEquals(Bank.keyHash(token), operatorKeyHash) else {
                            throw Problem.unauthorized
                        }
                        let bank = context.parameters.get("bank") == nil ? nil : try await registry.bank(try context.parameters.require("bank"))
                        return try await handler(body, bank, query).response
                    case .bank, .bankOrHostOperator:
                        guard let token = BearerToken.from(request.headers), let bank = try await knownBank(context) else { throw Problem.unauthorized }
                        let isOperator = access == .bankOrHostOperator && SecureRandom.constantTimeEquals(Bank.keyHash(token), operatorKeyHash)
                        if !isOperator, try await !bank.authenticate(apiKey: token) { throw Problem.unauthorized }
                        return try await handler(body, bank, query).response
                    case .signed:
                        guard let bank = try await knownBank(context) else { throw Problem.unauthorized }
                        let headers = request.headers[signatureHeaders.timestamp].flatMap { timestamp in
                            request.headers[signatureHeaders.nonce].flatMap { nonce in
                                request.headers[signatureHeaders.signature].map { RequestSignature.Headers(timestamp: timestamp, nonce: nonce, signature: $0) }
                            }
                        }
                        let (key, nonce) = try await bank.acceptSigned(method: request.method.rawValue, path: request.uri.path, body: Array(body),
                                                                       headers: headers)
                        let result = try await handler(body, bank, query)
                        var response = result.response
                        response.headers[signatureHeaders.signature] = RequestSignature.signAnswer(status: Int(result.status.code), nonce: nonce,
                                                                                                   body: Array(result.body), key: key)
                        return response
                    }
                } catch {
                    let problem = problem(error) ?? Problem.internalError
                    if problem.status.code >= 500 { logger.error("issuer host request failed", metadata: ["path": "\(request.uri.path)"]) }
                    if problem.status == .unauthorized {
                        logger.notice("issuer host: refused", metadata: ["path": "\(request.uri.path)", "reason": "\(problem.detail)"])
                    }
                    return problem.response()
                }
            }
            @Sendable func knownBank(_ context: BasicRequestContext) async throws -> Bank? {
                do { return try await registry.bank(try context.parameters.require("bank")) } catch IssuerHostError.notFound { return nil }
            }
        }

        router.get("/health") { _, _ in try JSONBody.result(["status": "ok"]).response }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: IssuerHostHTTP.document)))
        }
        route(.post, "/banks", .hostOperator) { body, _ in
            let new = try JSONBody.decode(NewBank.self, from: body)
            let bank = try await registry.create(id: new.id, cardRanges: new.cardRanges)
            let credentials = try await bank.issueCredentials()
            logger.info("bank created", metadata: ["bank": "\(bank.id)", "cardRanges": "\(bank.cardRanges.joined(separator: ","))"])
            return try JSONBody.result(CreatedBank(id: bank.id, cardRanges: bank.cardRanges, credentials: credentials), status: .created)
        }
        route(.get, "/banks", .hostOperator) { _, _ in try JSONBody.result(try await registry.banks().map { BankView(id: $0.id, cardRanges: $0.cardRanges) }) }
        route(.post, "/banks/:bank/credentials", .hostOperator) { _, bank in
            let bank = try required(bank)
            let credentials = try await bank.issueCredentials()
            logger.notice("bank credentials rotated: the old ones no longer work", metadata: ["bank": "\(bank.id)"])
            return try JSONBody.result(CreatedBank(id: bank.id, cardRanges: bank.cardRanges, credentials: credentials), status: .created)
        }
        route(.post, "/banks/:bank/accounts", .bank) { body, bank in
            let bank = try required(bank)
            let account = try await bank.openAccount(try JSONBody.decode(NewAccount.self, from: body))
            logger.info("account opened", metadata: ["bank": "\(bank.id)", "card": "\(account.maskedPAN)"])
            return try JSONBody.result(try await bank.view(account), status: .created)
        }
        route(.post, "/banks/:bank/accounts/bulk", .bank) { body, bank in
            let bulk = try JSONBody.decode(NewAccounts.self, from: body)
            let accounts = try await required(bank).openAccounts(bulk.accounts)
            logger.info("accounts opened", metadata: ["count": "\(accounts.count)"])
            return try JSONBody.result(["opened": accounts.count], status: .created)
        }
        route(.get, "/banks/:bank/accounts", .bank) { _, bank in try JSONBody.result(try await required(bank).accounts()) }
        route(.put, "/banks/:bank/rules", .bank) { body, bank in
            let rules = try JSONBody.decode(IDVRules.self, from: body)
            try await required(bank).setRules(rules)
            return try JSONBody.result(rules)
        }
        route(.get, "/banks/:bank/outbox", .bank) { _, bank in try JSONBody.result(try await required(bank).outbox()) }
        route(.get, "/banks/:bank/holds", .bankOrHostOperator) { _, bank, query in
            let limit = query["limit"].map { Int($0) } ?? 1_000
            guard let limit, (1...10_000).contains(limit) else { throw IssuerHostError.invalid("limit: 1 to 10000") }
            guard (query["after"]?.unicodeScalars.count ?? 0) <= 120 else { throw IssuerHostError.invalid("after: a hold's reference, at most 120 characters") }
            return try JSONBody.result(try await required(bank).holds(after: query["after"], limit: limit))
        }
        route(.get, "/banks/:bank/ledger", .bankOrHostOperator) { _, bank in
            let bank = try required(bank)
            return try JSONBody.result(LedgerCheck(unbalancedReferences: try await bank.unbalancedReferences()))
        }
        route(.post, "/banks/:bank/clearing", .bankOrHostOperator, maxBody: 32 << 20) { body, bank in
            let report = try await required(bank).applyClearingFile(Array(body))
            logger.notice("clearing file posted", metadata: ["file": "\(report.fileID)", "posted": "\(report.posted)", "already": "\(report.already)",
                                                            "problems": "\(report.problems.count)"])
            return try JSONBody.result(report)
        }
        route(.get, "/banks/:bank/notifications", .bank) { _, bank in try JSONBody.result(try await required(bank).notifications()) }
        route(.post, "/banks/:bank" + IssuerHostPath.authorizeService, .signed) { body, bank in
            let answer = try await required(bank).authorizeService(try JSONBody.decode(IDVRequest.self, from: body))
            logger.info("ID&V decided", metadata: ["decision": "\(answer.decision.rawValue)"])
            return try JSONBody.result(answer)
        }
        route(.post, "/banks/:bank" + IssuerHostPath.deliverActivationCode, .signed) { body, bank in
            try await required(bank).deliverCode(try JSONBody.decode(ActivationCodeDelivery.self, from: body))
            return try JSONBody.result(["delivered": true])
        }
        route(.post, "/banks/:bank" + IssuerHostPath.tokenNotification, .signed) { body, bank in
            try await required(bank).tokenUpdated(try JSONBody.decode(TokenNotification.self, from: body))
            return try JSONBody.result(["received": true])
        }
        route(.post, "/banks/:bank" + IssuerHostPath.tokenNotificationBatch, .signed) { body, bank in
            let batch = try JSONBody.decode(TokenNotificationBatch.self, from: body)
            try await required(bank).tokensUpdated(batch)
            return try JSONBody.result(["received": batch.notifications.count])
        }
        MethodNotAllowed.register(on: router, declared: declared)
        return router
    }

    /// The OpenAPI 3.1 document of this API, shipped as a resource.
    static let document: String = {
        guard let url = Bundle.module.url(forResource: "issuer-host-openapi", withExtension: "yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "openapi: 3.1.0\n" }
        return text
    }()

    static func required(_ bank: Bank?) throws -> Bank {
        guard let bank else { throw Problem.unauthorized }
        return bank
    }

    /// The one table from the bank's errors to problems.
    static func problem(_ error: any Error) -> Problem? {
        switch error {
        case let e as IssuerHostError:
            switch e {
            case .invalid(let why): Problem(.unprocessableContent, code: "invalid-value", title: "A value is not acceptable", detail: why)
            case .notFound(let what): .notFound("\(what) not found")
            case .conflict(let why): Problem(.conflict, code: "conflict", title: "Conflicts with the current state", detail: why)
            case .unauthenticated(let why): Problem(.unauthorized, code: "unauthorized", title: "Authentication required", detail: why)
            case .inconsistent: Problem.internalError
            }
        default: Problem.from(error)
        }
    }
}

/// Whether the bank's books balance: every reference whose ledger entries do not net to
/// its hold (held: minus the amount; released: zero). Empty when they balance.
struct LedgerCheck: Codable, Sendable {
    var unbalancedReferences: [String]
}
