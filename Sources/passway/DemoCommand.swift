import APIContract
import ArgumentParser
import Clearing
import Crypto
import EMV
import EMVQR
import Foundation
import ISO8583
import ISO8583Transport
import Logging
import NetworkSwitch
import PasswayServer
import Simulators

/// `passway demo`: the road trip on one machine, every step over the real sockets. The
/// platform starts in this process on free ports with a fresh data directory; the
/// banks, wallet, devices and terminals talk to it as outsiders would (HTTP for the
/// APIs, ISO 8583 over TCP for the taps, APDUs between terminal and device).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run the road trip: two banks, a phone and a watch, taps in Moscow, an ATM, a lost watch.")

    @Option(name: .customLong("data-dir"), help: "Where the demo's platform keeps its data (default: a new temporary directory, removed afterwards).")
    var dataDir: String?
    @Flag(help: "Show the platform's log (info and above) on standard error.") var verbose = false
    @Flag(help: "Print only the figures, as one JSON object: the authorizations, the day's clearing and each window's net positions.") var json = false

    func run() async throws {
        let directory = dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("passway-demo-\(UUID().uuidString)").path
        var logger = Logger(label: "passway") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .info : .error
        var config = PlatformConfiguration(apiPort: 0, networkPort: 0, issuerHost: .bundled(httpPort: 0, isoPort: 0), dataDirectory: directory,
                                           environment: [:], logger: logger)
        // The day is over when the trip is: the ATM's cash clears at once, not after a minute.
        config.singleMessageGrace = .zero
        // A day's rates, as an operator would have loaded them.
        config.exchangeRateSeed = .reference
        let (stream, continuation) = AsyncStream.makeStream(of: PlatformInfo.self)
        let platform = Task { try await Platform.run(config) { info in continuation.yield(info); continuation.finish() } }
        var iterator = stream.makeAsyncIterator()
        guard let info = await iterator.next() else {
            _ = try await platform.value
            throw CLIError("the platform did not start")
        }
        guard let issuerHostURL = info.issuerHostURL else { throw CLIError("the platform started without its issuer host") }
        var trip = RoadTrip(info: info, issuerHostURL: issuerHostURL, quiet: json)
        var failure: (any Error)?
        do {
            try await trip.run()
            if json { print(String(decoding: try trip.figures(), as: UTF8.self)) }
        } catch { failure = error }
        await trip.close()
        await info.stop()
        _ = try? await platform.value
        if dataDir == nil { try? FileManager.default.removeItem(atPath: directory) }
        if let failure { throw CLIError("demo stopped: \(failure)") }
    }
}

/// The story, step by step.
struct RoadTrip {
    let info: PlatformInfo
    let issuerHostURL: String
    let op: HTTPJSON
    /// The issuer host as its operator, and as each bank (with the key made with it).
    let bankHost: HTTPJSON
    var banks: [String: HTTPJSON] = [:]
    /// Each issuer's API key at the platform.
    var issuers: [String: HTTPJSON] = [:]
    var wallet: HTTPJSON!
    var rows: [Row] = []
    var network: ISO8583Client!
    /// Only the JSON figures at the end (`--json`).
    let quiet: Bool
    var acquirerKey: String?
    /// The approved purchases, for the acquirer's clearing file.
    var purchases: [(outcome: Terminal.Outcome, terminal: Terminal.Profile)] = []
    var clearing: ClearingFileResult?
    var settlement: [SettlementReport] = []

    struct Row {
        var step: String
        var device: String
        var terminal: String
        var amount: String
        var billed: String
        var code: String
        var meaning: String
    }

    init(info: PlatformInfo, issuerHostURL: String, quiet: Bool = false) {
        self.info = info
        self.quiet = quiet
        self.issuerHostURL = issuerHostURL
        op = HTTPJSON(base: info.apiURL, apiKey: info.operatorKey)
        bankHost = HTTPJSON(base: issuerHostURL, apiKey: info.issuerHostOperatorKey)
    }

    func say(_ line: String) {
        guard !quiet else { return }
        print(line)
        fflush(nil)
    }

