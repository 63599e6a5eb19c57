import ArgumentParser

@main
struct Passway: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passway",
        abstract: "Passway: an open mobile-payment platform (network, token service, wallet, issuer host).",
        subcommands: [Serve.self, EMVCommand.self, ISO8583Command.self, Fuzz.self]
    )
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole platform on this machine (embedded SQLite).")

    func run() throws {
        print("""
        passway serve: the platform's listeners are not built yet.
        What exists today: the EMV cryptography and the ISO 8583 codec, usable as tools:
          passway emv --help        key derivation, ARQC/ARPC, BER-TLV
          passway iso8583 --help    decode and encode ISO 8583:1987 messages
        The token service, wallet API and network switch come next (see the README).
        """)
    }
}

/// A command-line failure: printed as one line by ArgumentParser ("Error: …"),
/// exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
