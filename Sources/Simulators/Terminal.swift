import EMV
import EMVQR
import Foundation
import ISO8583
import ISO8583Transport
import Logging
import Synchronization

/// A POS terminal or an ATM, and the acquirer behind it: it reads the device with the
/// contactless APDU exchange, builds the 0100 (POS) or 0200 (ATM cash), sends it to the
/// network over ISO 8583/TCP and reads the answer.
public final class Terminal: Sendable {
    public enum Kind: String, Sendable { case pos, atm }

    public struct Profile: Sendable {
        public var kind: Kind
        /// Field 41, eight characters.
        public var terminalID: String
        /// Field 42, fifteen characters.
        public var merchantID: String
        /// Field 32, the acquiring institution.
        public var acquirerID: String
        /// Field 43: name and location, 40 characters.
        public var nameLocation: String
        /// ISO 3166-1 numeric (9F1A).
        public var country: UInt16
        public var currency: Currency
        /// Field 18.
        public var merchantCategory: String

        public init(kind: Kind, terminalID: String, merchantID: String, acquirerID: String, nameLocation: String, country: UInt16,
                    currency: Currency, merchantCategory: String? = nil) {
            self.kind = kind; self.terminalID = terminalID; self.merchantID = merchantID; self.acquirerID = acquirerID
            self.nameLocation = nameLocation; self.country = country; self.currency = currency
            self.merchantCategory = merchantCategory ?? (kind == .atm ? "6011" : "5411")
        }
    }

    public let profile: Profile
    let client: ISO8583Client
    let stan = Atomic<Int>(Int.random(in: 0..<900_000))
    let now: @Sendable () -> Date

    public init(_ profile: Profile, network: ISO8583Client, now: @escaping @Sendable () -> Date = Date.init) {
        self.profile = profile
        self.client = network
        self.now = now
    }

    public enum ReadError: Error, Equatable, CustomStringConvertible {
        case card(String, StatusWord)
        case malformed(String)
        public var description: String {
            switch self {
            case .card(let step, let sw): "the device answered \(sw) to \(step)"
            case .malformed(let what): "the device's answer is malformed: \(what)"
            }
        }
    }

    /// What the terminal read from the device.
    public struct CardRead: Sendable {
        public var tokenNumber: String
        public var expiry: String
        public var chipData: [TLV]
    }

