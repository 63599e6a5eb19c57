import ArgumentParser
import Foundation

/// `passway rates`: the operator's exchange rates on a running network.
struct RatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rates", abstract: "Load exchange rates from a CSV file and read the table in effect (the network operator).",
        subcommands: [Load.self, Show.self])

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a CSV of rates: a first line currency,units_per_usd,effective_at, then one rate a line (EUR,0.86,2026-12-01T00:00:00Z). All or none.")
        @OptionGroup var connection: SettlementCommand.Connection
        @Argument(help: "The CSV file.") var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot be read") }
            try await connection.run { http in
                let (_, answer) = try await http.send(.POST, "/v1/exchange-rates", bytes: Array(data), contentType: "text/csv")
                let result = (try? JSONSerialization.jsonObject(with: answer)) as? [String: Any]
                print("loaded \(result?["added"] as? Int ?? 0) rates (\(result?["unchanged"] as? Int ?? 0) there already)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The rates in effect now, or at --at: units per US dollar.")
        @OptionGroup var connection: SettlementCommand.Connection
        @Option(help: "An ISO 8601 time, like 2026-12-01T00:00:00Z.") var at: String?
        @Flag(help: "Print the table as JSON.") var json = false

        func run() async throws {
            let query = at.map { "?at=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
            try await connection.run { http in
                let (_, data) = try await http.send(.GET, "/v1/exchange-rates" + query, bytes: nil)
                if json { print(String(decoding: data, as: UTF8.self)); return }
                let table = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
                print("in effect at \(table?["at"] as? String ?? "?"), markup \(table?["markupBasisPoints"] as? Int ?? 0) basis points")
                for rate in table?["rates"] as? [[String: Any]] ?? [] {
                    print("  \(rate["currency"] as? String ?? "?") \(rate["unitsPerUSD"] as? String ?? "?")")
                }
            }
        }
    }
}
