import APIContract
import EMV
import EMVQR
import Foundation
import ISO8583
import Participants
import TokenService

/// Merchant-presented QR payments: a wallet scanned a Passway merchant's code and pays it
/// with a token and the device's cryptogram. The network makes of it the authorization
/// the merchant's acquirer would have sent (0100, entry mode 031, the acquirer, merchant
/// and terminal from the code's template 26) and runs it through the same pipeline as a
/// tap: the token and its cryptogram are checked, the issuer asked, the journal written.
struct QRPayments: Sendable {
    let tokens: TokenService
    let participants: ParticipantRegistry
    let authorize: @Sendable (Message) async -> Message?
    let now: @Sendable () -> Date

    /// Field 22 for a QR code: PAN entry mode 03 (bar code, here a QR code), PIN entry
    /// capability 1.
    static let entryMode = "031"

    func pay(_ payment: QRPayment, walletID: String) async throws -> QRPaymentView {
        let qr: MerchantQR
        do { qr = try MerchantQR(payload: payment.payload) } catch { throw ServiceError.invalid(field: "payload", reason: "\(error)") }
        guard let account = qr.merchantAccounts[MerchantQR.passwayAccountTag], account["00"] == MerchantQR.passwayGUID else {
            throw ServiceError.invalid(field: "payload", reason: "not a Passway merchant's code (template 26 with \(MerchantQR.passwayGUID))")
        }
        guard let institution = account["01"], (1...11).contains(institution.count), institution.allSatisfy(\.isASCIIDigit) else {
            throw ServiceError.invalid(field: "payload", reason: "template 26 sub-ID 01 must be the acquirer's institution code, 1 to 11 digits")
        }
        guard let merchant = account["02"], (1...15).contains(merchant.count), merchant.allSatisfy(Self.printableASCII) else {
            throw ServiceError.invalid(field: "payload", reason: "template 26 sub-ID 02 must be the merchant, 1 to 15 characters")
        }
        let terminal = account["03"] ?? "QR"
        guard (1...8).contains(terminal.count), terminal.allSatisfy(Self.printableASCII) else {
            throw ServiceError.invalid(field: "payload", reason: "template 26 sub-ID 03 must be the terminal, 1 to 8 characters")
        }
        guard let currency = Currency.numeric(qr.currency) else {
            throw ServiceError.invalid(field: "payload", reason: "currency \(qr.currency) is not one this network settles")
        }
        let amountText: String
        switch (qr.amount, payment.amount) {
        case (let written?, nil): amountText = written
        case (nil, let entered?): amountText = entered
        case (_?, _?): throw ServiceError.invalid(field: "amount", reason: "the code has its amount; send none")
        case (nil, nil): throw ServiceError.invalid(field: "amount", reason: "the code has no amount: send the one the cardholder entered")
        }
        // Field 4 and 9F02 hold 12 digits of minor units.
        guard let amountMinor = EMVQR.minorUnits(amountText, exponent: currency.exponent), (1...999_999_999_999).contains(amountMinor) else {
            throw ServiceError.invalid(field: payment.amount == nil ? "payload" : "amount",
                                       reason: "an amount like 150.00, more than zero, at most \(currency.exponent) decimals and 12 digits of minor units")
        }
        guard payment.chipData.count <= 510 else { throw ServiceError.invalid(field: "chipData", reason: "at most 255 bytes") }
        let chip: [TLV]
        do { chip = try BERTLV.decode(try Hex.decode(payment.chipData)) } catch {
            throw ServiceError.invalid(field: "chipData", reason: "BER-TLV in hex (\(error))")
        }
        // The device's cryptogram must cover this amount: a code without one (consumer-presented) does not pass here.
        guard chip.value(.amountAuthorised) == bcd(UInt64(amountMinor), digits: 12) else {
            throw ServiceError.invalid(field: "chipData", reason: "9F02 must be the amount paid, which the cryptogram covers")
        }
        guard try await participants.acquirer(institutionID: institution) != nil else {
            throw ServiceError.invalid(field: "payload", reason: "acquirer \(institution) of the code is not on this network")
        }
        let token = try await tokens.token(id: payment.tokenID, for: .wallet(walletID))
        let number = try tokens.tokenNumber(token)

        let request = Self.message(token: number.digits, expiry: token.expiry, amountMinor: amountMinor, currency: currency, qr: qr,
                                   acquirer: institution, merchant: merchant, terminal: terminal, chip: chip, at: now())
        guard let answer = await authorize(request) else { throw ServiceError.issuerUnavailable("the network gave no answer") }
        let code = answer.string(39) ?? "96"
        return QRPaymentView(responseCode: code, approved: answer.responseCode?.isApproval ?? false, approvalCode: answer.string(38),
                             amountMinor: amountMinor, currency: currency.alpha, merchantName: qr.merchantName, merchantCity: qr.merchantCity,
                             acquirer: institution, merchantID: merchant, terminalID: request.string(41) ?? terminal, stan: request.string(11) ?? "",
                             transmissionTime: request.string(7) ?? "", retrievalReference: request.string(37) ?? "",
                             issuerAuthenticationData: ((try? answer.iccData()) ?? nil)?.value(.issuerAuthenticationData).map(Hex.encode))
    }

    static func printableASCII(_ c: Character) -> Bool { c.isASCII && (c.asciiValue ?? 0) >= 0x20 && (c.asciiValue ?? 0) < 0x7F }

    /// The 0100 the merchant's acquirer would have sent for this code: a fresh STAN at
    /// random (the duplicate key is acquirer, terminal, STAN and transmission time).
    static func message(token: String, expiry: String, amountMinor: Int64, currency: Currency, qr: MerchantQR, acquirer: String,
                        merchant: String, terminal: String, chip: [TLV], at: Date) -> Message {
        var m = Message(mti: "0100")
        m.set(2, token)
        m.set(3, "000000")
        m.set(4, String(format: "%012lld", amountMinor))
        m.set(7, format(at, "MMddHHmmss"))
        let stan = String(format: "%06d", Int.random(in: 1...999_999))
        m.set(11, stan)
        m.set(12, format(at, "HHmmss"))
        m.set(13, format(at, "MMdd"))
        m.set(14, expiry)
        m.set(18, qr.merchantCategoryCode)
        m.set(22, entryMode)
        m.set(32, acquirer)
        m.set(37, String(format(at, "yyDDD").suffix(4)) + stan + "00")
        m.set(41, terminal.padding(toLength: 8, withPad: " ", startingAt: 0))
        m.set(42, merchant.padding(toLength: 15, withPad: " ", startingAt: 0))
        // Name (25), city (13), country (2), in the Latin letters field 43 takes.
        func latin(_ text: String, _ width: Int) -> String {
            String(text.filter(printableASCII).prefix(width)).padding(toLength: width, withPad: " ", startingAt: 0)
        }
        let name = qr.merchantName.allSatisfy(printableASCII) ? qr.merchantName : merchant
        m.set(43, latin(name, 25) + latin(qr.merchantCity, 13) + latin(qr.country, 2))
        m.set(49, currency.numeric)
        try? m.setICCData(chip)
        return m
    }

    static func format(_ date: Date, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .gmt
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }
}
