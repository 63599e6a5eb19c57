import Crypto
import EMV
import Foundation
import Hummingbird
import ISO8583Transport
import IssuerHost
import Logging
import PostgresSupport
import ServiceLifecycle
import Synchronization
import Vault

/// Where and how the bundled issuer host runs: in `passway serve`'s process, or on its
/// own (`passway issuer-host serve`), the way a bank's host runs on another machine.
public struct IssuerHostConfiguration: Sendable {
    public var host: String
    /// The JSON API (the token service's ID&V calls, the bank's operator).
    public var httpPort: Int
    /// The ISO 8583 listener the network connects to.
    public var isoPort: Int
    /// Holds `issuer-host.key` and, on SQLite, `issuer-host/<bank>.sqlite`.
    public var dataDirectory: String
    /// `postgres://…`: the banks in the schema `issuer_host` of that database.
    public var databaseURL: PostgresURL?
    /// TLS on the ISO 8583 listener (the network's link), when set.
    public var tls: TLSFiles.Server?
    /// How long a hold of goods or services stays when nothing clears or reverses it.
    public var holdLifetime: Duration = IssuerHostConfiguration.defaultHoldLifetime
    public static let defaultHoldLifetime = Bank.defaultHoldLifetime
    public var environment: [String: String]
    public var logger: Logger

    public init(host: String = "127.0.0.1", httpPort: Int = 8090, isoPort: Int = 8584, dataDirectory: String,
                databaseURL: PostgresURL? = nil, tls: TLSFiles.Server? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger = Logger(label: "passway-issuer-host")) {
        self.host = host; self.httpPort = httpPort; self.isoPort = isoPort; self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL; self.tls = tls; self.environment = environment; self.logger = logger
    }

    public var masterKeyFile: String { (dataDirectory as NSString).appendingPathComponent("issuer-host.key") }
    /// The host operator's API key (creates banks, rotates their credentials), unless
    /// `PASSWAY_ISSUER_HOST_OPERATOR_KEY` gives it.
    public var operatorKeyFile: String { (dataDirectory as NSString).appendingPathComponent("issuer-host-operator.key") }
    public var banksDirectory: String { (dataDirectory as NSString).appendingPathComponent("issuer-host") }
    /// The MAC key of the link with the network (32 hex digits, a double-length TDES key),
    /// unless `PASSWAY_ISSUER_HOST_LINK_KEY` gives it; made owner-only on first start.
    public var linkKeyFile: String { (dataDirectory as NSString).appendingPathComponent("issuer-host-link.key") }
}

/// The link key between the network and an issuer host, written as hex digits (a file's
/// first line): 32 for a double-length TDES key (ISO 9797-1 MAC algorithm 3, the key a
/// host makes on first start), 64 for an AES-256 key (AES-CMAC, the AES profile).
public enum LinkKey {
    /// The key in `text` (whitespace around the digits ignored).
    public static func parse(_ text: String) throws -> MACKey {
        let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if hex.count == 32, let key = try? TDESKey(hex: hex) { return .tdes(key) }
        if hex.count == 64, let key = try? AESKey(hex: hex) { return .aes(key) }
        throw IssuerHostError.invalid("a link key is 32 hex digits (TDES) or 64 (AES-256)")
    }

    /// The key in a file, with a one-line error that names it.
    public static func read(file: String) throws -> MACKey {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw IssuerHostError.invalid("cannot read the link key file \(file)") }
        do { return try parse(text) } catch { throw IssuerHostError.invalid("\(file): \(error)") }
    }
}

/// The bundled issuer host's two listeners, bound and ready to run as services: the ISO
/// 8583 listener (`IssuerHostHandler`) and the JSON API (`IssuerHostHTTP`).
public final class IssuerHostServer: Sendable {
    public let registry: BankRegistry
    public let iso: ISO8583Server
    /// The host operator's API key.
    public let operatorKey: String
    /// The MAC key of its link with the network.
    public let linkKey: MACKey
    let http: Application<RouterResponder<BasicRequestContext>>
    let expiry: HoldExpiry
    let requests: RequestCounter
    /// Closes the banks' PostgreSQL pool, when there is one.
    let closeDatabase: @Sendable () async -> Void

