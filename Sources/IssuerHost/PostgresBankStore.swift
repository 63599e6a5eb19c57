import Foundation
import Logging
import PostgresNIO
import PostgresSupport

/// The bundled issuer host's banks on PostgreSQL: one schema (`issuer_host` unless told
/// otherwise) for every bank, each row under its bank's id, so that several nodes serve
/// the same banks. The SQLite variant keeps one file per bank instead.
public final class PostgresIssuerHost: Sendable {
    let database: PostgresPool

    public init(url: PostgresURL, schema: String = "issuer_host", maximumConnections: Int = 8, logger: Logger) async throws {
        database = try await PostgresPool(url: url, schema: schema, maximumConnections: maximumConnections, logger: logger)
        do {
            try await database.migrate(Self.migrations)
        } catch {
            await database.close()
            throw error
        }
    }

    public func close() async { await database.close() }

    static let migrations: [(name: String, statements: [String])] = [
        ("v1: issuer host", [
            "CREATE TABLE banks (id TEXT PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            "CREATE TABLE secrets (bank_id TEXT NOT NULL REFERENCES banks(id), name TEXT NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (bank_id, name))",
            """
            CREATE TABLE accounts (bank_id TEXT NOT NULL REFERENCES banks(id), id TEXT NOT NULL, fingerprint TEXT NOT NULL, doc JSONB NOT NULL,
                                   PRIMARY KEY (bank_id, id), UNIQUE (bank_id, fingerprint))
            """,
            "CREATE TABLE settings (bank_id TEXT NOT NULL REFERENCES banks(id), name TEXT NOT NULL, doc JSONB NOT NULL, PRIMARY KEY (bank_id, name))",
            "CREATE TABLE outbox (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, bank_id TEXT NOT NULL REFERENCES banks(id), doc JSONB NOT NULL)",
            "CREATE INDEX outbox_bank ON outbox(bank_id, seq)",
            """
            CREATE TABLE notifications (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, bank_id TEXT NOT NULL REFERENCES banks(id),
                                        token_id TEXT NOT NULL, doc JSONB NOT NULL)
            """,
            "CREATE INDEX notifications_bank ON notifications(bank_id, seq)",
            """
            CREATE TABLE holds (bank_id TEXT NOT NULL, reference TEXT NOT NULL, account_id TEXT NOT NULL, amount BIGINT NOT NULL,
                                type TEXT NOT NULL, state TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, PRIMARY KEY (bank_id, reference),
                                FOREIGN KEY (bank_id, account_id) REFERENCES accounts(bank_id, id))
            """,
            "CREATE INDEX holds_account ON holds(bank_id, account_id, state, at)",
            "CREATE TABLE decisions (bank_id TEXT NOT NULL, reference TEXT NOT NULL, doc JSONB NOT NULL, PRIMARY KEY (bank_id, reference))",
            """
            CREATE TABLE ledger (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, bank_id TEXT NOT NULL, account_id TEXT NOT NULL,
                                 reference TEXT NOT NULL, entry TEXT NOT NULL, amount BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL)
            """,
            "CREATE INDEX ledger_reference ON ledger(bank_id, reference)",
        ]),
        ("v2: signed requests", [
            "CREATE TABLE nonces (bank_id TEXT NOT NULL, nonce TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, PRIMARY KEY (bank_id, nonce))",
            "CREATE INDEX nonces_at ON nonces(bank_id, at)",
        ]),
        ("v3: ID&V failures", [
            "CREATE TABLE idv_failures (bank_id TEXT NOT NULL, subject TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)",
            "CREATE INDEX idv_failures_subject ON idv_failures(bank_id, subject, at)",
        ]),
        ("v4: notifications kept once", [
            "ALTER TABLE notifications ADD COLUMN notification_id TEXT",
            "CREATE UNIQUE INDEX notifications_once ON notifications(bank_id, notification_id)",
        ]),
        ("v5: postings from clearing", [
            """
            CREATE TABLE postings (bank_id TEXT NOT NULL, presentment_id TEXT NOT NULL, reference TEXT NOT NULL, account_id TEXT NOT NULL,
                                   amount BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL, PRIMARY KEY (bank_id, presentment_id))
            """,
        ]),
    ]

