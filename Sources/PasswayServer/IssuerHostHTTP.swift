import Foundation
import Hummingbird
import IssuerHost
import Logging
import Vault

/// The bundled issuer host's listener. One process can host several banks, each under
/// `/banks/{bank}`: what the token service calls (`idv/…`, `tokens/notify`) and what the
/// bank's operator uses (accounts, rules, outbox). On SQLite each bank has a database
/// file of its own; on PostgreSQL the banks share a schema, and a bank created through
/// one node is found by the others.
public actor BankRegistry {
    enum Backend: Sendable {
        case sqlite(directory: String)
        case postgres(PostgresIssuerHost)
    }

    let backend: Backend
    let master: MasterKey
    var banks: [String: Bank] = [:]

    public init(directory: String, master: MasterKey) {
        backend = .sqlite(directory: directory)
        self.master = master
    }

    public init(postgres: PostgresIssuerHost, master: MasterKey) {
        backend = .postgres(postgres)
        self.master = master
    }

    /// Opens every bank there is.
    public func openExisting() async throws {
        switch backend {
        case .sqlite(let directory):
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".sqlite") {
                let id = String(file.dropLast(".sqlite".count))
                banks[id] = try await Bank(database: IssuerDatabase(path: path(directory, id)), master: master)
            }
        case .postgres(let host):
            for id in try await host.bankIDs() where banks[id] == nil {
                banks[id] = try await Bank(database: host.store(bank: id), master: master)
            }
        }
    }

    func path(_ directory: String, _ id: String) -> String { (directory as NSString).appendingPathComponent("\(id).sqlite") }

    public func create(id: String) async throws -> Bank {
        guard (2...40).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }), id.first!.isLetter else {
            throw IssuerHostError.invalid("id: 2 to 40 lower-case letters, digits or '-', starting with a letter")
        }
        guard banks[id] == nil else { throw IssuerHostError.conflict("bank \(id) exists") }
        let bank: Bank
        switch backend {
        case .sqlite(let directory):
            bank = try await Bank(database: IssuerDatabase(path: path(directory, id)), master: master)
        case .postgres(let host):
            guard try await host.createBank(id: id) else { throw IssuerHostError.conflict("bank \(id) exists") }
            bank = try await Bank(database: host.store(bank: id), master: master)
        }
        banks[id] = bank
        return bank
    }

    public func bank(_ id: String) async throws -> Bank {
        if let bank = banks[id] { return bank }
        if case .postgres = backend {
            try await openExisting()
            if let bank = banks[id] { return bank }
        }
        throw IssuerHostError.notFound("bank \(id)")
    }

    /// Every bank's id (on PostgreSQL, including those created through other nodes).
    public func ids() async throws -> [String] {
        if case .postgres = backend { try await openExisting() }
        return banks.keys.sorted()
    }
}

struct NewBank: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case id }
    var id: String
}

extension Bank.NewAccount: StrictBody {}

struct NewAccounts: StrictBody {
    enum CodingKeys: String, CodingKey, CaseIterable { case accounts }
    var accounts: [Bank.NewAccount]
}

extension IDVRules: StrictBody {}

extension AuthorizeServiceRequest: StrictBody {}

extension DeliverCodeRequest: StrictBody {}

extension TokenUpdatedNotification: StrictBody {}

struct AccountView: Codable, Sendable {
    var id: String
    var maskedPAN: String
    var expiry: String
    var holderName: String
    var currency: String
    var balanceMinor: Int64
    var creditLimitMinor: Int64
    var status: String
    /// Balance and credit line less the holds of approved authorizations.
    var availableMinor: Int64
    init(_ a: Account, availableMinor: Int64? = nil) {
        id = a.id; maskedPAN = a.maskedPAN; expiry = a.expiry; holderName = a.holderName; currency = a.currency
        balanceMinor = a.balanceMinor; creditLimitMinor = a.creditLimitMinor; status = a.status.rawValue
        self.availableMinor = availableMinor ?? a.balanceMinor + a.creditLimitMinor
    }
}

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
                    let problem = Problem.from(error) ?? Problem(.internalServerError, code: "internal", title: "Internal error", detail: "the bank could not complete this request")
                    if problem.status.code >= 500 { logger.error("issuer host request failed", metadata: ["path": "\(request.uri.path)"]) }
                    return problem.response()
                }
            }
        }
        @Sendable func bank(_ context: BasicRequestContext) async throws -> Bank { try await registry.bank(try context.parameters.require("bank")) }

        router.get("/health") { _, _ in try JSONBody.result(["status": "ok"]).response }
        route(.post, "/banks") { body, _ in
            let new = try JSONBody.decode(NewBank.self, from: body)
            _ = try await registry.create(id: new.id)
            logger.info("bank created", metadata: ["bank": "\(new.id)"])
            return try JSONBody.result(["id": new.id], status: .created)
        }
        route(.get, "/banks") { _, _ in try JSONBody.result(try await registry.ids()) }
        route(.post, "/banks/:bank/accounts") { body, context in
            let account = try await bank(context).openAccount(try JSONBody.decode(Bank.NewAccount.self, from: body))
            logger.info("account opened", metadata: ["card": "\(account.maskedPAN)"])
            return try JSONBody.result(AccountView(account), status: .created)
        }
        route(.post, "/banks/:bank/accounts/bulk") { body, context in
            let bulk = try JSONBody.decode(NewAccounts.self, from: body)
            let accounts = try await bank(context).openAccounts(bulk.accounts)
            logger.info("accounts opened", metadata: ["count": "\(accounts.count)"])
            return try JSONBody.result(["opened": accounts.count], status: .created)
        }
        route(.get, "/banks/:bank/accounts") { _, context in
            let bank = try await bank(context)
            var views: [AccountView] = []
            for account in try await bank.database.accounts() { views.append(AccountView(account, availableMinor: try await bank.availableMinor(account))) }
            return try JSONBody.result(views)
        }
        route(.put, "/banks/:bank/rules") { body, context in
            let rules = try JSONBody.decode(IDVRules.self, from: body)
            try await bank(context).setRules(rules)
            return try JSONBody.result(rules)
        }
        route(.get, "/banks/:bank/outbox") { _, context in try JSONBody.result(try await bank(context).database.outbox()) }
        route(.get, "/banks/:bank/notifications") { _, context in try JSONBody.result(try await bank(context).database.notifications()) }
        route(.post, "/banks/:bank/idv/authorize") { body, context in
            let answer = try await bank(context).authorizeService(try JSONBody.decode(AuthorizeServiceRequest.self, from: body))
            logger.info("ID&V decided", metadata: ["decision": "\(answer.decision)"])
            return try JSONBody.result(answer)
        }
        route(.post, "/banks/:bank/idv/deliver-code") { body, context in
            try await bank(context).deliverCode(try JSONBody.decode(DeliverCodeRequest.self, from: body))
            return try JSONBody.result(["delivered": true])
        }
        route(.post, "/banks/:bank/tokens/notify") { body, context in
            try await bank(context).tokenUpdated(try JSONBody.decode(TokenUpdatedNotification.self, from: body))
            return try JSONBody.result(["received": true])
        }
        return router
    }
}
