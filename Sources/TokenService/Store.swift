import Foundation

/// The token service's storage seam. Each method is one unit of work: what it writes
/// is written whole or not at all. SQLite and PostgreSQL implement it and pass the same
/// contract tests.
public protocol TokenStore: Sendable {
    // Key material (stored only wrapped or sealed).
    func wrappedDataKey() async throws -> Data?
    func saveWrappedDataKey(_ wrapped: Data) async throws
    func sealedIssuerMasterKey(issuerID: String) async throws -> Data?

    // Participants and reference data.
    func saveIssuer(_ issuer: Issuer, sealedMasterKey: Data?) async throws
    func issuer(id: String) async throws -> Issuer?
    func issuers() async throws -> [Issuer]
    func saveWallet(_ wallet: Wallet) async throws
    func wallet(id: String) async throws -> Wallet?
    func wallets() async throws -> [Wallet]
    func saveMarket(_ market: Market) async throws
    func market(country: String) async throws -> Market?
    func markets() async throws -> [Market]
    func saveDeviceModel(_ model: DeviceModel) async throws
    func deviceModel(id: String) async throws -> DeviceModel?
    func deviceModels() async throws -> [DeviceModel]

    // Credentials: only a SHA-256 of each API key is kept.
    func saveCredential(hash: String, participant: Participant) async throws
    func participant(credentialHash: String) async throws -> Participant?

    // Devices.
    func saveDevice(_ device: Device) async throws
    func device(id: String) async throws -> Device?

    // Vault and tokens.
    func card(fingerprint: String) async throws -> VaultCard?
    func card(id: String) async throws -> VaultCard?
    /// The cards with these fingerprints (those that exist), by fingerprint: one query for a batch.
    func cards(fingerprints: [String]) async throws -> [String: VaultCard]
    /// Inserts or replaces a card (by id; fingerprints are unique).
    func saveCard(_ card: VaultCard) async throws
    /// Inserts the token with its first audit event, and inserts or updates its card,
    /// in one transaction. Throws `StoreError.duplicate` when the token number is taken.
    func createToken(_ token: Token, card: VaultCard, audit: AuditEvent) async throws
    /// Many tokens (and their cards) in one transaction: all or none. A token number
    /// already taken is `StoreError.duplicate`.
    func createTokens(_ items: [(token: Token, card: VaultCard, audit: AuditEvent)]) async throws
    func token(id: String) async throws -> Token?
    func token(numberFingerprint: String) async throws -> Token?
    func tokens(_ query: TokenQuery) async throws -> [Token]
    /// Updates tokens and appends their audit events in one transaction, each token only
    /// if it is still as it was read (`before.updatedAt`): a change made in between, by
    /// another request or node, is `StoreError.conflict` and nothing of the batch is written.
    func updateTokens(_ changes: [TokenChange], audit: [AuditEvent]) async throws
    /// Replaces a card (renewal) and appends audit events in one transaction.
    func updateCard(_ card: VaultCard, previousFingerprint: String, audit: [AuditEvent]) async throws
    func audit(tokenID: String) async throws -> [AuditEvent]

    /// Records that `atc` of a token has been used. Returns false when it was already
    /// recorded: the database's uniqueness decides, so two processes cannot both accept it.
    func recordATC(tokenID: String, atc: UInt16) async throws -> Bool

    // One-time-code verifications.
    func savePendingVerification(_ pending: PendingVerification) async throws
    /// Replaces a verification only if its state and attempts left are still those of
    /// `before`. False when another request changed it first (and nothing is written).
    func replacePendingVerification(_ after: PendingVerification, before: PendingVerification) async throws -> Bool
    func pendingVerification(id: String) async throws -> PendingVerification?

    // Idempotency of POSTs. A key is reserved before its request runs, so that of two
    // simultaneous requests with one key (on any node) only one runs.
    /// Reserves the key for a request, or says what holds it: a stored answer, or another
    /// request still running. A reservation older than `at - reservationLifetime` (its
    /// node died) may be taken over.
    func reserveIdempotencyKey(participant: String, key: String, requestHash: String, at: Date) async throws -> IdempotencyReservation
    /// Stores the answer under a key this caller reserved. Throws `StoreError.notFound`
    /// when the key is not reserved (any more).
    func saveIdempotentResponse(participant: String, key: String, response: StoredResponse) async throws
    /// Gives a reservation up (its request failed): the key may be used again.
    func releaseIdempotencyKey(participant: String, key: String) async throws
}

public enum IdempotencyReservation: Sendable, Equatable {
    /// The key is now this caller's: run the request, then save or release.
    case reserved
    /// A request with this key was answered: here is the answer to replay.
    case answered(StoredResponse)
    /// Another request with this key is running (its hash says whether it is the same request).
    case inProgress(requestHash: String)

    /// How long a reservation without an answer blocks its key.
    public static let reservationLifetime: TimeInterval = 60
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

    public init(walletID: String? = nil, issuerID: String? = nil, deviceID: String? = nil, cardID: String? = nil,
                country: String? = nil, status: Token.Status? = nil) {
        self.walletID = walletID; self.issuerID = issuerID; self.deviceID = deviceID
        self.cardID = cardID; self.country = country; self.status = status
    }
}

/// An answer kept for a replayed `Idempotency-Key`.
public struct StoredResponse: Codable, Sendable, Equatable {
    /// SHA-256 of method, path and body: the same key with another request is refused.
    public var requestHash: String
    public var status: Int
    public var body: Data
    public init(requestHash: String, status: Int, body: Data) {
        self.requestHash = requestHash; self.status = status; self.body = body
    }
}

public enum StoreError: Error, Equatable, CustomStringConvertible {
    case duplicate(String)
    case notFound(String)
    /// Changed by someone else since it was read.
    case conflict(String)

    public var description: String {
        switch self {
        case .duplicate(let what): "already exists: \(what)"
        case .notFound(let what): "not found: \(what)"
        case .conflict(let what): "changed meanwhile: \(what)"
        }
    }
}
