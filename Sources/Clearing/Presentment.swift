import Foundation
import ISO8583

/// A first presentment (1240, function code 200) as an acquirer's clearing file carries
/// it: what the merchant was finally owed for one authorization. The token number is
/// held in memory only: what is kept is the token's id and its masked number.
public struct Presentment: Sendable, Equatable {
    /// DE 71: the record's number in its file (1 for the header).
    public var messageNumber: Int
    /// DE 2: the token (or card) number.
    public var number: String
    /// DE 3: the first two digits, 00 goods and services, 01 cash.
    public var processingCode: String
    /// DE 4, in minor units of `currency`.
    public var amountMinor: Int64
    /// DE 49.
    public var currency: Currency
    /// DE 12: the transaction's local date and time, YYMMDDhhmmss.
    public var localTime: String
    /// DE 31: the acquirer reference number (23 digits), unique per acquirer.
    public var acquirerReference: String
    /// DE 26: the merchant category code.
    public var mcc: String
    /// DE 38: the approval code the authorization was answered with.
    public var approvalCode: String
    /// DE 32: the acquiring institution, as in the authorization's field 32.
    public var acquirerInstitution: String
    /// DE 41 and 42, when present.
    public var terminal: String?
    public var merchant: String?
    /// DE 63, the transaction life cycle ID, when present: the authorization's field 11
    /// (STAN) and field 7 (transmission date and time, MMDDhhmmss), 16 digits. With it the
    /// presentment names its authorization exactly; without it, two approvals of one token
    /// that drew the same approval code are told apart only by age.
    public var lifeCycleID: String?

    /// The elements a first presentment must carry.
    public static let mandatory = [2, 3, 4, 12, 24, 26, 31, 32, 38, 49, 71]

    /// Reads a 1240 record; a record that is not a first presentment, or lacks or garbles
    /// an element, is a `Reject` naming it.
    public init(_ m: IPMMessage) throws(Reject) {
        guard m.mti == "1240" else { throw Reject(.notAPresentment, detail: "MTI \(m.mti)") }
        for n in Self.mandatory where m.fields[n] == nil { throw Reject(.format, element: n, detail: "DE \(n) is missing") }
        func text(_ n: Int) -> String { m[n] ?? "" }
        func digits(_ n: Int, _ count: ClosedRange<Int>) throws(Reject) -> String {
            let v = text(n)
            guard count.contains(v.utf8.count), v.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                throw Reject(.format, element: n, detail: "DE \(n) must be \(count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound)–\(count.upperBound)") digits")
            }
            return v
        }
        guard text(24) == "200" else { throw Reject(.notAPresentment, element: 24, detail: "function code \(text(24)): only first presentments (200) are taken") }
        guard let number = Int(try digits(71, 1...8)) else { throw Reject(.format, element: 71) }
        messageNumber = number
        self.number = try digits(2, 12...19)
        processingCode = try digits(3, 6...6)
        guard let amount = Int64(try digits(4, 12...12)), amount > 0 else { throw Reject(.format, element: 4, detail: "DE 4 must be a positive amount") }
        amountMinor = amount
        guard let currency = Currency.numeric(try digits(49, 3...3)) else { throw Reject(.format, element: 49, detail: "DE 49 is not an ISO 4217 currency") }
        self.currency = currency
        localTime = try digits(12, 12...12)
        acquirerReference = try digits(31, 23...23)
        mcc = try digits(26, 4...4)
        approvalCode = text(38)
        guard approvalCode.utf8.count == 6, approvalCode.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw Reject(.format, element: 38, detail: "DE 38 must be six characters")
        }
        acquirerInstitution = try digits(32, 1...11)
        terminal = m[41]
        merchant = m[42]
        lifeCycleID = m.fields[63] == nil ? nil : try digits(63, 16...16)
    }

    /// The record as an acquirer writes it.
    public var message: IPMMessage {
        var m = IPMMessage(mti: "1240")
        m[2] = number; m[3] = processingCode; m[4] = String(amountMinor).leftPadded(to: 12); m[12] = localTime; m[24] = "200"
        m[26] = mcc; m[31] = acquirerReference; m[32] = acquirerInstitution; m[38] = approvalCode; m[49] = currency.numeric
        m[71] = String(messageNumber).leftPadded(to: 8)
        if let terminal { m[41] = terminal }
        if let merchant { m[42] = merchant }
        if let lifeCycleID { m[63] = lifeCycleID }
        return m
    }

    /// The first presentment an acquirer makes of an authorization it was approved for:
    /// the token from the answer's field 2 and approval code from its 38; processing code,
    /// amount (unless `amountMinor` says otherwise: a tip), currency, merchant category
    /// (field 18, else 5411), institution, terminal, merchant and life cycle ID (fields 11
    /// and 7) from the request. Nil when the pair lacks one of them.
    public init?(approved request: Message, answer: Message, messageNumber: Int, acquirerReference: String, localTime: String,
                 amountMinor: Int64? = nil) {
        guard let number = answer.string(2), let approval = answer.string(38), let currency = Currency.numeric(request.string(49) ?? ""),
              let authorized = Int64(request.string(4) ?? ""), let institution = request.string(32) else { return nil }
        self.init(messageNumber: messageNumber, number: number, processingCode: request.string(3) ?? "000000", amountMinor: amountMinor ?? authorized,
                  currency: currency, localTime: localTime, acquirerReference: acquirerReference, mcc: request.string(18) ?? "5411",
                  approvalCode: approval, acquirerInstitution: institution, terminal: request.string(41), merchant: request.string(42),
                  lifeCycleID: request.string(11).flatMap { stan in request.string(7).map { stan + $0 } }.flatMap { id in
                      id.utf8.count == 16 && id.utf8.allSatisfy { (0x30...0x39).contains($0) } ? id : nil
                  })
    }

    public init(messageNumber: Int, number: String, processingCode: String, amountMinor: Int64, currency: Currency, localTime: String,
                acquirerReference: String, mcc: String, approvalCode: String, acquirerInstitution: String, terminal: String? = nil,
                merchant: String? = nil, lifeCycleID: String? = nil) {
        self.messageNumber = messageNumber; self.number = number; self.processingCode = processingCode; self.amountMinor = amountMinor
        self.currency = currency; self.localTime = localTime; self.acquirerReference = acquirerReference; self.mcc = mcc
        self.approvalCode = approvalCode; self.acquirerInstitution = acquirerInstitution; self.terminal = terminal; self.merchant = merchant
        self.lifeCycleID = lifeCycleID
    }
}

