import Foundation

/// The bundled bank's storage seam: its accounts, ID&V rules, outbox, the token
/// notifications it received, and its authorizations (holds, decisions and ledger).
/// `IssuerDatabase` keeps a bank in a SQLite file of its own; `PostgresBankStore` keeps
/// many banks in one PostgreSQL schema, for several nodes. Both pass the same tests.
public protocol BankStore: Sendable {
    func wrappedDataKey() async throws -> Data?
    /// Throws `IssuerHostError.conflict` when a data key is already stored.
    func saveWrappedDataKey(_ wrapped: Data) async throws

    /// A secret of the bank by name (the hash of its API key, its sealed token service key).
    func secret(_ name: String) async throws -> Data?
    /// Stores a secret, replacing the one of that name (a rotation).
    func saveSecret(_ name: String, _ value: Data) async throws
    /// Remembers the nonce of a signed request and forgets those from before
    /// `forgetBefore`. False when it was remembered already: a replay.
    func rememberNonce(_ nonce: String, at: Date, forgetBefore: Date) async throws -> Bool

    /// Records one failed ID&V attempt against each subject ("card:<fingerprint>", "wallet:<id>").
    func recordFailure(subjects: [String], at: Date) async throws
    /// The failed attempts of each subject since `since` (subjects without any are left out).
    func failures(subjects: [String], since: Date) async throws -> [String: Int]

    /// Throws `IssuerHostError.conflict` when the card has an account.
    func insertAccount(_ account: Account) async throws
    /// All or none.
    func insertAccounts(_ accounts: [Account]) async throws
    func account(fingerprint: String) async throws -> Account?
    func replaceAccount(_ account: Account) async throws
    func accounts() async throws -> [Account]

    /// The BINs the bank issues from; nil for a bank stored before banks had ranges.
    func cardRanges() async throws -> [String]?
    func saveCardRanges(_ ranges: [String]) async throws
    func rules() async throws -> IDVRules
    func saveRules(_ rules: IDVRules) async throws
    func appendOutbox(_ message: OutboxMessage) async throws
    func outbox() async throws -> [OutboxMessage]
    /// Keeps each notification once by its id, all in one transaction.
    func appendNotifications(_ notifications: [ReceivedNotification]) async throws
    func notifications() async throws -> [ReceivedNotification]

    /// In one transaction, serialized with every other authorization of the account: the
    /// decision already recorded for `reference`, or else `decide` applied to the account
    /// and what it holds, its hold placed (with its ledger entry) when one is returned, and
    /// the decision recorded. Nil, and nothing written, when no account has the fingerprint.
    func authorize(reference: String, fingerprint: String, since dayStart: Date,
                   decide: @escaping @Sendable (Account, HeldTotals) -> (AuthorizationDecision, NewHold?)) async throws -> AuthorizationDecision?
    /// The network's advice that it approved `reference` in stand-in, in one transaction
    /// serialized with the account's authorizations: unless the reference has a hold
    /// already (approved by the bank itself, perhaps released since) or was reversed
    /// before it arrived, the hold is placed whatever the account's funds (the network
    /// approved it on the bank's behalf), with its ledger entry, and the approval becomes
    /// the reference's decision. Nil when no account has the fingerprint; otherwise
    /// whether a hold was placed, so that an advice repeated holds nothing more.
    func applyAdvice(reference: String, fingerprint: String, hold: NewHold, decision: AuthorizationDecision) async throws -> Bool?
    /// Releases the hold of `reference` (with its ledger entry) when it is held. False when
    /// there was nothing to release.
    /// With `accountID`, only a hold of that account is released.
    func release(reference: String, accountID: String?, at: Date) async throws -> Bool
    /// Cleared presentments posted to their cards' accounts, in order, in one transaction;
    /// each once per `presentmentID` (one delivered before, or twice in `postings`, is
    /// `already`): the hold of its `reference` (if still held, on that account) released in
    /// full, the account's balance lowered by `amountMinor` (a `posting` ledger entry under
    /// the presentment's id). The outcomes in the order given.
    func post(_ postings: [Posting], at: Date) async throws -> [PostingOutcome]
    /// Releases every hold of goods or services (not cash, processing code 01, which is
    /// final) placed before `placedBefore` and still held, each with a ledger entry
    /// `expiry`; the references released.
    func expireHolds(placedBefore: Date, at: Date) async throws -> [String]
    /// What the account's holds add up to.
    func heldMinor(accountID: String) async throws -> Int64
    /// Every reference whose ledger entries do not match its hold.
    func unbalancedReferences() async throws -> [String]
    /// Holds (held and released), by reference, from after `after`, at most `limit`.
    func holds(after: String?, limit: Int) async throws -> [Hold]
}

/// What an account holds when an authorization is decided.
public struct HeldTotals: Sendable, Equatable {
    /// Every hold not released.
    public var held: Int64
    /// Holds placed since the start of the day.
    public var heldToday: Int64
    /// Cash holds (processing code 01) placed since the start of the day.
    public var cashToday: Int64
    public init(held: Int64, heldToday: Int64, cashToday: Int64) { self.held = held; self.heldToday = heldToday; self.cashToday = cashToday }
}

/// The hold an approval places.
public struct NewHold: Sendable, Equatable {
    public var amountMinor: Int64
    public var transactionType: String
    public var at: Date
}

/// A cleared presentment to post.
public struct Posting: Sendable, Equatable {
    public var presentmentID: String
    /// The authorization's reference: the hold it placed.
    public var reference: String
    public var fingerprint: String
    public var amountMinor: Int64
    public init(presentmentID: String, reference: String, fingerprint: String, amountMinor: Int64) {
        self.presentmentID = presentmentID; self.reference = reference; self.fingerprint = fingerprint; self.amountMinor = amountMinor
    }
}

/// What a posting came to.
public enum PostingOutcome: String, Codable, Sendable, Equatable {
    /// Posted now; the hold it cleared (if any) released.
    case posted
    /// Posted before (the same presentment delivered again): nothing done.
    case already
    /// No account has this card.
    case noAccount
}
