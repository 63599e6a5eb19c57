import EMV
import Foundation

/// The device's host card emulation applet: what a phone or watch answers when it is
/// held to a terminal (EMV contactless, Book C-style kernel flow, simplified to what
/// Passway's tokens need):
///
///     SELECT PPSE            → FCI listing the Passway AID
///     SELECT AID             → FCI with the PDOL (the terminal data the ARQC covers)
///     GET PROCESSING OPTIONS → AIP, AFL, ATC and the ARQC over the PDOL data ‖ AIP ‖ ATC,
///                              under the single-use key of the next ATC (then gone),
///                              in the token's profile (TDES or SM4)
///     READ RECORD (SFI 1, 1) → track 2 equivalent data, the token as PAN, its expiry
///
/// The PDOL is the Passway CDOL1 without its last two tags (AIP and ATC are the card's
/// own), so the terminal's data and the card's make exactly the CDOL1 the network
/// verifies.
public struct ContactlessApplet: Sendable {
    /// A proprietary AID (RID A000000999 is not registered to anyone).
    public static let aid: [UInt8] = [0xA0, 0x00, 0x00, 0x09, 0x99, 0x10, 0x10]
    public static let label = "PASSWAY"
    public static let aip: [UInt8] = [0x19, 0x80]
    /// Issuer application data: format, key index, cryptogram version, CVR (CDCVM performed).
    public static let issuerApplicationData: [UInt8] = [0x06, 0x01, 0x0A, 0x03, 0xA0, 0x00, 0x00]
    /// 9F02 06, 9F03 06, 9F1A 02, 95 05, 5F2A 02, 9A 03, 9C 01, 9F37 04.
    public static let pdol: [(Tag, Int)] = [(.amountAuthorised, 6), (.amountOther, 6), (.terminalCountryCode, 2), (.terminalVerificationResults, 5),
                                            (.transactionCurrencyCode, 2), (.transactionDate, 3), (.transactionType, 1), (.unpredictableNumber, 4)]
    public static var pdolBytes: [UInt8] {
        pdol.flatMap { tag, length in tag.bytes + [UInt8(length)] }
    }

    /// The token this applet pays with (the wallet's default card).
    public let tokenID: String
    private var selected = false
    private var processed = false

    public init(tokenID: String) { self.tokenID = tokenID }

    /// One command in, one response out. Anything unexpected gets a status word, never a crash.
    public mutating func respond(to command: CommandAPDU, wallet: inout DeviceWallet) -> ResponseAPDU {
        switch (command.cla, command.ins) {
        case (0x00, 0xA4):
            if command.data == CommandAPDU.ppseName {
                selected = false
                let entry = TLV(.directoryEntry, children: [TLV(.applicationIdentifierCard, Self.aid), TLV(.applicationLabel, Array(Self.label.utf8)),
                                                           TLV(.applicationPriorityIndicator, [0x01])])
                let fci = TLV(.fciTemplate, children: [TLV(.dedicatedFileName, CommandAPDU.ppseName),
                                                       TLV(.fciProprietaryTemplate, children: [TLV(.fciIssuerDiscretionaryData, children: [entry])])])
                return ResponseAPDU(data: BERTLV.encode(fci), status: .success)
            }
            guard command.data == Self.aid else { return ResponseAPDU(status: .fileNotFound) }
            selected = true
            processed = false
            let fci = TLV(.fciTemplate, children: [TLV(.dedicatedFileName, Self.aid),
                                                   TLV(.fciProprietaryTemplate, children: [TLV(.applicationLabel, Array(Self.label.utf8)),
                                                                                           TLV(.pdol, Self.pdolBytes)])])
            return ResponseAPDU(data: BERTLV.encode(fci), status: .success)
        case (0x80, 0xA8):
            guard selected else { return ResponseAPDU(status: .conditionsNotSatisfied) }
            guard let objects = try? BERTLV.decode(command.data), let pdolData = objects.value(Tag(0x83)),
                  pdolData.count == Self.pdol.reduce(0, { $0 + $1.1 }) else { return ResponseAPDU(status: .wrongLength) }
            guard let token = wallet.tokens.first(where: { $0.tokenID == tokenID }), token.status == "active",
                  let key = wallet.nextKey(tokenID: tokenID), let sessionKey = try? token.sessionKey(key) else {
                return ResponseAPDU(status: .conditionsNotSatisfied)
            }
            let atc = [UInt8(key.atc >> 8), UInt8(key.atc & 0xFF)]
            let arqc = sessionKey.cryptogram(pdolData + Self.aip + atc)
            processed = true
            let template = TLV(.responseTemplateFormat2, children: [
                TLV(.applicationInterchangeProfile, Self.aip),
                TLV(.applicationFileLocator, [0x08, 0x01, 0x01, 0x00]),
                TLV(.applicationTransactionCounter, atc),
                TLV(.cryptogramInformationData, [0x80]),
                TLV(.applicationCryptogram, arqc),
                TLV(.issuerApplicationData, Self.issuerApplicationData),
                TLV(.cardTransactionQualifiers, [0x00, 0x80]),
            ])
            return ResponseAPDU(data: BERTLV.encode(template), status: .success)
        case (0x00, 0xB2):
            guard selected, processed else { return ResponseAPDU(status: .conditionsNotSatisfied) }
            guard command.p1 == 1, command.p2 == (1 << 3) | 0x04 else { return ResponseAPDU(status: .recordNotFound) }
            guard let token = wallet.tokens.first(where: { $0.tokenID == tokenID }), let pan = try? PAN(token.tokenNumber),
                  let track2 = try? Track2EquivalentData(pan: pan, expiry: token.expiry, serviceCode: "201") else {
                return ResponseAPDU(status: .recordNotFound)
            }
            let panBytes = (try? Hex.decode(pan.digits.count % 2 == 0 ? pan.digits : pan.digits + "F")) ?? []
            let record = TLV(.readRecordTemplate, children: [
                TLV(.track2EquivalentData, track2.bytes),
                TLV(.pan, panBytes),
                TLV(.applicationExpirationDate, (try? Hex.decode(token.expiry + Self.lastDay(of: token.expiry))) ?? []),
                TLV(.panSequenceNumber, [0x00]),
            ])
            return ResponseAPDU(data: BERTLV.encode(record), status: .success)
        case (let cla, _) where cla != 0x00 && cla != 0x80:
            return ResponseAPDU(status: .claNotSupported)
        default:
            return ResponseAPDU(status: .insNotSupported)
        }
    }

    /// Raw bytes in and out, as NFC carries them.
    public mutating func respond(to bytes: [UInt8], wallet: inout DeviceWallet) -> [UInt8] {
        guard let command = try? CommandAPDU(bytes: bytes) else { return ResponseAPDU(status: .wrongLength).bytes }
        return respond(to: command, wallet: &wallet).bytes
    }

    static func lastDay(of yymm: String) -> String {
        guard let yy = Int(yymm.prefix(2)), let mm = Int(yymm.suffix(2)), (1...12).contains(mm) else { return "01" }
        let days = [31, (yy % 4 == 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mm - 1]
        return String(days)
    }
}
