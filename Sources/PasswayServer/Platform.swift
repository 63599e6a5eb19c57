import Clearing
import EMV
import Foundation
import HTTPSupport
import Hummingbird
import HummingbirdTLS
import ISO8583Transport
import IssuerHostServer
import Logging
import NetworkSwitch
import Participants
import PostgresSupport
import ServiceLifecycle
import Storage
import TokenService
import Vault
import WalletProvider

/// Everything `passway serve` runs on one machine: the Passway API (participants, token
/// service, wallet provider), the network's ISO 8583 listener, and (unless told where
/// another one is) the bundled issuer host. The domain knows nothing of this file; here
/// it meets sockets.
public struct PlatformConfiguration: Sendable {
    /// Where the issuers' ISO 8583 hosts are, for issuers without an endpoint of their own.
    public enum IssuerHost: Sendable, Equatable {
        /// The bundled issuer host, in this process, on these ports (0: any free one).
        case bundled(httpPort: Int, isoPort: Int)
        /// An issuer host running elsewhere (`passway issuer-host serve`): its ISO 8583 address.
        case remote(host: String, port: Int)
    }

    public var host: String
    public var apiPort: Int
    /// The network's ISO 8583 listener for acquirers.
    public var networkPort: Int
    public var issuerHost: IssuerHost
    /// The address the bundled issuer host's two listeners bind: loopback unless told
    /// otherwise, apart from the public ports' `host` (it is another institution's door).
    public var issuerHostBind: String = "127.0.0.1"
    /// How long the network waits for an issuer's answer before answering 91.
    public var issuerTimeout: Duration
    /// How long a duplicate or a reversal waits for the answer of an original that another
    /// node (or a process that died) is deciding; nil: the issuer timeout and 1 s more.
    public var duplicateWait: Duration?
    /// Issuer id → its own ISO 8583 host; the others use `issuerHost`.
    public var issuerEndpoints: [String: (host: String, port: Int)]
    /// The link MAC key of a remote `issuerHost` (its `issuer-host-link.key`); the bundled
    /// host's is its own. Without one, messages to a remote host carry no MAC.
    public var issuerHostLinkKey: MACKey?
    /// Issuer id → the link MAC key of its own host (`issuerEndpoints`).
    public var issuerEndpointLinkKeys: [String: MACKey] = [:]
    /// TLS on the API, the network's acquirer port and the bundled issuer host's ISO 8583
    /// port, with this certificate and key (PEM); nil: plain TCP.
    public var tls: TLSFiles.Server?
    /// How long the bundled bank keeps a hold of goods or services that nothing clears or
    /// reverses (cash is final).
    public var holdLifetime: Duration = IssuerHostConfiguration.defaultHoldLifetime
    /// How the network retries the reversals it owes issuers (store-and-forward).
    public var forwarding: RetryPolicy = .standard
    /// How the token service retries its notifications to issuer hosts (its outbox).
    public var issuerNotices: RetryPolicy = .standard
    /// How long delivered issuer notices are kept.
    public var noticeRetention: Duration = IssuerNotifier.defaultRetention
    /// Exchange rates put in effect since 1970 when none was ever loaded: the demo's and the
    /// tests' seed (`ExchangeRates.reference`). Nil: only what the operator loads converts.
    public var exchangeRateSeed: ExchangeRates?
    /// When settlement windows close by themselves: daily at this time, UTC.
    public var settlementCutOff: SettlementCutOff = .midnight
    /// How old an ATM withdrawal (0200) must be before it clears by itself (a failed
    /// dispense is reversed before).
    public var singleMessageGrace: Duration = .seconds(60)
    /// How old an authorization's claim must be, unanswered, for recovery to settle it
    /// (its process died): nil, twice the issuer timeout and 5 s more.
    public var recoverUnansweredAfter: Duration?
    /// How often recovery looks for such claims (and once at start).
    public var recoveryInterval: Duration = .seconds(10)
    /// The CA (PEM) the network trusts for its links to issuer hosts: with one, they go
    /// over TLS. With `tls` and the bundled host, it must be given (that host's
    /// certificate is `tls`'s).
    public var issuerLinkCA: String?
    /// `postgres://…`: the token service, journal and bundled issuer host on PostgreSQL,
    /// shared with other nodes. Nil: `PASSWAY_DATABASE_URL`, or else embedded SQLite.
    public var databaseURL: String?
    public var dataDirectory: String
    public var environment: [String: String]
    public var logger: Logger

