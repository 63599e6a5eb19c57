import Foundation
import GRDB
import Participants
import SQLiteSupport
import TokenService
import WalletProvider

/// The platform's store on SQLite (GRDB, WAL mode): the embedded default that lets
/// `passway serve` run with nothing else installed. One database holds each room's
/// tables, and this type implements each room's seam: participants (`ParticipantStore`),
/// the token service (`TokenStore`), the wallet provider (`WalletStore`) and the
/// network's journal (`AuthorizationJournal`, `SQLiteJournal.swift`). Each record is a
/// JSON document beside the columns that must be unique or searched; uniqueness (token
/// numbers, card fingerprints, journal keys) is the database's guarantee, not the
/// process's.
public final class SQLiteStore: Sendable {
    let pool: DatabasePool
    /// The authorization hot path's writes (ATCs, journal) share transactions.
    let groupCommit: GroupCommit
    /// Checkpoints of the WAL, off the writer (see `WALCheckpoints`).
    let walCheckpoints = WALCheckpoints()

    /// Opens (creating if needed) the database at `path` and runs its migrations.
    public init(path: String) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        walCheckpoints.configure(&config)
        pool = try DatabasePool(path: path, configuration: config)
        try pool.syncEveryCommit()
        try walCheckpoints.start(path: path)
        groupCommit = GroupCommit(pool)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: token service") { db in
            try db.execute(sql: """
                CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
                CREATE TABLE issuers (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE wallets (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE markets (country TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE device_models (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE credentials (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, participant_id TEXT NOT NULL);
                CREATE TABLE devices (id TEXT PRIMARY KEY, wallet_id TEXT NOT NULL, doc TEXT NOT NULL);
                CREATE TABLE cards (id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, issuer_id TEXT NOT NULL, doc TEXT NOT NULL);
                CREATE TABLE tokens (
                    id TEXT PRIMARY KEY, number_fingerprint TEXT NOT NULL UNIQUE,
                    card_id TEXT NOT NULL REFERENCES cards(id), issuer_id TEXT NOT NULL, wallet_id TEXT NOT NULL,
                    device_id TEXT NOT NULL, country TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL);
                CREATE INDEX tokens_card ON tokens(card_id);
                CREATE INDEX tokens_wallet ON tokens(wallet_id);
                CREATE INDEX tokens_issuer ON tokens(issuer_id);
                CREATE INDEX tokens_device ON tokens(device_id);
                CREATE INDEX tokens_country_status ON tokens(country, status);
                CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, token_id TEXT NOT NULL, doc TEXT NOT NULL);
                CREATE INDEX audit_token ON audit(token_id);
                CREATE TABLE verifications (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE idempotency (participant TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (participant, key));
                """)
        }
        migrator.registerMigration("v2: ATCs used") { db in
            try db.execute(sql: "CREATE TABLE used_atcs (token_id TEXT NOT NULL, atc INTEGER NOT NULL, PRIMARY KEY (token_id, atc))")
        }
        migrator.registerMigration("v3: authorization journal") { db in
            try db.execute(sql: """
                CREATE TABLE journal (
                    key TEXT PRIMARY KEY, request_digest TEXT NOT NULL, state TEXT NOT NULL, claimed_at REAL NOT NULL,
                    response_code TEXT, doc TEXT)
                """)
        }
        migrator.registerMigration("v4: idempotency keys reserved before the request runs") { db in
            try db.execute(sql: """
                CREATE TABLE idempotency_keys (
                    participant TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, reserved_at REAL NOT NULL, doc TEXT,
                    PRIMARY KEY (participant, key));
                INSERT INTO idempotency_keys (participant, key, request_hash, reserved_at, doc)
                    SELECT participant, key, json_extract(doc, '$.requestHash'), 0, doc FROM idempotency;
                DROP TABLE idempotency;
                """)
        }
        migrator.registerMigration("v5: token versions") { db in
            try db.execute(sql: """
                ALTER TABLE tokens ADD COLUMN updated_ms INTEGER NOT NULL DEFAULT 0;
                UPDATE tokens SET updated_ms = CAST(ROUND(json_extract(doc, '$.updatedAt')) AS INTEGER);
                """)
        }
        migrator.registerMigration("v6: acquirers; idempotency keys to the HTTP layer's own database") { db in
            try db.execute(sql: """
                CREATE TABLE acquirers (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
                DROP TABLE idempotency_keys;
                """)
        }
        migrator.registerMigration("v7: store-and-forward") { db in
            try db.execute(sql: """
                ALTER TABLE journal ADD COLUMN lost_issuer TEXT;
                ALTER TABLE journal ADD COLUMN lost_reversal BLOB;
                CREATE INDEX journal_unanswered ON journal(claimed_at) WHERE doc IS NULL;
                CREATE TABLE owed (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, issuer_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
                    queued_at REAL NOT NULL, doc TEXT NOT NULL);
                CREATE INDEX owed_queued ON owed(issuer_id, seq) WHERE state = 'queued';
                CREATE TABLE forwarding_leases (issuer_id TEXT PRIMARY KEY, node TEXT NOT NULL, until REAL NOT NULL);
                CREATE TABLE stand_in_usage (token_id TEXT NOT NULL, day TEXT NOT NULL, count INTEGER NOT NULL, amount INTEGER NOT NULL,
                                             PRIMARY KEY (token_id, day));
                """)
        }
        migrator.registerMigration("v8: issuer notices outbox") { db in
            try db.execute(sql: """
                CREATE TABLE notices (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, issuer_id TEXT NOT NULL, state TEXT NOT NULL,
                                      queued_at REAL NOT NULL, doc TEXT NOT NULL);
                CREATE INDEX notices_queued ON notices(issuer_id, seq) WHERE state = 'queued';
                """)
        }
        migrator.registerMigration("v9: clearing") { db in
            try db.execute(sql: """
                CREATE INDEX journal_approvals ON journal(json_extract(doc, '$.tokenID'), json_extract(doc, '$.approvalCode'))
                    WHERE response_code = '00';
                CREATE INDEX journal_reversals ON journal(json_extract(doc, '$.original')) WHERE json_extract(doc, '$.original') IS NOT NULL;
                CREATE TABLE clearing_files (file_id TEXT PRIMARY KEY, acquirer_id TEXT NOT NULL, received_at REAL NOT NULL, doc TEXT NOT NULL);
                CREATE TABLE presentments (
                    id TEXT PRIMARY KEY, authorization_key TEXT NOT NULL UNIQUE, acquirer_id TEXT NOT NULL, acquirer_reference TEXT NOT NULL,
                    issuer_id TEXT NOT NULL, currency TEXT NOT NULL, cleared_at REAL NOT NULL, doc TEXT NOT NULL,
                    UNIQUE (acquirer_id, acquirer_reference));
                """)
        }
        migrator.registerMigration("v10: settlement windows") { db in
            try db.execute(sql: """
                CREATE TABLE settlement_windows (id TEXT PRIMARY KEY, currency TEXT NOT NULL, state TEXT NOT NULL, cut_off REAL NOT NULL, doc TEXT NOT NULL);
                CREATE UNIQUE INDEX settlement_windows_open ON settlement_windows(currency) WHERE state = 'open';
                CREATE TABLE settlement_lines (seq INTEGER PRIMARY KEY AUTOINCREMENT, window_id TEXT NOT NULL, participant TEXT NOT NULL,
                    currency TEXT NOT NULL, amount INTEGER NOT NULL, kind TEXT NOT NULL, presentment_id TEXT NOT NULL);
                CREATE INDEX settlement_lines_window ON settlement_lines(window_id, participant);
                CREATE TABLE clearing_settings (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE INDEX journal_single_messages ON journal(claimed_at) WHERE response_code = '00' AND json_extract(doc, '$.mti') = '0200';
                ALTER TABLE presentments ADD COLUMN state TEXT NOT NULL DEFAULT 'cleared';
                ALTER TABLE presentments ADD COLUMN issuer_file_id TEXT;
                CREATE INDEX presentments_unfiled ON presentments(issuer_id, cleared_at) WHERE issuer_file_id IS NULL;
                CREATE INDEX presentments_issuer_file ON presentments(issuer_file_id) WHERE issuer_file_id IS NOT NULL;
                CREATE TABLE issuer_files (file_id TEXT PRIMARY KEY, issuer_id TEXT NOT NULL, created_at REAL NOT NULL, doc TEXT NOT NULL);
                CREATE INDEX issuer_files_issuer ON issuer_files(issuer_id, created_at);
                """)
        }
        migrator.registerMigration("v11: exchange rates") { db in
            // Effective and load times in milliseconds since 1970: exact keys.
            try db.execute(sql: """
                CREATE TABLE exchange_rates (currency TEXT NOT NULL, effective_at INTEGER NOT NULL, micro_units INTEGER NOT NULL,
                    loaded_at INTEGER NOT NULL, PRIMARY KEY (currency, effective_at));
                """)
        }
        migrator.registerMigration("v12: settlement lines summed per file") { db in
            try db.execute(sql: """
                ALTER TABLE settlement_lines RENAME COLUMN presentment_id TO source;
                ALTER TABLE settlement_lines ADD COLUMN presentments INTEGER NOT NULL DEFAULT 1;
                """)
        }
        migrator.registerMigration("v13: push receipts") { db in
            try db.execute(sql: "CREATE TABLE push_receipts (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        }
        migrator.registerMigration("v14: assets and wallet events") { db in
            try db.execute(sql: """
                CREATE TABLE assets (id TEXT PRIMARY KEY, issuer_id TEXT NOT NULL, content_type TEXT NOT NULL, bytes BLOB NOT NULL, created REAL NOT NULL);
                CREATE TABLE wallet_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, wallet_id TEXT NOT NULL, doc TEXT NOT NULL);
                CREATE INDEX wallet_events_wallet ON wallet_events(wallet_id, seq);
                """)
        }
        migrator.registerMigration("v15: a market's tokens in pages") { db in
            try db.execute(sql: """
                CREATE INDEX tokens_country_id ON tokens(country, id);
                CREATE INDEX tokens_issuer_id ON tokens(issuer_id, id);
                DROP INDEX tokens_issuer;
                """)
        }
        migrator.registerMigration("v16: a wallet's tokens in pages") { db in
            try db.execute(sql: """
                CREATE INDEX tokens_wallet_id ON tokens(wallet_id, id);
                DROP INDEX tokens_wallet;
                """)
        }
        migrator.registerMigration("v17: delivered notices purged") { db in
            try db.execute(sql: "CREATE INDEX notices_delivered ON notices(queued_at) WHERE state = 'delivered'")
        }
        migrator.registerMigration("v18: console sessions shared by the nodes") { db in
            try db.execute(sql: "CREATE TABLE console_sessions (key TEXT PRIMARY KEY, last_seen REAL NOT NULL, created REAL NOT NULL, doc TEXT NOT NULL)")
        }
        migrator.registerMigration("v19: the operator's audit trail") { db in
            try db.execute(sql: "CREATE TABLE operator_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, doc TEXT NOT NULL)")
        }
        return migrator
    }

    // MARK: Documents

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .millisecondsSince1970
        e.outputFormatting = .sortedKeys
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }()

    static func doc<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
    static func value<T: Decodable>(_ type: T.Type, _ doc: String?) throws -> T? {
        guard let doc else { return nil }
        return try decoder.decode(T.self, from: Data(doc.utf8))
    }

    /// A stored document, decoded: a row that does not decode is an error, never a trap.
    static func value<T: Decodable>(_ type: T.Type, _ doc: String) throws -> T {
        try decoder.decode(T.self, from: Data(doc.utf8))
    }

    func one<T: Decodable & Sendable>(_ type: T.Type, _ sql: String, _ arguments: StatementArguments) async throws -> T? {
        try await pool.read { db in try Self.value(T.self, try String.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)) }
    }

    func all<T: Decodable & Sendable>(_ type: T.Type, _ sql: String, _ arguments: StatementArguments = []) async throws -> [T] {
        try await pool.read { db in try String.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { try Self.value(T.self, $0) } }
    }

    /// Like `all`, for many rows: the documents read in one go, then decoded in parts on
    /// every core (up to four), in their order.
    func many<T: Decodable & Sendable>(_ type: T.Type, _ sql: String, _ arguments: StatementArguments = []) async throws -> [T] {
        let docs = try await pool.read { db in try String.fetchAll(db.cachedStatement(sql: sql), arguments: arguments) }
        let parts = docs.count < 2_000 ? 1 : max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        guard parts > 1 else { return try docs.map { try Self.value(T.self, $0) } }
        let size = (docs.count + parts - 1) / parts
        return try await withThrowingTaskGroup(of: (Int, [T]).self) { group in
            for start in stride(from: 0, to: docs.count, by: size) {
                let part = docs[start..<min(start + size, docs.count)]
                group.addTask { (start, try part.map { try Self.value(T.self, $0) }) }
            }
            var decoded: [(Int, [T])] = []
            for try await part in group { decoded.append(part) }
            return decoded.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    func put(_ sql: String, _ arguments: StatementArguments) async throws {
        try await pool.write { db in try db.execute(sql: sql, arguments: arguments) }
    }
}

extension SQLiteStore: TokenStore {
    // MARK: Key material

    public func wrappedDataKey() async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = 'data-key'") }
    }

    public func saveWrappedDataKey(_ wrapped: Data) async throws {
        // INSERT, not REPLACE: a second data key would orphan every sealed card.
        do {
            try await put("INSERT INTO secrets (name, value) VALUES ('data-key', ?)", [wrapped])
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate("data key")
        }
    }

    public func sealedIssuerMasterKey(issuerID: String) async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = ?", arguments: ["imk/\(issuerID)"]) }
    }

    public func saveIssuerMasterKey(issuerID: String, sealed: Data) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", arguments: ["imk/\(issuerID)", sealed])
            return db.changesCount == 1
        }
    }

    public func wrappedFingerprintKey() async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = 'fingerprint-key'") }
    }

    public func replaceWrappedKeys(expected: Data, dataKey: Data, fingerprintKey: Data) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE secrets SET value = ? WHERE name = 'data-key' AND value = ?", arguments: [dataKey, expected])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "INSERT OR REPLACE INTO secrets (name, value) VALUES ('fingerprint-key', ?)", arguments: [fingerprintKey])
            return true
        }
    }

    public func sealedSecret(name: String) async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = ?", arguments: ["vault/\(name)"]) }
    }

    public func saveSecret(name: String, sealed: Data) async throws {
        try await put("INSERT OR REPLACE INTO secrets (name, value) VALUES (?, ?)", ["vault/\(name)", sealed])
    }

    public func saveSecretIfAbsent(name: String, sealed: Data) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", arguments: ["vault/\(name)", sealed])
            return db.changesCount == 1
        }
    }

    public func sealedIssuerHostKey(issuerID: String) async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = ?", arguments: ["ihk/\(issuerID)"]) }
    }

    public func saveIssuerHostKey(issuerID: String, sealed: Data) async throws {
        try await put("INSERT OR REPLACE INTO secrets (name, value) VALUES (?, ?)", ["ihk/\(issuerID)", sealed])
    }

    // MARK: Vault and tokens

    public func card(fingerprint: String) async throws -> VaultCard? { try await one(VaultCard.self, "SELECT doc FROM cards WHERE fingerprint = ?", [fingerprint]) }
    public func cards(fingerprints: [String]) async throws -> [String: VaultCard] {
        try await pool.read { db in
            var found: [String: VaultCard] = [:]
            for start in stride(from: 0, to: fingerprints.count, by: 500) {
                let part = Array(fingerprints[start..<min(start + 500, fingerprints.count)])
                let marks = Array(repeating: "?", count: part.count).joined(separator: ", ")
                for doc in try String.fetchAll(db, sql: "SELECT doc FROM cards WHERE fingerprint IN (\(marks))", arguments: StatementArguments(part)) {
                    let card: VaultCard = try Self.value(VaultCard.self, doc)
                    found[card.fingerprint] = card
                }
            }
            return found
        }
    }

    public func card(id: String) async throws -> VaultCard? { try await one(VaultCard.self, "SELECT doc FROM cards WHERE id = ?", [id]) }

    static func upsertCard(_ db: Database, _ card: VaultCard) throws {
        try db.execute(sql: """
            INSERT INTO cards (id, fingerprint, issuer_id, doc) VALUES (?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET fingerprint = excluded.fingerprint, doc = excluded.doc
            """, arguments: [card.id, card.fingerprint, card.issuerID, try doc(card)])
    }

    public func saveCard(_ card: VaultCard) async throws {
        try await pool.write { db in try Self.upsertCard(db, card) }
    }

    public func createToken(_ token: Token, card: VaultCard, audit: AuditEvent, notice: IssuerNotice) async throws {
        let tokenDoc = try Self.doc(token), auditDoc = try Self.doc(audit), noticeDoc = try Self.doc(notice)
        do {
            try await pool.write { db in
                try Self.upsertCard(db, card)
                try db.execute(sql: """
                    INSERT INTO tokens (id, number_fingerprint, card_id, issuer_id, wallet_id, device_id, country, status, doc, updated_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [token.id, token.numberFingerprint, token.cardID, token.issuerID, token.walletID, token.deviceID,
                                     token.country, token.status.rawValue, tokenDoc, token.updatedAt.storeMilliseconds])
                try db.execute(sql: "INSERT INTO audit (token_id, doc) VALUES (?, ?)", arguments: [audit.tokenID, auditDoc])
                try Self.insertNotice(db, notice, doc: noticeDoc)
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate("token number")
        }
    }

    public func createTokens(_ items: [(token: Token, card: VaultCard, audit: AuditEvent)]) async throws {
        let docs = try items.map { (try Self.doc($0.token), try Self.doc($0.audit)) }
        do {
            try await pool.write { db in
                for (item, (tokenDoc, auditDoc)) in zip(items, docs) {
                    let token = item.token
                    try Self.upsertCard(db, item.card)
                    try db.execute(sql: """
                        INSERT INTO tokens (id, number_fingerprint, card_id, issuer_id, wallet_id, device_id, country, status, doc, updated_ms)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [token.id, token.numberFingerprint, token.cardID, token.issuerID, token.walletID, token.deviceID,
                                         token.country, token.status.rawValue, tokenDoc, token.updatedAt.storeMilliseconds])
                    try db.execute(sql: "INSERT INTO audit (token_id, doc) VALUES (?, ?)", arguments: [item.audit.tokenID, auditDoc])
                }
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate("token number or card")
        }
    }

    public func token(id: String) async throws -> Token? { try await one(Token.self, "SELECT doc FROM tokens WHERE id = ?", [id]) }
    public func token(numberFingerprint: String) async throws -> Token? {
        try await one(Token.self, "SELECT doc FROM tokens WHERE number_fingerprint = ?", [numberFingerprint])
    }

    public func tokens(_ query: TokenQuery) async throws -> [Token] {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        for (column, value) in [("wallet_id", query.walletID), ("issuer_id", query.issuerID), ("device_id", query.deviceID),
                                ("card_id", query.cardID), ("country", query.country), ("status", query.status?.rawValue)] {
            if let value { clauses.append("\(column) = ?"); arguments.append(value) }
        }
        if let after = query.after { clauses.append("id > ?"); arguments.append(after) }
        if let market = query.market, let limit = query.limit {
            // A page of a market: the first `limit` ids by country and by each issuer, each
            // read along its (column, id) index, and the first `limit` of those. An OR over
            // the two columns would collect and sort the whole market for every page.
            let others = clauses.map { " AND " + $0 }.joined()
            var arms: [String] = []
            var armArguments: [(any DatabaseValueConvertible)?] = []
            for (column, value) in [("country", market.country)] + market.issuerIDs.map({ ("issuer_id", $0) }) {
                arms.append("SELECT id FROM (SELECT id FROM tokens WHERE \(column) = ?\(others) ORDER BY id LIMIT \(max(limit, 0)))")
                armArguments.append(value)
                armArguments += arguments
            }
            return try await all(Token.self, "SELECT doc FROM tokens WHERE id IN (\(arms.joined(separator: " UNION ALL "))) ORDER BY id LIMIT \(max(limit, 0))",
                                 StatementArguments(armArguments))
        }
        if let market = query.market {
            clauses.append("(country = ?" + String(repeating: " OR issuer_id = ?", count: market.issuerIDs.count) + ")")
            arguments.append(market.country)
            arguments += market.issuerIDs.map { $0 }
        }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        // Pages go in id order; a whole answer in the order the tokens were made.
        let order = query.limit == nil && query.after == nil ? "ORDER BY rowid" : "ORDER BY id"
        let limit = query.limit.map { " LIMIT \(max($0, 0))" } ?? ""
        return try await all(Token.self, "SELECT doc FROM tokens \(whereSQL) \(order)\(limit)", StatementArguments(arguments))
    }

    public func updateTokens(_ changes: [TokenChange], audit: [AuditEvent], notices: [IssuerNotice]) async throws {
        let docs = try changes.map { ($0, try Self.doc($0.after)) }
        let auditDocs = try audit.map { ($0.tokenID, try Self.doc($0)) }
        let noticeDocs = try notices.map { ($0, try Self.doc($0)) }
        try await pool.write { db in
            for (change, doc) in docs {
                let token = change.after
                try db.execute(sql: "UPDATE tokens SET status = ?, doc = ?, updated_ms = ? WHERE id = ? AND updated_ms = ?",
                               arguments: [token.status.rawValue, doc, token.updatedAt.storeMilliseconds, token.id,
                                           change.before.updatedAt.storeMilliseconds])
                if db.changesCount == 1 { continue }
                let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM tokens WHERE id = ?", arguments: [token.id]) ?? false
                throw exists ? StoreError.conflict("token \(token.id)") : StoreError.notFound("token \(token.id)")
            }
            for (tokenID, doc) in auditDocs {
                try db.execute(sql: "INSERT INTO audit (token_id, doc) VALUES (?, ?)", arguments: [tokenID, doc])
            }
            for (notice, doc) in noticeDocs { try Self.insertNotice(db, notice, doc: doc) }
        }
    }

    static func insertNotice(_ db: Database, _ notice: IssuerNotice, doc: String) throws {
        try db.cachedStatement(sql: "INSERT INTO notices (id, issuer_id, state, queued_at, doc) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [notice.id, notice.issuerID, notice.state.rawValue, notice.queuedAt.timeIntervalSince1970, doc])
    }

    public func issuersNoticed() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT issuer_id FROM notices WHERE state = 'queued'")) }
    }

    public func queuedNotices(issuerID: String, limit: Int) async throws -> [IssuerNotice] {
        try await all(IssuerNotice.self, "SELECT doc FROM notices WHERE issuer_id = ? AND state = 'queued' ORDER BY seq LIMIT ?", [issuerID, limit])
    }

    public func updateNotice(_ notice: IssuerNotice) async throws {
        let doc = try Self.doc(notice)
        try await pool.write { db in
            try db.cachedStatement(sql: "UPDATE notices SET state = ?, doc = ? WHERE id = ?").execute(arguments: [notice.state.rawValue, doc, notice.id])
        }
    }

    public func updateNotices(_ notices: [IssuerNotice]) async throws {
        guard !notices.isEmpty else { return }
        let docs = try notices.map { ($0, try Self.doc($0)) }
        try await pool.write { db in
            let statement = try db.cachedStatement(sql: "UPDATE notices SET state = ?, doc = ? WHERE id = ?")
            for (notice, doc) in docs { try statement.execute(arguments: [notice.state.rawValue, doc, notice.id]) }
        }
    }

    public func purgeNotices(deliveredBefore before: Date, limit: Int) async throws -> Int {
        try await pool.write { db in
            try db.cachedStatement(sql: """
                DELETE FROM notices WHERE seq IN (SELECT seq FROM notices WHERE state = 'delivered' AND queued_at < ? LIMIT ?)
                """).execute(arguments: [before.timeIntervalSince1970, max(limit, 0)])
            return db.changesCount
        }
    }

    public func leaseNotices(issuerID: String, node: String, until: Date, now: Date) async throws -> Bool {
        // The forwarding leases' table, under a name of its own.
        try await lease(issuerID: "notices/" + issuerID, node: node, until: until, now: now)
    }

    public func leaseMarket(country: String, node: String, until: Date, now: Date) async throws -> Bool {
        try await lease(issuerID: "markets/" + country, node: node, until: until, now: now)
    }

    public func notice(id: String) async throws -> IssuerNotice? { try await one(IssuerNotice.self, "SELECT doc FROM notices WHERE id = ?", [id]) }

    public func tokenCounts() async throws -> [TokenCount] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT country, status, COUNT(*) AS n FROM tokens GROUP BY country, status ORDER BY country, status").map { row in
                TokenCount(country: row["country"], status: row["status"], count: row["n"])
            }
        }
    }

    public func noticeDepths() async throws -> [NoticeDepth] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT issuer_id, SUM(state = 'queued') AS queued, MIN(CASE WHEN state = 'queued' THEN queued_at END) AS oldest,
                       SUM(state = 'expired') AS expired, SUM(state = 'delivered') AS delivered
                FROM notices GROUP BY issuer_id ORDER BY issuer_id
                """).map { row in
                let oldest: Double? = row["oldest"]
                return NoticeDepth(issuerID: row["issuer_id"], queued: row["queued"], oldestQueuedAt: oldest.map(Date.init(timeIntervalSince1970:)),
                                   expired: row["expired"], delivered: row["delivered"])
            }
        }
    }

    public func updateCard(_ card: VaultCard, previousFingerprint: String, audit: [AuditEvent]) async throws {
        let doc = try Self.doc(card)
        let auditDocs = try audit.map { ($0.tokenID, try Self.doc($0)) }
        do {
            try await pool.write { db in
                try db.execute(sql: "UPDATE cards SET fingerprint = ?, doc = ? WHERE id = ? AND fingerprint = ?",
                               arguments: [card.fingerprint, doc, card.id, previousFingerprint])
                guard db.changesCount == 1 else { throw StoreError.notFound("card \(card.id) as it was") }
                for (tokenID, doc) in auditDocs {
                    try db.execute(sql: "INSERT INTO audit (token_id, doc) VALUES (?, ?)", arguments: [tokenID, doc])
                }
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate("card fingerprint")
        }
    }

    public func setIssuerStatus(cardID: String, _ status: CardIssuerStatus?) async throws {
        let doc = try status.map { try Self.doc($0) }
        try await pool.write { db in
            if let doc {
                try db.execute(sql: "UPDATE cards SET doc = json_set(doc, '$.issuerStatus', json(?)) WHERE id = ?", arguments: [doc, cardID])
            } else {
                try db.execute(sql: "UPDATE cards SET doc = json_remove(doc, '$.issuerStatus') WHERE id = ?", arguments: [cardID])
            }
            guard db.changesCount == 1 else { throw StoreError.notFound("card \(cardID)") }
        }
    }

    public func audit(tokenID: String) async throws -> [AuditEvent] {
        try await all(AuditEvent.self, "SELECT doc FROM audit WHERE token_id = ? ORDER BY seq", [tokenID])
    }

    public func recordATC(tokenID: String, atc: UInt16) async throws -> Bool {
        try await groupCommit.writeOneStatement { db in try Self.recordATC(db, tokenID: tokenID, atc: atc) }
    }

    /// One statement: true when the ATC was not used before. Also part of the journal's claim.
    static func recordATC(_ db: Database, tokenID: String, atc: UInt16) throws -> Bool {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO used_atcs (token_id, atc) VALUES (?, ?)").execute(arguments: [tokenID, Int(atc)])
        return db.changesCount == 1
    }

    // MARK: Verifications

    public func savePendingVerification(_ pending: PendingVerification) async throws {
        try await put("INSERT OR REPLACE INTO verifications (id, doc) VALUES (?, ?)", [pending.id, try Self.doc(pending)])
    }

    public func replacePendingVerification(_ after: PendingVerification, before: PendingVerification) async throws -> Bool {
        let doc = try Self.doc(after)
        return try await pool.write { db in
            try db.execute(sql: """
                UPDATE verifications SET doc = ?
                WHERE id = ? AND json_extract(doc, '$.state') = ? AND json_extract(doc, '$.attemptsLeft') = ?
                """, arguments: [doc, after.id, before.state.rawValue, before.attemptsLeft])
            return db.changesCount == 1
        }
    }

    public func pendingVerification(id: String) async throws -> PendingVerification? {
        try await one(PendingVerification.self, "SELECT doc FROM verifications WHERE id = ?", [id])
    }

    // MARK: Push receipts

    public func savePushReceipt(_ receipt: PushReceipt) async throws {
        try await put("INSERT INTO push_receipts (id, doc) VALUES (?, ?)", [receipt.id, try Self.doc(receipt)])
    }

    public func replacePushReceipt(_ after: PushReceipt, before: PushReceipt) async throws -> Bool {
        let doc = try Self.doc(after)
        return try await pool.write { db in
            try db.execute(sql: "UPDATE push_receipts SET doc = ? WHERE id = ? AND json_extract(doc, '$.state') = ?",
                           arguments: [doc, after.id, before.state.rawValue])
            return db.changesCount == 1
        }
    }

    public func pushReceipt(id: String) async throws -> PushReceipt? {
        try await one(PushReceipt.self, "SELECT doc FROM push_receipts WHERE id = ?", [id])
    }
}
