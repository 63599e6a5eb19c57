import Foundation
import HTTPSupport
import Hummingbird
import IssuerContract
import IssuerHost
import Logging

extension NewBank: StrictBody {}
extension NewAccount: StrictBody {}
extension NewAccounts: StrictBody {}
extension IDVRules: StrictBody {}
extension IDVRequest: StrictBody {}
extension ActivationCodeDelivery: StrictBody {}
extension TokenNotification: StrictBody {}

/// The bundled issuer host's JSON API. One process can host several banks, each under
/// `/banks/{bank}`: what the token service calls (`IssuerHostPath`: ID&V, activation
/// codes, token notifications) and what the bank's operator uses (accounts, rules,
/// outbox, notifications received).
enum IssuerHostHTTP {
    static func router(registry: BankRegistry, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        func route(_ method: HTTPRequest.Method, _ path: String,
                   _ handler: @escaping @Sendable (Data, BasicRequestContext) async throws -> APIResult) {
            router.on(RouterPath(path), method: method) { request, context in
                var request = request
                do {
                    let body = method == .get ? Data() : try await JSONBody.read(&request)
                    return try await handler(body, context).response
                } catch {
                    let problem = problem(error) ?? Problem.internalError
                    if problem.status.code >= 500 { logger.error("issuer host request failed", metadata: ["path": "\(request.uri.path)"]) }
                    return problem.response()
                }
            }
        }
        @Sendable func bank(_ context: BasicRequestContext) async throws -> Bank { try await registry.bank(try context.parameters.require("bank")) }

        router.get("/health") { _, _ in try JSONBody.result(["status": "ok"]).response }
        route(.post, "/banks") { body, _ in
            let new = try JSONBody.decode(NewBank.self, from: body)
            let bank = try await registry.create(id: new.id, cardRanges: new.cardRanges)
            logger.info("bank created", metadata: ["bank": "\(bank.id)", "cardRanges": "\(bank.cardRanges.joined(separator: ","))"])
            return try JSONBody.result(BankView(id: bank.id, cardRanges: bank.cardRanges), status: .created)
        }
        route(.get, "/banks") { _, _ in try JSONBody.result(try await registry.banks().map { BankView(id: $0.id, cardRanges: $0.cardRanges) }) }
        route(.post, "/banks/:bank/accounts") { body, context in
            let bank = try await bank(context)
            let account = try await bank.openAccount(try JSONBody.decode(NewAccount.self, from: body))
            logger.info("account opened", metadata: ["card": "\(account.maskedPAN)"])
            return try JSONBody.result(try await bank.view(account), status: .created)
        }
        route(.post, "/banks/:bank/accounts/bulk") { body, context in
            let bulk = try JSONBody.decode(NewAccounts.self, from: body)
            let accounts = try await bank(context).openAccounts(bulk.accounts)
            logger.info("accounts opened", metadata: ["count": "\(accounts.count)"])
            return try JSONBody.result(["opened": accounts.count], status: .created)
        }
        route(.get, "/banks/:bank/accounts") { _, context in try JSONBody.result(try await bank(context).accounts()) }
        route(.put, "/banks/:bank/rules") { body, context in
            let rules = try JSONBody.decode(IDVRules.self, from: body)
            try await bank(context).setRules(rules)
            return try JSONBody.result(rules)
        }
        route(.get, "/banks/:bank/outbox") { _, context in try JSONBody.result(try await bank(context).outbox()) }
        route(.get, "/banks/:bank/notifications") { _, context in try JSONBody.result(try await bank(context).notifications()) }
        route(.post, "/banks/:bank" + IssuerHostPath.authorizeService) { body, context in
            let answer = try await bank(context).authorizeService(try JSONBody.decode(IDVRequest.self, from: body))
            logger.info("ID&V decided", metadata: ["decision": "\(answer.decision.rawValue)"])
            return try JSONBody.result(answer)
        }
        route(.post, "/banks/:bank" + IssuerHostPath.deliverActivationCode) { body, context in
            try await bank(context).deliverCode(try JSONBody.decode(ActivationCodeDelivery.self, from: body))
            return try JSONBody.result(["delivered": true])
        }
        route(.post, "/banks/:bank" + IssuerHostPath.tokenNotification) { body, context in
            try await bank(context).tokenUpdated(try JSONBody.decode(TokenNotification.self, from: body))
            return try JSONBody.result(["received": true])
        }
        return router
    }

    /// The one table from the bank's errors to problems.
    static func problem(_ error: any Error) -> Problem? {
        switch error {
        case let e as IssuerHostError:
            switch e {
            case .invalid(let why): Problem(.unprocessableContent, code: "invalid-value", title: "A value is not acceptable", detail: why)
            case .notFound(let what): .notFound("\(what) not found")
            case .conflict(let why): Problem(.conflict, code: "conflict", title: "Conflicts with the current state", detail: why)
            }
        default: Problem.from(error)
        }
    }
}