    public init(host: String = "127.0.0.1", apiPort: Int = 8080, networkPort: Int = 8583,
                issuerHost: IssuerHost = .bundled(httpPort: 8090, isoPort: 8584), issuerTimeout: Duration = .seconds(5),
                issuerEndpoints: [String: (host: String, port: Int)] = [:], databaseURL: String? = nil, dataDirectory: String = ".passway",
                environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger = Logger(label: "passway")) {
        self.host = host; self.apiPort = apiPort; self.networkPort = networkPort; self.issuerHost = issuerHost
        self.issuerTimeout = issuerTimeout; self.duplicateWait = nil; self.issuerEndpoints = issuerEndpoints; self.issuerHostLinkKey = nil
        self.databaseURL = databaseURL
        self.dataDirectory = dataDirectory; self.environment = environment; self.logger = logger
    }

    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("passway.sqlite") }
    /// The HTTP layer's own database (idempotency keys), on SQLite.
    public var httpDatabasePath: String { (dataDirectory as NSString).appendingPathComponent("http.sqlite") }
    public var masterKeyFile: String { (dataDirectory as NSString).appendingPathComponent("master.key") }
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
    /// The bundled issuer host's JSON API; nil when the platform uses a remote one.
    public var issuerHostURL: String?
    /// The bundled issuer host's operator key (creates banks there); nil when it is remote.
    public var issuerHostOperatorKey: String?
    /// The network operator's API key (read from or written to `operator.key`).
    public var operatorKey: String
    public var notices: [String]
    /// host:port of the network's ISO 8583 listener (acquirers connect here).
    public var networkHost: String
    public var networkPort: Int
    /// The bundled issuer host's ISO 8583 port; nil when the platform uses a remote one.
    public var issuerHostISOPort: Int?
    /// "SQLite in <dir>" or the PostgreSQL URL without its password.
    public var database: String
    /// Live counters, for tests and operators.
    public var counters: PlatformCounters
    /// Asks the platform to shut down gracefully (as SIGTERM does); `run` then returns.
    public var stop: @Sendable () async -> Void
}

/// What the platform has handled since it started.
public struct PlatformCounters: Sendable {
    let issuerHost: IssuerHostServer?
    /// ISO 8583 messages the bundled issuer host has received, sign-ons and echoes aside.
    public var issuerHostRequests: Int { issuerHost?.requestCount ?? 0 }
}

public enum Platform {
    /// Runs until the task is cancelled or SIGINT/SIGTERM; `onReady` is called once every
    /// listener accepts connections. On SIGTERM every listener stops accepting and answers
    /// what it is working on (the network's in-flight authorizations are decided and
    /// journaled), then the databases close and `run` returns.
    public static func run(_ config: PlatformConfiguration, onReady: @escaping @Sendable (PlatformInfo) async -> Void) async throws {
        let logger = config.logger
        // A database that cannot be used stops the start before anything is written here.
        var postgres: PostgresStore?
        let postgresURL = try config.postgresURL()
        if let url = postgresURL { postgres = try await PostgresStore(url: url, logger: logger) }
        do {
            try await run(config, postgres: postgres, postgresURL: postgresURL, onReady: onReady)
        } catch {
            await postgres?.close()
            throw error
        }
        await postgres?.close()
    }

