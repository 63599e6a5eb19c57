import Foundation
import Logging
import NetworkSwitch
import PostgresNIO
import PostgresSupport
import TokenService

/// The token service's store on PostgreSQL (postgres-nio's pool): what several
/// `passway serve` nodes share. The same tables as `SQLiteStore` in PostgreSQL's
/// dialect (JSONB documents, identity columns, TIMESTAMPTZ); everything that must be
/// unique or happen once is a unique key the database enforces for every node: token
/// numbers, card fingerprints, idempotency keys, journal keys and used ATCs.
public final class PostgresStore: TokenStore {
    public let database: PostgresPool
    var logger: Logger { database.logger }

    /// Opens a pool on `schema` of the database at `url` and migrates it.
    public init(url: PostgresURL, schema: String = "passway", maximumConnections: Int = 16, logger: Logger) async throws {
        database = try await PostgresPool(url: url, schema: schema, maximumConnections: maximumConnections, logger: logger)
        do {
            try await database.migrate(Self.migrations)
        } catch {
            await database.close()
            throw error
        }
    }

    public func close() async { await database.close() }

    // MARK: Changes other nodes must hear of

    /// The channel on which this schema's nodes announce changes to tokens, cards and issuers.
    var changeChannel: String { "passway_changes_" + database.schema }

    /// Announces a change; PostgreSQL delivers it when the surrounding transaction commits.
    static func announce(_ connection: PostgresConnection, channel: String, _ what: String, logger: Logger) async throws {
        try await connection.query("SELECT pg_notify(\(channel), \(what))", logger: logger)
    }

    private func announce(_ what: String) async throws {
        try await database.client.query("SELECT pg_notify(\(changeChannel), \(what))", logger: logger)
    }

