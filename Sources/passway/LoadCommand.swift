import APIContract
import ArgumentParser
import Clearing
import AsyncHTTPClient
import EMV
import Foundation
import ISO8583
import ISO8583Transport
import Participants
import Simulators
import Vault

/// `passway load`: many terminals at once against a running network. It provisions its
/// own bank, issuer, wallet, device, cards and tokens in bulk, then sends contactless
/// 0100s with real ARQCs over N connections and reports throughput, response codes and
/// latency percentiles (HDR histogram).
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Load the network of a running `passway serve` and report throughput and latency.")

    @Option(help: "Passway API.") var api = "http://127.0.0.1:8080"
    @Option(name: .customLong("issuer-host"), help: "The bundled issuer host's JSON API.") var issuerHost = "http://127.0.0.1:8090"
    @Option(help: "The network's ISO 8583 listener, host:port.") var network = "127.0.0.1:8583"
    @Option(name: .customLong("data-dir"), help: "Where `passway serve` keeps operator.key (or pass --operator-key).") var dataDir = ".passway"
    @Option(name: .customLong("operator-key"), help: "The network operator's API key.") var operatorKey: String?
    @Option(name: .customLong("issuer-host-operator-key"),
            help: "The issuer host's operator key (it creates the load's bank); else issuer-host-operator.key in --data-dir.")
    var issuerHostOperatorKey: String?
    @Option(help: "TCP connections to the network.") var connections = 8
    @Option(help: "Authorizations in flight per connection (closed loop).") var depth = 8
    @Option(help: "Target authorizations per second (open loop) instead of a closed loop.") var rate: Double?
    @Option(help: "How long to run, like 20s or 2m.") var duration = "20s"
    @Option(help: "Stop after this many authorizations.") var count: Int?
    @Option(help: "Traffic before the measurement, like 5s: the same requests, left out of the figures (the first use of each token fills the server's caches); the first request of each in-flight slot is always in it; --duration counts after it.") var warmup = "0s"
    @Option(help: "Tokens to provision.") var tokens = 4000
    @Option(name: .customLong("keys-per-token"), help: "Single-use keys per token (one per authorization).") var keysPerToken = 50
    @Option(help: "The acquirer's MAC: tdes (ISO 9797-1 MAC algorithm 3) or aes (AES-CMAC).") var mac = "tdes"
    @Option(name: .customLong("tls-ca"), help: "The CA (PEM) that signed the platform's certificate: the API (https) and the network port over TLS.")
    var tlsCA: String?
    @Flag(help: "Also run the same traffic against a bare echo listener (no sign-on, no MAC): the transport floor.") var echo = false
    @Flag(help: "Print the report as one JSON object.") var json = false
    @Option(help: "After the run, present every approved authorization (its amount, at a grocer) in an IPM clearing file written here (owner-only: it holds token numbers) and submitted with the load acquirer's key; the clearing result is reported.")
    var presentments: String?
    @Option(help: "Append every answer received to this file, one JSON line each (key, response code, approval code, amount, run, card, ATC), created owner-only; the load then sends again what could not be sent and reverses (0400, then 0401) what was sent and not answered, as an acquirer does.")
    var record: String?
    @Flag(name: .customLong("stand-in"), help: "Give the load's issuer stand-in rules that approve its traffic while its host is away (goods and services, any merchant, up to 1,000 a day per token): the network stands in and owes the issuer advices.")
    var standIn = false

    func validate() throws {
        guard (1...1024).contains(connections), (1...1024).contains(depth) else { throw ValidationError("--connections and --depth: 1 to 1024") }
        guard (1...1_000_000).contains(tokens), (1...1000).contains(keysPerToken) else { throw ValidationError("--tokens 1 to 1000000, --keys-per-token 1 to 1000") }
        guard Self.parseDuration(duration) != nil else { throw ValidationError("--duration: a number with s or m, like 20s") }
        guard let warm = Self.parseDuration(warmup), warm >= .zero else { throw ValidationError("--warmup: a number with s or m, like 5s") }
        if warm > .zero, count != nil { throw ValidationError("--warmup goes with --duration, not --count") }
        if let rate, rate <= 0 { throw ValidationError("--rate: more than zero") }
        guard ["tdes", "aes"].contains(mac) else { throw ValidationError("--mac: tdes or aes") }
        guard network.split(separator: ":").count == 2, Int(network.split(separator: ":")[1]) != nil else { throw ValidationError("--network: host:port") }
    }

    static func parseDuration(_ s: String) -> Duration? {
        if s.hasSuffix("ms"), let v = Double(s.dropLast(2)) { return .milliseconds(v) }
        if s.hasSuffix("s"), let v = Double(s.dropLast()) { return .seconds(v) }
        if s.hasSuffix("m"), let v = Double(s.dropLast()) { return .seconds(v * 60) }
        return Double(s).map { .seconds($0) }
    }

    func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// The API's client: the shared one, or one that trusts `--tls-ca`.
    func makeAPIClient() throws -> HTTPClient { try HTTPJSON.client(trusting: tlsCA) }

    func run() async throws {
        func key(_ given: String?, file: String, flag: String) throws -> String { try keyFile(given, dataDir: dataDir, file: file, flag: flag) }
        let operatorKey = try key(operatorKey, file: "operator.key", flag: "--operator-key")
        // The record file is made (owner-only) before any work: a path that cannot be written stops here.
        let recorder: LoadRecord?
        do { recorder = try record.map { try LoadRecord(path: $0) } } catch { throw CLIError("--record: \(error)") }
        let apiClient = try makeAPIClient()
        let (cards, bank) = try await provision(operatorKey: operatorKey, apiClient: apiClient,
                                        issuerHostOperatorKey: try key(issuerHostOperatorKey, file: "issuer-host-operator.key",
                                                                       flag: "--issuer-host-operator-key"))
        let parts = network.split(separator: ":")
        guard let port = Int(parts[1]) else { throw CLIError("--network: host:port") }
        var config = LoadConfiguration(host: String(parts[0]), port: port, connections: connections, depth: depth, rate: rate,
                                       duration: count == nil ? Self.parseDuration(duration) : nil, count: count)
        config.warmup = Self.parseDuration(warmup) ?? .zero
        config.acquirerID = String(format: "%08d", Int.random(in: 0..<100_000_000))
        let (signOn, acquirerKey) = try await onboardAcquirer(operatorKey: operatorKey, institutionID: config.acquirerID, apiClient: apiClient)
        config.signOn = signOn
        if presentments != nil { config.approvals = ApprovalBook() }
        config.tls = try tlsCA.map { try TLSFiles.context(try TLSFiles.clientConfiguration(trusting: $0)) }
        config.record = recorder
        // The API is done with (a process that fails before exits, which closes it).
        if apiClient !== HTTPClient.shared { try? await apiClient.shutdown() }

        var floor: LoadReport?
        if echo {
            let server = try await LoadGenerator.startEcho()
            var echoConfig = config
            echoConfig.port = server.port
            echoConfig.reusesKeys = true  // at the floor's rate the keys would run out within seconds
            echoConfig.signOn = nil
            echoConfig.tls = nil
            note("transport floor: the same traffic against a bare echo listener")
            floor = await LoadGenerator.run(cards: cards, echoConfig, target: "echo 127.0.0.1:\(server.port)", progress: progressLine)
            note("")
            await server.close()
        }
        note("authorizations against the network at \(network)")
        let report = await LoadGenerator.run(cards: cards, config, target: "network \(network)", progress: progressLine)
        note("")
        if json {
            var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as! [String: Any]
            if let floor {
                object["echo_floor"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(floor))
                object["floor_ratio"] = floor.authorizationsPerSecond > 0 ? report.authorizationsPerSecond / floor.authorizationsPerSecond : 0
            }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            if let floor { print(Self.render(floor, title: "Transport floor (echo listener)")) }
            print(Self.render(report, title: "Authorizations (full pipeline, journal durable)"))
            if let floor, floor.authorizationsPerSecond > 0 {
                print(String(format: "Full authorizations run at %.1f%% of the bare socket round trip (%.0f vs %.0f per second).",
                             100 * report.authorizationsPerSecond / floor.authorizationsPerSecond, report.authorizationsPerSecond, floor.authorizationsPerSecond))
            }
        }
        if let presentments, let approvals = config.approvals {
            // Its own client: the provisioning's may be shut down by now.
            let client = try makeAPIClient()
            do {
                try await present(approvals.all, to: presentments, institutionID: config.acquirerID, acquirerKey: acquirerKey, bank: bank,
                                  operatorKey: operatorKey, apiClient: client)
            } catch {
                if client !== HTTPClient.shared { try? await client.shutdown() }
                throw error
            }
            if client !== HTTPClient.shared { try? await client.shutdown() }
        }
        if report.authorizations == 0 {
            if report.warmupAuthorizations > 0 {
                throw CLIError("every authorization fell in the warmup: give more --keys-per-token or --tokens, or a shorter --warmup")
            }
            throw CLIError("no authorization completed: is the network listening at \(network)?")
        }
    }

    /// The acquirer's clearing file for `approvals`, written owner-only to `path` and
    /// submitted: a first presentment of each for its full amount; then the issuer's file
    /// made, fetched and posted at the load's bank. Each step timed (wall clock, as the
    /// operator waits for it), for the clearing benchmark.
    func present(_ approvals: [(request: Message, answer: Message)], to path: String, institutionID: String, acquirerKey: String?,
                 bank: LoadBank, operatorKey: String, apiClient: HTTPClient) async throws {
        guard let acquirerKey else { throw CLIError("the API did not return the acquirer's key: the presentments cannot be sent") }
        let now = Date()
        let today = ClearingService.localTime(now)
        let day = Int(now.timeIntervalSince1970 / 86_400), second = Int(now.timeIntervalSince1970) % 86_400
        let messages = approvals.enumerated().compactMap { i, a in
            Presentment(approved: a.request, answer: a.answer, messageNumber: i + 2,
                        acquirerReference: "7" + String(day).leftPadded(to: 5) + String(second).leftPadded(to: 5) + String(i).leftPadded(to: 12),
                        localTime: today)?.message
        }
        let fileID = "001" + today.prefix(6) + institutionID.leftPadded(to: 11) + String(second).leftPadded(to: 5)
        let bytes = try ClearingFile.write(id: fileID, messages: messages)
        do { try SecretFile.replace(path, contents: bytes) } catch { throw CLIError("--presentments: \(error)") }
        let clock = ContinuousClock()
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        func rate(_ n: Int, _ d: Duration) -> String { String(format: "%.2f s, %.0f/s", seconds(d), Double(n) / max(seconds(d), 1e-9)) }
        var started = clock.now
        let (_, answer) = try await HTTPJSON(base: api, apiKey: acquirerKey, client: apiClient, timeout: .minutes(30))
            .send(.POST, "/v1/clearing/files", bytes: bytes)
        let submitted = clock.now - started
        let result = try HTTPJSON.decoder.decode(ClearingFileResult.self, from: answer)
        note("presentments: \(messages.count) in \(path) (file \(fileID), \(bytes.count) bytes): \(result.cleared) cleared, "
             + "\(result.rejected) rejected: read, matched, priced and recorded in \(rate(messages.count, submitted))")

        // The issuer's side: its file made (the presentments gathered), its bytes (card
        // numbers from the vault), posted at the bank.
        let network = HTTPJSON(base: api, apiKey: operatorKey, client: apiClient, timeout: .minutes(30))
        started = clock.now
        let made = try await network.call(.POST, "/v1/clearing/issuer-files", ["issuerID": bank.id], decoding: IssuerFile.self)
        let gathered = clock.now - started
        started = clock.now
        let (_, issuerBytes) = try await network.send(.GET, "/v1/clearing/issuer-files/\(made.id)", bytes: nil)
        let fetched = clock.now - started
        started = clock.now
        let (_, postedAnswer) = try await HTTPJSON(base: issuerHost, apiKey: bank.key, timeout: .minutes(30))
            .send(.POST, "/banks/\(bank.id)/clearing", bytes: Array(issuerBytes))
        let postedIn = clock.now - started
        let posted = (try? JSONSerialization.jsonObject(with: postedAnswer)) as? [String: Any]
        note("issuer file \(made.id): \(made.presentments) presentments gathered in \(rate(made.presentments, gathered)), written with "
             + "their card numbers in \(rate(made.presentments, fetched)) (\(issuerBytes.count) bytes); posted at the bank: "
             + "\(posted?["posted"] as? Int ?? 0) in \(rate(made.presentments, postedIn))")
    }

    var progressLine: @Sendable (Double, Int) -> Void {
        { elapsed, done in
            let line = String(format: "\r  %5.1f s  %9d authorizations  %8.0f/s", elapsed, done, elapsed > 0 ? Double(done) / elapsed : 0)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// The load's acquirer, onboarded with room for every connection and message in
    /// flight, and its MAC key (`--mac aes`: AES-CMAC) opened with its zone master key.
    func onboardAcquirer(operatorKey: String, institutionID: String, apiClient: HTTPClient) async throws -> (ISO8583Client.SignOn, String?) {
        let op = HTTPJSON(base: api, apiKey: operatorKey, client: apiClient)
        let id = "load-acquirer-\(institutionID)"
        let created = try await op.call(.POST, "/v1/acquirers", [
            "id": id, "name": "Load acquirer", "country": "RU", "institutionID": institutionID,
            "limits": ["connections": connections, "inFlight": min(65_536, connections * depth)],
        ]).json as? [String: Any]
        guard let zmk = created?["zoneMasterKey"] as? String else { throw CLIError("the API did not return the acquirer's zone master key") }
        let delivered = try await op.call(.POST, "/v1/acquirers/\(id)/mac-key", ["algorithm": mac]).json as? [String: Any]
        guard let block = delivered?["keyBlock"] as? String else { throw CLIError("the API did not return the acquirer's MAC key") }
        return (try ISO8583Client.SignOn(institutionID: institutionID, zoneMasterKey: zmk, keyBlock: block), created?["apiKey"] as? String)
    }

    /// A bank, an issuer, a wallet, one device and `tokens` cards on it, in bulk.
    /// The load's bank at the issuer host: its id (the issuer's too) and API key.
    struct LoadBank { var id: String, key: String }

    func provision(operatorKey: String, apiClient: HTTPClient, issuerHostOperatorKey: String) async throws -> ([LoadCard], LoadBank) {
        let op = HTTPJSON(base: api, apiKey: operatorKey, client: apiClient)
        // Cards numbered in sequence under an 8-digit BIN; tokens drawn from a 6-digit range
        // (a billion numbers), so that a million tokens leave it 99.9% free. Drawn so as not
        // to overlap the ranges of the issuers the network has (earlier loads' among them).
        let taken = ((try await op.call(.GET, "/v1/issuers").json as? [[String: Any]]) ?? []).flatMap {
            (($0["cardRanges"] as? [String]) ?? []) + (($0["tokenRanges"] as? [String]) ?? [])
        }
        func free(_ range: String) -> Bool { !taken.contains { $0.hasPrefix(range) || range.hasPrefix($0) } }
        var drawn = ""
        for _ in 0..<1000 {
            drawn = String(format: "%06d", Int.random(in: 0..<1_000_000))
            if free("97" + drawn) && free("98" + drawn.prefix(4)) { break }
        }
        let suffix = drawn
        let cardPrefix = "97" + suffix, tokenPrefix = "98" + suffix.prefix(4)
        let started = Date()
        let wallet = try await op.call(.POST, "/v1/wallets", ["id": "load-\(suffix)", "name": "Load \(suffix)", "tokenRequestorID": "40010" + suffix])
        guard let walletKey = (wallet.json as? [String: Any])?["apiKey"] as? String else { throw CLIError("the API did not return the wallet's key") }
        let created = try await HTTPJSON(base: issuerHost, apiKey: issuerHostOperatorKey)
            .call(.POST, "/banks", ["id": "load-\(suffix)", "cardRanges": [cardPrefix]]).json as? [String: Any]
        guard let bankKey = created?["apiKey"] as? String, let hostKey = created?["tokenServiceKey"] as? String else {
            throw CLIError("the issuer host made no credentials for the load's bank")
        }
        let bank = HTTPJSON(base: issuerHost, apiKey: bankKey)
        _ = try await op.call(.POST, "/v1/issuers", [
            "id": "load-\(suffix)", "name": "Load Bank \(suffix)", "country": "RU", "currency": "RUB", "cardRanges": [cardPrefix],
            "tokenRanges": [tokenPrefix], "enabledWallets": ["load-\(suffix)"], "hostURL": issuerHost + "/banks/load-\(suffix)", "hostKey": hostKey,
        ])
        if standIn {
            _ = try await op.call(.PUT, "/v1/issuers/load-\(suffix)/stand-in", [
                "perTransactionLimitMinor": ["RUB": StandInRules.amountRange.upperBound], "dailyCountPerToken": StandInRules.countRange.upperBound,
                "dailyAmountPerTokenMinor": StandInRules.amountRange.upperBound, "processingCodes": ["00"],
                "merchantCategoryGroups": MerchantCategoryGroup.allCases.map(\.rawValue),
            ])
        }
        var device = DeviceWallet(modelID: "google-pixel-8", osVersion: "14", country: "RU")
        let registered = try await HTTPJSON(base: api, apiKey: walletKey, client: apiClient).call(.POST, "/v1/devices", [
            "modelID": "google-pixel-8", "osVersion": "14", "country": "RU", "publicKey": try device.publicKey,
        ])
        guard let deviceID = (registered.json as? [String: Any])?["id"] as? String else { throw CLIError("the device was not registered") }
        device.deviceID = deviceID

        let pans = (0..<tokens).map { i -> String in
            let body = cardPrefix + String(format: "%07d", i)
            return body + String(Luhn.checkDigit(for: body)!)
        }
        for chunk in stride(from: 0, to: pans.count, by: 250) {
            let accounts = pans[chunk..<min(chunk + 250, pans.count)].map { pan -> [String: Any] in
                ["pan": pan, "expiry": "2912", "holderName": "LOAD TEST", "currency": "RUB", "balanceMinor": 100_000_000_000,
                 "dailyLimitMinor": 1_000_000_000_000]
            }
            _ = try await bank.call(.POST, "/banks/load-\(suffix)/accounts/bulk", ["accounts": accounts])
            FileHandle.standardError.write(Data(String(format: "\r  opened %d of %d accounts at the issuer host", min(chunk + 250, pans.count), pans.count).utf8))
        }
        let accountsDone = Date()
        var cards: [LoadCard] = []
        let keysPerToken = self.keysPerToken
        @Sendable func fetch(_ chunk: Int) async throws -> [SealedProvisioning] {
            let batch = pans[chunk..<min(chunk + 1000, pans.count)].map { ["pan": $0, "expiry": "12/29"] }
            return try await op.call(.POST, "/v1/issuers/load-\(suffix)/bulk-tokens", [
                "walletID": "load-\(suffix)", "deviceID": deviceID, "keysPerToken": keysPerToken, "cards": batch,
            ], decoding: BulkProvisioningView.self).provisionings
        }
        func keep(_ sealed: [SealedProvisioning]) throws {
            for token in try device.receive(all: sealed) {
                cards.append(LoadCard(tokenNumber: token.tokenNumber, expiry: token.expiry,
                                      keys: try token.keys.map { (atc: $0.atc, key: try token.sessionKey($0)) }))
            }
            device.tokens.removeAll()
            FileHandle.standardError.write(Data(String(format: "\r  provisioned %d of %d tokens", cards.count, pans.count).utf8))
        }
        // Two batches asked for at a time: the server seals one while it stores the other,
        // and the device opens a third meanwhile.
        var asked: [Task<[SealedProvisioning], any Error>] = []
        for chunk in stride(from: 0, to: pans.count, by: 1000) {
            asked.append(Task { try await fetch(chunk) })
            if asked.count > 2 { try keep(try await asked.removeFirst().value) }
        }
        for batch in asked { try keep(try await batch.value) }
        let done = Date()
        note(String(format: "\r  provisioned %d tokens with %d keys each: accounts %.1f s, tokens %.1f s (%.0f tokens/s)", cards.count, keysPerToken,
                    accountsDone.timeIntervalSince(started), done.timeIntervalSince(accountsDone),
                    Double(cards.count) / max(0.001, done.timeIntervalSince(accountsDone))))
        return (cards, LoadBank(id: "load-\(suffix)", key: bankKey))
    }

    static func render(_ r: LoadReport, title: String) -> String {
        var out = "\n\(title) — \(r.target), \(r.connections) connections × \(r.depth) in flight" + (r.rate.map { String(format: ", target %.0f/s", $0) } ?? "")
            + (r.warmup > 0 ? String(format: ", measured after a %.0f s warmup", r.warmup) : "") + "\n"
        out += String(format: "  %d authorizations in %.1f s: %.0f per second%@\n", r.authorizations, r.seconds, r.authorizationsPerSecond,
                      r.errors > 0 ? " (\(r.errors) errors)" : "")
        out += String(format: "  latency ms  p50 %.2f   p90 %.2f   p99 %.2f   p99.9 %.2f   max %.2f\n",
                      r.latencyMs.p50, r.latencyMs.p90, r.latencyMs.p99, r.latencyMs.p999, r.latencyMs.max)
        out += "  response codes  " + r.responseCodes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "   ") + "\n"
        // Throughput per second, as bars.
        if let peak = r.perSecond.max(), peak > 0 {
            out += "  per second\n"
            for (i, n) in r.perSecond.enumerated() {
                let bar = String(repeating: "█", count: max(0, Int((Double(n) / Double(peak) * 40).rounded())))
                out += String(format: "  %3d s %@ %d%@\n", i + 1, bar, n, Double(i + 1) <= r.warmup ? " (warmup)" : "")
            }
        }
        return out
    }
}