    /// ISO 8583 messages received since the start, network management (sign-on, echo) aside.
    public var requestCount: Int { requests.count.load(ordering: .relaxed) }

    final class RequestCounter: Sendable { let count = Atomic<Int>(0) }

    /// The services to run, in the order a service group starts them (it stops them in
    /// the reverse order).
    public var services: [any Service] { [iso, http, expiry] }

    init(registry: BankRegistry, iso: ISO8583Server, operatorKey: String, linkKey: MACKey, http: Application<RouterResponder<BasicRequestContext>>,
         expiry: HoldExpiry, requests: RequestCounter, closeDatabase: @escaping @Sendable () async -> Void) {
        self.registry = registry; self.iso = iso; self.operatorKey = operatorKey; self.linkKey = linkKey; self.http = http; self.requests = requests
        self.expiry = expiry
        self.closeDatabase = closeDatabase
    }

    /// Opens the banks (the master key from `PASSWAY_ISSUER_HOST_MASTER_KEY` or the key
    /// file, created owner-only on first start) and binds the ISO 8583 listener; the HTTP
    /// listener binds when its service runs and reports its port to `onHTTPRunning`.
    public static func start(_ config: IssuerHostConfiguration, notices: inout [String],
                             onHTTPRunning: @escaping @Sendable (Int) async -> Void) async throws -> IssuerHostServer {
        let logger = config.logger
        // Keys and the banks' databases: owner-only from the moment they exist.
        SecretFile.ownerOnlyFromNowOn()
        try SecretFile.makeDirectory(config.dataDirectory)
        let (master, origin) = try MasterKeySource.load(environment: config.environment, variable: "PASSWAY_ISSUER_HOST_MASTER_KEY",
                                                        keyFile: config.masterKeyFile)
        if case .createdKeyFile(let path) = origin { notices.append("created issuer host master key \(path) (owner-only)") }
        let operatorKey = try operatorCredential(config, &notices)
        let linkKey = try linkCredential(config, &notices)
        let registry: BankRegistry
        let closeDatabase: @Sendable () async -> Void
        if let url = config.databaseURL {
            let banks = try await PostgresIssuerHost(url: url, logger: logger)
            registry = BankRegistry(postgres: banks, master: master)
            closeDatabase = { await banks.close() }
        } else {
            registry = BankRegistry(directory: config.banksDirectory, master: master)
            closeDatabase = {}
        }
        do {
            try await registry.openExisting()
            let handler = IssuerHostHandler(registry: registry, logger: logger)
            // Only the network, signed on with the link key, reaches the bank.
            let gate = NetworkLinkGate(key: linkKey, handler: handler, logger: logger)
            let requests = RequestCounter()
            var listener = ISO8583Server.Configuration(host: config.host, port: config.isoPort, name: "issuer-host-iso")
            listener.tls = try config.tls.map { try TLSFiles.context(try $0.configuration()) }
            let iso = try await ISO8583Server.start(
                listener, logger: logger,
                sessions: .init(open: { NetworkLinkGate.Session(peer: $0) }, closed: { _ in }),
                overloaded: { IssuerHostHandler.overloadedAnswer(to: $0) },
                handler: { message, received in
                    if !message.mti.hasPrefix("08") { requests.count.wrappingAdd(1, ordering: .relaxed) }
                    return await gate.handle(message, frame: received.frame, session: received.session)
                })
            let http = Application(
                router: IssuerHostHTTP.router(registry: registry, operatorKey: operatorKey, logger: logger),
                configuration: .init(address: .hostname(config.host, port: config.httpPort), serverName: "passway-issuer-host"),
                onServerRunning: { channel in await onHTTPRunning(channel.localAddress?.port ?? 0) },
                logger: logger)
            return IssuerHostServer(registry: registry, iso: iso, operatorKey: operatorKey, linkKey: linkKey, http: http,
                                    expiry: HoldExpiry(registry: registry, lifetime: config.holdLifetime, logger: logger), requests: requests,
                                    closeDatabase: closeDatabase)
        } catch {
            await closeDatabase()
            throw error
        }
    }

