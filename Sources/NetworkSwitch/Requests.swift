import EMV
import Foundation
import ISO8583

/// What an acquirer sent, parsed once at the edge: each field the network uses is read
/// and checked here, and the pipeline works on these types. A message that does not
/// parse is a `RequestFormatError` naming the field, answered 30.
public enum NetworkRequest: Sendable {
    case authorization(AuthorizationRequest)
    case reversal(ReversalRequest)
    case networkManagement(NetworkManagementRequest)

    /// The request in `message`, or the first field that makes it unusable (field 0 for an
    /// MTI the network does not take). A repeat (0101, 0201, 0401, 0421) is read as the
    /// message it repeats: the same key and bytes, so it gets that message's answer (or is
    /// worked out, when the original never arrived), with the original's answer MTI.
    public static func parse(_ received: Message) -> Result<NetworkRequest, RequestFormatError> {
        var message = received
        message.mti = MessageType.original(of: received.mti)
        do {
            switch message.mti {
            case "0100", "0200": return .success(.authorization(try AuthorizationRequest(message)))
            case "0400", "0420": return .success(.reversal(try ReversalRequest(message)))
            case "0800": return .success(.networkManagement(try NetworkManagementRequest(message)))
            default: return .failure(RequestFormatError(field: 0, reason: "message type \(message.mti) not supported"))
            }
        } catch {
            return .failure(error)
        }
    }
}

/// Why a message could not be parsed: the field (0 for the MTI) and what it must be.
public struct RequestFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: Int
    public var reason: String
    public init(field: Int, reason: String) { self.field = field; self.reason = reason }
    public var description: String { field == 0 ? reason : "field \(field): \(reason)" }
}

/// An 0100 (authorization, dual message) or 0200 (financial: ATM cash, single message).
public struct AuthorizationRequest: Sendable {
    /// The message as received: its fields travel on to the issuer and back in the answer.
    public let message: Message
    public let key: AuthorizationKey
    /// Field 2: the token (a card number here is declined with 57).
    public let number: PAN
    /// Field 3.
    public let processingCode: String
    /// Field 4.
    public let amountMinor: Int64
    /// Field 49.
    public let currency: Currency
    /// Field 14, YYMM.
    public let expiry: String
    /// Field 22.
    public let entryMode: String
    /// Field 55, when present.
    public let chipData: [TLV]?

    static let mandatory = [2, 3, 4, 7, 11, 14, 22, 32, 41, 49]

    init(_ m: Message) throws(RequestFormatError) {
        let f = FieldReader(m)
        try f.require(Self.mandatory)
        let common = try f.financialFields()
        (processingCode, amountMinor, number, currency, key) = (common.processingCode, common.amountMinor, common.number, common.currency, common.key)
        expiry = try f.expiry(14)
        entryMode = try f.text(22)
        do { chipData = try m.iccData() } catch { throw RequestFormatError(field: 55, reason: "\(error)") }
        message = m
    }
}

/// An 0400 (reversal) or 0420 (reversal advice): field 90 names the original.
public struct ReversalRequest: Sendable {
    public let message: Message
    public let key: AuthorizationKey
    /// The original's key: this message's acquirer and terminal, field 90's STAN and time.
    public let original: AuthorizationKey
    public let originalData: OriginalDataElements
    /// Field 2: the token of the original.
    public let number: PAN
    public let processingCode: String
    public let amountMinor: Int64
    public let currency: Currency

    static let mandatory = [2, 3, 4, 7, 11, 32, 41, 49, 90]

    init(_ m: Message) throws(RequestFormatError) {
        let f = FieldReader(m)
        try f.require(Self.mandatory)
        let common = try f.financialFields()
        (processingCode, amountMinor, number, currency, key) = (common.processingCode, common.amountMinor, common.number, common.currency, common.key)
        guard let original = m.string(90).flatMap(OriginalDataElements.init(field90:)) else {
            throw RequestFormatError(field: 90, reason: "original data elements: MTI, STAN, transmission time, acquirer, forwarding institution (42 digits)")
        }
        originalData = original
        self.original = AuthorizationKey(acquirer: key.acquirer, terminal: key.terminal, stan: original.stan, transmission: original.transmission)
        message = m
    }
}

