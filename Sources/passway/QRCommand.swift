import ArgumentParser
import EMVQR
import Foundation
import ISO8583

struct QRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "EMVCo merchant-presented QR payloads (EMV QRCPS): read one, or write one for a merchant.",
        subcommands: [QRDecode.self, QRMerchant.self]
    )
}

struct QRDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Read a merchant-presented payload: its fields as JSON, the CRC checked (a damaged code exits 1).")

    @Argument(help: "The payload, as the QR code holds it.") var payload: String

    func run() throws {
        let qr: MerchantQR
        do { qr = try MerchantQR(payload: payload) } catch { throw CLIError("\(error)") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(qr), as: UTF8.self))
    }
}

struct QRMerchant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merchant",
        abstract: "Write a merchant-presented payload with Passway's merchant account (ID 26: RU.PASSWAY, acquirer, merchant, terminal).",
        discussion: "passway qr merchant --name ГУМ --city Москва --mcc 5311 --currency RUB --acquirer 25000001 --merchant GUM-DEPARTMENT1 --amount 150.00")

    @Option(help: "Merchant name, as the wallet shows it (1 to 25 characters).") var name: String
    @Option(help: "Merchant city (1 to 15 characters).") var city: String
    @Option(help: "Merchant category code, four digits.") var mcc: String
    @Option(help: "Currency, ISO 4217 alpha (RUB) or numeric (643).") var currency: String
    @Option(help: "Country, ISO 3166-1 alpha-2.") var country: String = "RU"
    @Option(help: "The acquirer's institution code (field 32).") var acquirer: String
    @Option(help: "The merchant's id at its acquirer (field 42, up to 15 characters).") var merchant: String
    @Option(help: "The terminal id (field 41, 8 characters).") var terminal: String?
    @Option(help: "Amount in major units (150.00); without it the payer enters it.") var amount: String?
    @Option(help: "Reference label (additional data, ID 62-05), up to 25 characters.") var reference: String?
    @Flag(help: "A code for this payment only (point of initiation 12); otherwise a static one (11).") var dynamic = false

    func run() throws {
        func within(_ value: String, _ range: ClosedRange<Int>, _ option: String) throws {
            guard range.contains(value.count), !value.contains(where: \.isNewline) else {
                throw CLIError("--\(option): \(range.lowerBound) to \(range.upperBound) characters")
            }
        }
        try within(name, 1...25, "name")
        try within(city, 1...15, "city")
        try within(merchant, 1...15, "merchant")
        if let terminal { try within(terminal, 1...8, "terminal") }
        if let reference { try within(reference, 1...25, "reference") }
        guard mcc.count == 4, mcc.allSatisfy(\.isASCIIDigit) else { throw CLIError("--mcc: four digits") }
        guard (1...11).contains(acquirer.count), acquirer.allSatisfy(\.isASCIIDigit) else { throw CLIError("--acquirer: 1 to 11 digits") }
        guard country.count == 2, country.allSatisfy({ $0.isASCII && $0.isUppercase }) else { throw CLIError("--country: ISO 3166-1 alpha-2, like RU") }
        guard let code = Currency.alpha(currency.uppercased()) ?? Currency.numeric(currency) else { throw CLIError("--currency: an ISO 4217 code, like RUB or 643") }
        if let amount {
            let parts = amount.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...13).contains(amount.count), (1...2).contains(parts.count), parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }), !(parts.first?.isEmpty ?? true),
                  parts.count == 1 || (1...code.exponent).contains(parts[1].count) else {
                throw CLIError("--amount: like 150.00, at most \(code.exponent) decimals and 13 characters")
            }
        }
        var account = ["00": MerchantQR.passwayGUID, "01": acquirer, "02": merchant]
        if let terminal { account["03"] = terminal }
        let qr = MerchantQR(pointOfInitiation: dynamic ? "12" : "11", merchantAccounts: [MerchantQR.passwayAccountTag: account], merchantCategoryCode: mcc,
                            currency: code.numeric, amount: amount, country: country, merchantName: name, merchantCity: city,
                            additionalData: reference.map { ["05": $0] } ?? [:])
        print(qr.payload())
    }
}