    /// Every bank, in id order.
    public func bankIDs() async throws -> [String] {
        try await database.client.query("SELECT id FROM banks ORDER BY id", logger: database.logger).all(String.self)
    }

    /// Registers a bank with its card ranges, in one transaction. False when it exists
    /// (perhaps created through another node).
    public func createBank(id: String, cardRanges: [String]) async throws -> Bool {
        let ranges = try IssuerDatabase.doc(cardRanges)
        return try await database.transaction { connection in
            let rows = try await connection.query("INSERT INTO banks (id) VALUES (\(id)) ON CONFLICT DO NOTHING RETURNING 1", logger: self.database.logger)
            guard try await rows.all(Int.self).count == 1 else { return false }
            try await connection.query("INSERT INTO settings (bank_id, name, doc) VALUES (\(id), 'card-ranges', \(ranges)::jsonb)",
                                       logger: self.database.logger)
            return true
        }
    }

    public func store(bank id: String) -> PostgresBankStore { PostgresBankStore(database: database, bankID: id) }
}

/// One bank's view of the shared issuer-host schema.
public struct PostgresBankStore: BankStore {
    let database: PostgresPool
    public let bankID: String
    var logger: Logger { database.logger }
    var client: PostgresClient { database.client }

    static func doc<T: Encodable>(_ v: T) throws -> String { try IssuerDatabase.doc(v) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T { try IssuerDatabase.decode(T.self, s) }

    public func wrappedDataKey() async throws -> Data? {
        try await client.query("SELECT value FROM secrets WHERE bank_id = \(bankID) AND name = 'data-key'", logger: logger).first(Data.self)
    }

    public func secret(_ name: String) async throws -> Data? {
        try await client.query("SELECT value FROM secrets WHERE bank_id = \(bankID) AND name = \(name)", logger: logger).first(Data.self)
    }

    public func saveSecret(_ name: String, _ value: Data) async throws {
        try await client.query("""
            INSERT INTO secrets (bank_id, name, value) VALUES (\(bankID), \(name), \(value))
            ON CONFLICT (bank_id, name) DO UPDATE SET value = EXCLUDED.value
            """, logger: logger)
    }

    public func rememberNonce(_ nonce: String, at: Date, forgetBefore: Date) async throws -> Bool {
        try await database.transaction { connection in
            try await connection.query("DELETE FROM nonces WHERE bank_id = \(self.bankID) AND at < \(forgetBefore)", logger: self.logger)
            let rows = try await connection.query(
                "INSERT INTO nonces (bank_id, nonce, at) VALUES (\(self.bankID), \(nonce), \(at)) ON CONFLICT DO NOTHING RETURNING 1", logger: self.logger)
            return try await rows.all(Int.self).count == 1
        }
    }

    public func recordFailure(subjects: [String], at: Date) async throws {
        for subject in subjects {
            try await client.query("INSERT INTO idv_failures (bank_id, subject, at) VALUES (\(bankID), \(subject), \(at))", logger: logger)
        }
    }

    public func failures(subjects: [String], since: Date) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for subject in subjects {
            let n = try await client.query("SELECT COUNT(*)::bigint FROM idv_failures WHERE bank_id = \(bankID) AND subject = \(subject) AND at >= \(since)",
                                           logger: logger).first(Int64.self) ?? 0
            if n > 0 { counts[subject] = Int(n) }
        }
        return counts
    }

    public func saveWrappedDataKey(_ wrapped: Data) async throws {
        do {
            try await client.query("INSERT INTO secrets (bank_id, name, value) VALUES (\(bankID), 'data-key', \(wrapped))", logger: logger)
        } catch where error.isUniqueViolation {
            throw IssuerHostError.conflict("the bank has a data key")
        }
    }

    public func insertAccount(_ account: Account) async throws {
        do {
            try await client.query("""
                INSERT INTO accounts (bank_id, id, fingerprint, doc) VALUES (\(bankID), \(account.id), \(account.fingerprint), \(try Self.doc(account))::jsonb)
                """, logger: logger)
        } catch where error.isUniqueViolation {
            throw IssuerHostError.conflict("an account for card \(account.maskedPAN) exists")
        }
    }

