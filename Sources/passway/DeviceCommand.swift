import APIContract
import ArgumentParser
import EMV
import EMVQR
import ISO8583
import Foundation
import Vault
import Simulators

/// `passway device`: the wallet app on a phone or watch, on the command line. Its state
/// (its private key, its tokens and their single-use keys) lives in one file.
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Emulate the wallet app on a phone or a watch.",
        subcommands: [Register.self, AddCard.self, Verify.self, Cards.self, Replenish.self, Lost.self, QRPay.self, QRShow.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "The device's state file (created by register).") var state = "device.json"
    }

    /// What the file holds: where the wallet server is, the wallet's key, the device, and
    /// the card waiting for its one-time code, if any.
    struct State: Codable {
        var server: String
        var apiKey: String
        var wallet: DeviceWallet
        var pendingVerification: String?
    }

    static func load(_ path: String) throws -> State {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("no device state at \(path): run `passway device register` first (or pass --state)")
        }
        do { return try HTTPJSON.decoder.decode(State.self, from: data) } catch {
            throw CLIError("\(path) is not a device state file")
        }
    }

    static func save(_ state: State, _ path: String) throws {
        let data = try HTTPJSON.encoder.encode(state)
        // Owner-only from its creation: the file holds the device's private key and payment
        // keys. Written beside it and renamed over it: the old file is replaced atomically.
        do { try SecretFile.replace(path, contents: Array(data)) } catch { throw CLIError("\(error)") }
    }

    static func client(_ state: State) -> HTTPJSON { HTTPJSON(base: state.server, apiKey: state.apiKey) }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register this device with the wallet provider.")
        @OptionGroup var options: Options
        @Option(help: "Wallet server URL.") var server = "http://127.0.0.1:8080"
        @Option(name: .customLong("api-key"), help: "The wallet's API key.") var apiKey: String
        @Option(help: "Device model id from the catalog (GET /v1/device-models).") var model: String
        @Option(help: "OS version.") var os: String
        @Option(help: "Country where the device is used (ISO 3166-1 alpha-2).") var country: String

        func run() async throws {
            if FileManager.default.fileExists(atPath: options.state) {
                throw CLIError("\(options.state) exists; a device registers once (use another --state for another device)")
            }
            var state = State(server: server, apiKey: apiKey, wallet: DeviceWallet(modelID: model, osVersion: os, country: country))
            let (_, json) = try await client(state).call(.POST, "/v1/devices", [
                "modelID": model, "osVersion": os, "country": country, "publicKey": try state.wallet.publicKey,
            ])
            state.wallet.deviceID = (json as? [String: Any])?["id"] as? String
            try save(state, options.state)
            print("registered \(model) as \(state.wallet.deviceID ?? "?")")
        }
    }

    struct AddCard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-card",
            abstract: "Add a card. When the bank wants a one-time code it is asked for at a terminal; otherwise finish with `device verify`.")
        @OptionGroup var options: Options
        @Option(help: "Card number.") var pan: String
        @Option(help: "Expiry as printed, MM/YY.") var expiry: String
        @Option(help: "Security code.") var cvv2: String?
        @Option(help: "The wallet's risk score for this attempt, 0 to 99.") var risk = 0

        func run() async throws {
            var state = try load(options.state)
            guard let deviceID = state.wallet.deviceID else { throw CLIError("the device is not registered") }
            var body: [String: Any] = ["deviceID": deviceID, "pan": pan, "expiry": expiry, "riskScore": risk]
            if let cvv2 { body["cvv2"] = cvv2 }
            let http = client(state)
            let (_, json) = try await http.call(.POST, "/v1/enrollments", body)
            var answer = try http.decode(EnrollmentView.self, json)
            if answer.status == .pendingVerification, let verification = answer.verificationID {
                print("your bank sent a code by \(answer.method?.channel.rawValue ?? "?") to \(answer.method?.destination ?? "?")")
                var typed: String?
                if isatty(STDIN_FILENO) == 1 {
                    print("code: ", terminator: "")
                    fflush(nil)
                    typed = readLine()?.trimmingCharacters(in: .whitespaces)
                }
                guard let typed, !typed.isEmpty else {
                    // Not at a terminal: the card waits for `passway device verify`.
                    state.pendingVerification = verification
                    try save(state, options.state)
                    print("finish with: passway device verify --state \(options.state) --code <code>")
                    return
                }
                answer = try await Verify.enter(typed, verification: verification, http: http)
            }
            try keep(answer, in: &state, options.state)
        }
    }

    /// Keeps the token an approved enrollment delivered; anything else is a one-line error.
    static func keep(_ answer: EnrollmentView, in state: inout State, _ path: String) throws {
        guard answer.status == .approved, let sealed = answer.provisioning else {
            throw CLIError("the card was not added: \(answer.reason ?? answer.status.rawValue)")
        }
        let token = try state.wallet.receive(sealed)
        state.pendingVerification = nil
        try save(state, path)
        print("card added: token \(token.masked) (\(token.tokenID)), \(token.keys.count) payment keys")
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enter the bank's one-time code for the card added last (see `issuer-host outbox`).")
        @OptionGroup var options: Options
        @Option(help: "The one-time code.") var code: String

        func run() async throws {
            var state = try load(options.state)
            guard let verification = state.pendingVerification else { throw CLIError("no card on this device is waiting for a code") }
            let answer = try await Self.enter(code, verification: verification, http: client(state))
            try keep(answer, in: &state, options.state)
        }

        static func enter(_ code: String, verification: String, http: HTTPJSON) async throws -> EnrollmentView {
            let (_, json) = try await http.call(.POST, "/v1/enrollments/\(verification)/verify", ["code": code])
            return try http.decode(EnrollmentView.self, json)
        }
    }

    struct Cards: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the cards on this device, with their status at the server.")
        @OptionGroup var options: Options

        func run() async throws {
            var state = try load(options.state)
            guard let deviceID = state.wallet.deviceID else { throw CLIError("the device is not registered") }
            let server = try await client(state).call(.GET, "/v1/tokens?deviceID=\(deviceID)&limit=1000", decoding: [TokenView].self)
            for i in state.wallet.tokens.indices {
                if let s = server.first(where: { $0.id == state.wallet.tokens[i].tokenID }) {
                    state.wallet.tokens[i].status = s.status.rawValue
                }
            }
            try save(state, options.state)
            if state.wallet.tokens.isEmpty { print("no cards on this device") }
            for t in state.wallet.tokens {
                print("\(t.masked)  \(t.status.padding(toLength: 9, withPad: " ", startingAt: 0))  expires \(t.expiry.suffix(2))/\(t.expiry.prefix(2))  \(t.keys.count) keys  \(t.tokenID)")
            }
        }
    }

    struct Replenish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fetch the next batch of single-use keys for a token.")
        @OptionGroup var options: Options
        @Option(help: "Token id (see `cards`); all low tokens when omitted.") var token: String?

        func run() async throws {
            var state = try load(options.state)
            let targets = token.map { [$0] } ?? state.wallet.tokens.filter { state.wallet.needsKeys(tokenID: $0.tokenID) }.map(\.tokenID)
            if targets.isEmpty { print("every token has enough keys") }
            for id in targets {
                let http = client(state)
                let (_, json) = try await http.call(.POST, "/v1/tokens/\(id)/keys", [:])
                let t = try state.wallet.receive(try http.decode(SealedProvisioning.self, json))
                print("\(t.masked): \(t.keys.count) keys")
            }
            try save(state, options.state)
        }
    }

    struct Lost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Report this device lost: all its tokens are suspended.")
        @OptionGroup var options: Options

        func run() async throws {
            let state = try load(options.state)
            guard let deviceID = state.wallet.deviceID else { throw CLIError("the device is not registered") }
            let (_, json) = try await client(state).call(.POST, "/v1/devices/\(deviceID)/lost", [:])
            print("device reported lost; \((json as? [Any])?.count ?? 0) token(s) suspended")
        }
    }

    /// The token a payment uses: the one named, or the first active one.
    static func paying(_ state: State, _ token: String?) throws -> DeviceWallet.StoredToken {
        if let token {
            guard let found = state.wallet.tokens.first(where: { $0.tokenID == token }) else { throw CLIError("no token \(token) on this device (see `cards`)") }
            return found
        }
        guard let first = state.wallet.tokens.first(where: { $0.status == "active" && !$0.keys.isEmpty }) else {
            throw CLIError("no active card with keys on this device (see `cards`, `replenish`)")
        }
        return first
    }

    struct QRPay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qr-pay",
            abstract: "Pay a merchant's QR code (EMV QRCPS, merchant-presented) with a card on this device: one single-use key is spent.")
        @OptionGroup var options: Options
        @Argument(help: "The code's payload, as scanned.") var payload: String
        @Option(help: "The amount (150.00), for a code without one.") var amount: String?
        @Option(help: "Token id (see `cards`); the first active card when omitted.") var token: String?

        func run() async throws {
            var state = try load(options.state)
            let card = try paying(state, token)
            let qr: MerchantQR
            do { qr = try MerchantQR(payload: payload) } catch { throw CLIError("the code: \(error)") }
            guard let currency = Currency.numeric(qr.currency) else { throw CLIError("the code's currency \(qr.currency) is not one this wallet knows") }
            guard let text = qr.amount ?? amount, let minor = EMVQR.minorUnits(text, exponent: currency.exponent) else {
                throw CLIError(qr.amount == nil ? "--amount: the code has none; give one like 150.00" : "the code's amount is not readable")
            }
            guard let chip = try state.wallet.chipData(paying: qr, amountMinor: minor, tokenID: card.tokenID) else {
                throw CLIError("\(card.masked) has no single-use key left: run `passway device replenish`")
            }
            // The key is spent whatever the answer: keep that first.
            try save(state, options.state)
            let body = try JSONEncoder().encode(QRPayment(tokenID: card.tokenID, payload: payload, amount: qr.amount == nil ? text : nil,
                                                          chipData: Hex.encode(BERTLV.encode(chip))))
            let (status, data) = try await client(state).send(.POST, "/v1/qr-payments", bytes: Array(body), contentType: "application/json")
            guard status == 200, let paid = try? HTTPJSON.decoder.decode(QRPaymentView.self, from: data) else {
                throw CLIError("the payment was refused (\(status)): \(String(decoding: data.prefix(300), as: UTF8.self))")
            }
            print("\(paid.approved ? "paid" : "declined"): \(text) \(currency.alpha) to \(paid.merchantName), \(paid.merchantCity) with \(card.masked): "
                  + "\(paid.responseCode)\(paid.approvalCode.map { ", approval \($0)" } ?? "")")
        }
    }

    struct QRShow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qr-show",
            abstract: "Show a consumer-presented QR code (EMV QRCPS, base64) for a till to scan: one single-use key is spent.")
        @OptionGroup var options: Options
        @Option(help: "Token id (see `cards`); the first active card when omitted.") var token: String?

        func run() async throws {
            var state = try load(options.state)
            let card = try paying(state, token)
            guard let code = try state.wallet.consumerQR(tokenID: card.tokenID) else {
                throw CLIError("\(card.masked) cannot show a code: not active, or no single-use key left")
            }
            try save(state, options.state)
            print(code)
        }
    }
}
