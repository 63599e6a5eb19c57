import AsyncHTTPClient
import Foundation
import Hummingbird
import ISO8583Transport
import IssuerHost
import Logging
import NetworkSwitch
import PostgresSupport
import Synchronization
import ServiceLifecycle
import Storage
import TokenService
import Vault

/// Everything `passway serve` runs on one machine: the Passway API (token service and
/// wallet provider) on embedded SQLite, and the bundled issuer host with its own
/// databases. The domain knows nothing of this file; here it meets sockets.
public struct PlatformConfiguration: Sendable {
    public var host: String
    public var apiPort: Int
    public var issuerHostPort: Int
    /// The network's ISO 8583 listener for acquirers.
    public var networkPort: Int
    /// The bundled issuer host's ISO 8583 listener (the network connects to it).
    public var issuerHostISOPort: Int
    /// How long the network waits for an issuer's answer before answering 91.
    public var issuerTimeoutMilliseconds: Int
    /// Issuer id → "host:port" of its own ISO 8583 host; others use the bundled one.
    public var issuerEndpoints: [String: String]
    /// `postgres://…`: the token service, journal and bundled issuer host on PostgreSQL,
    /// shared with other nodes. Nil: `PASSWAY_DATABASE_URL`, or else embedded SQLite.
    public var databaseURL: String?
    public var dataDirectory: String
    public var environment: [String: String]
    public var logger: Logger

    public init(host: String = "127.0.0.1", apiPort: Int = 8080, issuerHostPort: Int = 8090, networkPort: Int = 8583, issuerHostISOPort: Int = 8584,
                issuerTimeoutMilliseconds: Int = 5000, issuerEndpoints: [String: String] = [:], databaseURL: String? = nil,
                dataDirectory: String = ".passway", environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger = Logger(label: "passway")) {
        self.host = host; self.apiPort = apiPort; self.issuerHostPort = issuerHostPort
        self.networkPort = networkPort; self.issuerHostISOPort = issuerHostISOPort
        self.issuerTimeoutMilliseconds = issuerTimeoutMilliseconds; self.issuerEndpoints = issuerEndpoints
        self.databaseURL = databaseURL
        self.dataDirectory = dataDirectory; self.environment = environment; self.logger = logger
    }

    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("passway.sqlite") }
    public var issuerHostDirectory: String { (dataDirectory as NSString).appendingPathComponent("issuer-host") }
    public var masterKeyFile: String { (dataDirectory as NSString).appendingPathComponent("master.key") }
    public var issuerMasterKeyFile: String { (dataDirectory as NSString).appendingPathComponent("issuer-host.key") }
    public var operatorKeyFile: String { (dataDirectory as NSString).appendingPathComponent("operator.key") }

    /// The PostgreSQL database to use, if any: `databaseURL`, else `PASSWAY_DATABASE_URL`.
    public func postgresURL() throws -> PostgresURL? {
        guard let text = databaseURL ?? environment["PASSWAY_DATABASE_URL"], !text.isEmpty else { return nil }
        do { return try PostgresURL(text) } catch { throw PlatformError("database URL: \(error)") }
    }
}

/// What a started platform tells its caller.
public struct PlatformInfo: Sendable {
    public var apiURL: String
    public var issuerHostURL: String
    /// The network operator's API key (read from or written to `operator.key`).
    public var operatorKey: String
    public var notices: [String]
    /// host:port of the network's ISO 8583 listener (acquirers connect here).
    public var networkHost: String
    public var networkPort: Int
    public var issuerHostISOPort: Int
    /// "SQLite in <dir>" or the PostgreSQL URL without its password.
    public var database: String
    /// Live counters, for tests and operators.
    public var counters: PlatformCounters
    /// Asks the platform to shut down gracefully (as SIGTERM does); `run` then returns.
    public var stop: @Sendable () async -> Void
}

