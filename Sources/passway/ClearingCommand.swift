import ArgumentParser
import AsyncHTTPClient
import Clearing
import Foundation
import ISO8583Transport

/// `passway clearing`: an acquirer's side of the clearing day against a running network.
struct ClearingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clearing", abstract: "Submit an acquirer's clearing file (IPM layout) and read what became of each record.",
        subcommands: [Submit.self])

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a clearing file to the network: one result per record (cleared, or rejected with its reason code); with --rejects, the network's reject file is saved.")

        @Argument(help: "The IPM file: 1644 header (file ID in PDS 0105), 1240 first presentments, 1644 trailer; EBCDIC or ISO 8859-1, VBS or 1014-blocked.")
        var file: String
        @Option(help: "Passway API.") var api = "http://127.0.0.1:8080"
        @Option(name: .customLong("api-key"), help: "The acquirer's API key.") var apiKey: String
        @Option(help: "Save the reject file (IPM, as the file came) here when a record is rejected.") var rejects: String?
        @Option(name: .customLong("tls-ca"), help: "The CA (PEM) that signed the platform's certificate, for an https API.") var tlsCA: String?
        @Flag(help: "Print the result as JSON.") var json = false

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
            guard data.count <= ClearingLimits.maxFileBytes else { throw CLIError("\(file) is over \(ClearingLimits.maxFileBytes) bytes: split it") }
            try await HTTPJSON.with(base: api, apiKey: apiKey, trusting: tlsCA) { http in try await submit(data, http) }
        }

        func submit(_ data: Data, _ http: HTTPJSON) async throws {
            let (_, answer) = try await http.send(.POST, "/v1/clearing/files", bytes: Array(data))
            let result = try HTTPJSON.decoder.decode(ClearingFileResult.self, from: answer)
            if let rejects, let id = result.rejectFileID {
                let (_, bytes) = try await http.send(.GET, "/v1/clearing/files/\(result.fileID)/rejects", bytes: nil)
                guard FileManager.default.createFile(atPath: rejects, contents: bytes) else { throw CLIError("cannot write \(rejects)") }
                if !json { print("reject file \(id) saved to \(rejects)") }
            }
            if json {
                print(String(decoding: answer, as: UTF8.self))
                return
            }
            print("file \(result.fileID): \(result.cleared) cleared, \(result.rejected) rejected")
            for r in result.results {
                let number = String(r.messageNumber).leftPadded(to: 8)
                switch r.outcome {
                case .cleared:
                    print("\(number) cleared  \(r.presentmentID ?? "") \(r.maskedToken ?? "") \(r.amountMinor.map(String.init) ?? "") \(r.currency ?? "")\(r.partial == true ? " partial" : "") authorization \(r.authorization ?? "")")
                case .rejected:
                    let reject = r.reject
                    print("\(number) rejected \(reject?.reason.rawValue ?? "") \(reject?.detail ?? "")\(reject.map { $0.element > 0 ? " (DE \($0.element))" : "" } ?? "")")
                }
            }
        }
    }
}
