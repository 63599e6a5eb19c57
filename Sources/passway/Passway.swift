import ArgumentParser
import Clearing
import EMV
import Foundation
import ISO8583Transport
import IssuerHostServer
import Logging
import PasswayServer
import PostgresSupport

@main
struct Passway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passway",
        abstract: "Passway: an open mobile-payment platform (network, token service, wallet, issuer host).",
        subcommands: [Serve.self, DemoCommand.self, LoadCommand.self, ClearingCommand.self, SettlementCommand.self, RatesCommand.self, DeviceCommand.self, IssuerHostCommand.self, KeysCommand.self, PKICommand.self, EMVCommand.self, ISO8583Command.self, QRCommand.self, Fuzz.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the platform on this machine: the Passway API, the network and the bundled issuer host, on embedded SQLite or a shared PostgreSQL.")

    @Option(help: "Address the API and the network listen on.") var host = "127.0.0.1"
    @Option(name: .customLong("issuer-host-bind"), help: "Address the bundled issuer host's two listeners bind (loopback unless told otherwise).")
    var issuerHostBind = "127.0.0.1"
    @Option(help: "Port of the Passway API (0 picks a free one).") var port = 8080
    @Option(name: .customLong("network-port"), help: "Port of the network's ISO 8583 listener for acquirers.") var networkPort = 8583
    @Option(name: .customLong("issuer-host-port"), help: "Port of the bundled issuer host's JSON API.") var issuerHostPort = 8090
    @Option(name: .customLong("issuer-host-iso-port"), help: "Port of the bundled issuer host's ISO 8583 listener.") var issuerHostISOPort = 8584
    @Option(name: .customLong("issuer-host"),
            help: "Run without the bundled issuer host: the ISO 8583 address (host:port) of one running elsewhere (`passway issuer-host serve`).")
    var remoteIssuerHost: String?
    @Option(name: .customLong("issuer-timeout"), help: "How long the network waits for an issuer before answering 91, with its unit: 5s, 300ms (50ms to 60s).")
    var issuerTimeout = DurationArgument("5s")
    @Option(name: .customLong("issuer-endpoint"), help: "An issuer's own ISO 8583 host, as issuer-id=host:port (repeatable); others use the bundled host.")
    var issuerEndpoints: [String] = []
    @Option(name: .customLong("issuer-host-link-key"),
            help: "With --issuer-host: the file of that host's link key (its issuer-host-link.key), so that the network signs on there and MACs its messages.")
    var issuerHostLinkKey: String?
    @Option(name: .customLong("issuer-endpoint-link-key"), help: "An issuer's own host's link key file, as issuer-id=file (repeatable).")
    var issuerEndpointLinkKeys: [String] = []
    @Option(name: .customLong("hold-days"), help: "Days the bundled bank keeps a hold that nothing clears or reverses (1 to 90; cash is final).")
    var holdDays = 7
    @Option(name: .customLong("notice-retention-days"), help: "Days a delivered token notification is kept before it is deleted (1 to 3650).")
    var noticeRetentionDays = 30
    @Option(name: .customLong("settlement-cut-off"), help: "When settlement windows close by themselves, daily, HH:MM UTC.")
    var settlementCutOff = "00:00"
    @Option(name: .customLong("tls-cert"), help: "TLS on the API, the network's ISO 8583 port and the bundled issuer host's: this certificate (PEM, `passway pki issue`).")
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "The private key (PEM) of --tls-cert.") var tlsKey: String?
    @Option(name: .customLong("tls-ca"), help: "The CA (PEM) the network trusts on its links to issuer hosts, which then go over TLS (needed with --tls-cert and the bundled host).")
    var tlsCA: String?
    @Option(name: .customLong("data-dir"), help: "Where the key files (and the SQLite databases) live (or PASSWAY_DATA_DIR).")
    var dataDir = ProcessInfo.processInfo.environment["PASSWAY_DATA_DIR"] ?? ".passway"
    /// `--database` (or PASSWAY_DATABASE_URL) shares the platform with other nodes.
    @OptionGroup var server: ServerOptions

    func validate() throws {
        guard [port, issuerHostPort, networkPort, issuerHostISOPort].allSatisfy({ (0...65535).contains($0) }) else { throw ValidationError("ports are 0 to 65535") }
        guard (Duration.milliseconds(50)...Duration.seconds(60)).contains(issuerTimeout.value) else {
            throw ValidationError("--issuer-timeout: 50ms to 60s")
        }
        for e in issuerEndpoints {
            let parts = e.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, Endpoint(String(parts[1])) != nil else { throw ValidationError("--issuer-endpoint: issuer-id=host:port, not \(e)") }
        }
        if let remoteIssuerHost, Endpoint(remoteIssuerHost) == nil { throw ValidationError("--issuer-host: host:port, not \(remoteIssuerHost)") }
        if issuerHostLinkKey != nil, remoteIssuerHost == nil { throw ValidationError("--issuer-host-link-key goes with --issuer-host") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        guard (1...90).contains(holdDays) else { throw ValidationError("--hold-days: 1 to 90") }
        guard (1...3_650).contains(noticeRetentionDays) else { throw ValidationError("--notice-retention-days: 1 to 3650") }
        guard SettlementCutOff(settlementCutOff) != nil else { throw ValidationError("--settlement-cut-off: HH:MM, 00:00 to 23:59 (UTC)") }
        for e in issuerEndpointLinkKeys where e.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--issuer-endpoint-link-key: issuer-id=file, not \(e)")
        }
    }

    func run() async throws {
        let logger = server.logger(label: "passway")
        var endpoints: [String: (host: String, port: Int)] = [:]
        for e in issuerEndpoints {
            let parts = e.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let endpoint = Endpoint(String(parts[1])) { endpoints[String(parts[0])] = (endpoint.host, endpoint.port) }
        }
        let issuerHost: PlatformConfiguration.IssuerHost = if let remote = remoteIssuerHost.flatMap(Endpoint.init) {
            .remote(host: remote.host, port: remote.port)
        } else {
            .bundled(httpPort: issuerHostPort, isoPort: issuerHostISOPort)
        }
        var config = PlatformConfiguration(host: host, apiPort: port, networkPort: networkPort, issuerHost: issuerHost,
                                           issuerTimeout: issuerTimeout.value, issuerEndpoints: endpoints, databaseURL: server.database,
                                           dataDirectory: dataDir, logger: logger)
        config.issuerHostBind = issuerHostBind
        if let tlsCert, let tlsKey { config.tls = TLSFiles.Server(certificateFile: tlsCert, keyFile: tlsKey) }
        config.issuerLinkCA = tlsCA
        config.holdLifetime = .seconds(holdDays * 86_400)
        config.noticeRetention = .seconds(noticeRetentionDays * 86_400)
        config.settlementCutOff = SettlementCutOff(settlementCutOff) ?? .midnight
        config.issuerHostLinkKey = try issuerHostLinkKey.map { file in try Self.linkKey(file) }
        for e in issuerEndpointLinkKeys {
            let parts = e.split(separator: "=", maxSplits: 1)
            guard endpoints[String(parts[0])] != nil else { throw CLIError("--issuer-endpoint-link-key \(parts[0]): no --issuer-endpoint for that issuer") }
            config.issuerEndpointLinkKeys[String(parts[0])] = try Self.linkKey(String(parts[1]))
        }
        let operatorKeyFile = config.operatorKeyFile
        do {
            try await Platform.run(config) { info in
                for notice in info.notices { print("note: \(notice)") }
                let bank = if let url = info.issuerHostURL, let iso = info.issuerHostISOPort {
                    "  bundled issuer host    \(url)   (ISO 8583: \(issuerHostBind):\(iso); its operator key in \((dataDir as NSString).appendingPathComponent("issuer-host-operator.key")))"
                } else {
                    "  issuer host            \(remoteIssuerHost ?? "?") (ISO 8583, not in this process)"
                }
                print("""
                Passway is running (keys in \(dataDir)):
                  database               \(info.database)
                  API                    \(info.apiURL)   (OpenAPI: \(info.apiURL)/openapi.yaml)
                  network ISO 8583       \(info.networkHost):\(info.networkPort)   (acquirers: 2-byte length prefix, ISO 8583:1987\(tlsCert == nil ? "" : ", TLS"))
                \(bank)
                  operator API key       in \(operatorKeyFile)
                Stop with Ctrl-C (or SIGTERM): what is in flight is answered first.
                """)
                fflush(nil)
            }
        } catch let error as CustomStringConvertible where "\(error)".contains("Address already in use") {
            throw CLIError("a port is already in use (API \(port), issuer host \(issuerHostPort), network \(networkPort), issuer host ISO \(issuerHostISOPort)); choose others with --port, --issuer-host-port, --network-port, --issuer-host-iso-port")
        }
    }
}

extension Serve {
    static func linkKey(_ file: String) throws -> MACKey {
        do { return try LinkKey.read(file: file) } catch { throw CLIError("\(error)") }
    }
}

/// A command-line failure: printed as one line by ArgumentParser ("Error: …"),
/// exit status 1.
/// A key given on the command line, else the one `passway serve` wrote to `file` in `dataDir`.
func keyFile(_ given: String?, dataDir: String, file: String, flag: String) throws -> String {
    if let given { return given }
    guard let text = try? String(contentsOfFile: (dataDir as NSString).appendingPathComponent(file), encoding: .utf8) else {
        throw CLIError("no \(file) in \(dataDir): pass \(flag), or --data-dir of the running `passway serve`")
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