    mutating func run() async throws {
        say("Passway road trip — platform on \(info.apiURL), network ISO 8583 on \(info.networkHost):\(info.networkPort)\n")

        // 1. Two banks onboard, and a wallet.
        let walletAnswer = try await op.call(.POST, "/v1/wallets", ["id": "passway-pay", "name": "Passway Pay", "tokenRequestorID": "40010075001"])
        wallet = HTTPJSON(base: info.apiURL, apiKey: (walletAnswer.json as? [String: Any])?["apiKey"] as? String)
        let ivanCard = Self.cardNumber("220070", seed: 20261125)
        let liCard = Self.cardNumber("621700", seed: 88)
        try await onboard(bank: "bank-moskva", issuer: "moskva-bank", name: "Moskva Bank", country: "RU", currency: "RUB",
                          cards: "220070", tokens: "22017199", pan: ivanCard, holder: "IVAN PETROV", phone: "+79161234567", balance: 5_000_000)
        // Jade Bank's cards are PBOC 3.0 cards: its tokens' cryptograms are SM4.
        try await onboard(bank: "jade-bank", issuer: "jade", name: "Jade Bank", country: "CN", currency: "CNY",
                          cards: "621700", tokens: "62189999", pan: liCard, holder: "LI WEI", phone: "+8613800138000", balance: 2_000_000,
                          profile: "sm4")
        say("✓ banks onboarded: Moskva Bank (RUB, cards 220070…, TDES cryptograms) and Jade Bank (CNY, cards 621700…, SM4 cryptograms); wallet Passway Pay")

        // 2. Cards onto a phone and a watch (Ivan), and a phone (Li Wei, visiting from China).
        var ivanPhone = try await register("samsung-galaxy-s24", os: "14", country: "RU")
        var ivanWatch = try await register("samsung-galaxy-watch7", os: "5", country: "RU")
        var liPhone = try await register("xiaomi-14", os: "14", country: "CN")
        let ivanPhoneToken = try await enroll(&ivanPhone, pan: ivanCard, bank: "bank-moskva")
        let ivanWatchToken = try await enroll(&ivanWatch, pan: ivanCard, bank: "bank-moskva")
        say("✓ Ivan's card on his phone (\(ivanPhoneToken.masked), approved at once) and watch (\(ivanWatchToken.masked), one-time code from the bank)")
        let liToken = try await pushFromBankApp(&liPhone, pan: liCard, issuer: "jade")
        say("✓ Li Wei taps \"Add to wallet\" in Jade Bank's app: the bank seals his card to the token service (HPKE), the wallet redeems the receipt "
            + "on his phone (\(liToken.masked), \(liToken.keys.count) SM4 single-use keys)")

        // 3. Terminals in Moscow, behind an acquirer that speaks ISO 8583 to the network: it
        // is onboarded, opens its MAC key with its zone master key, and signs on.
        let acquirer = try await op.call(.POST, "/v1/acquirers", ["id": "gum-acquirer", "name": "Moscow Merchant Bank", "country": "RU",
                                                                  "institutionID": "25000001"]).json as? [String: Any]
        acquirerKey = acquirer?["apiKey"] as? String
        let delivered = try await op.call(.POST, "/v1/acquirers/gum-acquirer/mac-key").json as? [String: Any]
        guard let zmk = acquirer?["zoneMasterKey"] as? String, let block = delivered?["keyBlock"] as? String else {
            throw CLIError("the acquirer got no keys")
        }
        network = ISO8583Client(host: info.networkHost, port: info.networkPort, timeout: .seconds(10),
                                signOn: try .init(institutionID: "25000001", zoneMasterKey: zmk, keyBlock: block), logger: Logger(label: "demo-acquirer"))
        let rub = Currency.alpha("RUB")!
        let gum = Terminal(.init(kind: .pos, terminalID: "MSK00001", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                 nameLocation: "GUM, Red Square 3       MOSCOW       RU", country: 643, currency: rub), network: network)
        let cafe = Terminal(.init(kind: .pos, terminalID: "MSK00002", merchantID: "CAFE-PUSHKIN001", acquirerID: "25000001",
                                  nameLocation: "Cafe Pushkin            MOSCOW       RU", country: 643, currency: rub, merchantCategory: "5812"),
                            network: network)
        let atm = Terminal(.init(kind: .atm, terminalID: "ATM00042", merchantID: "ATM-ARBAT-00042", acquirerID: "25000001",
                                 nameLocation: "Arbat 12                MOSCOW       RU", country: 643, currency: rub), network: network)

        try await tap("Ivan pays at GUM", gum, &ivanPhone, ivanPhoneToken, "phone", 1_500_00)
        try await tap("Li Wei pays at GUM, billed in yuan", gum, &liPhone, liToken, "phone (CN)", 2_400_00)
        try await tap("Ivan buys coffee with his watch", cafe, &ivanWatch, ivanWatchToken, "watch", 350_00)
        try await tap("Ivan tries a fur coat: over his balance", gum, &ivanPhone, ivanPhoneToken, "phone", 60_000_00)
        try await tap("Ivan draws cash at an ATM", atm, &ivanPhone, ivanPhoneToken, "phone", 5_000_00)

        // 4. The watch is lost: the wallet suspends its token; the phone keeps working.
        guard let watchID = ivanWatch.deviceID else { throw CLIError("the watch has no device id") }
        _ = try await wallet.call(.POST, "/v1/devices/\(watchID)/lost", [:])
        say("✓ Ivan reports his watch lost: its token is suspended, the phone's is not")
        try await tap("Someone taps the lost watch", cafe, &ivanWatch, ivanWatchToken, "watch (lost)", 350_00)
        try await tap("Ivan pays with his phone", cafe, &ivanPhone, ivanPhoneToken, "phone", 420_00)

        // 5. QR codes: the café's own code on the counter, which Ivan's wallet pays with his
        // token and a cryptogram over the API; then Ivan's phone shows a code at GUM's till,
        // which the POS scans and sends like a tap.
        let counterCode = MerchantQR(pointOfInitiation: "11", merchantAccounts: [MerchantQR.passwayAccountTag: [
            "00": MerchantQR.passwayGUID, "01": "25000001", "02": "CAFE-PUSHKIN001", "03": "MSK00002"]], merchantCategoryCode: "5812",
                                     currency: rub.numeric, amount: nil, country: "RU", merchantName: "Cafe Pushkin", merchantCity: "MOSCOW")
        try await payQR("Ivan scans the café's QR code", counterCode, amount: "275.00", &ivanPhone, ivanPhoneToken)
        try await showQR("Ivan shows a QR code at GUM", gum, &ivanPhone, ivanPhoneToken, 990_00)

        printSummary()
        let expected = ["00", "00", "00", "51", "00", "05", "00", "00", "00"]
        guard rows.map(\.code) == expected else {
            throw CLIError("the trip did not go as planned: \(rows.map(\.code)) instead of \(expected)")
        }
        try await clearTheDay()
    }

