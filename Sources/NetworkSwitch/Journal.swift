import Foundation
import ISO8583

/// What identifies one authorization from an acquirer: the acquiring institution (32),
/// the terminal (41), the STAN (11) and the transmission time (7). The same key again
/// is a duplicate and gets the original answer.
public struct AuthorizationKey: Hashable, Sendable, CustomStringConvertible {
    public var acquirer: String
    public var terminal: String
    public var stan: String
    public var transmission: String

    public init(acquirer: String, terminal: String, stan: String, transmission: String) {
        self.acquirer = acquirer; self.terminal = terminal; self.stan = stan; self.transmission = transmission
    }

    public var description: String { "\(acquirer)/\(terminal)/\(stan)/\(transmission)" }
}

/// One line of the network's journal: what was asked and answered. No clear card or
/// token number: masked numbers, the token id, and the answer with field 2 removed.
public struct JournalEntry: Codable, Sendable, Equatable {
    public var key: String
    /// HMAC of the request bytes: a duplicate must be the same message.
    public var requestDigest: String
    public var mti: String
    public var maskedToken: String?
    public var tokenID: String?
    public var issuerID: String?
    public var maskedPAN: String?
    public var processingCode: String
    public var amountMinor: Int64
    public var currency: String
    public var billingAmountMinor: Int64?
    public var billingCurrency: String?
    public var responseCode: ResponseCode
    public var approvalCode: String?
    public var decidedBy: Decider
    public var reason: String
    /// The packed answer without field 2, to answer a duplicate identically.
    public var answer: Data
    public var at: Date
    /// For a reversal: the key of the authorization it reverses (from field 90).
    public var original: String?
    /// Field 10 when the amount was converted into the card's currency: the rate clearing
    /// converts the presented amount at.
    public var conversionRate: String?

    public init(key: String, requestDigest: String, mti: String, maskedToken: String?, tokenID: String?, issuerID: String?, maskedPAN: String?,
                processingCode: String, amountMinor: Int64, currency: String, billingAmountMinor: Int64?, billingCurrency: String?,
                responseCode: ResponseCode, approvalCode: String?, decidedBy: Decider, reason: String, answer: Data, at: Date) {
        self.key = key; self.requestDigest = requestDigest; self.mti = mti; self.maskedToken = maskedToken; self.tokenID = tokenID
        self.issuerID = issuerID; self.maskedPAN = maskedPAN; self.processingCode = processingCode; self.amountMinor = amountMinor
        self.currency = currency; self.billingAmountMinor = billingAmountMinor; self.billingCurrency = billingCurrency
        self.responseCode = responseCode; self.approvalCode = approvalCode; self.decidedBy = decidedBy; self.reason = reason
        self.answer = answer; self.at = at
    }
}

/// Who decided an authorization or reversal, as the journal records it.
public enum Decider: String, Codable, Sendable, CaseIterable {
    /// The network, before the issuer was asked (a token check, the routing, a conversion).
    case network
    /// The issuer's host.
    case issuer
    /// Nobody: the issuer did not answer in time, and the acquirer was told 91.
    case timeout
    /// The network on the issuer's behalf, by its stand-in rules, while its host was unavailable.
    case standIn = "stand-in"
}