    /// The host operator's key: `PASSWAY_ISSUER_HOST_OPERATOR_KEY`, else the key file,
    /// created owner-only (in one step) on first start.
    static func operatorCredential(_ config: IssuerHostConfiguration, _ notices: inout [String]) throws -> String {
        if let key = config.environment["PASSWAY_ISSUER_HOST_OPERATOR_KEY"], !key.isEmpty { return key }
        if let text = try? String(contentsOfFile: config.operatorKeyFile, encoding: .utf8) {
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if key.count >= 20 { return key }
            throw IssuerHostError.invalid("\(config.operatorKeyFile) does not hold a key: remove it to have a new one made")
        }
        let key = "pwo_" + SecureRandom.alphanumeric(40)
        try SecretFile.create(config.operatorKeyFile, contents: Array((key + "\n").utf8))
        notices.append("issuer host operator API key written to \(config.operatorKeyFile)")
        return key
    }

    /// The link key with the network: `PASSWAY_ISSUER_HOST_LINK_KEY`, else the key file,
    /// made owner-only (in one step) on first start.
    static func linkCredential(_ config: IssuerHostConfiguration, _ notices: inout [String]) throws -> MACKey {
        if let text = config.environment["PASSWAY_ISSUER_HOST_LINK_KEY"], !text.isEmpty { return try LinkKey.parse(text) }
        if FileManager.default.fileExists(atPath: config.linkKeyFile) { return try LinkKey.read(file: config.linkKeyFile) }
        let key = try TDESKey(adjustingOddParity(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }))
        try SecretFile.create(config.linkKeyFile, contents: Array((Hex.encode(key.exportKeyMaterial()) + "\n").utf8))
        notices.append("issuer host link key (network ↔ bank MAC) written to \(config.linkKeyFile), check value \(Hex.encode(key.checkValue))")
        return .tdes(key)
    }

    /// Releases what the listeners left: the database pool.
    public func close() async {
        await closeDatabase()
    }
}

/// What a started issuer host tells its caller.
public struct IssuerHostInfo: Sendable {
    public var httpURL: String
    public var isoHost: String
    public var isoPort: Int
    /// The host operator's API key.
    public var operatorKey: String
    /// The link key's check value (the network's `--issuer-host-link-key` must show the same).
    public var linkKeyCheckValue: String
    public var notices: [String]
    /// Asks it to shut down gracefully (as SIGTERM does); `run` then returns.
    public var stop: @Sendable () async -> Void
}

extension IssuerHostServer {
    /// `passway issuer-host serve`: the bundled bank on its own, until SIGINT or SIGTERM
    /// (then it stops accepting, answers what is in flight and returns).
    public static func run(_ config: IssuerHostConfiguration, onReady: @escaping @Sendable (IssuerHostInfo) async -> Void) async throws {
        var notices: [String] = []
        let (httpPorts, httpPort) = AsyncStream.makeStream(of: Int.self)
        let server = try await start(config, notices: &notices) { port in httpPort.yield(port); httpPort.finish() }
        let group = ServiceGroup(configuration: .init(services: server.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: config.logger))
        let started = notices
        let notify = Task {
            for await port in httpPorts {
                await onReady(IssuerHostInfo(httpURL: "http://\(config.host):\(port)", isoHost: config.host, isoPort: server.iso.port,
                                             operatorKey: server.operatorKey, linkKeyCheckValue: Hex.encode(server.linkKey.checkValue), notices: started, stop: { await group.triggerGracefulShutdown() }))
            }
        }
        defer { notify.cancel() }
        do {
            try await group.run()
        } catch {
            await server.close()
            throw error
        }
        await server.close()
    }
}