    /// 5. The day's clearing: the acquirer presents its purchases in an IPM file (the café's
    /// with a 10% tip, which restaurants may add); the ATM's cash clears by itself; the
    /// operator closes the rouble and yuan windows.
    mutating func clearTheDay() async throws {
        let today = ClearingService.localTime(Date())
        let messages = purchases.enumerated().compactMap { i, p -> IPMMessage? in
            let amount = Int64(p.outcome.request.string(4) ?? "") ?? 0
            return Presentment(approved: p.outcome.request, answer: p.outcome.answer, messageNumber: i + 2,
                               acquirerReference: "7" + String(i + 1).leftPadded(to: 22), localTime: today,
                               amountMinor: p.terminal.merchantCategory == "5812" ? amount + amount / 10 : amount)?.message
        }
        let fileID = "001" + today.prefix(6) + "00025000001" + "00001"
        let file = try ClearingFile.write(id: fileID, messages: messages)
        let acquirerAPI = HTTPJSON(base: info.apiURL, apiKey: acquirerKey)
        let (_, answer) = try await acquirerAPI.send(.POST, "/v1/clearing/files", bytes: file)
        let result = try HTTPJSON.decoder.decode(ClearingFileResult.self, from: answer)
        clearing = result
        say("\nThe day's clearing")
        say("✓ the acquirer's IPM file \(fileID) (\(file.count) bytes, EBCDIC, 1014-blocked): \(result.cleared) cleared, \(result.rejected) rejected")
        for r in result.results {
            let amount = r.amountMinor.flatMap { minor in Currency.numeric(r.currency ?? "").map { Self.money(minor, $0) } } ?? ""
            say("  \(r.outcome.rawValue) \(r.maskedToken ?? "") \(amount)\(r.partial == true ? " (partial)" : "")\(r.reject.map { " \($0.reason.rawValue) \($0.detail)" } ?? "")")
        }
        say("✓ the ATM's cash clears without a presentment (single message)")
        for currency in ["RUB", "CNY"] {
            let (_, data) = try await op.send(.POST, "/v1/settlement/windows/close", bytes: Array(try JSONSerialization.data(withJSONObject: ["currency": currency])),
                                              contentType: "application/json")
            let report = try HTTPJSON.decoder.decode(SettlementReport.self, from: data)
            settlement.append(report)
            guard let c = Currency.alpha(currency) else { continue }
            say("\nSettlement window \(report.window.id) (\(currency)), closed: net positions")
            for p in report.positions { say("  \(p.participant.padding(toLength: 26, withPad: " ", startingAt: 0)) \(p.amountMinor < 0 ? "pays    " : "receives") \(Self.money(p.amountMinor < 0 ? 0 &- p.amountMinor : p.amountMinor, c))") }
            say("  total \(Self.money(report.totalMinor, c))")
        }
        guard result.rejected == 0, settlement.allSatisfy({ $0.totalMinor == 0 }) else {
            throw CLIError("the day did not clear as planned: \(result.rejected) rejected, totals \(settlement.map(\.totalMinor))")
        }
    }