/// What the platform has handled since it started.
public final class PlatformCounters: Sendable {
    let issuerHostMessages = Atomic<Int>(0)
    /// ISO 8583 requests the bundled issuer host has received.
    public var issuerHostRequests: Int { issuerHostMessages.load(ordering: .relaxed) }
}

public enum Platform {
    /// Runs until the task is cancelled or SIGINT/SIGTERM; `onReady` is called once both
    /// listeners accept connections.
    public static func run(_ config: PlatformConfiguration, onReady: @escaping @Sendable (PlatformInfo) async -> Void) async throws {
        let logger = config.logger
        let notices: [String] = []
        // A database that cannot be used stops the start before anything is written here.
        var postgres: (tokens: PostgresStore, banks: PostgresIssuerHost)?
        if let url = try config.postgresURL() {
            let tokens = try await PostgresStore(url: url, logger: logger)
            do { postgres = (tokens, try await PostgresIssuerHost(url: url, logger: logger)) } catch { await tokens.close(); throw error }
        }
        let closeDatabases: @Sendable () async -> Void = { [postgres] in
            await postgres?.tokens.close(); await postgres?.banks.close()
        }
        do {
            try await run(config, postgres: postgres, notices: notices, onReady: onReady)
        } catch {
            await closeDatabases()
            throw error
        }
        await closeDatabases()
    }

    static func run(_ config: PlatformConfiguration, postgres: (tokens: PostgresStore, banks: PostgresIssuerHost)?, notices: [String],
                    onReady: @escaping @Sendable (PlatformInfo) async -> Void) async throws {
        let logger = config.logger
        var notices = notices
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)

        let (master, origin) = try MasterKeySource.load(environment: config.environment, keyFile: config.masterKeyFile)
        if case .createdKeyFile(let path) = origin {
            notices.append("created master key \(path) (owner-only); keep it: the vault cannot be opened without it")
        }
        let (issuerMaster, issuerOrigin) = try MasterKeySource.load(environment: config.environment, variable: "PASSWAY_ISSUER_HOST_MASTER_KEY",
                                                                     keyFile: config.issuerMasterKeyFile)
        if case .createdKeyFile(let path) = issuerOrigin { notices.append("created issuer host master key \(path) (owner-only)") }

        let store: any TokenStore & AuthorizationJournal
        let registry: BankRegistry
        let database: String
        if let postgres {
            store = postgres.tokens
            registry = BankRegistry(postgres: postgres.banks, master: issuerMaster)
            database = "PostgreSQL \(postgres.tokens.database.url) (schemas passway, issuer_host)"
        } else {
            store = try SQLiteStore(path: config.databasePath)
            registry = BankRegistry(directory: config.issuerHostDirectory, master: issuerMaster)
            database = "SQLite in \(config.dataDirectory)"
        }
        let vault = try await TokenService.openVault(master: master, store: store)
        // Several nodes may share PostgreSQL: a change made elsewhere is seen within 1 s (the
        // README's bound). SQLite belongs to this process, whose changes empty the cache.
        let service = TokenService(store: store, vault: vault, issuerHost: HTTPIssuerHostClient(),
                                   readCacheMaxAge: postgres == nil ? 60 : 1)
        try await service.seedDefaults()
        let operatorKey = try await operatorCredential(service, config, &notices)
        try await registry.openExisting()

