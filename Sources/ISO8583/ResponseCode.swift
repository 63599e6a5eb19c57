/// Field 39, the response code (ISO 8583:1987, two alphanumeric characters): what every
/// participant of Passway answers with, the network, the bundled bank and the
/// simulators alike, from this one table.
///
/// A struct, not a closed enum: a bank's own host may answer a code this table does not
/// name, and the network passes it on to the acquirer as it came (`init?(_:)` only
/// checks its shape). `meaning` says what each named code is for people.
public struct ResponseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        let bytes = Array(rawValue.utf8)
        guard bytes.count == 2, bytes.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) }) else { return nil }
        self.rawValue = rawValue
    }

    /// A code from field 39 as received: two digits or upper-case letters, else nil.
    public init?(_ text: String) { self.init(rawValue: text) }

    private init(known: String) { rawValue = known }

    public var description: String { rawValue }

    /// Approved (the only code that places a hold).
    public var isApproval: Bool { self == .approved }

    public static let approved = ResponseCode(known: "00")
    public static let referToCardIssuer = ResponseCode(known: "01")
    public static let invalidMerchant = ResponseCode(known: "03")
    public static let pickUpCard = ResponseCode(known: "04")
    public static let doNotHonour = ResponseCode(known: "05")
    public static let invalidTransaction = ResponseCode(known: "12")
    public static let invalidAmount = ResponseCode(known: "13")
    public static let invalidCardNumber = ResponseCode(known: "14")
    /// Unable to locate the record: a reversal whose original the network never saw.
    public static let originalNotFound = ResponseCode(known: "25")
    public static let formatError = ResponseCode(known: "30")
    public static let lostCard = ResponseCode(known: "41")
    public static let stolenCard = ResponseCode(known: "43")
    public static let insufficientFunds = ResponseCode(known: "51")
    public static let expiredCard = ResponseCode(known: "54")
    public static let incorrectPIN = ResponseCode(known: "55")
    public static let transactionNotPermittedToCardholder = ResponseCode(known: "57")
    public static let transactionNotPermittedToTerminal = ResponseCode(known: "58")
    public static let exceedsAmountLimit = ResponseCode(known: "61")
    public static let restrictedCard = ResponseCode(known: "62")
    public static let securityViolation = ResponseCode(known: "63")
    public static let exceedsFrequencyLimit = ResponseCode(known: "65")
    public static let pinTriesExceeded = ResponseCode(known: "75")
    public static let issuerUnavailable = ResponseCode(known: "91")
    public static let duplicateTransmission = ResponseCode(known: "94")
    public static let systemMalfunction = ResponseCode(known: "96")

    /// Every code this table names, with what it means.
    public static let table: [(code: ResponseCode, meaning: String)] = [
        (.approved, "approved"),
        (.referToCardIssuer, "refer to card issuer"),
        (.invalidMerchant, "invalid merchant"),
        (.pickUpCard, "pick up card"),
        (.doNotHonour, "do not honour"),
        (.invalidTransaction, "invalid transaction"),
        (.invalidAmount, "invalid amount"),
        (.invalidCardNumber, "invalid card number"),
        (.originalNotFound, "original not found"),
        (.formatError, "format error"),
        (.lostCard, "lost card"),
        (.stolenCard, "stolen card"),
        (.insufficientFunds, "insufficient funds"),
        (.expiredCard, "expired card"),
        (.incorrectPIN, "incorrect PIN"),
        (.transactionNotPermittedToCardholder, "not permitted"),
        (.transactionNotPermittedToTerminal, "not permitted at this terminal"),
        (.exceedsAmountLimit, "over the limit"),
        (.restrictedCard, "restricted card"),
        (.securityViolation, "security violation"),
        (.exceedsFrequencyLimit, "too many transactions"),
        (.pinTriesExceeded, "PIN tries exceeded"),
        (.issuerUnavailable, "issuer unavailable"),
        (.duplicateTransmission, "duplicate transmission"),
        (.systemMalfunction, "system malfunction"),
    ]

    /// What the code means, for people ("declined" for a code the table does not name).
    public var meaning: String { Self.table.first { $0.code == self }?.meaning ?? "declined" }
}

extension Message {
    /// Field 39 as a response code, when present and well formed.
    public var responseCode: ResponseCode? { string(39).flatMap { ResponseCode(rawValue: $0) } }
}

extension ResponseCode: Codable {}