    public func insertAccounts(_ accounts: [Account]) async throws {
        let rows = try accounts.map { ($0.id, $0.fingerprint, try Self.doc($0)) }
        let (bankID, logger) = (self.bankID, self.logger)
        do {
            try await database.transaction { connection in
                for (id, fingerprint, doc) in rows {
                    try await connection.query("""
                        INSERT INTO accounts (bank_id, id, fingerprint, doc) VALUES (\(bankID), \(id), \(fingerprint), \(doc)::jsonb)
                        """, logger: logger)
                }
            }
        } catch where error.isUniqueViolation {
            throw IssuerHostError.conflict("an account for one of these cards exists")
        }
    }

    public func account(fingerprint: String) async throws -> Account? {
        try await client.query("SELECT doc::text FROM accounts WHERE bank_id = \(bankID) AND fingerprint = \(fingerprint)", logger: logger)
            .first(String.self).map { try Self.decode(Account.self, $0) }
    }

    public func replaceAccount(_ account: Account) async throws {
        try await client.query("UPDATE accounts SET doc = \(try Self.doc(account))::jsonb WHERE bank_id = \(bankID) AND id = \(account.id)", logger: logger)
    }

    public func accounts() async throws -> [Account] {
        try await client.query("SELECT doc::text FROM accounts WHERE bank_id = \(bankID) ORDER BY id", logger: logger)
            .all(String.self).map { try Self.decode(Account.self, $0) }
    }

    public func cardRanges() async throws -> [String]? {
        try await client.query("SELECT doc::text FROM settings WHERE bank_id = \(bankID) AND name = 'card-ranges'", logger: logger)
            .first(String.self).map { try Self.decode([String].self, $0) }
    }

    public func saveCardRanges(_ ranges: [String]) async throws {
        try await client.query("""
            INSERT INTO settings (bank_id, name, doc) VALUES (\(bankID), 'card-ranges', \(try Self.doc(ranges))::jsonb)
            ON CONFLICT (bank_id, name) DO UPDATE SET doc = EXCLUDED.doc
            """, logger: logger)
    }

    public func rules() async throws -> IDVRules {
        try await client.query("SELECT doc::text FROM settings WHERE bank_id = \(bankID) AND name = 'idv-rules'", logger: logger)
            .first(String.self).map { try Self.decode(IDVRules.self, $0) } ?? .standard
    }

    public func saveRules(_ rules: IDVRules) async throws {
        try await client.query("""
            INSERT INTO settings (bank_id, name, doc) VALUES (\(bankID), 'idv-rules', \(try Self.doc(rules))::jsonb)
            ON CONFLICT (bank_id, name) DO UPDATE SET doc = EXCLUDED.doc
            """, logger: logger)
    }

    public func appendOutbox(_ message: OutboxMessage) async throws {
        try await client.query("INSERT INTO outbox (bank_id, doc) VALUES (\(bankID), \(try Self.doc(message))::jsonb)", logger: logger)
    }

    public func outbox() async throws -> [OutboxMessage] {
        let rows = try await client.query("SELECT seq, doc::text FROM outbox WHERE bank_id = \(bankID) ORDER BY seq", logger: logger)
        var messages: [OutboxMessage] = []
        for try await (seq, doc) in rows.decode((Int64, String).self) {
            var message = try Self.decode(OutboxMessage.self, doc)
            message.id = seq
            messages.append(message)
        }
        return messages
    }

