import Foundation
import IssuerContract

/// A cardholder account at the bundled bank: one card, its balance or credit line,
/// and how the bank can reach its holder.
public struct Account: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case active, blocked, lost, stolen }

    public var id: String
    /// HMAC fingerprint of the card number (the number itself is sealed).
    public var fingerprint: String
    public var sealedPAN: Data
    public var maskedPAN: String
    /// YYMM.
    public var expiry: String
    /// Keyed hash of card number and CVV2.
    public var cvv2Hash: String?
    public var holderName: String
    /// E.164, for one-time codes by SMS; nil when the bank has no number on file.
    public var phone: String?
    /// Whether the holder uses the bank's app (codes can go there).
    public var bankApp: Bool
    /// ISO 4217 alpha-3 and the amounts in its minor units.
    public var currency: String
    public var balanceMinor: Int64
    public var creditLimitMinor: Int64
    public var dailyLimitMinor: Int64
    public var status: Status

    /// The largest balance, credit line or daily limit an account takes, in minor units
    /// (15 digits: ten trillion roubles). Sums of such amounts and of holds (12 digits
    /// each, as field 4 carries them) stay far inside `Int64`.
    public static let maxAmountMinor: Int64 = 999_999_999_999_999

    /// Whether the stored amounts are ones `openAccount` accepts: a row that is not is
    /// refused and alarmed about, never computed with.
    var amountsInRange: Bool {
        [balanceMinor, creditLimitMinor, dailyLimitMinor].allSatisfy { (0...Self.maxAmountMinor).contains($0) }
    }
}

/// Money arithmetic on minor units that cannot trap: nil when the result does not fit.
enum Minor {
    static func sum(_ a: Int64, _ b: Int64) -> Int64? {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : r
    }

    static func difference(_ a: Int64, _ b: Int64) -> Int64? {
        let (r, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? nil : r
    }
}

/// The bank's ID&V policy, set by its operator: how much wallet-assessed risk passes,
/// which device kinds need a one-time code, whether a known phone number is required,
/// and how many failed attempts lock a card or a wallet out, for how long. The wallet's
/// risk score is one input: a card with a failed attempt in the lockout window is always
/// asked for a code, whatever the score.
public struct IDVRules: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case declineRiskAbove, stepUpRiskAbove, stepUpDeviceKinds, requireKnownPhone, maxFailuresPerCard, maxFailuresPerWallet, lockoutMinutes
    }

    /// Risk score (0–99) above which the bank declines.
    public var declineRiskAbove: Int
    /// Risk score above which the bank asks for a one-time code.
    public var stepUpRiskAbove: Int
    /// Device kinds that always need a one-time code.
    public var stepUpDeviceKinds: [DeviceKind]
    /// Whether a card can only be added when the bank knows the holder's phone number.
    public var requireKnownPhone: Bool
    /// Failed attempts (card details that do not match) after which a card is refused
    /// for `lockoutMinutes`.
    public var maxFailuresPerCard: Int
    /// Failed attempts from one wallet (unknown cards included) after which that wallet's
    /// requests are refused for `lockoutMinutes`.
    public var maxFailuresPerWallet: Int
    /// How long failed attempts count, and so how long a lockout lasts.
    public var lockoutMinutes: Int

    public init(declineRiskAbove: Int = 80, stepUpRiskAbove: Int = 40, stepUpDeviceKinds: [DeviceKind] = [.watch], requireKnownPhone: Bool = false,
                maxFailuresPerCard: Int = 5, maxFailuresPerWallet: Int = 20, lockoutMinutes: Int = 60) {
        self.declineRiskAbove = declineRiskAbove; self.stepUpRiskAbove = stepUpRiskAbove
        self.stepUpDeviceKinds = stepUpDeviceKinds; self.requireKnownPhone = requireKnownPhone
        self.maxFailuresPerCard = maxFailuresPerCard; self.maxFailuresPerWallet = maxFailuresPerWallet; self.lockoutMinutes = lockoutMinutes
    }

    /// The lockout settings may be left out (rules stored before them, or set without them).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let standard = IDVRules()
        self.init(declineRiskAbove: try c.decode(Int.self, forKey: .declineRiskAbove), stepUpRiskAbove: try c.decode(Int.self, forKey: .stepUpRiskAbove),
                  stepUpDeviceKinds: try c.decode([DeviceKind].self, forKey: .stepUpDeviceKinds),
                  requireKnownPhone: try c.decode(Bool.self, forKey: .requireKnownPhone),
                  maxFailuresPerCard: try c.decodeIfPresent(Int.self, forKey: .maxFailuresPerCard) ?? standard.maxFailuresPerCard,
                  maxFailuresPerWallet: try c.decodeIfPresent(Int.self, forKey: .maxFailuresPerWallet) ?? standard.maxFailuresPerWallet,
                  lockoutMinutes: try c.decodeIfPresent(Int.self, forKey: .lockoutMinutes) ?? standard.lockoutMinutes)
    }

    public static let standard = IDVRules()
}