    static func run(_ config: PlatformConfiguration, postgres: PostgresStore?, postgresURL: PostgresURL?,
                    onReady: @escaping @Sendable (PlatformInfo) async -> Void) async throws {
        let logger = config.logger
        var notices: [String] = []
        if config.tls != nil, case .bundled = config.issuerHost, config.issuerLinkCA == nil {
            throw PlatformError("with TLS the network reaches the bundled issuer host over TLS too: give the CA that signed the certificate (--tls-ca)")
        }
        // Keys, databases and their journals: owner-only from the moment they exist.
        SecretFile.ownerOnlyFromNowOn()
        try SecretFile.makeDirectory(config.dataDirectory)

        let (master, origin) = try MasterKeySource.load(environment: config.environment, keyFile: config.masterKeyFile)
        if case .createdKeyFile(let path) = origin {
            notices.append("created master key \(path) (owner-only); keep it: the vault cannot be opened without it")
        }

        // The rooms, each on its seam of one store.
        let rooms: Rooms
        let database: String
        let idempotency: any IdempotencyStore
        if let postgres {
            rooms = try await Rooms.open(store: postgres, master: master, readCacheMaxAge: .seconds(1), config: config)
            idempotency = try await PostgresIdempotencyStore(database: postgres.database)
            database = "PostgreSQL \(postgres.database.url) (schemas passway, issuer_host)"
        } else {
            // SQLite belongs to this process, whose changes empty the cache at once.
            rooms = try await Rooms.open(store: try SQLiteStore(path: config.databasePath), master: master, readCacheMaxAge: .seconds(60), config: config)
            idempotency = try SQLiteIdempotencyStore(path: config.httpDatabasePath)
            database = "SQLite in \(config.dataDirectory)"
        }
        let operatorKey = try await operatorCredential(rooms.participants, config, &notices)
        if let seed = config.exchangeRateSeed { try await rooms.rates.seedIfEmpty(seed) } else { try await rooms.rates.reload() }

        // The bundled issuer host, unless the issuers' hosts are elsewhere.
        let ready = ReadyLatch()
        let bank: IssuerHostServer?
        let defaultEndpoint: (host: String, port: Int)
        let defaultLinkKey: MACKey?
        switch config.issuerHost {
        case .bundled(let httpPort, let isoPort):
            var bankConfig = IssuerHostConfiguration(host: config.issuerHostBind, httpPort: httpPort, isoPort: isoPort, dataDirectory: config.dataDirectory,
                                                     databaseURL: postgresURL, tls: config.tls, environment: config.environment, logger: logger)
            bankConfig.holdLifetime = config.holdLifetime
            let server = try await IssuerHostServer.start(
                bankConfig,
                notices: &notices, onHTTPRunning: { await ready.set("issuer-host", port: $0) })
            bank = server
            defaultEndpoint = (config.issuerHostBind, server.iso.port)
            defaultLinkKey = server.linkKey
        case .remote(let host, let port):
            bank = nil
            defaultEndpoint = (host, port)
            defaultLinkKey = config.issuerHostLinkKey
            if defaultLinkKey == nil { notices.append("the issuer host at \(host):\(port) has no link key: messages to it carry no MAC") }
        }
        for (issuer, endpoint) in config.issuerEndpoints.sorted(by: { $0.key < $1.key }) where config.issuerEndpointLinkKeys[issuer] == nil {
            notices.append("issuer \(issuer)'s host at \(endpoint.host):\(endpoint.port) has no link key: messages to it carry no MAC")
        }

        let linkTLS = try config.issuerLinkCA.map { ca in try TLSFiles.context(try TLSFiles.clientConfiguration(trusting: ca)) }
        let links = ISO8583IssuerLinks(defaultEndpoint: defaultEndpoint, defaultLinkKey: defaultLinkKey, endpoints: config.issuerEndpoints,
                                       linkKeys: config.issuerEndpointLinkKeys, tls: linkTLS, timeout: config.issuerTimeout, connections: 2, logger: logger)
        // A duplicate of an authorization that another node is working on waits for that
        // node's answer: its issuer timeout and a second more.
        let metrics = PlatformMetrics()
        let pipeline = AuthorizationPipeline(tokens: rooms.tokens, issuers: rooms.participants, journal: rooms.journal, owed: rooms.owed,
                                             links: links, rates: rooms.rates.book, duplicateWait: config.duplicateWait ?? config.issuerTimeout + .seconds(1),
                                             forwarding: config.forwarding, metrics: metrics.network, logger: logger)
        let notifier = IssuerNotifier(service: rooms.tokens, retention: config.noticeRetention, logger: logger)
        let sweeper = MarketSweeper(service: rooms.tokens, logger: logger)
        let storeAndForward = StoreAndForwardService(pipeline: pipeline, notifier: notifier, sweeper: sweeper, clearing: rooms.clearing, recoverAfter: config.recoverUnansweredAfter ?? config.issuerTimeout * 2 + .seconds(5),
                                                     recoveryInterval: config.recoveryInterval, logger: logger)
        // Only signed-on acquirers' MAC'd messages reach the pipeline.
        let gate = AcquirerGate(directory: RegisteredAcquirers(participants: rooms.participants, keys: rooms.acquirerKeys), pipeline: pipeline,
                                logger: logger)
        let network: ISO8583Server
        do {
            var listener = ISO8583Server.Configuration(host: config.host, port: config.networkPort, name: "network",
                                                       // In-flight authorizations get up to the issuer timeout and a little more to drain.
                                                       drainTimeout: config.issuerTimeout + .seconds(2))
            listener.tls = try config.tls.map { try TLSFiles.context(try $0.configuration()) }
            network = try await ISO8583Server.start(
                listener, logger: logger,
                sessions: .init(open: { gate.opened(peer: $0) }, closed: { gate.closed($0) }),
                overloaded: { AuthorizationPipeline.overloadedAnswer(to: $0) },
                handler: { message, received in await gate.handle(message, frame: received.frame, session: received.session) })
        } catch {
            // The bank's listener is bound already: let it go with its database.
            await bank?.iso.close()
            await bank?.close()
            throw error
        }
        // Other nodes' changes to tokens, cards and issuers empty this node's caches as
        // soon as PostgreSQL delivers them (the caches' age bounds it otherwise).
        let listener = Task { [postgres] in
            await postgres?.listenForChanges { what in
                if what == "exchange-rates" || what == "listening" {
                    Task {
                        do { try await rooms.rates.reload() } catch {
                            logger.error("another node's exchange rates could not be read: this node keeps the ones it has", metadata: ["error": "\(error)"])
                        }
                    }
                }
                guard what != "exchange-rates" else { return }
                pipeline.invalidateCaches()
                logger.debug("caches emptied: another node changed a \(what)")
            }
        }
        let passwayAPI = PasswayAPI(rooms: rooms, idempotency: Idempotency(store: idempotency, vault: rooms.vault), forwarder: pipeline.forwarder,
                                    notifier: notifier, sweeper: sweeper, standIns: { pipeline.standInCounts }, links: { links.states() }, issuersChanged: { pipeline.invalidateIssuers() },
                                    metrics: metrics, authorize: { await pipeline.handle($0) }, logger: logger)
        let router = passwayAPI.router()
        let consoleResources = await ConsoleResources.load()
        if consoleResources == nil { notices.append("the console's templates are missing from this build: /console answers 503") }
        Console(api: passwayAPI, rooms: rooms, metrics: metrics, links: { links.states() }, sessions: ConsoleSessions(store: rooms.participants.store), resources: consoleResources,
                secure: config.tls != nil, logger: logger).register(on: router)
        let api = Application(
            router: router,
            server: try config.tls.map { try .tls(.http1(), tlsConfiguration: try $0.configuration()) } ?? .http1(),
            configuration: .init(address: .hostname(config.host, port: config.apiPort), serverName: "passway-api"),
            onServerRunning: { channel in await ready.set("api", port: channel.localAddress?.port ?? 0) },
            logger: logger)

        // Started in this order, stopped in the reverse: the API first, then the network
        // (whose in-flight authorizations still reach the bank), then store-and-forward,
        // then the bank.
        let services: [any Service] = (bank?.services ?? []) + [storeAndForward, network, api]
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let notify = Task {
            let ports = await ready.wait(for: bank == nil ? ["api"] : ["api", "issuer-host"])
            await onReady(PlatformInfo(apiURL: (config.tls == nil ? "http" : "https") + "://\(config.host):\(ports["api"] ?? 0)",
                                       issuerHostURL: ports["issuer-host"].map { "http://\(config.issuerHostBind):\($0)" },
                                       issuerHostOperatorKey: bank?.operatorKey, operatorKey: operatorKey, notices: notices, networkHost: config.host, networkPort: network.port,
                                       issuerHostISOPort: bank?.iso.port, database: database, counters: PlatformCounters(issuerHost: bank),
                                       stop: { await group.triggerGracefulShutdown() }))
        }
        defer { notify.cancel() }
        let outcome: Result<Void, any Error>
        do { try await group.run(); outcome = .success(()) } catch { outcome = .failure(error) }
        await links.close()
        listener.cancel()
        await listener.value
        await bank?.close()
        logger.info("stopped")
        try outcome.get()
    }