/// An 0800: sign-on, sign-off or echo (field 70).
public struct NetworkManagementRequest: Sendable {
    /// Field 70, network management information code.
    public enum Code: String, Sendable {
        case signOn = "001"
        case signOff = "002"
        case echo = "301"
    }
    public let message: Message
    public let code: Code

    static let mandatory = [7, 11, 70]

    init(_ m: Message) throws(RequestFormatError) {
        try FieldReader(m).require(Self.mandatory)
        guard let code = m.string(70).flatMap(Code.init(rawValue:)) else {
            throw RequestFormatError(field: 70, reason: "001 sign-on, 002 sign-off or 301 echo")
        }
        self.code = code
        message = m
    }
}

/// Reads the fields of one message, each with the reason it names when it is wrong.
struct FieldReader {
    let m: Message
    init(_ m: Message) { self.m = m }

    /// What every authorization and reversal carries: processing code (3), amount (4),
    /// the key (32, 41, 11, 7), the number (2) and the currency (49).
    func financialFields() throws(RequestFormatError)
        -> (processingCode: String, amountMinor: Int64, number: PAN, currency: Currency, key: AuthorizationKey) {
        let processingCode = try digits(3, count: 6, "processing code: 6 digits")
        let amountMinor = try amount(4)
        let transmission = try transmission(7)
        let stan = try digits(11, count: 6, "STAN: 6 digits")
        let number = try pan(2)
        let currency = try currency(49)
        let terminal = try terminal(41)
        let key = AuthorizationKey(acquirer: try text(32), terminal: terminal, stan: stan, transmission: transmission)
        return (processingCode, amountMinor, number, currency, key)
    }

    func require(_ fields: [Int]) throws(RequestFormatError) {
        for f in fields where m[f] == nil { throw RequestFormatError(field: f, reason: "mandatory field missing") }
    }

    func text(_ f: Int) throws(RequestFormatError) -> String {
        guard let s = m.string(f) else { throw RequestFormatError(field: f, reason: "mandatory field missing") }
        return s
    }

    static func allDigits(_ s: String) -> Bool { s.utf8.allSatisfy { (0x30...0x39).contains($0) } }

    func digits(_ f: Int, count: Int, _ reason: String) throws(RequestFormatError) -> String {
        let s = try text(f)
        guard s.utf8.count == count, Self.allDigits(s) else { throw RequestFormatError(field: f, reason: reason) }
        return s
    }

    func amount(_ f: Int) throws(RequestFormatError) -> Int64 {
        let s = try digits(f, count: 12, "amount: 12 digits, more than zero")
        guard let value = Int64(s), value > 0 else { throw RequestFormatError(field: f, reason: "amount: 12 digits, more than zero") }
        return value
    }

    func transmission(_ f: Int) throws(RequestFormatError) -> String {
        let s = try digits(f, count: 10, "transmission date and time: MMDDhhmmss")
        let d = Array(s.utf8).map { Int($0) - 48 }
        let month = d[0] * 10 + d[1], day = d[2] * 10 + d[3], hour = d[4] * 10 + d[5], minute = d[6] * 10 + d[7], second = d[8] * 10 + d[9]
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else {
            throw RequestFormatError(field: f, reason: "transmission date and time: MMDDhhmmss")
        }
        return s
    }

    func expiry(_ f: Int) throws(RequestFormatError) -> String {
        let s = try digits(f, count: 4, "expiry: YYMM")
        guard let month = Int(s.suffix(2)), (1...12).contains(month) else { throw RequestFormatError(field: f, reason: "expiry: YYMM") }
        return s
    }

    func pan(_ f: Int) throws(RequestFormatError) -> PAN {
        let s = try text(f)
        guard (12...19).contains(s.utf8.count), Self.allDigits(s), let pan = try? PAN(unchecked: s) else {
            throw RequestFormatError(field: f, reason: "primary account number: 12 to 19 digits")
        }
        return pan
    }

    func currency(_ f: Int) throws(RequestFormatError) -> Currency {
        guard let c = Currency.numeric(try text(f)) else { throw RequestFormatError(field: f, reason: "currency: an ISO 4217 numeric code the network knows") }
        return c
    }

    func terminal(_ f: Int) throws(RequestFormatError) -> String {
        let s = try text(f)
        guard !s.trimmingCharacters(in: .whitespaces).isEmpty else { throw RequestFormatError(field: f, reason: "terminal id") }
        return s
    }
}