/// A message the bank sent to a cardholder (SMS or app push), kept in its outbox.
public struct OutboxMessage: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var channel: VerificationMethod.Channel
    /// Masked: the outbox is read by people.
    public var destination: String
    public var maskedPAN: String
    public var text: String
    /// The one-time code itself, so that a test (or a person at the demo) can type it.
    public var code: String?
    /// At rest, `text` and `code` are kept only here, sealed under the bank's data key
    /// (the stored message has them empty); the bank's API opens them for its operator.
    public var sealed: Data?
}

/// A token notification from the token service, as the bank received it (once: a repeat
/// of one received before is not kept again).
public struct ReceivedNotification: Codable, Sendable, Equatable {
    /// The token service's id for it (nil in notifications kept before ids were sent).
    public var id: String?
    public var at: Date
    public var tokenID: String
    public var maskedToken: String
    public var maskedPAN: String
    public var event: TokenNotification.Event
    public var status: TokenStatus
    public var reason: String?
}

// The issuer host's own API (`/banks/...`), used by its operator, the command line and
// the tests.

/// `POST /banks`: a bank and the card ranges (BINs, 6 to 11 digits) it issues from. The
/// ISO 8583 listener routes a card number to the bank whose range is its longest prefix.
public struct NewBank: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case id, cardRanges }
    public var id: String
    public var cardRanges: [String]
    public init(id: String, cardRanges: [String]) { self.id = id; self.cardRanges = cardRanges }
}

/// A bank as its operator sees it.
public struct BankView: Codable, Sendable, Equatable {
    public var id: String
    public var cardRanges: [String]
    public init(id: String, cardRanges: [String]) { self.id = id; self.cardRanges = cardRanges }
}

/// What `POST /banks` (and a rotation, `POST /banks/{bank}/credentials`) answers: the bank
/// and its credentials, shown this once.
public struct CreatedBank: Codable, Sendable, Equatable {
    public var id: String
    public var cardRanges: [String]
    /// The bank operator's key: `Authorization: Bearer pwb_…`.
    public var apiKey: String
    /// 64 hex digits, for the network: the issuer's `hostKey` at onboarding.
    public var tokenServiceKey: String

    public init(id: String, cardRanges: [String], credentials: BankCredentials) {
        self.id = id; self.cardRanges = cardRanges; apiKey = credentials.apiKey; tokenServiceKey = credentials.tokenServiceKey
    }
}

/// `POST /banks/{bank}/accounts/bulk`.
public struct NewAccounts: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case accounts }
    public var accounts: [NewAccount]
    public init(accounts: [NewAccount]) { self.accounts = accounts }
}

/// An account as the bank's operator sees it: the card number masked.
public struct AccountView: Codable, Sendable, Equatable {
    public var id: String
    public var maskedPAN: String
    public var expiry: String
    public var holderName: String
    public var currency: String
    public var balanceMinor: Int64
    public var creditLimitMinor: Int64
    public var status: Account.Status
    /// Balance and credit line less the holds of approved authorizations; null when the
    /// account's stored amounts do not add up (an alarm is raised, its authorizations refused).
    public var availableMinor: Int64?

    public init(_ a: Account, availableMinor: Int64?) {
        id = a.id; maskedPAN = a.maskedPAN; expiry = a.expiry; holderName = a.holderName; currency = a.currency
        balanceMinor = a.balanceMinor; creditLimitMinor = a.creditLimitMinor; status = a.status
        self.availableMinor = availableMinor
    }
}

/// `POST /banks/{bank}/accounts`: a card and its account.
public struct NewAccount: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case pan, expiry, cvv2, holderName, phone, bankApp, currency, balanceMinor, creditLimitMinor, dailyLimitMinor
    }

    public var pan: String
    public var expiry: String
    public var cvv2: String?
    public var holderName: String
    public var phone: String?
    public var bankApp: Bool?
    public var currency: String
    public var balanceMinor: Int64?
    public var creditLimitMinor: Int64?
    public var dailyLimitMinor: Int64?

    public init(pan: String, expiry: String, cvv2: String? = nil, holderName: String, phone: String? = nil, bankApp: Bool? = nil,
                currency: String, balanceMinor: Int64? = nil, creditLimitMinor: Int64? = nil, dailyLimitMinor: Int64? = nil) {
        self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.holderName = holderName; self.phone = phone
        self.bankApp = bankApp; self.currency = currency; self.balanceMinor = balanceMinor
        self.creditLimitMinor = creditLimitMinor; self.dailyLimitMinor = dailyLimitMinor
    }
}