    /// `--json`: the trip's figures.
    func figures() throws -> Data {
        struct Figures: Encodable {
            struct Authorization: Encodable { var step, device, terminal, amount, billed, responseCode, meaning: String }
            var authorizations: [Authorization]
            var clearing: ClearingFileResult?
            var settlement: [SettlementReport]
        }
        let figures = Figures(authorizations: rows.map { .init(step: $0.step, device: $0.device, terminal: $0.terminal, amount: $0.amount, billed: $0.billed,
                                                                responseCode: $0.code, meaning: $0.meaning) },
                              clearing: clearing, settlement: settlement)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(figures)
    }

    func close() async { await network?.close() }

    mutating func onboard(bank: String, issuer: String, name: String, country: String, currency: String, cards: String, tokens: String,
                          pan: String, holder: String, phone: String, balance: Int64, profile: String = "tdes") async throws {
        let created = try await bankHost.call(.POST, "/banks", ["id": bank, "cardRanges": [cards]]).json as? [String: Any]
        guard let bankKey = created?["apiKey"] as? String, let hostKey = created?["tokenServiceKey"] as? String else {
            throw CLIError("the issuer host made no credentials for \(bank)")
        }
        let bankAPI = HTTPJSON(base: issuerHostURL, apiKey: bankKey)
        banks[bank] = bankAPI
        _ = try await bankAPI.call(.POST, "/banks/\(bank)/accounts", [
            "pan": pan, "expiry": "2912", "cvv2": "123", "holderName": holder, "phone": phone, "currency": currency, "balanceMinor": balance,
        ])
        let onboarded = try await op.call(.POST, "/v1/issuers", [
            "id": issuer, "name": name, "country": country, "currency": currency, "cardRanges": [cards], "tokenRanges": [tokens],
            "enabledWallets": ["passway-pay"], "hostURL": issuerHostURL + "/banks/\(bank)", "hostKey": hostKey, "cryptogramProfile": profile,
        ])
        issuers[issuer] = HTTPJSON(base: info.apiURL, apiKey: (onboarded.json as? [String: Any])?["apiKey"] as? String)
    }

    func register(_ model: String, os: String, country: String) async throws -> DeviceWallet {
        var device = DeviceWallet(modelID: model, osVersion: os, country: country)
        let answer = try await wallet.call(.POST, "/v1/devices", ["modelID": model, "osVersion": os, "country": country, "publicKey": try device.publicKey])
        device.deviceID = (answer.json as? [String: Any])?["id"] as? String
        return device
    }

    func enroll(_ device: inout DeviceWallet, pan: String, bank: String) async throws -> DeviceWallet.StoredToken {
        var answer = try await wallet.call(.POST, "/v1/enrollments", ["deviceID": device.deviceID ?? "", "pan": pan, "expiry": "12/29", "cvv2": "123"])
        if answer.status == 202, let verification = (answer.json as? [String: Any])?["verificationID"] as? String {
            // The bank's one-time code, as its SMS gateway would deliver it.
            guard let bankAPI = banks[bank] else { throw CLIError("no credentials for \(bank)") }
            let outbox = try await bankAPI.call(.GET, "/banks/\(bank)/outbox")
            guard let code = (outbox.json as? [[String: Any]])?.last?["code"] as? String else { throw CLIError("no one-time code in \(bank)'s outbox") }
            answer = try await wallet.call(.POST, "/v1/enrollments/\(verification)/verify", ["code": code])
        }
        let provisioning = try JSONSerialization.data(withJSONObject: (answer.json as? [String: Any])?["provisioning"] ?? [:])
        return try device.receive(try JSONDecoder().decode(SealedProvisioning.self, from: provisioning))
    }

