import Foundation
import Logging
import NetworkSwitch
import PostgresNIO
import Participants
import PostgresSupport
import TokenService
import WalletProvider

/// The platform's store on PostgreSQL (postgres-nio's pool): what several `passway
/// serve` nodes share. The same tables and seams as `SQLiteStore` in PostgreSQL's
/// dialect (JSONB documents, identity columns, TIMESTAMPTZ); everything that must be
/// unique or happen once is a unique key the database enforces for every node: token
/// numbers, card fingerprints, journal keys and used ATCs.
public final class PostgresStore: Sendable {
    /// Also the HTTP layer's, for its idempotency keys (in this schema).
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

    func announce(_ what: String) async throws {
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
        // The idempotency keys stay in this schema; the HTTP layer's store owns them now.
        ("v2: acquirers", ["CREATE TABLE acquirers (id TEXT PRIMARY KEY, doc JSONB NOT NULL)"]),
        ("v3: store-and-forward", [
            "ALTER TABLE journal ADD COLUMN lost_issuer TEXT, ADD COLUMN lost_reversal BYTEA",
            "CREATE INDEX journal_unanswered ON journal(claimed_at) WHERE doc IS NULL",
            """
            CREATE TABLE owed (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE, issuer_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
                queued_at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)
            """,
            "CREATE INDEX owed_queued ON owed(issuer_id, seq) WHERE state = 'queued'",
            "CREATE TABLE forwarding_leases (issuer_id TEXT PRIMARY KEY, node TEXT NOT NULL, until TIMESTAMPTZ NOT NULL)",
            """
            CREATE TABLE stand_in_usage (token_id TEXT NOT NULL, day TEXT NOT NULL, count INTEGER NOT NULL, amount BIGINT NOT NULL,
                                         PRIMARY KEY (token_id, day))
            """,
        ]),
        ("v4: issuer notices outbox", [
            """
            CREATE TABLE notices (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE, issuer_id TEXT NOT NULL, state TEXT NOT NULL,
                queued_at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)
            """,
            "CREATE INDEX notices_queued ON notices(issuer_id, seq) WHERE state = 'queued'",
        ]),
        ("v5: clearing", [
            "CREATE INDEX journal_approvals ON journal((doc->>'tokenID'), (doc->>'approvalCode')) WHERE response_code = '00'",
            "CREATE INDEX journal_reversals ON journal((doc->>'original')) WHERE doc->>'original' IS NOT NULL",
            "CREATE TABLE clearing_files (file_id TEXT PRIMARY KEY, acquirer_id TEXT NOT NULL, received_at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)",
            """
            CREATE TABLE presentments (
                id TEXT PRIMARY KEY, authorization_key TEXT NOT NULL UNIQUE, acquirer_id TEXT NOT NULL, acquirer_reference TEXT NOT NULL,
                issuer_id TEXT NOT NULL, currency TEXT NOT NULL, cleared_at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL,
                UNIQUE (acquirer_id, acquirer_reference))
            """,
        ]),
        ("v6: settlement windows", [
            "CREATE TABLE settlement_windows (id TEXT PRIMARY KEY, currency TEXT NOT NULL, state TEXT NOT NULL, cut_off TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)",
            "CREATE UNIQUE INDEX settlement_windows_open ON settlement_windows(currency) WHERE state = 'open'",
            """
            CREATE TABLE settlement_lines (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, window_id TEXT NOT NULL, participant TEXT NOT NULL,
                currency TEXT NOT NULL, amount BIGINT NOT NULL, kind TEXT NOT NULL, presentment_id TEXT NOT NULL)
            """,
            "CREATE INDEX settlement_lines_window ON settlement_lines(window_id, participant)",
            "CREATE TABLE clearing_settings (name TEXT PRIMARY KEY, doc JSONB NOT NULL)",
            "CREATE INDEX journal_single_messages ON journal(claimed_at) WHERE response_code = '00' AND doc->>'mti' = '0200'",
            "ALTER TABLE presentments ADD COLUMN state TEXT NOT NULL DEFAULT 'cleared'",
            "ALTER TABLE presentments ADD COLUMN issuer_file_id TEXT",
            "CREATE INDEX presentments_unfiled ON presentments(issuer_id, cleared_at) WHERE issuer_file_id IS NULL",
            "CREATE INDEX presentments_issuer_file ON presentments(issuer_file_id) WHERE issuer_file_id IS NOT NULL",
            "CREATE TABLE issuer_files (file_id TEXT PRIMARY KEY, issuer_id TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)",
            "CREATE INDEX issuer_files_issuer ON issuer_files(issuer_id, created_at)",
        ]),
        ("v7: exchange rates", [
            """
            CREATE TABLE exchange_rates (currency TEXT NOT NULL, effective_at BIGINT NOT NULL, micro_units BIGINT NOT NULL,
                loaded_at BIGINT NOT NULL, PRIMARY KEY (currency, effective_at))
            """,
        ]),
        ("v8: settlement lines summed per file", [
            "ALTER TABLE settlement_lines RENAME COLUMN presentment_id TO source",
            "ALTER TABLE settlement_lines ADD COLUMN presentments INTEGER NOT NULL DEFAULT 1",
        ]),
        ("v9: push receipts", ["CREATE TABLE push_receipts (id TEXT PRIMARY KEY, doc JSONB NOT NULL)"]),
        ("v10: assets and wallet events", [
            "CREATE TABLE assets (id TEXT PRIMARY KEY, issuer_id TEXT NOT NULL, content_type TEXT NOT NULL, bytes BYTEA NOT NULL, created TIMESTAMPTZ NOT NULL)",
            "CREATE TABLE wallet_events (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, wallet_id TEXT NOT NULL, doc JSONB NOT NULL)",
            "CREATE INDEX wallet_events_wallet ON wallet_events(wallet_id, seq)",
        ]),
        ("v11: a market's tokens in pages", [
            "CREATE INDEX tokens_country_id ON tokens(country, id)",
            "CREATE INDEX tokens_issuer_id ON tokens(issuer_id, id)",
            "DROP INDEX tokens_issuer",
        ]),
        ("v12: a wallet's tokens in pages", [
            "CREATE INDEX tokens_wallet_id ON tokens(wallet_id, id)",
            "DROP INDEX tokens_wallet",
        ]),
        ("v13: delivered notices purged", ["CREATE INDEX notices_delivered ON notices(queued_at) WHERE state = 'delivered'"]),
        ("v14: console sessions shared by the nodes", [
            "CREATE TABLE console_sessions (key TEXT PRIMARY KEY, last_seen TIMESTAMPTZ NOT NULL, created TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)",
        ]),
        ("v15: the operator's audit trail", [
            "CREATE TABLE operator_audit (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)",
        ]),
    ]

