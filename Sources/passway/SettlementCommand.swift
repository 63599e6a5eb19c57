import ArgumentParser
import AsyncHTTPClient
import Clearing
import Foundation
import ISO8583Transport

/// `passway settlement`: the operator's side of the clearing day against a running network.
struct SettlementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settlement", abstract: "Close settlement windows and read their net positions and reports (the network operator).",
        subcommands: [Close.self, Report.self, Settled.self])

    struct Connection: ParsableArguments {
        @Option(help: "Passway API.") var api = "http://127.0.0.1:8080"
        @Option(name: .customLong("data-dir"), help: "Where `passway serve` keeps operator.key (or pass --operator-key).") var dataDir = ".passway"
        @Option(name: .customLong("operator-key"), help: "The network operator's API key.") var operatorKey: String?
        @Option(name: .customLong("tls-ca"), help: "The CA (PEM) that signed the platform's certificate, for an https API.") var tlsCA: String?

        func run(_ body: (HTTPJSON) async throws -> Void) async throws {
            let key = try keyFile(operatorKey, dataDir: dataDir, file: "operator.key", flag: "--operator-key")
            try await HTTPJSON.with(base: api, apiKey: key, trusting: tlsCA, body)
        }
    }

    /// A window's report as JSON (as the API answered it) or as lines.
    static func show(_ data: Data, json: Bool) throws {
        if json { Swift.print(String(decoding: data, as: UTF8.self)); return }
        print(try HTTPJSON.decoder.decode(SettlementReport.self, from: data))
    }

    /// A window id as one path segment.
    static func segment(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
    }

    static func print(_ report: SettlementReport) {
        let w = report.window
        Swift.print("window \(w.id) \(w.currency) \(w.state.rawValue), cut-off \(ISO8601DateFormatter().string(from: w.cutOff))")
        for p in report.positions { Swift.print("  \(p.participant) \(p.amountMinor)") }
        Swift.print("  total \(report.totalMinor)")
        for i in report.instructions { Swift.print("  \(i.participant) \(i.direction.rawValue)s \(i.amountMinor) \(i.currency)") }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close the open window of a currency now: its net positions and settlement instructions.")
        @OptionGroup var connection: Connection
        @Option(help: "The window's currency, ISO 4217 alpha (RUB, CNY…).") var currency: String
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            try await connection.run { http in
                let (_, data) = try await http.send(.POST, "/v1/settlement/windows/close", bytes: Array(try JSONSerialization.data(withJSONObject: ["currency": currency.uppercased()])),
                                                    contentType: "application/json")
                try SettlementCommand.show(data, json: json)
            }
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A window's net positions and instructions, or with --participant that participant's report (JSON or CSV).")
        @OptionGroup var connection: Connection
        @Argument(help: "The window's id (from `close` or GET /v1/settlement/windows).") var window: String
        @Option(help: "acquirer:ID, issuer:ID or network: that participant's lines and net.") var participant: String?
        @Flag(help: "Print as JSON.") var json = false
        @Flag(help: "With --participant: print the CSV report.") var csv = false

        func run() async throws {
            let id = SettlementCommand.segment(window)
            try await connection.run { http in
                if let participant {
                    let who = participant.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&+=:"))) ?? participant
                    let (_, data) = try await http.send(.GET, "/v1/settlement/windows/\(id)/report?participant=\(who)&format=\(csv ? "csv" : "json")", bytes: nil)
                    if json || csv { Swift.print(String(decoding: data, as: UTF8.self), terminator: csv ? "" : "\n"); return }
                    let report = try HTTPJSON.decoder.decode(ParticipantReport.self, from: data)
                    for l in report.lines { Swift.print("\(l.source) \(l.presentments) \(l.kind.rawValue) \(l.amountMinor) \(l.currency)") }
                    Swift.print("net \(report.netMinor) \(report.window.currency)")
                    return
                }
                let (_, data) = try await http.send(.GET, "/v1/settlement/windows/\(id)", bytes: nil)
                try SettlementCommand.show(data, json: json)
            }
        }
    }

    struct Settled: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Confirm that a closed window's funds moved: the window is settled.")
        @OptionGroup var connection: Connection
        @Argument(help: "The window's id.") var window: String

        func run() async throws {
            let id = SettlementCommand.segment(window)
            try await connection.run { http in
                let (_, data) = try await http.send(.POST, "/v1/settlement/windows/\(id)/settled", bytes: nil)
                let w = try HTTPJSON.decoder.decode(SettlementWindow.self, from: data)
                Swift.print("window \(w.id) \(w.currency) \(w.state.rawValue)")
            }
        }
    }
}