        let counters = PlatformCounters()
        var endpoints: [String: (host: String, port: Int)] = [:]
        for (issuer, address) in config.issuerEndpoints {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                throw PlatformError("issuer endpoint for \(issuer): host:port, not \(address)")
            }
            endpoints[issuer] = (String(address[..<colon]), port)
        }
        let issuerHostISO = try await ISO8583Server.start(
            .init(host: config.host, port: config.issuerHostISOPort, name: "issuer-host-iso"), logger: logger,
            overloaded: { IssuerMessages.answer(to: $0, code: "96") },
            handler: { message in
                counters.issuerHostMessages.wrappingAdd(1, ordering: .relaxed)
                return await IssuerHostISO.handle(message, registry: registry, logger: logger)
            })
        let links = ISO8583IssuerLinks(defaultEndpoint: (config.host, issuerHostISO.port), endpoints: endpoints,
                                       timeout: .milliseconds(Int64(config.issuerTimeoutMilliseconds)), connections: 2, logger: logger)
        // A duplicate of an authorization that another node is working on waits for that
        // node's answer: its issuer timeout and a second more.
        let pipeline = AuthorizationPipeline(tokens: service, journal: store, links: links,
                                             duplicateWait: .milliseconds(Int64(config.issuerTimeoutMilliseconds) + 1000), logger: logger)
        // Other nodes' changes to tokens, cards and issuers empty this node's caches as
        // soon as PostgreSQL delivers them (the caches' age bounds it otherwise).
        let listener = Task { [postgres] in
            await postgres?.tokens.listenForChanges { what in
                pipeline.invalidateCaches()
                logger.debug("caches emptied: another node changed a \(what)")
            }
        }
        defer { listener.cancel() }
        let network = try await ISO8583Server.start(
            .init(host: config.host, port: config.networkPort, name: "network"), logger: logger,
            overloaded: { AuthorizationPipeline.overloadedAnswer(to: $0) },
            handler: { await pipeline.handle($0) })

        let ready = ReadyLatch(count: 2)
        let api = Application(
            router: PasswayAPI(service: service, logger: logger).router(),
            configuration: .init(address: .hostname(config.host, port: config.apiPort), serverName: "passway-api"),
            onServerRunning: { channel in await ready.set("api", port: channel.localAddress?.port ?? 0) },
            logger: logger)
        let issuerHost = Application(
            router: IssuerHostHTTP.router(registry: registry, logger: logger),
            configuration: .init(address: .hostname(config.host, port: config.issuerHostPort), serverName: "passway-issuer-host"),
            onServerRunning: { channel in await ready.set("issuer-host", port: channel.localAddress?.port ?? 0) },
            logger: logger)

        let group = ServiceGroup(configuration: .init(services: [api, issuerHost], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let notify = Task {
            let ports = await ready.wait()
            await onReady(PlatformInfo(apiURL: "http://\(config.host):\(ports["api"]!)", issuerHostURL: "http://\(config.host):\(ports["issuer-host"]!)",
                                       operatorKey: operatorKey, notices: notices, networkHost: config.host, networkPort: network.port,
                                       issuerHostISOPort: issuerHostISO.port, database: database, counters: counters,
                                       stop: { await group.triggerGracefulShutdown() }))
        }
        defer { notify.cancel() }
        do {
            try await group.run()
        } catch {
            await network.close(); await issuerHostISO.close(); await links.close()
            listener.cancel(); await listener.value
            throw error
        }
        await network.close(); await issuerHostISO.close(); await links.close()
        listener.cancel(); await listener.value
    }

    /// The operator's key: kept in `operator.key` (owner-only); a new one is issued when
    /// the file is missing or no longer matches the database.
    static func operatorCredential(_ service: TokenService, _ config: PlatformConfiguration, _ notices: inout [String]) async throws -> String {
        if let text = try? String(contentsOfFile: config.operatorKeyFile, encoding: .utf8) {
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if try await service.authenticate(apiKey: key) == .network { return key }
        }
        let key = try await service.issueCredential(for: .network)
        FileManager.default.createFile(atPath: config.operatorKeyFile, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600])
        notices.append("network operator API key written to \(config.operatorKeyFile)")
        return key
    }
}

public struct PlatformError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Waits until every listener has reported its port.
actor ReadyLatch {
    let count: Int
    var ports: [String: Int] = [:]
    var waiters: [CheckedContinuation<[String: Int], Never>] = []

    init(count: Int) { self.count = count }

    func set(_ name: String, port: Int) {
        ports[name] = port
        if ports.count == count { for w in waiters { w.resume(returning: ports) }; waiters = [] }
    }

    func wait() async -> [String: Int] {
        if ports.count == count { return ports }
        return await withCheckedContinuation { waiters.append($0) }
    }
}