    // MARK: Documents

    static func doc<T: Encodable>(_ value: T) throws -> String { try SQLiteStore.doc(value) }
    static func value<T: Decodable>(_ type: T.Type, _ doc: String?) throws -> T? { try SQLiteStore.value(T.self, doc) }
    static func value<T: Decodable>(_ type: T.Type, _ doc: String) throws -> T { try SQLiteStore.value(T.self, doc) }

    func one<T: Decodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T? {
        try Self.value(T.self, try await database.client.query(query, logger: logger).first(String?.self) ?? nil)
    }

    func all<T: Decodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
        try await database.client.query(query, logger: logger).all(String.self).map { try Self.value(T.self, $0) }
    }

    func run(_ query: PostgresQuery) async throws {
        try await database.client.query(query, logger: logger)
    }

    /// The number of rows a statement with `RETURNING 1` touched.
    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        try await rows.all(Int.self).count
    }
}

extension PostgresStore: TokenStore {
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

    public func saveIssuerMasterKey(issuerID: String, sealed: Data) async throws -> Bool {
        try await Self.count(try await database.client.query("""
            INSERT INTO secrets (name, value) VALUES (\("imk/\(issuerID)"), \(sealed)) ON CONFLICT DO NOTHING RETURNING 1
            """, logger: logger)) == 1
    }

    public func wrappedFingerprintKey() async throws -> Data? {
        try await database.client.query("SELECT value FROM secrets WHERE name = 'fingerprint-key'", logger: logger).first(Data.self)
    }

