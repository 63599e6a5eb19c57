import ArgumentParser
import EMV
import EMVQR
import Foundation
import ISO8583

struct QRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "EMVCo QR payloads (EMV QRCPS): read a merchant- or consumer-presented one, or write one for a merchant.",
        subcommands: [QRDecode.self, QRMerchant.self]
    )
}

struct QRDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Read a payload: its fields as JSON (a damaged code exits 1).",
        discussion: "Merchant-presented (starts 000201): the CRC checked. Consumer-presented (base64 BER-TLV from 85 CPV01): the token masked, the cryptogram's objects in hex.")

    @Argument(help: "The payload, as the QR code holds it.") var payload: String

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let text = payload.trimmingCharacters(in: .whitespacesAndNewlines)
        if !text.hasPrefix("00") {
            let code: ConsumerQR
            do { code = try ConsumerQR(payload: text) } catch { throw CLIError("\(error)") }
            struct Shown: Encodable { var format, aid, label, token, expiry, panSequenceNumber: String; var cryptogramData: [String: String] }
            let track2 = try? Track2EquivalentData(bytes: code.track2)
            print(String(decoding: try encoder.encode(Shown(
                format: "CPV01", aid: Hex.encode(code.aid), label: code.label, token: track2?.pan.masked ?? "unreadable",
                expiry: track2?.expiry ?? "", panSequenceNumber: String(format: "%02d", code.panSequenceNumber),
                cryptogramData: Dictionary(code.cryptogramData.map { ($0.tag.hex, Hex.encode($0.valueBytes)) }) { first, _ in first })), as: UTF8.self))
            return
        }
        let qr: MerchantQR
        do { qr = try MerchantQR(payload: text) } catch { throw CLIError("\(error)") }
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
        if let amount, EMVQR.minorUnits(amount, exponent: code.exponent) == nil {
            throw CLIError("--amount: like 150.00, at most \(code.exponent) decimals and 13 characters")
        }
        var account = ["00": MerchantQR.passwayGUID, "01": acquirer, "02": merchant]
        if let terminal { account["03"] = terminal }
        let qr = MerchantQR(pointOfInitiation: dynamic ? "12" : "11", merchantAccounts: [MerchantQR.passwayAccountTag: account], merchantCategoryCode: mcc,
                            currency: code.numeric, amount: amount, country: country, merchantName: name, merchantCity: city,
                            additionalData: reference.map { ["05": $0] } ?? [:])
        print(qr.payload())
    }
}
