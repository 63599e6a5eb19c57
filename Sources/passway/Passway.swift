import ArgumentParser
import Foundation
import Logging
import PasswayServer

@main
struct Passway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passway",
        abstract: "Passway: an open mobile-payment platform (network, token service, wallet, issuer host).",
        subcommands: [Serve.self, DemoCommand.self, DeviceCommand.self, IssuerHostCommand.self, EMVCommand.self, ISO8583Command.self, Fuzz.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the platform on this machine: the Passway API and the bundled issuer host, on embedded SQLite.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port of the Passway API (0 picks a free one).") var port = 8080
    @Option(name: .customLong("issuer-host-port"), help: "Port of the bundled issuer host.") var issuerHostPort = 8090
    @Option(name: .customLong("data-dir"), help: "Where the databases and key files live (or PASSWAY_DATA_DIR).")
    var dataDir = ProcessInfo.processInfo.environment["PASSWAY_DATA_DIR"] ?? ".passway"
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port), (0...65535).contains(issuerHostPort) else { throw ValidationError("ports are 0 to 65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: one of trace, debug, info, notice, warning, error") }
    }

    func run() async throws {
        var logger = Logger(label: "passway") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let config = PlatformConfiguration(host: host, apiPort: port, issuerHostPort: issuerHostPort, dataDirectory: dataDir, logger: logger)
        do {
            try await Platform.run(config) { info in
                for notice in info.notices { print("note: \(notice)") }
                print("""
                Passway is running (data in \(dataDir)):
                  API                    \(info.apiURL)   (OpenAPI: \(info.apiURL)/openapi.yaml)
                  bundled issuer host    \(info.issuerHostURL)
                  operator API key       in \(config.operatorKeyFile)
                Stop with Ctrl-C.
                """)
                fflush(nil)
            }
        } catch let error as CustomStringConvertible where "\(error)".contains("Address already in use") {
            throw CLIError("a port is already in use (API \(port), issuer host \(issuerHostPort)); choose others with --port and --issuer-host-port")
        }
    }
}

/// A command-line failure: printed as one line by ArgumentParser ("Error: …"),
/// exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