    /// Calls `changed` whenever any node changes tokens, cards or issuers (and once each
    /// time it starts listening, for what it may have missed meanwhile), until cancelled.
    /// A lost connection is retried every second; the caches' age still bounds staleness.
    public func listenForChanges(_ changed: @escaping @Sendable (String) -> Void) async {
        let channel = changeChannel, logger = self.logger
        while !Task.isCancelled {
            do {
                try await database.client.withConnection { connection in
                    try await connection.listen(on: channel) { notifications in
                        changed("listening")
                        for try await notification in notifications { changed(notification.payload) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("not hearing other nodes' changes: retrying in 1 s", metadata: ["error": "\(PostgresPool.reason(error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    static let migrations: [(name: String, statements: [String])] = [
        ("v1: token service", [
            "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
            "CREATE TABLE issuers (id TEXT PRIMARY KEY, doc JSONB NOT NULL)",
            "CREATE TABLE wallets (id TEXT PRIMARY KEY, doc JSONB NOT NULL)",
            "CREATE TABLE markets (country TEXT PRIMARY KEY, doc JSONB NOT NULL)",
            "CREATE TABLE device_models (id TEXT PRIMARY KEY, doc JSONB NOT NULL)",
            "CREATE TABLE credentials (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, participant_id TEXT NOT NULL)",
            "CREATE TABLE devices (id TEXT PRIMARY KEY, wallet_id TEXT NOT NULL, doc JSONB NOT NULL)",
            "CREATE TABLE cards (id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, issuer_id TEXT NOT NULL, doc JSONB NOT NULL)",
            """
            CREATE TABLE tokens (
                seq BIGINT GENERATED ALWAYS AS IDENTITY, id TEXT PRIMARY KEY, number_fingerprint TEXT NOT NULL UNIQUE,
                card_id TEXT NOT NULL REFERENCES cards(id), issuer_id TEXT NOT NULL, wallet_id TEXT NOT NULL,
                device_id TEXT NOT NULL, country TEXT NOT NULL, status TEXT NOT NULL, doc JSONB NOT NULL, updated_ms BIGINT NOT NULL)
            """,
            "CREATE INDEX tokens_seq ON tokens(seq)",
            "CREATE INDEX tokens_card ON tokens(card_id)",
            "CREATE INDEX tokens_wallet ON tokens(wallet_id)",
            "CREATE INDEX tokens_issuer ON tokens(issuer_id)",
            "CREATE INDEX tokens_device ON tokens(device_id)",
            "CREATE INDEX tokens_country_status ON tokens(country, status)",
            "CREATE TABLE audit (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, token_id TEXT NOT NULL, doc JSONB NOT NULL)",
            "CREATE INDEX audit_token ON audit(token_id, seq)",
            "CREATE TABLE verifications (id TEXT PRIMARY KEY, doc JSONB NOT NULL)",
            """
            CREATE TABLE idempotency_keys (
                participant TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, reserved_at TIMESTAMPTZ NOT NULL, doc JSONB,
                PRIMARY KEY (participant, key))
            """,
            "CREATE TABLE used_atcs (token_id TEXT NOT NULL, atc INTEGER NOT NULL, PRIMARY KEY (token_id, atc))",
            """
            CREATE TABLE journal (
                key TEXT PRIMARY KEY, request_digest TEXT NOT NULL, state TEXT NOT NULL, claimed_at TIMESTAMPTZ NOT NULL,
                response_code TEXT, doc JSONB)
            """,
        ]),
    ]

    // MARK: Documents

    static func doc<T: Encodable>(_ value: T) throws -> String { try SQLiteStore.doc(value) }
    static func value<T: Decodable>(_ type: T.Type, _ doc: String?) throws -> T? { try SQLiteStore.value(T.self, doc) }

    private func one<T: Decodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T? {
        try Self.value(T.self, try await database.client.query(query, logger: logger).first(String?.self) ?? nil)
    }

    private func all<T: Decodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
        try await database.client.query(query, logger: logger).all(String.self).map { try Self.value(T.self, $0)! }
    }

    private func run(_ query: PostgresQuery) async throws {
        try await database.client.query(query, logger: logger)
    }

    /// The number of rows a statement with `RETURNING 1` touched.
    private static func count(_ rows: PostgresRowSequence) async throws -> Int {
        try await rows.all(Int.self).count
    }

    // MARK: Key material

    public func wrappedDataKey() async throws -> Data? {
        try await database.client.query("SELECT value FROM secrets WHERE name = 'data-key'", logger: logger).first(Data.self)
    }

    public func saveWrappedDataKey(_ wrapped: Data) async throws {
        do {
            try await run("INSERT INTO secrets (name, value) VALUES ('data-key', \(wrapped))")
        } catch where error.isUniqueViolation {
            throw StoreError.duplicate("data key")
        }
    }

    public func sealedIssuerMasterKey(issuerID: String) async throws -> Data? {
        try await database.client.query("SELECT value FROM secrets WHERE name = \("imk/\(issuerID)")", logger: logger).first(Data.self)
    }

    // MARK: Participants

    public func saveIssuer(_ issuer: Issuer, sealedMasterKey: Data?) async throws {
        let doc = try Self.doc(issuer)
        let (logger, channel) = (self.logger, changeChannel)
        try await database.transaction { connection in
            try await connection.query("""
                INSERT INTO issuers (id, doc) VALUES (\(issuer.id), \(doc)::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc
                """, logger: logger)
            if let sealedMasterKey {
                try await connection.query("INSERT INTO secrets (name, value) VALUES (\("imk/\(issuer.id)"), \(sealedMasterKey))", logger: logger)
            }
            try await Self.announce(connection, channel: channel, "issuer", logger: logger)
        }
    }

    public func issuer(id: String) async throws -> Issuer? { try await one(Issuer.self, "SELECT doc::text FROM issuers WHERE id = \(id)") }
    public func issuers() async throws -> [Issuer] { try await all(Issuer.self, "SELECT doc::text FROM issuers ORDER BY id") }
    public func saveWallet(_ wallet: Wallet) async throws {
        try await run("INSERT INTO wallets (id, doc) VALUES (\(wallet.id), \(try Self.doc(wallet))::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc")
    }
    public func wallet(id: String) async throws -> Wallet? { try await one(Wallet.self, "SELECT doc::text FROM wallets WHERE id = \(id)") }
    public func wallets() async throws -> [Wallet] { try await all(Wallet.self, "SELECT doc::text FROM wallets ORDER BY id") }
    public func saveMarket(_ market: Market) async throws {
        try await run("""
            INSERT INTO markets (country, doc) VALUES (\(market.country), \(try Self.doc(market))::jsonb)
            ON CONFLICT (country) DO UPDATE SET doc = EXCLUDED.doc
            """)
    }
    public func market(country: String) async throws -> Market? { try await one(Market.self, "SELECT doc::text FROM markets WHERE country = \(country)") }
    public func markets() async throws -> [Market] { try await all(Market.self, "SELECT doc::text FROM markets ORDER BY country") }
    public func saveDeviceModel(_ model: DeviceModel) async throws {
        try await run("""
            INSERT INTO device_models (id, doc) VALUES (\(model.id), \(try Self.doc(model))::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc
            """)
    }
    public func deviceModel(id: String) async throws -> DeviceModel? { try await one(DeviceModel.self, "SELECT doc::text FROM device_models WHERE id = \(id)") }
    public func deviceModels() async throws -> [DeviceModel] { try await all(DeviceModel.self, "SELECT doc::text FROM device_models ORDER BY id") }

    // MARK: Credentials

    public func saveCredential(hash: String, participant: Participant) async throws {
        let (kind, id): (String, String) = switch participant {
        case .network: ("network", "network")
        case .issuer(let i): ("issuer", i)
        case .wallet(let w): ("wallet", w)
        }
        do {
            try await run("INSERT INTO credentials (hash, kind, participant_id) VALUES (\(hash), \(kind), \(id))")
        } catch where error.isUniqueViolation {
            throw StoreError.duplicate("credential")
        }
    }

    public func participant(credentialHash: String) async throws -> Participant? {
        let rows = try await database.client.query("SELECT kind, participant_id FROM credentials WHERE hash = \(credentialHash)", logger: logger)
        for try await (kind, id) in rows.decode((String, String).self) {
            switch kind {
            case "network": return .network
            case "issuer": return .issuer(id)
            case "wallet": return .wallet(id)
            default: return nil
            }
        }
        return nil
    }

    // MARK: Devices

    public func saveDevice(_ device: Device) async throws {
        try await run("""
            INSERT INTO devices (id, wallet_id, doc) VALUES (\(device.id), \(device.walletID), \(try Self.doc(device))::jsonb)
            ON CONFLICT (id) DO UPDATE SET wallet_id = EXCLUDED.wallet_id, doc = EXCLUDED.doc
            """)
    }

    public func device(id: String) async throws -> Device? { try await one(Device.self, "SELECT doc::text FROM devices WHERE id = \(id)") }

    // MARK: Vault and tokens

    public func card(fingerprint: String) async throws -> VaultCard? {
        try Self.value(VaultCard.self, try await database.client.execute(CardByFingerprint(fingerprint: fingerprint), logger: logger).firstElement())
    }

    public func cards(fingerprints: [String]) async throws -> [String: VaultCard] {
        var found: [String: VaultCard] = [:]
        for card in try await all(VaultCard.self, "SELECT doc::text FROM cards WHERE fingerprint = ANY(\(fingerprints))") {
            found[card.fingerprint] = card
        }
        return found
    }

    public func card(id: String) async throws -> VaultCard? {
        try Self.value(VaultCard.self, try await database.client.execute(CardByID(id: id), logger: logger).firstElement())
    }

    static func upsertCard(_ connection: PostgresConnection, _ card: VaultCard, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO cards (id, fingerprint, issuer_id, doc) VALUES (\(card.id), \(card.fingerprint), \(card.issuerID), \(try doc(card))::jsonb)
            ON CONFLICT (id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, doc = EXCLUDED.doc
            """, logger: logger)
    }

    static func insertToken(_ connection: PostgresConnection, _ token: Token, audit: AuditEvent, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO tokens (id, number_fingerprint, card_id, issuer_id, wallet_id, device_id, country, status, doc, updated_ms)
            VALUES (\(token.id), \(token.numberFingerprint), \(token.cardID), \(token.issuerID), \(token.walletID), \(token.deviceID),
                    \(token.country), \(token.status.rawValue), \(try doc(token))::jsonb, \(token.updatedAt.storeMilliseconds))
            """, logger: logger)
        try await connection.query("INSERT INTO audit (token_id, doc) VALUES (\(audit.tokenID), \(try doc(audit))::jsonb)", logger: logger)
    }

    public func saveCard(_ card: VaultCard) async throws {
        let logger = self.logger
        do {
            try await database.client.withConnection { try await Self.upsertCard($0, card, logger: logger) }
        } catch where error.isUniqueViolation {
            throw StoreError.duplicate("card fingerprint")
        }
        try await announce("card")
    }

    public func createToken(_ token: Token, card: VaultCard, audit: AuditEvent) async throws {
        try await createTokens([(token, card, audit)])
    }

    public func createTokens(_ items: [(token: Token, card: VaultCard, audit: AuditEvent)]) async throws {
        let logger = self.logger
        do {
            try await database.transaction { connection in
                for item in items {
                    try await Self.upsertCard(connection, item.card, logger: logger)
                    try await Self.insertToken(connection, item.token, audit: item.audit, logger: logger)
                }
            }
        } catch where error.isUniqueViolation {
            throw StoreError.duplicate(items.count == 1 ? "token number" : "token number or card")
        }
    }

    public func token(id: String) async throws -> Token? { try await one(Token.self, "SELECT doc::text FROM tokens WHERE id = \(id)") }

    public func token(numberFingerprint: String) async throws -> Token? {
        try Self.value(Token.self, try await database.client.execute(TokenByNumber(fingerprint: numberFingerprint), logger: logger).firstElement())
    }

    public func tokens(_ query: TokenQuery) async throws -> [Token] {
        var sql = PostgresQuery(stringLiteral: "SELECT doc::text FROM tokens WHERE TRUE")
        var bindings = PostgresBindings()
        for (column, value) in [("wallet_id", query.walletID), ("issuer_id", query.issuerID), ("device_id", query.deviceID),
                                ("card_id", query.cardID), ("country", query.country), ("status", query.status?.rawValue)] {
            if let value {
                bindings.append(value)
                sql.sql += " AND \(column) = $\(bindings.count)"
            }
        }
        sql.sql += " ORDER BY seq"
        return try await all(Token.self, PostgresQuery(unsafeSQL: sql.sql, binds: bindings))
    }

    public func updateTokens(_ changes: [TokenChange], audit: [AuditEvent]) async throws {
        let docs = try changes.map { ($0.after.id, $0.after.status.rawValue, try Self.doc($0.after), $0.after.updatedAt.storeMilliseconds,
                                      $0.before.updatedAt.storeMilliseconds) }
        let auditDocs = try audit.map { ($0.tokenID, try Self.doc($0)) }
        let (logger, channel) = (self.logger, changeChannel)
        try await database.transaction { connection in
            try await Self.announce(connection, channel: channel, "token", logger: logger)
            for (id, status, doc, version, readVersion) in docs {
                let rows = try await connection.query("""
                    UPDATE tokens SET status = \(status), doc = \(doc)::jsonb, updated_ms = \(version)
                    WHERE id = \(id) AND updated_ms = \(readVersion) RETURNING 1
                    """, logger: logger)
                if try await Self.count(rows) == 1 { continue }
                let exists = try await connection.query("SELECT 1 FROM tokens WHERE id = \(id)", logger: logger).first(Int.self) != nil
                throw exists ? StoreError.conflict("token \(id)") : StoreError.notFound("token \(id)")
            }
            for (tokenID, doc) in auditDocs {
                try await connection.query("INSERT INTO audit (token_id, doc) VALUES (\(tokenID), \(doc)::jsonb)", logger: logger)
            }
        }
    }

    public func updateCard(_ card: VaultCard, previousFingerprint: String, audit: [AuditEvent]) async throws {
        let doc = try Self.doc(card)
        let auditDocs = try audit.map { ($0.tokenID, try Self.doc($0)) }
        let (logger, channel) = (self.logger, changeChannel)
        do {
            try await database.transaction { connection in
                try await Self.announce(connection, channel: channel, "card", logger: logger)
                let rows = try await connection.query("""
                    UPDATE cards SET fingerprint = \(card.fingerprint), doc = \(doc)::jsonb
                    WHERE id = \(card.id) AND fingerprint = \(previousFingerprint) RETURNING 1
                    """, logger: logger)
                guard try await Self.count(rows) == 1 else { throw StoreError.notFound("card \(card.id) as it was") }
                for (tokenID, doc) in auditDocs {
                    try await connection.query("INSERT INTO audit (token_id, doc) VALUES (\(tokenID), \(doc)::jsonb)", logger: logger)
                }
            }
        } catch where error.isUniqueViolation {
            throw StoreError.duplicate("card fingerprint")
        }
    }

    public func audit(tokenID: String) async throws -> [AuditEvent] {
        try await all(AuditEvent.self, "SELECT doc::text FROM audit WHERE token_id = \(tokenID) ORDER BY seq")
    }

    /// One statement, committed on its own: the primary key decides between nodes.
    public func recordATC(tokenID: String, atc: UInt16) async throws -> Bool {
        try await database.client.execute(RecordATC(tokenID: tokenID, atc: Int32(atc)), logger: logger).firstElement() != nil
    }

    // MARK: Verifications and idempotency

    public func savePendingVerification(_ pending: PendingVerification) async throws {
        try await run("""
            INSERT INTO verifications (id, doc) VALUES (\(pending.id), \(try Self.doc(pending))::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc
            """)
    }

    public func replacePendingVerification(_ after: PendingVerification, before: PendingVerification) async throws -> Bool {
        let rows = try await database.client.query("""
            UPDATE verifications SET doc = \(try Self.doc(after))::jsonb
            WHERE id = \(after.id) AND doc->>'state' = \(before.state.rawValue) AND (doc->>'attemptsLeft')::int = \(before.attemptsLeft)
            RETURNING 1
            """, logger: logger)
        return try await Self.count(rows) == 1
    }

    public func pendingVerification(id: String) async throws -> PendingVerification? {
        try await one(PendingVerification.self, "SELECT doc::text FROM verifications WHERE id = \(id)")
    }

    public func reserveIdempotencyKey(participant: String, key: String, requestHash: String, at: Date) async throws -> IdempotencyReservation {
        let cutoff = at.addingTimeInterval(-IdempotencyReservation.reservationLifetime)
        // A release between the two statements below leaves no row: then try again.
        for _ in 0..<3 {
            let taken = try await Self.count(try await database.client.query("""
                INSERT INTO idempotency_keys (participant, key, request_hash, reserved_at) VALUES (\(participant), \(key), \(requestHash), \(at))
                ON CONFLICT (participant, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, reserved_at = EXCLUDED.reserved_at
                WHERE idempotency_keys.doc IS NULL AND idempotency_keys.reserved_at < \(cutoff)
                RETURNING 1
                """, logger: logger))
            if taken == 1 { return .reserved }
            let rows = try await database.client.query("""
                SELECT request_hash, doc::text FROM idempotency_keys WHERE participant = \(participant) AND key = \(key)
                """, logger: logger)
            for try await (hash, doc) in rows.decode((String, String?).self) {
                if let stored = try Self.value(StoredResponse.self, doc) { return .answered(stored) }
                return .inProgress(requestHash: hash)
            }
        }
        return .inProgress(requestHash: requestHash)
    }

    public func saveIdempotentResponse(participant: String, key: String, response: StoredResponse) async throws {
        let rows = try await database.client.query("""
            UPDATE idempotency_keys SET doc = \(try Self.doc(response))::jsonb
            WHERE participant = \(participant) AND key = \(key) AND doc IS NULL RETURNING 1
            """, logger: logger)
        guard try await Self.count(rows) == 1 else { throw StoreError.notFound("reservation of idempotency key") }
    }

    public func releaseIdempotencyKey(participant: String, key: String) async throws {
        try await run("DELETE FROM idempotency_keys WHERE participant = \(participant) AND key = \(key) AND doc IS NULL")
    }
}

// MARK: The network's journal

extension PostgresStore: AuthorizationJournal {
    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date) async throws -> JournalClaim {
        let rows = try await database.client.execute(ClaimJournalKey(key: key.description, digest: requestDigest, at: at), logger: logger)
        for try await (won, digest, doc) in rows {
            if won { return .claimed }
            if let doc { return .answered(try Self.value(JournalEntry.self, doc)!) }
            return .pending(requestDigest: digest)
        }
        return .pending(requestDigest: requestDigest)
    }

    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String) async throws
        -> (claim: JournalClaim, atcFresh: Bool) {
        let rows = try await database.client.execute(ClaimJournalKeySpendingATC(key: key.description, digest: requestDigest, at: at,
                                                                                 tokenID: tokenID, atc: Int32(atc)), logger: logger)
        for try await (won, digest, doc, fresh) in rows {
            if won { return (.claimed, fresh) }
            if let doc { return (.answered(try Self.value(JournalEntry.self, doc)!), false) }
            return (.pending(requestDigest: digest), false)
        }
        return (.pending(requestDigest: requestDigest), false)
    }

    public func complete(_ entry: JournalEntry) async throws {
        let doc = try Self.doc(entry)
        try await run("""
            INSERT INTO journal (key, request_digest, state, claimed_at, response_code, doc)
            VALUES (\(entry.key), \(entry.requestDigest), 'answered', \(entry.at), \(entry.responseCode), \(doc)::jsonb)
            ON CONFLICT (key) DO UPDATE SET state = 'answered', response_code = EXCLUDED.response_code, doc = EXCLUDED.doc
            """)
    }

    public func entry(_ key: AuthorizationKey) async throws -> JournalEntry? {
        try await one(JournalEntry.self, "SELECT doc::text FROM journal WHERE key = \(key.description)")
    }

    public func isPending(_ key: AuthorizationKey) async throws -> Bool {
        try await database.client.query("SELECT 1 FROM journal WHERE key = \(key.description) AND doc IS NULL", logger: logger).first(Int.self) != nil
    }
}

// MARK: Prepared statements of the authorization path

struct CardByFingerprint: PostgresPreparedStatement {
    static let sql = "SELECT doc::text FROM cards WHERE fingerprint = $1"
    typealias Row = String
    var fingerprint: String
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(fingerprint); return b }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

struct CardByID: PostgresPreparedStatement {
    static let sql = "SELECT doc::text FROM cards WHERE id = $1"
    typealias Row = String
    var id: String
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(id); return b }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

struct TokenByNumber: PostgresPreparedStatement {
    static let sql = "SELECT doc::text FROM tokens WHERE number_fingerprint = $1"
    typealias Row = String
    var fingerprint: String
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(fingerprint); return b }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

/// Returns a row only when this call inserted the pair.
struct RecordATC: PostgresPreparedStatement {
    static let sql = "INSERT INTO used_atcs (token_id, atc) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1"
    typealias Row = Int32
    var tokenID: String
    var atc: Int32
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(tokenID); b.append(atc); return b }
    func decodeRow(_ row: PostgresRow) throws -> Int32 { try row.decode(Int32.self) }
}

/// Claims a journal key in one round trip: (true, …) when this call inserted it, else
/// the row that was there (its digest and, once answered, its entry).
struct ClaimJournalKey: PostgresPreparedStatement {
    static let sql = """
        WITH inserted AS (
            INSERT INTO journal (key, request_digest, state, claimed_at) VALUES ($1, $2, 'pending', $3)
            ON CONFLICT (key) DO NOTHING RETURNING key)
        SELECT TRUE, $2::text, NULL::text FROM inserted
        UNION ALL
        SELECT FALSE, request_digest, doc::text FROM journal WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
        """
    typealias Row = (Bool, String, String?)
    var key: String
    var digest: String
    var at: Date
    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(); b.append(key); b.append(digest); b.append(at); return b
    }
    func decodeRow(_ row: PostgresRow) throws -> (Bool, String, String?) { try row.decode((Bool, String, String?).self) }
}

/// `ClaimJournalKey`, and when the key was inserted the token's ATC too, in the same
/// statement (one round trip, one commit): the fourth column says whether the ATC was new.
struct ClaimJournalKeySpendingATC: PostgresPreparedStatement {
    static let sql = """
        WITH inserted AS (
            INSERT INTO journal (key, request_digest, state, claimed_at) VALUES ($1, $2, 'pending', $3)
            ON CONFLICT (key) DO NOTHING RETURNING key),
        spent AS (
            INSERT INTO used_atcs (token_id, atc) SELECT $4, $5 FROM inserted
            ON CONFLICT DO NOTHING RETURNING 1)
        SELECT TRUE, $2::text, NULL::text, EXISTS (SELECT 1 FROM spent) FROM inserted
        UNION ALL
        SELECT FALSE, request_digest, doc::text, FALSE FROM journal WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
        """
    typealias Row = (Bool, String, String?, Bool)
    var key: String
    var digest: String
    var at: Date
    var tokenID: String
    var atc: Int32
    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(); b.append(key); b.append(digest); b.append(at); b.append(tokenID); b.append(atc); return b
    }
    func decodeRow(_ row: PostgresRow) throws -> (Bool, String, String?, Bool) { try row.decode((Bool, String, String?, Bool).self) }
}

extension AsyncSequence where Self: Sendable, Element: Sendable {
    /// The first element, or nil.
    func firstElement() async throws -> Element? {
        for try await element in self { return element }
        return nil
    }
}