    /// Push provisioning: the issuer's server seals the card to the token service's HPKE
    /// key and gets a receipt; the wallet redeems it on the device.
    func pushFromBankApp(_ device: inout DeviceWallet, pan: String, issuer: String) async throws -> DeviceWallet.StoredToken {
        guard let bankAPI = issuers[issuer] else { throw CLIError("no credentials for \(issuer)") }
        let key = try await bankAPI.call(.GET, "/v1/push-provisioning/key", decoding: PushKeyView.self)
        guard let x963 = Data(base64Encoded: key.publicKey) else { throw CLIError("the push key is not base64") }
        let sealed = try PushCard(pan: pan, expiry: "12/29").sealed(to: try P256.KeyAgreement.PublicKey(x963Representation: x963), issuerID: issuer,
                                                                     walletID: "passway-pay")
        let (_, data) = try await bankAPI.send(.POST, "/v1/push-receipts", bytes: Array(try JSONEncoder().encode(sealed)), contentType: "application/json")
        let receipt = try HTTPJSON.decoder.decode(PushReceiptView.self, from: data)
        let redeemed = try await wallet.call(.POST, "/v1/push-receipts/\(receipt.receipt)/redeem", ["deviceID": device.deviceID ?? ""])
        let provisioning = try JSONSerialization.data(withJSONObject: (redeemed.json as? [String: Any])?["provisioning"] ?? [:])
        return try device.receive(try JSONDecoder().decode(SealedProvisioning.self, from: provisioning))
    }

    mutating func tap(_ step: String, _ terminal: Terminal, _ device: inout DeviceWallet, _ token: DeviceWallet.StoredToken, _ deviceName: String,
                      _ amount: Int64) async throws {
        var applet = ContactlessApplet(tokenID: token.tokenID)
        var d = device
        let outcome = try await terminal.tap(amountMinor: amount) { applet.respond(to: $0, wallet: &d) }
        device = d
        if outcome.approved, terminal.profile.kind == .pos { purchases.append((outcome, terminal.profile)) }
        let code = outcome.responseCode
        let billed: String
        if let six = outcome.answer.string(6), let code51 = outcome.answer.string(51), let c = Currency.numeric(code51) {
            billed = Self.money(Int64(six) ?? 0, c) + " @ " + (ExchangeRates.Rate(field10: outcome.answer.string(10) ?? "")?.description ?? "?")
        } else {
            billed = "—"
        }
        let row = Row(step: step, device: deviceName, terminal: "\(terminal.profile.kind == .atm ? "ATM" : "POS") \(terminal.profile.terminalID)",
                      amount: Self.money(amount, terminal.profile.currency), billed: billed, code: code, meaning: Self.meaning(code))
        rows.append(row)
        // Tag 91: TDES, ARPC (8 bytes) ‖ ARC; SM4, ARPC (4 bytes, method 2) ‖ CSU.
        let arpc = outcome.issuerAuthenticationData.map {
            token.profile == .sm4 ? " SM4 ARPC \(Hex.encode(Array($0.prefix(4))))" : " ARPC \(Hex.encode(Array($0.prefix(8))))"
        } ?? ""
        say("\(outcome.approved ? "✓" : "✗") \(step): \(row.amount) → \(code) \(row.meaning)\(billed == "—" ? "" : ", billed \(billed)")\(arpc)")
    }