    public func replaceWrappedKeys(expected: Data, dataKey: Data, fingerprintKey: Data) async throws -> Bool {
        try await database.transaction { connection in
            let rows = try await connection.query("UPDATE secrets SET value = \(dataKey) WHERE name = 'data-key' AND value = \(expected) RETURNING 1",
                                                  logger: self.logger)
            guard try await rows.all(Int.self).count == 1 else { return false }
            try await connection.query("INSERT INTO secrets (name, value) VALUES ('fingerprint-key', \(fingerprintKey)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                                       logger: self.logger)
            return true
        }
    }

    public func sealedSecret(name: String) async throws -> Data? {
        try await database.client.query("SELECT value FROM secrets WHERE name = \("vault/\(name)")", logger: logger).first(Data.self)
    }

    public func saveSecret(name: String, sealed: Data) async throws {
        try await run("INSERT INTO secrets (name, value) VALUES (\("vault/\(name)"), \(sealed)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
    }

    public func saveSecretIfAbsent(name: String, sealed: Data) async throws -> Bool {
        try await Self.count(try await database.client.query(
            "INSERT INTO secrets (name, value) VALUES (\("vault/\(name)"), \(sealed)) ON CONFLICT DO NOTHING RETURNING 1", logger: logger)) == 1
    }

    public func sealedIssuerHostKey(issuerID: String) async throws -> Data? {
        try await database.client.query("SELECT value FROM secrets WHERE name = \("ihk/\(issuerID)")", logger: logger).first(Data.self)
    }

    public func saveIssuerHostKey(issuerID: String, sealed: Data) async throws {
        try await run("INSERT INTO secrets (name, value) VALUES (\("ihk/\(issuerID)"), \(sealed)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
    }

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

    public func createToken(_ token: Token, card: VaultCard, audit: AuditEvent, notice: IssuerNotice) async throws {
        try await createTokens([(token, card, audit)], notices: [notice])
    }

    public func createTokens(_ items: [(token: Token, card: VaultCard, audit: AuditEvent)]) async throws {
        try await createTokens(items, notices: [])
    }

    func createTokens(_ items: [(token: Token, card: VaultCard, audit: AuditEvent)], notices: [IssuerNotice]) async throws {
        let logger = self.logger
        let noticeDocs = try notices.map { ($0, try Self.doc($0)) }
        do {
            try await database.transaction { connection in
                for item in items {
                    try await Self.upsertCard(connection, item.card, logger: logger)
                    try await Self.insertToken(connection, item.token, audit: item.audit, logger: logger)
                }
                for (notice, doc) in noticeDocs { try await Self.insertNotice(connection, notice, doc: doc, logger: logger) }
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
        var filter = ""
        var bindings = PostgresBindings()
        for (column, value) in [("wallet_id", query.walletID), ("issuer_id", query.issuerID), ("device_id", query.deviceID),
                                ("card_id", query.cardID), ("country", query.country), ("status", query.status?.rawValue)] {
            if let value {
                bindings.append(value)
                filter += " AND \(column) = $\(bindings.count)"
            }
        }
        if let after = query.after {
            bindings.append(after)
            filter += " AND id > $\(bindings.count)"
        }
        if let market = query.market, let limit = query.limit {
            // A page of a market: the first `limit` ids by country and by each issuer, each
            // read along its (column, id) index, and the first `limit` of those. An OR over
            // the two columns would collect and sort the whole market for every page.
            var arms: [String] = []
            for (column, value) in [("country", market.country)] + market.issuerIDs.map({ ("issuer_id", $0) }) {
                bindings.append(value)
                arms.append("(SELECT id FROM tokens WHERE \(column) = $\(bindings.count)\(filter) ORDER BY id LIMIT \(max(limit, 0)))")
            }
            let page = "SELECT doc::text FROM tokens WHERE id IN (\(arms.joined(separator: " UNION ALL "))) ORDER BY id LIMIT \(max(limit, 0))"
            return try await all(Token.self, PostgresQuery(unsafeSQL: page, binds: bindings))
        }
        if let market = query.market {
            bindings.append(market.country)
            filter += " AND (country = $\(bindings.count)"
            bindings.append(market.issuerIDs)
            filter += " OR issuer_id = ANY($\(bindings.count)))"
        }
        // Pages go in id order; a whole answer in the order the tokens were made.
        var sql = "SELECT doc::text FROM tokens WHERE TRUE" + filter
        sql += query.limit == nil && query.after == nil ? " ORDER BY seq" : " ORDER BY id"
        if let limit = query.limit { sql += " LIMIT \(max(limit, 0))" }
        return try await all(Token.self, PostgresQuery(unsafeSQL: sql, binds: bindings))
    }

    public func updateTokens(_ changes: [TokenChange], audit: [AuditEvent], notices: [IssuerNotice]) async throws {
        let docs = try changes.map { ($0.after.id, $0.after.status.rawValue, try Self.doc($0.after), $0.after.updatedAt.storeMilliseconds,
                                      $0.before.updatedAt.storeMilliseconds) }
        let auditDocs = try audit.map { ($0.tokenID, try Self.doc($0)) }
        let noticeDocs = try notices.map { ($0, try Self.doc($0)) }
        let (logger, channel) = (self.logger, changeChannel)
        try await database.transaction { connection in
            try await Self.announce(connection, channel: channel, "token", logger: logger)
            if docs.count > 1 {
                // A page of a market's sweep, say: one statement per table, each row's
                // version checked as the single UPDATE below checks it.
                let updated = Set(try await connection.query("""
                    UPDATE tokens AS t SET status = u.status, doc = u.doc::jsonb, updated_ms = u.version
                    FROM unnest(\(docs.map(\.0))::text[], \(docs.map(\.1))::text[], \(docs.map(\.2))::text[], \(docs.map(\.3))::int8[],
                                \(docs.map(\.4))::int8[]) AS u(id, status, doc, version, read_version)
                    WHERE t.id = u.id AND t.updated_ms = u.read_version RETURNING t.id
                    """, logger: logger).all(String.self))
                if let missed = docs.first(where: { !updated.contains($0.0) })?.0 {
                    let exists = try await connection.query("SELECT 1 FROM tokens WHERE id = \(missed)", logger: logger).first(Int.self) != nil
                    throw exists ? StoreError.conflict("token \(missed)") : StoreError.notFound("token \(missed)")
                }
            } else {
                for (id, status, doc, version, readVersion) in docs {
                    let rows = try await connection.query("""
                        UPDATE tokens SET status = \(status), doc = \(doc)::jsonb, updated_ms = \(version)
                        WHERE id = \(id) AND updated_ms = \(readVersion) RETURNING 1
                        """, logger: logger)
                    if try await Self.count(rows) == 1 { continue }
                    let exists = try await connection.query("SELECT 1 FROM tokens WHERE id = \(id)", logger: logger).first(Int.self) != nil
                    throw exists ? StoreError.conflict("token \(id)") : StoreError.notFound("token \(id)")
                }
            }
            if !auditDocs.isEmpty {
                try await connection.query("""
                    INSERT INTO audit (token_id, doc)
                    SELECT token_id, doc::jsonb FROM unnest(\(auditDocs.map(\.0))::text[], \(auditDocs.map(\.1))::text[]) WITH ORDINALITY AS a(token_id, doc, n)
                    ORDER BY n
                    """, logger: logger)
            }
            if !noticeDocs.isEmpty {
                try await connection.query("""
                    INSERT INTO notices (id, issuer_id, state, queued_at, doc)
                    SELECT id, issuer_id, state, queued_at, doc::jsonb
                    FROM unnest(\(noticeDocs.map(\.0.id))::text[], \(noticeDocs.map(\.0.issuerID))::text[], \(noticeDocs.map(\.0.state.rawValue))::text[],
                                \(noticeDocs.map(\.0.queuedAt))::timestamptz[], \(noticeDocs.map(\.1))::text[])
                         WITH ORDINALITY AS x(id, issuer_id, state, queued_at, doc, n)
                    ORDER BY n
                    """, logger: logger)
            }
        }
    }

    static func insertNotice(_ connection: PostgresConnection, _ notice: IssuerNotice, doc: String, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO notices (id, issuer_id, state, queued_at, doc)
            VALUES (\(notice.id), \(notice.issuerID), \(notice.state.rawValue), \(notice.queuedAt), \(doc)::jsonb)
            """, logger: logger)
    }

    public func issuersNoticed() async throws -> [String] {
        try await database.client.query("SELECT DISTINCT issuer_id FROM notices WHERE state = 'queued'", logger: logger).all(String.self)
    }

    public func queuedNotices(issuerID: String, limit: Int) async throws -> [IssuerNotice] {
        try await all(IssuerNotice.self, "SELECT doc::text FROM notices WHERE issuer_id = \(issuerID) AND state = 'queued' ORDER BY seq LIMIT \(limit)")
    }

    public func updateNotice(_ notice: IssuerNotice) async throws {
        try await run("UPDATE notices SET state = \(notice.state.rawValue), doc = \(try Self.doc(notice))::jsonb WHERE id = \(notice.id)")
    }

    public func updateNotices(_ notices: [IssuerNotice]) async throws {
        guard !notices.isEmpty else { return }
        let docs = try notices.map { ($0.id, $0.state.rawValue, try Self.doc($0)) }
        let logger = self.logger
        try await database.transaction { connection in
            for (id, state, doc) in docs {
                try await connection.query("UPDATE notices SET state = \(state), doc = \(doc)::jsonb WHERE id = \(id)", logger: logger)
            }
        }
    }

    public func leaseNotices(issuerID: String, node: String, until: Date, now: Date) async throws -> Bool {
        // The forwarding leases' table, under a name of its own.
        try await lease(issuerID: "notices/" + issuerID, node: node, until: until, now: now)
    }

    public func leaseMarket(country: String, node: String, until: Date, now: Date) async throws -> Bool {
        try await lease(issuerID: "markets/" + country, node: node, until: until, now: now)
    }

    public func notice(id: String) async throws -> IssuerNotice? { try await one(IssuerNotice.self, "SELECT doc::text FROM notices WHERE id = \(id)") }

    public func purgeNotices(deliveredBefore before: Date, limit: Int) async throws -> Int {
        let rows = try await database.client.query("""
            WITH gone AS (DELETE FROM notices WHERE seq IN (SELECT seq FROM notices WHERE state = 'delivered' AND queued_at < \(before) LIMIT \(max(limit, 0)))
                          RETURNING 1)
            SELECT COUNT(*)::int8 FROM gone
            """, logger: logger)
        return Int(try await rows.first(Int64.self) ?? 0)
    }

    public func tokenCounts() async throws -> [TokenCount] {
        let rows = try await database.client.query("SELECT country, status, COUNT(*)::int8 FROM tokens GROUP BY country, status ORDER BY country, status", logger: logger)
        var counts: [TokenCount] = []
        for try await (country, status, count) in rows.decode((String, String, Int64).self) {
            counts.append(TokenCount(country: country, status: status, count: Int(count)))
        }
        return counts
    }

    public func noticeDepths() async throws -> [NoticeDepth] {
        let rows = try await database.client.query("""
            SELECT issuer_id, COUNT(*) FILTER (WHERE state = 'queued')::int8, MIN(queued_at) FILTER (WHERE state = 'queued'),
                   COUNT(*) FILTER (WHERE state = 'expired')::int8, COUNT(*) FILTER (WHERE state = 'delivered')::int8
            FROM notices GROUP BY issuer_id ORDER BY issuer_id
            """, logger: logger)
        var depths: [NoticeDepth] = []
        for try await (issuer, queued, oldest, expired, delivered) in rows.decode((String, Int64, Date?, Int64, Int64).self) {
            depths.append(NoticeDepth(issuerID: issuer, queued: Int(queued), oldestQueuedAt: oldest, expired: Int(expired), delivered: Int(delivered)))
        }
        return depths
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

    public func setIssuerStatus(cardID: String, _ status: CardIssuerStatus?) async throws {
        let doc = try status.map { try Self.doc($0) }
        let (logger, channel) = (self.logger, changeChannel)
        try await database.transaction { connection in
            try await Self.announce(connection, channel: channel, "card", logger: logger)
            let rows = if let doc {
                try await connection.query("UPDATE cards SET doc = jsonb_set(doc, '{issuerStatus}', \(doc)::jsonb) WHERE id = \(cardID) RETURNING 1", logger: logger)
            } else {
                try await connection.query("UPDATE cards SET doc = doc - 'issuerStatus' WHERE id = \(cardID) RETURNING 1", logger: logger)
            }
            guard try await Self.count(rows) == 1 else { throw StoreError.notFound("card \(cardID)") }
        }
    }

    public func audit(tokenID: String) async throws -> [AuditEvent] {
        try await all(AuditEvent.self, "SELECT doc::text FROM audit WHERE token_id = \(tokenID) ORDER BY seq")
    }

    /// One statement, committed on its own: the primary key decides between nodes.
    public func recordATC(tokenID: String, atc: UInt16) async throws -> Bool {
        try await database.client.execute(RecordATC(tokenID: tokenID, atc: Int32(atc)), logger: logger).firstElement() != nil
    }

    // MARK: Verifications

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

    // MARK: Push receipts

    public func savePushReceipt(_ receipt: PushReceipt) async throws {
        try await run("INSERT INTO push_receipts (id, doc) VALUES (\(receipt.id), \(try Self.doc(receipt))::jsonb)")
    }

    public func replacePushReceipt(_ after: PushReceipt, before: PushReceipt) async throws -> Bool {
        let rows = try await database.client.query(
            "UPDATE push_receipts SET doc = \(try Self.doc(after))::jsonb WHERE id = \(after.id) AND doc->>'state' = \(before.state.rawValue) RETURNING 1",
            logger: logger)
        return try await Self.count(rows) == 1
    }

    public func pushReceipt(id: String) async throws -> PushReceipt? {
        try await one(PushReceipt.self, "SELECT doc::text FROM push_receipts WHERE id = \(id)")
    }
}