    /// The operator's key: kept in `operator.key` (owner-only); a new one is issued when
    /// the file is missing or no longer matches the database.
    static func operatorCredential(_ participants: ParticipantRegistry, _ config: PlatformConfiguration, _ notices: inout [String]) async throws -> String {
        if let text = try? String(contentsOfFile: config.operatorKeyFile, encoding: .utf8) {
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if try await participants.authenticate(apiKey: key) == .network { return key }
        }
        let key = try await participants.issueCredential(for: .network)
        do { try SecretFile.replace(config.operatorKeyFile, contents: Array((key + "\n").utf8)) } catch {
            throw PlatformError("\(error)")
        }
        notices.append("network operator API key written to \(config.operatorKeyFile)")
        return key
    }
}

/// The platform's rooms, wired to one store's seams.
struct Rooms: Sendable {
    let participants: ParticipantRegistry
    let tokens: TokenService
    let wallets: WalletProvider
    let journal: any AuthorizationJournal
    /// The store-and-forward queue, in the journal's database.
    let owed: any OwedMessageStore
    /// The token service's vault: it also seals what the HTTP layer keeps.
    let vault: CardVault
    /// The acquirers' zone master and MAC keys, in that vault.
    let acquirerKeys: AcquirerKeys
    /// Presentments in, matched to the journal's approvals.
    let clearing: ClearingService
    /// The operator's exchange rates (the book the pipeline converts with).
    let rates: ExchangeRateService

