import ArgumentParser
import Foundation
import IssuerHost
import ISO8583Transport
import IssuerHostServer
import Logging
import PostgresSupport

/// `passway issuer-host`: the bundled bank on its own, the way a real bank's host runs
/// (on another machine, with its own data and ports), and a look at its outbox.
struct IssuerHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issuer-host",
        abstract: "The bundled issuer host: run it on its own, or read what the bank sent its cardholders.",
        subcommands: [Serve.self, Outbox.self]
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the bundled issuer host on its own: its JSON API and its ISO 8583 listener, for `passway serve --issuer-host`.")
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Port of the JSON API (0 picks a free one).") var port = 8090
        @Option(name: .customLong("iso-port"), help: "Port of the ISO 8583 listener the network connects to.") var isoPort = 8584
        @Option(name: .customLong("data-dir"), help: "Where issuer-host.key and the banks' SQLite databases live.")
        var dataDir = ProcessInfo.processInfo.environment["PASSWAY_ISSUER_HOST_DATA_DIR"] ?? ".passway-issuer-host"
        /// `--database`: the banks in its schema `issuer_host`.
        @OptionGroup var server: ServerOptions

        @Option(name: .customLong("hold-days"), help: "Days a hold stays when nothing clears or reverses it (1 to 90; cash is final).")
        var holdDays = 7
        @Option(name: .customLong("tls-cert"), help: "TLS on the ISO 8583 listener: this certificate (PEM, `passway pki issue`).") var tlsCert: String?
        @Option(name: .customLong("tls-key"), help: "The private key (PEM) of --tls-cert.") var tlsKey: String?

        func validate() throws {
            guard [port, isoPort].allSatisfy({ (0...65535).contains($0) }) else { throw ValidationError("ports are 0 to 65535") }
            if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
            guard (1...90).contains(holdDays) else { throw ValidationError("--hold-days: 1 to 90") }
        }

        func run() async throws {
            var config = IssuerHostConfiguration(host: host, httpPort: port, isoPort: isoPort, dataDirectory: dataDir, databaseURL: server.databaseURL,
                                                 logger: server.logger(label: "passway-issuer-host"))
            if let tlsCert, let tlsKey { config.tls = TLSFiles.Server(certificateFile: tlsCert, keyFile: tlsKey) }
            config.holdLifetime = .seconds(holdDays * 86_400)
            do {
                try await IssuerHostServer.run(config) { info in
                    for notice in info.notices { print("note: \(notice)") }
                    print("""
                    The issuer host is running (data in \(dataDir)):
                      JSON API               \(info.httpURL)   (banks under /banks)
                      ISO 8583               \(info.isoHost):\(info.isoPort)   (for passway serve --issuer-host \(info.isoHost):\(info.isoPort))
                      link key               \((dataDir as NSString).appendingPathComponent("issuer-host-link.key")) or PASSWAY_ISSUER_HOST_LINK_KEY, check value \(info.linkKeyCheckValue)   (for --issuer-host-link-key)
                    Stop with Ctrl-C (or SIGTERM): what is in flight is answered first.
                    """)
                    fflush(nil)
                }
            } catch let error as CustomStringConvertible where "\(error)".contains("Address already in use") {
                throw CLIError("a port is already in use (API \(port), ISO 8583 \(isoPort)); choose others with --port, --iso-port")
            }
        }
    }

    struct Outbox: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the messages (one-time codes) the bank sent to its cardholders.")
        @Option(help: "Issuer host URL.") var url = "http://127.0.0.1:8090"
        @Option(help: "Bank id.") var bank: String
        @Option(help: "The bank's API key at its host (or PASSWAY_BANK_KEY).") var key = ProcessInfo.processInfo.environment["PASSWAY_BANK_KEY"]
        @Flag(name: .customLong("last-code"), help: "Print only the one-time code sent last (for scripts).") var lastCode = false

        func run() async throws {
            guard let key else { throw CLIError("the outbox is the bank's: pass its API key with --key (or PASSWAY_BANK_KEY)") }
            let messages = try await HTTPJSON(base: url, apiKey: key).call(.GET, "/banks/\(bank)/outbox", decoding: [OutboxMessage].self)
            if lastCode {
                guard let code = messages.last(where: { $0.code != nil })?.code else { throw CLIError("no one-time code in the outbox of \(bank)") }
                print(code)
                return
            }
            if messages.isEmpty { print("the outbox of \(bank) is empty") }
            for m in messages {
                print("\(m.channel.rawValue) to \(m.destination) (card \(m.maskedPAN)): \(m.text)")
            }
        }
    }
}