/// Why a record of a clearing file was not taken: a stable four-digit code (carried in
/// the reject file's PDS 0005), the element at fault when there is one, and words.
public struct Reject: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Reason: String, Sendable, Codable, CaseIterable {
        /// An element is missing or not as the layout says.
        case format = "0101"
        /// Not a first presentment (another MTI or function code).
        case notAPresentment = "0102"
        /// The same acquirer reference (DE 31) twice in the file, or already accepted before.
        case duplicateReference = "0103"
        /// DE 2 is no token of this network.
        case unknownNumber = "0201"
        /// No approved authorization of this token, approval code and acquirer.
        case noAuthorization = "0202"
        /// The authorization was reversed: there is nothing to clear.
        case reversed = "0203"
        /// The authorization is cleared already (a second presentment of it).
        case alreadyCleared = "0204"
        /// Presented after the presentment window (the issuer's hold has lapsed).
        case late = "0205"
        /// DE 49 is not the authorization's currency.
        case currencyMismatch = "0206"
        /// DE 4 is above the authorized amount by more than the merchant category allows.
        case amountAboveAuthorized = "0207"
        /// An ATM withdrawal (0200) is financial already and clears without a presentment.
        case singleMessage = "0208"

        public var text: String {
            switch self {
            case .format: "format error"
            case .notAPresentment: "not a first presentment"
            case .duplicateReference: "acquirer reference already presented"
            case .unknownNumber: "no token has this number"
            case .noAuthorization: "no approved authorization matches"
            case .reversed: "the authorization was reversed"
            case .alreadyCleared: "the authorization is already cleared"
            case .late: "presented after the presentment window"
            case .currencyMismatch: "currency differs from the authorization's"
            case .amountAboveAuthorized: "amount above the authorized amount"
            case .singleMessage: "single-message transaction: cleared without a presentment"
            }
        }
    }

    public var reason: Reason
    /// The data element at fault (0 when none).
    public var element: Int
    public var detail: String

    public init(_ reason: Reason, element: Int = 0, detail: String? = nil) {
        self.reason = reason; self.element = element; self.detail = detail ?? reason.text
    }

    public var description: String { "\(reason.rawValue) \(detail)" }
}