    public func appendNotifications(_ notifications: [ReceivedNotification]) async throws {
        guard !notifications.isEmpty else { return }
        // One statement, so one transaction: in order (WITH ORDINALITY), each once by its id.
        let ids = notifications.map { $0.id ?? "" }, tokens = notifications.map(\.tokenID), docs = try notifications.map { try Self.doc($0) }
        try await client.query("""
            INSERT INTO notifications (bank_id, notification_id, token_id, doc)
            SELECT \(bankID), NULLIF(n.id, ''), n.token, n.doc::jsonb FROM unnest(\(ids)::text[], \(tokens)::text[], \(docs)::text[]) WITH ORDINALITY AS n(id, token, doc, i)
            ORDER BY n.i
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    public func notifications() async throws -> [ReceivedNotification] {
        try await client.query("SELECT doc::text FROM notifications WHERE bank_id = \(bankID) ORDER BY seq", logger: logger)
            .all(String.self).map { try Self.decode(ReceivedNotification.self, $0) }
    }

    // MARK: Authorizations

    public func authorize(reference: String, fingerprint: String, since dayStart: Date,
                          decide: @escaping @Sendable (Account, HeldTotals) -> (AuthorizationDecision, NewHold?)) async throws -> AuthorizationDecision? {
        let (bankID, logger) = (self.bankID, self.logger)
        return try await database.transaction { connection in
            // The account's row lock serializes its authorizations on every node; read
            // committed then shows each statement what the one before it committed.
            let accountRows = try await connection.query("""
                SELECT doc::text FROM accounts WHERE bank_id = \(bankID) AND fingerprint = \(fingerprint) FOR UPDATE
                """, logger: logger)
            guard let doc = try await accountRows.first(String.self) else { return nil }
            let account = try Self.decode(Account.self, doc)
            // One statement, so one snapshot, taken after the lock: the decision already
            // made for the reference, or what the account holds.
            let state = try await connection.query("""
                SELECT (SELECT doc::text FROM decisions WHERE bank_id = \(bankID) AND reference = \(reference)),
                       COALESCE(SUM(amount), 0)::bigint,
                       COALESCE(SUM(amount) FILTER (WHERE at >= \(dayStart)), 0)::bigint,
                       COALESCE(SUM(amount) FILTER (WHERE at >= \(dayStart) AND type = '01'), 0)::bigint
                FROM holds WHERE bank_id = \(bankID) AND account_id = \(account.id) AND state = 'held'
                """, logger: logger)
            var previous: String?
            var totals = HeldTotals(held: 0, heldToday: 0, cashToday: 0)
            for try await (decided, held, today, cash) in state.decode((String?, Int64, Int64, Int64).self) {
                previous = decided
                totals = HeldTotals(held: held, heldToday: today, cashToday: cash)
            }
            if let previous { return try Self.decode(AuthorizationDecision.self, previous) }
            let (decision, hold) = decide(account, totals)
            let decisionDoc = try Self.doc(decision)
            if let hold {
                // The hold, its ledger entry and the decision in one statement.
                try await connection.query("""
                    WITH hold AS (
                        INSERT INTO holds (bank_id, reference, account_id, amount, type, state, at)
                        VALUES (\(bankID), \(reference), \(account.id), \(hold.amountMinor), \(hold.transactionType), 'held', \(hold.at))),
                    entry AS (
                        INSERT INTO ledger (bank_id, account_id, reference, entry, amount, at)
                        VALUES (\(bankID), \(account.id), \(reference), 'hold', \(-hold.amountMinor), \(hold.at)))
                    INSERT INTO decisions (bank_id, reference, doc) VALUES (\(bankID), \(reference), \(decisionDoc)::jsonb)
                    """, logger: logger)
            } else {
                try await connection.query("INSERT INTO decisions (bank_id, reference, doc) VALUES (\(bankID), \(reference), \(decisionDoc)::jsonb)",
                                           logger: logger)
            }
            return decision
        }
    }

    public func applyAdvice(reference: String, fingerprint: String, hold: NewHold, decision: AuthorizationDecision) async throws -> Bool? {
        let (bankID, logger) = (self.bankID, self.logger)
        let decisionDoc = try Self.doc(decision)
        return try await database.transaction { connection in
            // The account's row lock first, as an authorization and a reversal take it.
            let accountRows = try await connection.query("""
                SELECT id FROM accounts WHERE bank_id = \(bankID) AND fingerprint = \(fingerprint) FOR UPDATE
                """, logger: logger)
            guard let accountID = try await accountRows.first(String.self) else { return nil }
            let state = try await connection.query("""
                SELECT EXISTS (SELECT 1 FROM holds WHERE bank_id = \(bankID) AND reference = \(reference)),
                       (SELECT doc::text FROM decisions WHERE bank_id = \(bankID) AND reference = \(reference))
                """, logger: logger)
            for try await (held, previous) in state.decode((Bool, String?).self) {
                if held { return false }
                if let previous, try Self.decode(AuthorizationDecision.self, previous) == .reversedBeforeItArrived { return false }
            }
            try await connection.query("""
                WITH hold AS (
                    INSERT INTO holds (bank_id, reference, account_id, amount, type, state, at)
                    VALUES (\(bankID), \(reference), \(accountID), \(hold.amountMinor), \(hold.transactionType), 'held', \(hold.at))),
                entry AS (
                    INSERT INTO ledger (bank_id, account_id, reference, entry, amount, at)
                    VALUES (\(bankID), \(accountID), \(reference), 'hold', \(-hold.amountMinor), \(hold.at)))
                INSERT INTO decisions (bank_id, reference, doc) VALUES (\(bankID), \(reference), \(decisionDoc)::jsonb)
                ON CONFLICT (bank_id, reference) DO UPDATE SET doc = EXCLUDED.doc
                """, logger: logger)
            return true
        }
    }

    public func post(_ postings: [Posting], at: Date) async throws -> [PostingOutcome] {
        let (bankID, logger) = (self.bankID, self.logger)
        // The accounts' row locks taken in one order (by fingerprint) by every transaction,
        // so that two files posted at once wait for each other, never deadlock.
        let order = postings.indices.sorted { postings[$0].fingerprint < postings[$1].fingerprint }
        return try await database.transaction { connection in
            var outcomes = [PostingOutcome](repeating: .already, count: postings.count)
            for i in order {
                let p = postings[i]
                outcomes[i] = try await Self.post(connection, bankID: bankID, presentmentID: p.presentmentID, reference: p.reference,
                                                  fingerprint: p.fingerprint, amountMinor: p.amountMinor, at: at, logger: logger)
            }
            return outcomes
        }
    }

    static func post(_ connection: PostgresConnection, bankID: String, presentmentID: String, reference: String, fingerprint: String, amountMinor: Int64,
                     at: Date, logger: Logger) async throws -> PostingOutcome {
        // The account's row lock, as an authorization takes it.
        guard let doc = try await connection.query("SELECT doc::text FROM accounts WHERE bank_id = \(bankID) AND fingerprint = \(fingerprint) FOR UPDATE",
                                                   logger: logger).all(String.self).first else { return .noAccount }
        let inserted = try await connection.query("""
            INSERT INTO postings (bank_id, presentment_id, reference, account_id, amount, at)
            SELECT \(bankID), \(presentmentID), \(reference), id, \(amountMinor), \(at) FROM accounts WHERE bank_id = \(bankID) AND fingerprint = \(fingerprint)
            ON CONFLICT DO NOTHING RETURNING 1
            """, logger: logger).all(Int32.self).count
        guard inserted == 1 else { return .already }
        var account = try Self.decode(Account.self, doc)
        guard let balance = Minor.difference(account.balanceMinor, amountMinor) else { throw IssuerHostError.inconsistent("posting \(presentmentID) overflows the balance") }
        let released = try await connection.query("""
            UPDATE holds SET state = 'released' WHERE bank_id = \(bankID) AND reference = \(reference) AND state = 'held' AND account_id = \(account.id)
            RETURNING amount
            """, logger: logger).all(Int64.self)
        for held in released {
            try await connection.query("""
                INSERT INTO ledger (bank_id, account_id, reference, entry, amount, at) VALUES (\(bankID), \(account.id), \(reference), 'release', \(held), \(at))
                """, logger: logger)
        }
        account.balanceMinor = balance
        try await connection.query("UPDATE accounts SET doc = \(try Self.doc(account))::jsonb WHERE bank_id = \(bankID) AND id = \(account.id)", logger: logger)
        try await connection.query("""
            INSERT INTO ledger (bank_id, account_id, reference, entry, amount, at) VALUES (\(bankID), \(account.id), \(presentmentID), 'posting', \(-amountMinor), \(at))
            """, logger: logger)
        return .posted
    }

    public func release(reference: String, accountID: String?, at: Date) async throws -> Bool {
        let (bankID, logger) = (self.bankID, self.logger)
        return try await database.transaction { connection in
            // With the card's account: its row lock first, as an authorization takes it, so
            // that a reversal and its original are decided one after the other on every node.
            if let accountID {
                let locked = try await connection.query("SELECT id FROM accounts WHERE bank_id = \(bankID) AND id = \(accountID) FOR UPDATE",
                                                        logger: logger)
                for try await _ in locked {}
            }
            let released = try await connection.query("""
                UPDATE holds SET state = 'released' WHERE bank_id = \(bankID) AND reference = \(reference) AND state = 'held'
                  AND (\(accountID)::text IS NULL OR account_id = \(accountID))
                RETURNING account_id, amount
                """, logger: logger)
            var hold: (String, Int64)?
            for try await row in released.decode((String, Int64).self) { hold = row }
            guard let (account, amount) = hold else {
                // Nothing held. Reversed before its original was decided: the original,
                // when it comes, gets this decision and holds nothing.
                if accountID != nil {
                    let decisionDoc = try Self.doc(AuthorizationDecision.reversedBeforeItArrived)
                    try await connection.query("""
                        INSERT INTO decisions (bank_id, reference, doc) VALUES (\(bankID), \(reference), \(decisionDoc)::jsonb)
                        ON CONFLICT (bank_id, reference) DO NOTHING
                        """, logger: logger)
                }
                return false
            }
            try await connection.query("""
                INSERT INTO ledger (bank_id, account_id, reference, entry, amount, at) VALUES (\(bankID), \(account), \(reference), 'release', \(amount), \(at))
                """, logger: logger)
            // The invariant, checked where it is written: a released hold nets to zero.
            let net = try await connection.query("SELECT COALESCE(SUM(amount), 0)::bigint FROM ledger WHERE bank_id = \(bankID) AND reference = \(reference)",
                                                 logger: logger).first(Int64.self) ?? 0
            // An inconsistent ledger refuses this one release (the transaction rolls back) and the
            // caller raises the alarm; the process goes on for every other reference.
            guard net == 0 else { throw IssuerHostError.inconsistent("the ledger of \(reference) does not balance after its release") }
            return true
        }
    }

    public func expireHolds(placedBefore: Date, at: Date) async throws -> [String] {
        let (bankID, logger) = (self.bankID, self.logger)
        return try await database.transaction { connection in
            // One statement: the holds released and their ledger entries, together.
            let rows = try await connection.query("""
                WITH expired AS (
                    UPDATE holds SET state = 'released'
                    WHERE bank_id = \(bankID) AND state = 'held' AND type != '01' AND at < \(placedBefore)
                    RETURNING reference, account_id, amount),
                entries AS (
                    INSERT INTO ledger (bank_id, account_id, reference, entry, amount, at)
                    SELECT \(bankID), account_id, reference, 'expiry', amount, \(at) FROM expired)
                SELECT reference FROM expired
                """, logger: logger)
            var references: [String] = []
            for try await reference in rows.decode(String.self) { references.append(reference) }
            return references
        }
    }

    public func heldMinor(accountID: String) async throws -> Int64 {
        try await client.query("""
            SELECT COALESCE(SUM(amount), 0)::bigint FROM holds WHERE bank_id = \(bankID) AND account_id = \(accountID) AND state = 'held'
            """, logger: logger).first(Int64.self) ?? 0
    }

    public func holds(after: String?, limit: Int) async throws -> [Hold] {
        let rows = try await client.query("""
            SELECT reference, account_id, amount, type, state, at FROM holds
            WHERE bank_id = \(bankID) AND reference COLLATE "C" > \(after ?? "") ORDER BY reference COLLATE "C" LIMIT \(limit)
            """, logger: logger)
        var holds: [Hold] = []
        for try await (reference, account, amount, type, state, at) in rows.decode((String, String, Int64, String, String, Date).self) {
            holds.append(Hold(reference: reference, accountID: account, amountMinor: amount, transactionType: type,
                              state: Hold.State(rawValue: state) ?? .held, at: at))
        }
        return holds
    }

    public func unbalancedReferences() async throws -> [String] {
        try await client.query("""
            SELECT h.reference FROM holds h JOIN ledger l ON l.bank_id = h.bank_id AND l.reference = h.reference
            WHERE h.bank_id = \(bankID)
            GROUP BY h.reference, h.state, h.amount
            HAVING (h.state = 'held' AND SUM(l.amount) != -h.amount) OR (h.state = 'released' AND SUM(l.amount) != 0)
            """, logger: logger).all(String.self)
    }
}
