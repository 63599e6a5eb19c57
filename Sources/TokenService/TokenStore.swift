import Foundation
import Participants

/// The token service's storage seam: the vault's keys, cards, tokens and their audit,
/// the ATCs spent, and the one-time-code verifications. Each method is one unit of work: what it writes
/// is written whole or not at all. SQLite and PostgreSQL implement it and pass the same
/// contract tests.
public protocol TokenStore: Sendable {
    // Key material (stored only wrapped or sealed).
    func wrappedDataKey() async throws -> Data?
    func saveWrappedDataKey(_ wrapped: Data) async throws
    /// The fingerprint key, wrapped, once a rotation has stored it (nil before).
    func wrappedFingerprintKey() async throws -> Data?
    /// A master key rotation: both keys wrapped anew, in one transaction, only if the data
    /// key is still stored as `expected` (false, and nothing written, otherwise).
    func replaceWrappedKeys(expected: Data, dataKey: Data, fingerprintKey: Data) async throws -> Bool
    func sealedIssuerMasterKey(issuerID: String) async throws -> Data?
    /// Stores an issuer's sealed master key unless it has one: false, and nothing
    /// written, when another caller (perhaps on another node) stored one first.
    func saveIssuerMasterKey(issuerID: String, sealed: Data) async throws -> Bool
    /// Another secret of the vault by name (an acquirer's zone master key, its MAC key),
    /// sealed; `saveSecret` replaces the one of that name.
    func sealedSecret(name: String) async throws -> Data?
    func saveSecret(name: String, sealed: Data) async throws
    /// Stores a secret unless one of that name exists: false, and nothing written, when
    /// another caller (perhaps on another node) stored one first.
    func saveSecretIfAbsent(name: String, sealed: Data) async throws -> Bool
    /// The issuer host's signing key, sealed.
    func sealedIssuerHostKey(issuerID: String) async throws -> Data?
    /// Stores the issuer host's sealed signing key, replacing the one before (a rotation).
    func saveIssuerHostKey(issuerID: String, sealed: Data) async throws

    // Vault and tokens.
    func card(fingerprint: String) async throws -> VaultCard?
    func card(id: String) async throws -> VaultCard?
    /// The cards with these fingerprints (those that exist), by fingerprint: one query for a batch.
    func cards(fingerprints: [String]) async throws -> [String: VaultCard]
    /// Inserts or replaces a card (by id; fingerprints are unique).
    func saveCard(_ card: VaultCard) async throws
    /// Inserts the token with its first audit event and its issuer's notice, and inserts
    /// or updates its card, in one transaction. Throws `StoreError.duplicate` when the
    /// token number is taken.
    func createToken(_ token: Token, card: VaultCard, audit: AuditEvent, notice: IssuerNotice) async throws
    /// Many tokens (and their cards) in one transaction: all or none. A token number
    /// already taken is `StoreError.duplicate`.
    func createTokens(_ items: [(token: Token, card: VaultCard, audit: AuditEvent)]) async throws
    func token(id: String) async throws -> Token?
    func token(numberFingerprint: String) async throws -> Token?
    func tokens(_ query: TokenQuery) async throws -> [Token]
    /// Updates tokens and appends their audit events and their issuers' notices in one
    /// transaction, each token only if it is still as it was read (`before.updatedAt`): a
    /// change made in between, by another request or node, is `StoreError.conflict` and
    /// nothing of the batch is written.
    func updateTokens(_ changes: [TokenChange], audit: [AuditEvent], notices: [IssuerNotice]) async throws
    /// Replaces a card (renewal) and appends audit events in one transaction.
    func updateCard(_ card: VaultCard, previousFingerprint: String, audit: [AuditEvent]) async throws
    func audit(tokenID: String) async throws -> [AuditEvent]
    /// Sets (or with nil removes) a card's `issuerStatus`, and nothing else of it.
    func setIssuerStatus(cardID: String, _ status: CardIssuerStatus?) async throws

    /// Records that `atc` of a token has been used. Returns false when it was already
    /// recorded: the database's uniqueness decides, so two processes cannot both accept it.
    func recordATC(tokenID: String, atc: UInt16) async throws -> Bool

    // The outbox of token notifications to issuer hosts (written with the changes above).
    /// The issuers with queued notices.
    func issuersNoticed() async throws -> [String]
    /// One issuer's queued notices, in the order written.
    func queuedNotices(issuerID: String, limit: Int) async throws -> [IssuerNotice]
    /// Writes a notice's new state (after an attempt).
    func updateNotice(_ notice: IssuerNotice) async throws
    /// Writes several notices' new states in one transaction.
    func updateNotices(_ notices: [IssuerNotice]) async throws
    /// Deletes up to `limit` delivered notices queued before `before`, in one transaction;
    /// returns how many. Queued and given-up notices stay.
    func purgeNotices(deliveredBefore before: Date, limit: Int) async throws -> Int
    /// Takes, or renews, the right to deliver one issuer's notices until `until`. False
    /// while another node holds it.
    func leaseNotices(issuerID: String, node: String, until: Date, now: Date) async throws -> Bool
    /// Takes, or renews, the right to sweep one market's tokens until `until`. False while
    /// another node holds it.
    func leaseMarket(country: String, node: String, until: Date, now: Date) async throws -> Bool
    func notice(id: String) async throws -> IssuerNotice?
    func noticeDepths() async throws -> [NoticeDepth]
    /// How many tokens there are per market (the device's country) and status.
    func tokenCounts() async throws -> [TokenCount]

    // One-time-code verifications.
    func savePendingVerification(_ pending: PendingVerification) async throws
    /// Replaces a verification only if its state and attempts left are still those of
    /// `before`. False when another request changed it first (and nothing is written).
    func replacePendingVerification(_ after: PendingVerification, before: PendingVerification) async throws -> Bool
    func pendingVerification(id: String) async throws -> PendingVerification?

    // Push provisioning.
    func savePushReceipt(_ receipt: PushReceipt) async throws
    /// Replaces a receipt only if its state is still that of `before`: false when another
    /// request changed it first (and nothing is written).
    func replacePushReceipt(_ after: PushReceipt, before: PushReceipt) async throws -> Bool
    func pushReceipt(id: String) async throws -> PushReceipt?
}

/// A token as it was read and as it is to be.
public struct TokenChange: Sendable, Equatable {
    public var before: Token
    public var after: Token
    public init(before: Token, after: Token) { self.before = before; self.after = after }
}

extension Date {
    /// Milliseconds since 1970, as a token's version is compared in the store.
    public var storeMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
}

public struct TokenQuery: Sendable, Equatable {
    public var walletID: String?
    public var issuerID: String?
    public var deviceID: String?
    public var cardID: String?
    public var country: String?
    public var status: Token.Status?
    /// A market's tokens: on devices in `country`, or of cards of the issuers in `issuerIDs`.
    public var market: Market?
    /// A page: ids after this one, in id order, at most `limit`.
    public var after: String?
    public var limit: Int?

    public struct Market: Sendable, Equatable {
        public var country: String
        public var issuerIDs: [String]
        public init(country: String, issuerIDs: [String]) { self.country = country; self.issuerIDs = issuerIDs }
    }

    public init(walletID: String? = nil, issuerID: String? = nil, deviceID: String? = nil, cardID: String? = nil,
                country: String? = nil, status: Token.Status? = nil, market: Market? = nil, after: String? = nil, limit: Int? = nil) {
        self.walletID = walletID; self.issuerID = issuerID; self.deviceID = deviceID
        self.cardID = cardID; self.country = country; self.status = status
        self.market = market; self.after = after; self.limit = limit
    }
}