    static func open<Store: ParticipantStore & TokenStore & WalletStore & AuthorizationJournal & OwedMessageStore & ClearingStore & ExchangeRateStore>(
        store: Store, master: MasterKey, readCacheMaxAge: Duration, config: PlatformConfiguration) async throws -> Rooms {
        let participants = ParticipantRegistry(store: store)
        let vault = try await TokenService.openVault(master: master, store: store)
        let tokens = TokenService(store: store, participants: participants, vault: vault, issuerHost: HTTPIssuerHostClient(),
                                  readCacheMaxAge: readCacheMaxAge, noticePolicy: config.issuerNotices)
        let wallets = WalletProvider(store: store, participants: participants, tokens: tokens)
        try await participants.seedDefaults()
        try await wallets.seedDefaults()
        // A presentment may come as long as the bundled bank keeps the hold.
        var rules = ClearingRules.standard
        rules.presentmentWindow = Double(config.holdLifetime.components.seconds)
        let clearing = ClearingService(store: store, rules: rules, cutOff: config.settlementCutOff,
                                       singleMessageGrace: Double(config.singleMessageGrace.components.seconds), issuerTerms: { [participants] id in
            guard let issuer = try await participants.issuer(id: id) else { return nil }
            return IssuerTerms(market: issuer.country, product: issuer.cardProduct.flatMap(CardProduct.init(rawValue:)) ?? .debit)
        }, acquirerID: { [participants] institution in try await participants.acquirer(institutionID: institution)?.id }) { [tokens] number in
            guard let pan = try? PAN(number), let token = try await tokens.token(number: pan) else { return nil }
            return TokenIdentity(tokenID: token.id, maskedNumber: token.maskedNumber, issuerID: token.issuerID)
        }
        return Rooms(participants: participants, tokens: tokens, wallets: wallets, journal: store, owed: store, vault: vault,
                     acquirerKeys: AcquirerKeys(store: store, vault: vault), clearing: clearing,
                     rates: ExchangeRateService(store: store))
    }
}

public struct PlatformError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Waits until the named listeners have reported their ports.
actor ReadyLatch {
    var ports: [String: Int] = [:]
    var waiters: [(names: Set<String>, continuation: CheckedContinuation<[String: Int], Never>)] = []

    func set(_ name: String, port: Int) {
        ports[name] = port
        let reported = Set(ports.keys)
        let ready = waiters.filter { $0.names.isSubset(of: reported) }
        waiters.removeAll { $0.names.isSubset(of: reported) }
        for waiter in ready { waiter.continuation.resume(returning: ports) }
    }

    func wait(for names: Set<String>) async -> [String: Int] {
        if names.isSubset(of: Set(ports.keys)) { return ports }
        return await withCheckedContinuation { waiters.append((names, $0)) }
    }
}