/// The durable record of every authorization. `claim` reserves a key before any work
/// (so that the issuer is asked once, even by two nodes: a unique key in the database),
/// `complete` records the outcome before the acquirer hears it. What is journaled stays:
/// no later message, whatever its key, replaces an answered entry.
///
/// The journal and the store-and-forward queue are one database: an entry and the
/// reversal it owes the issuer are written in one transaction.
public protocol AuthorizationJournal: Sendable {
    func claim(_ key: AuthorizationKey, requestDigest: String, at: Date) async throws -> JournalClaim
    /// `claim`, and when the key is claimed, the token's ATC marked used in the same write:
    /// an authorization has either not started or spent its ATC, and it costs one write,
    /// not two. `atcFresh` is false when the ATC was used before (a replayed cryptogram);
    /// it says nothing unless the key was claimed. `highestSpent` is the token's highest ATC
    /// spent before this one (nil for its first), for the issuer's ATC window. `ifLost`
    /// (sealed) is kept with the claim: the reversal recovery queues should the claim
    /// never be answered (its process died with the issuer perhaps holding the amount).
    func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String,
               ifLost: ReversalIfLost?) async throws -> (claim: JournalClaim, atcFresh: Bool, highestSpent: UInt16?)
    /// Records the answer of a claimed key (or of a key never claimed) and, in the same
    /// transaction, queues `owing` for the issuer (unless a message with its id is queued
    /// already). Throws `JournalError.alreadyAnswered`, and changes nothing, when the key
    /// has an answer.
    func complete(_ entry: JournalEntry, owing: OwedMessage?, standIn: StandInSpend?) async throws
    func entry(_ key: AuthorizationKey) async throws -> JournalEntry?
    /// Claimed and not answered (yet, or ever: its node may have died).
    func isPending(_ key: AuthorizationKey) async throws -> Bool
    /// Claims made before `claimedBefore` that have no answer, oldest first: left by a
    /// process that died between its claim and its answer.
    func unanswered(claimedBefore: Date, limit: Int) async throws -> [UnansweredClaim]
    /// Removes a claim that has no answer (recovery, for a claim that spent nothing); false
    /// when it was answered meanwhile or is gone.
    func forget(unanswered key: String) async throws -> Bool
    /// Answered entries by key, from after `after`, at most `limit`: the operator's view.
    func entries(after: String?, limit: Int) async throws -> [JournalEntry]
}

extension AuthorizationJournal {
    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String) async throws
        -> (claim: JournalClaim, atcFresh: Bool, highestSpent: UInt16?) {
        try await claim(key, requestDigest: requestDigest, at: at, spendingATC: atc, ofToken: tokenID, ifLost: nil)
    }

    public func complete(_ entry: JournalEntry) async throws { try await complete(entry, owing: nil, standIn: nil) }
    public func complete(_ entry: JournalEntry, owing: OwedMessage?) async throws { try await complete(entry, owing: owing, standIn: nil) }
}

/// What a stand-in approval takes from its token's daily stand-in allowance, in the same
/// transaction as its journal entry: one more approval and its amount (in the issuer's
/// billing currency) on the token's UTC day, unless that would pass either limit
/// (`JournalError.standInAllowanceExhausted`, and nothing is written).
public struct StandInSpend: Sendable, Equatable {
    public var tokenID: String
    /// YYYY-MM-DD, UTC.
    public var day: String
    public var amountMinor: Int64
    public var maxCount: Int
    public var maxAmountMinor: Int64
    public init(tokenID: String, day: String, amountMinor: Int64, maxCount: Int, maxAmountMinor: Int64) {
        self.tokenID = tokenID; self.day = day; self.amountMinor = amountMinor; self.maxCount = maxCount; self.maxAmountMinor = maxAmountMinor
    }
}

/// The reversal a claim keeps for recovery: its id in the queue, the issuer, and the 0420
/// (card number included) sealed under the vault's data key with the id as context.
public struct ReversalIfLost: Sendable, Equatable {
    public var id: String
    public var issuerID: String
    public var sealed: Data
    public init(id: String, issuerID: String, sealed: Data) { self.id = id; self.issuerID = issuerID; self.sealed = sealed }
}

/// A claim nobody answered.
public struct UnansweredClaim: Sendable, Equatable {
    public var key: String
    public var requestDigest: String
    public var claimedAt: Date
    /// Present when the claim spent an ATC: the issuer may have been asked.
    public var ifLost: ReversalIfLost?
    public init(key: String, requestDigest: String, claimedAt: Date, ifLost: ReversalIfLost?) {
        self.key = key; self.requestDigest = requestDigest; self.claimedAt = claimedAt; self.ifLost = ifLost
    }
}

public enum JournalClaim: Sendable, Equatable {
    /// The key is new and now reserved for this caller.
    case claimed
    /// Already answered: here is the answer.
    case answered(JournalEntry)
    /// Reserved by another caller that has not answered yet.
    case pending(requestDigest: String)
}

public enum JournalError: Error, Equatable, CustomStringConvertible {
    /// The key was answered before: its entry stands.
    case alreadyAnswered(key: String)
    /// A stand-in approval would pass the token's daily stand-in count (or else amount).
    case standInAllowanceExhausted(countReached: Bool)

    public var description: String {
        switch self {
        case .alreadyAnswered(let key): "\(key) is already answered: its journal entry stands"
        case .standInAllowanceExhausted(let count): "the token's daily stand-in \(count ? "count" : "amount") is reached"
        }
    }
}