    /// The contactless exchange: SELECT PPSE, SELECT AID, GET PROCESSING OPTIONS with the
    /// PDOL data, READ RECORD. `exchange` carries each command to the device.
    public func read(amountMinor: Int64, transactionType: UInt8, unpredictable: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) },
                     exchange: (CommandAPDU) -> ResponseAPDU) throws(ReadError) -> CardRead {
        let ppse = exchange(.select(name: CommandAPDU.ppseName))
        guard ppse.status == .success else { throw .card("SELECT PPSE", ppse.status) }
        guard let entries = try? BERTLV.decode(ppse.data), let aid = entries.value(.applicationIdentifierCard) else { throw .malformed("PPSE without an AID") }
        let select = exchange(.select(name: aid))
        guard select.status == .success else { throw .card("SELECT AID", select.status) }
        guard let fci = try? BERTLV.decode(select.data), let pdol = fci.value(.pdol) else { throw .malformed("FCI without a PDOL") }

        let date = Self.format(now(), "yyMMdd")
        let terminalData: [Tag: [UInt8]] = [
            .amountAuthorised: bcd(UInt64(amountMinor), digits: 12), .amountOther: bcd(0, digits: 12),
            .terminalCountryCode: bcd(UInt64(profile.country), digits: 4), .terminalVerificationResults: [0, 0, 0, 0, 0],
            .transactionCurrencyCode: bcd(UInt64(profile.currency.numeric)!, digits: 4), .transactionDate: (try? Hex.decode(date)) ?? [],
            .transactionType: [transactionType], .unpredictableNumber: unpredictable,
        ]
        // Fill the PDOL as the card asked: each tag its length, zeros for what the terminal does not know.
        var pdolData: [UInt8] = []
        var used: [TLV] = []
        var i = 0
        while i < pdol.count {
            var tagBytes = [pdol[i]]
            if pdol[i] & 0x1F == 0x1F { repeat { i += 1; guard i < pdol.count else { throw .malformed("PDOL") }; tagBytes.append(pdol[i]) } while pdol[i] & 0x80 != 0 }
            i += 1
            guard i < pdol.count else { throw .malformed("PDOL") }
            let length = Int(pdol[i]); i += 1
            let tag = Tag(tagBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            var value = terminalData[tag] ?? []
            value = value.count >= length ? Array(value.suffix(length)) : [UInt8](repeating: 0, count: length - value.count) + value
            pdolData += value
            used.append(TLV(tag, value))
        }
        let gpo = exchange(.getProcessingOptions(pdolData: pdolData))
        guard gpo.status == .success else { throw .card("GET PROCESSING OPTIONS", gpo.status) }
        guard let template = try? BERTLV.decode(gpo.data) else { throw .malformed("GPO response") }
        let record = exchange(.readRecord(1, sfi: 1))
        guard record.status == .success else { throw .card("READ RECORD", record.status) }
        guard let records = try? BERTLV.decode(record.data), let pan = records.value(.pan),
              let expiry = records.value(.applicationExpirationDate), expiry.count == 3 else { throw .malformed("record without PAN or expiry") }

        var chip = used
        for tag in [Tag.applicationInterchangeProfile, .applicationTransactionCounter, .applicationCryptogram, .cryptogramInformationData,
                    .issuerApplicationData] {
            guard let value = template.value(tag) else { throw .malformed("GPO response without \(tag.hex)") }
            chip.append(TLV(tag, value))
        }
        chip.append(TLV(.panSequenceNumber, records.value(.panSequenceNumber) ?? [0]))
        chip.append(TLV(.dedicatedFileName, aid))
        let number = Hex.encode(pan).trimmingCharacters(in: ["F"])
        return CardRead(tokenNumber: number, expiry: String(Hex.encode(expiry).prefix(4)), chipData: chip)
    }

    /// A consumer-presented QR code read by the terminal's scanner (EMV QRCPS, base64
    /// BER-TLV): the token and expiry from its track 2 equivalent data, the chip data from
    /// its template 63 with the AID and PAN sequence number.
    public static func read(consumerQR payload: String) throws -> CardRead {
        let code = try ConsumerQR(payload: payload)
        let track2 = try Track2EquivalentData(bytes: code.track2)
        return CardRead(tokenNumber: track2.pan.digits, expiry: track2.expiry,
                        chipData: code.cryptogramData + [TLV(.panSequenceNumber, [code.panSequenceNumber]), TLV(.dedicatedFileName, code.aid)])
    }

    /// The authorization request for what was read: 0100 at a POS, 0200 (cash) at an ATM;
    /// entry mode 071 (contactless) or 031 (a QR code).
    public func request(for card: CardRead, amountMinor: Int64, entryMode: String = "071") -> Message {
        let at = now()
        var m = Message(mti: profile.kind == .atm ? "0200" : "0100")
        m.set(2, card.tokenNumber)
        m.set(3, profile.kind == .atm ? "011000" : "000000")
        m.set(4, String(format: "%012lld", amountMinor))
        m.set(7, Self.format(at, "MMddHHmmss"))
        let (n, _) = stan.wrappingAdd(1, ordering: .relaxed)
        m.set(11, String(format: "%06d", n % 1_000_000))
        m.set(12, Self.format(at, "HHmmss"))
        m.set(13, Self.format(at, "MMdd"))
        m.set(14, card.expiry)
        m.set(18, profile.merchantCategory)
        m.set(22, entryMode)
        m.set(32, profile.acquirerID)
        m.set(37, String(Self.format(at, "yyDDD").suffix(4)) + m.string(11)! + "00")
        m.set(41, profile.terminalID)
        m.set(42, profile.merchantID)
        m.set(43, profile.nameLocation.padding(toLength: 40, withPad: " ", startingAt: 0))
        m.set(49, profile.currency.numeric)
        try? m.setICCData(card.chipData)
        return m
    }

    /// The answer as the terminal reads it.
    public struct Outcome: Sendable {
        public var request: Message
        public var answer: Message
        public var responseCode: String { answer.string(39) ?? "??" }
        public var approved: Bool { answer.responseCode?.isApproval ?? false }
        /// Tag 91 from field 55: ARPC ‖ ARC.
        public var issuerAuthenticationData: [UInt8]? { (try? answer.iccData())??.value(.issuerAuthenticationData) }
    }

    /// Tap: read the device, send to the network, wait for the answer.
    public func tap(amountMinor: Int64, exchange: (CommandAPDU) -> ResponseAPDU) async throws -> Outcome {
        let card = try read(amountMinor: amountMinor, transactionType: profile.kind == .atm ? 0x01 : 0x00, exchange: exchange)
        return try await send(request(for: card, amountMinor: amountMinor))
    }

    public func send(_ request: Message) async throws -> Outcome {
        Outcome(request: request, answer: try await client.send(request))
    }

    static func format(_ date: Date, _ pattern: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = pattern
        return f.string(from: date)
    }
}