    /// A merchant-presented code paid by the wallet: the code read, the device's chip data
    /// for its amount, `POST /v1/qr-payments`.
    mutating func payQR(_ step: String, _ code: MerchantQR, amount: String, _ device: inout DeviceWallet, _ token: DeviceWallet.StoredToken) async throws {
        let qr = try MerchantQR(payload: code.payload())
        guard let currency = Currency.numeric(qr.currency), let minor = EMVQR.minorUnits(amount, exponent: currency.exponent),
              let chip = try device.chipData(paying: qr, amountMinor: minor, tokenID: token.tokenID) else { throw CLIError("the phone cannot pay the code") }
        let (status, data) = try await wallet.send(.POST, "/v1/qr-payments", bytes: Array(try JSONEncoder().encode(
            QRPayment(tokenID: token.tokenID, payload: qr.payload(), amount: amount, chipData: Hex.encode(BERTLV.encode(chip))))), contentType: "application/json")
        guard status == 200 else { throw CLIError("the QR payment was refused (\(status)): \(String(decoding: data.prefix(300), as: UTF8.self))") }
        let paid = try HTTPJSON.decoder.decode(QRPaymentView.self, from: data)
        let row = Row(step: step, device: "phone (QR)", terminal: "QR \(paid.terminalID)", amount: Self.money(minor, currency), billed: "—",
                      code: paid.responseCode, meaning: Self.meaning(paid.responseCode))
        rows.append(row)
        say("\(paid.approved ? "✓" : "✗") \(step): \(row.amount) to \(paid.merchantName) → \(paid.responseCode) \(row.meaning), approval \(paid.approvalCode ?? "none")")
    }

    /// A consumer-presented code: the phone shows it, the POS scans it and sends a 0100
    /// (entry mode 031) for the amount at the till.
    mutating func showQR(_ step: String, _ terminal: Terminal, _ device: inout DeviceWallet, _ token: DeviceWallet.StoredToken, _ amount: Int64) async throws {
        guard let code = try device.consumerQR(tokenID: token.tokenID) else { throw CLIError("the phone has no key left for a code") }
        let outcome = try await terminal.send(terminal.request(for: try Terminal.read(consumerQR: code), amountMinor: amount, entryMode: "031"))
        if outcome.approved { purchases.append((outcome, terminal.profile)) }
        let row = Row(step: step, device: "phone (QR)", terminal: "POS \(terminal.profile.terminalID)", amount: Self.money(amount, terminal.profile.currency),
                      billed: "—", code: outcome.responseCode, meaning: Self.meaning(outcome.responseCode))
        rows.append(row)
        say("\(outcome.approved ? "✓" : "✗") \(step) (\(code.count) characters of base64): \(row.amount) → \(outcome.responseCode) \(row.meaning)")
    }

    func printSummary() {
        let header = Row(step: "step", device: "device", terminal: "terminal", amount: "amount", billed: "billed to card", code: "rc", meaning: "meaning")
        let all = [header] + rows
        func width(_ k: KeyPath<Row, String>) -> Int { all.map { $0[keyPath: k].count }.max() ?? 0 }
        let keys: [KeyPath<Row, String>] = [\.step, \.device, \.terminal, \.amount, \.billed, \.code, \.meaning]
        let widths = keys.map(width)
        func line(_ r: Row) -> String {
            zip(keys, widths).map { k, w in r[keyPath: k].padding(toLength: w, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        say("\nSummary")
        say(line(header))
        say(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "))
        for r in rows { say(line(r)) }
        let approved = rows.filter { $0.code == ResponseCode.approved.rawValue }.count
        say("\n\(rows.count) authorizations: \(approved) approved, \(rows.count - approved) declined. Every step went over real sockets.")
    }

    static func money(_ minor: Int64, _ currency: Currency) -> String {
        guard currency.exponent > 0 else { return "\(minor) \(currency.alpha)" }
        var scale: Int64 = 1
        for _ in 0..<currency.exponent { scale *= 10 }
        let fraction = String(minor % scale)
        let grouped = String(minor / scale).reversed().enumerated().reduce(into: "") { s, e in
            if e.offset > 0 && e.offset % 3 == 0 { s.append(",") }
            s.append(e.element)
        }
        return String(grouped.reversed()) + "." + String(repeating: "0", count: currency.exponent - fraction.count) + fraction + " " + currency.alpha
    }

    static func meaning(_ code: String) -> String {
        ResponseCode(rawValue: code)?.meaning ?? "declined"
    }

    static func cardNumber(_ prefix: String, seed: Int) -> String {
        var digits = prefix
        var x = UInt64(seed)
        while digits.count < 15 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            digits.append(Character(String((x >> 33) % 10)))
        }
        return digits + String(Luhn.checkDigit(for: digits)!)
    }
}
