import Foundation
import GRDB
import SQLiteSupport
import Synchronization

/// The bundled bank's own database on SQLite (it is a different institution from the
/// network): one file per bank.
public final class IssuerDatabase: BankStore {
    let pool: DatabasePool
    /// Authorizations share transactions (see `GroupCommit`).
    let groupCommit: GroupCommit
    /// Checkpoints of the WAL, off the writer (see `WALCheckpoints`).
    let walCheckpoints = WALCheckpoints()
    /// Accounts as decoded on the authorization path, by card fingerprint. Every change to
    /// an account goes through this object (the file belongs to one process) and empties
    /// the entry inside the same write transaction, so it is never stale; it saves the
    /// JSON decoding inside the one writer that all authorizations share.
    let decodedAccounts = Mutex<[String: Account]>([:])
    static let decodedAccountsCapacity = 20_000

    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        walCheckpoints.configure(&config)
        // 64 MiB of pages per connection (SQLite's default is 2 MiB): a clearing file's
        // postings read and rewrite holds all over the table.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -65536") }
        pool = try DatabasePool(path: path, configuration: config)
        try pool.syncEveryCommit()
        try walCheckpoints.start(path: path)
        groupCommit = GroupCommit(pool)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: issuer host") { db in
            try db.execute(sql: """
                CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
                CREATE TABLE accounts (id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
                CREATE TABLE settings (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL);
                CREATE TABLE notifications (id INTEGER PRIMARY KEY AUTOINCREMENT, token_id TEXT NOT NULL, doc TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("v2: authorizations") { db in
            try db.execute(sql: """
                CREATE TABLE holds (reference TEXT PRIMARY KEY, account_id TEXT NOT NULL, amount INTEGER NOT NULL,
                                    type TEXT NOT NULL, state TEXT NOT NULL, at REAL NOT NULL);
                CREATE INDEX holds_account ON holds(account_id, state, at);
                CREATE TABLE decisions (reference TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, reference TEXT NOT NULL,
                                     entry TEXT NOT NULL, amount INTEGER NOT NULL, at REAL NOT NULL);
                """)
        }
        migrator.registerMigration("v3: signed requests") { db in
            try db.execute(sql: "CREATE TABLE nonces (nonce TEXT PRIMARY KEY, at REAL NOT NULL); CREATE INDEX nonces_at ON nonces(at)")
        }
        migrator.registerMigration("v4: ID&V failures") { db in
            try db.execute(sql: "CREATE TABLE idv_failures (subject TEXT NOT NULL, at REAL NOT NULL); CREATE INDEX idv_failures_subject ON idv_failures(subject, at)")
        }
        migrator.registerMigration("v5: notifications kept once") { db in
            try db.execute(sql: "ALTER TABLE notifications ADD COLUMN notification_id TEXT; CREATE UNIQUE INDEX notifications_once ON notifications(notification_id)")
        }
        migrator.registerMigration("v6: postings from clearing") { db in
            try db.execute(sql: """
                CREATE TABLE postings (presentment_id TEXT PRIMARY KEY, reference TEXT NOT NULL, account_id TEXT NOT NULL, amount INTEGER NOT NULL,
                                       at REAL NOT NULL);
                """)
        }
        try migrator.migrate(pool)
    }

    static let encoder: JSONEncoder = { let e = JSONEncoder(); e.dateEncodingStrategy = .millisecondsSince1970; e.outputFormatting = .sortedKeys; return e }()
    static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .millisecondsSince1970; return d }()
    static func doc<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T { try decoder.decode(T.self, from: Data(s.utf8)) }
    /// A decision as `doc(decision)` would write it, by hand: written on every authorization.
    static func document(_ d: AuthorizationDecision) -> String {
        var w = DocumentWriter(capacity: 96)
        w.field("approvalCode", d.approvalCode)
        w.field("reason", d.reason)
        w.field("responseCode", d.responseCode.rawValue)
        return w.finish()
    }

    /// An account as `doc(account)` would write it, by hand: written for every card a
    /// clearing file posts to.
    static func document(_ a: Account) -> String {
        var w = DocumentWriter(capacity: 512)
        w.field("balanceMinor", a.balanceMinor)
        w.field("bankApp", a.bankApp)
        w.field("creditLimitMinor", a.creditLimitMinor)
        w.field("currency", a.currency)
        w.field("cvv2Hash", a.cvv2Hash)
        w.field("dailyLimitMinor", a.dailyLimitMinor)
        w.field("expiry", a.expiry)
        w.field("fingerprint", a.fingerprint)
        w.field("holderName", a.holderName)
        w.field("id", a.id)
        w.field("maskedPAN", a.maskedPAN)
        w.field("phone", a.phone)
        w.field("sealedPAN", base64: a.sealedPAN)
        w.field("status", a.status.rawValue)
        return w.finish()
    }

    public func wrappedDataKey() async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = 'data-key'") }
    }

    public func saveWrappedDataKey(_ wrapped: Data) async throws {
        do {
            try await pool.write { db in try db.execute(sql: "INSERT INTO secrets (name, value) VALUES ('data-key', ?)", arguments: [wrapped]) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw IssuerHostError.conflict("the bank has a data key")
        }
    }

    public func secret(_ name: String) async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = ?", arguments: [name]) }
    }

    public func saveSecret(_ name: String, _ value: Data) async throws {
        try await pool.write { db in try db.execute(sql: "INSERT OR REPLACE INTO secrets (name, value) VALUES (?, ?)", arguments: [name, value]) }
    }

    public func rememberNonce(_ nonce: String, at: Date, forgetBefore: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM nonces WHERE at < ?", arguments: [forgetBefore.timeIntervalSince1970])
            try db.execute(sql: "INSERT OR IGNORE INTO nonces (nonce, at) VALUES (?, ?)", arguments: [nonce, at.timeIntervalSince1970])
            return db.changesCount == 1
        }
    }

    public func recordFailure(subjects: [String], at: Date) async throws {
        try await pool.write { db in
            for subject in subjects {
                try db.execute(sql: "INSERT INTO idv_failures (subject, at) VALUES (?, ?)", arguments: [subject, at.timeIntervalSince1970])
            }
        }
    }

    public func failures(subjects: [String], since: Date) async throws -> [String: Int] {
        try await pool.read { db in
            var counts: [String: Int] = [:]
            for subject in subjects {
                let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM idv_failures WHERE subject = ? AND at >= ?",
                                         arguments: [subject, since.timeIntervalSince1970]) ?? 0
                if n > 0 { counts[subject] = n }
            }
            return counts
        }
    }

    public func insertAccount(_ account: Account) async throws {
        let doc = try Self.doc(account)
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT INTO accounts (id, fingerprint, doc) VALUES (?, ?, ?)", arguments: [account.id, account.fingerprint, doc])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw IssuerHostError.conflict("an account for card \(account.maskedPAN) exists")
        }
    }

    public func account(fingerprint: String) async throws -> Account? {
        try await pool.read { db in try String.fetchOne(db.cachedStatement(sql: "SELECT doc FROM accounts WHERE fingerprint = ?"), arguments: [fingerprint]).map { try Self.decode(Account.self, $0) } }
    }

    public func insertAccounts(_ accounts: [Account]) async throws {
        let docs = try accounts.map(Self.doc)
        do {
            try await pool.write { db in
                for (account, doc) in zip(accounts, docs) {
                    try db.execute(sql: "INSERT INTO accounts (id, fingerprint, doc) VALUES (?, ?, ?)", arguments: [account.id, account.fingerprint, doc])
                }
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw IssuerHostError.conflict("an account for one of these cards exists")
        }
    }

    public func replaceAccount(_ account: Account) async throws {
        let doc = try Self.doc(account)
        try await pool.write { db in
            try db.execute(sql: "UPDATE accounts SET doc = ? WHERE id = ?", arguments: [doc, account.id])
            self.decodedAccounts.withLock { $0.removeAll() }
        }
    }

    public func accounts() async throws -> [Account] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT doc FROM accounts ORDER BY id").map { try Self.decode(Account.self, $0) } }
    }

    public func cardRanges() async throws -> [String]? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT doc FROM settings WHERE name = 'card-ranges'").map { try Self.decode([String].self, $0) } }
    }

    public func saveCardRanges(_ ranges: [String]) async throws {
        let doc = try Self.doc(ranges)
        try await pool.write { db in try db.execute(sql: "INSERT OR REPLACE INTO settings (name, doc) VALUES ('card-ranges', ?)", arguments: [doc]) }
    }

    public func rules() async throws -> IDVRules {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT doc FROM settings WHERE name = 'idv-rules'").map { try Self.decode(IDVRules.self, $0) } } ?? .standard
    }

    public func saveRules(_ rules: IDVRules) async throws {
        let doc = try Self.doc(rules)
        try await pool.write { db in try db.execute(sql: "INSERT OR REPLACE INTO settings (name, doc) VALUES ('idv-rules', ?)", arguments: [doc]) }
    }

    public func appendOutbox(_ message: OutboxMessage) async throws {
        let doc = try Self.doc(message)
        try await pool.write { db in try db.execute(sql: "INSERT INTO outbox (doc) VALUES (?)", arguments: [doc]) }
    }

    public func outbox() async throws -> [OutboxMessage] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, doc FROM outbox ORDER BY id").map { row in
                var m = try Self.decode(OutboxMessage.self, row["doc"])
                m.id = row["id"]
                return m
            }
        }
    }

    public func appendNotifications(_ notifications: [ReceivedNotification]) async throws {
        let docs = try notifications.map { ($0, try Self.doc($0)) }
        try await pool.write { db in
            let statement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO notifications (notification_id, token_id, doc) VALUES (?, ?, ?)")
            for (n, doc) in docs { try statement.execute(arguments: [n.id, n.tokenID, doc]) }
        }
    }

    public func notifications() async throws -> [ReceivedNotification] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT doc FROM notifications ORDER BY id").map { try Self.decode(ReceivedNotification.self, $0) } }
    }

    // MARK: Authorizations

    public func authorize(reference: String, fingerprint: String, since dayStart: Date,
                          decide: @escaping @Sendable (Account, HeldTotals) -> (AuthorizationDecision, NewHold?)) async throws -> AuthorizationDecision? {
        let day = dayStart.timeIntervalSince1970
        // SQLite has one writer at a time: the group commit's transaction serializes this
        // with every other authorization.
        return try await groupCommit.write { db in
            if let previous = try String.fetchOne(db.cachedStatement(sql: "SELECT doc FROM decisions WHERE reference = ?"), arguments: [reference]) {
                return try Self.decode(AuthorizationDecision.self, previous)
            }
            let account: Account
            if let known = self.decodedAccounts.withLock({ $0[fingerprint] }) {
                account = known
            } else {
                guard let doc = try String.fetchOne(db.cachedStatement(sql: "SELECT doc FROM accounts WHERE fingerprint = ?"),
                                                    arguments: [fingerprint]) else { return nil }
                account = try Self.decode(Account.self, doc)
                self.decodedAccounts.withLock { cache in
                    if cache.count >= Self.decodedAccountsCapacity { cache.removeAll(keepingCapacity: true) }
                    cache[fingerprint] = account
                }
            }
            let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT COALESCE(SUM(amount), 0) AS held,
                       COALESCE(SUM(CASE WHEN at >= ? THEN amount END), 0) AS today,
                       COALESCE(SUM(CASE WHEN at >= ? AND type = '01' THEN amount END), 0) AS cash
                FROM holds WHERE account_id = ? AND state = 'held'
                """), arguments: [day, day, account.id])!
            let (decision, hold) = decide(account, HeldTotals(held: row["held"], heldToday: row["today"], cashToday: row["cash"]))
            if let hold {
                try db.cachedStatement(sql: "INSERT INTO holds (reference, account_id, amount, type, state, at) VALUES (?, ?, ?, ?, 'held', ?)")
                    .execute(arguments: [reference, account.id, hold.amountMinor, hold.transactionType, hold.at.timeIntervalSince1970])
                try db.cachedStatement(sql: "INSERT INTO ledger (account_id, reference, entry, amount, at) VALUES (?, ?, 'hold', ?, ?)")
                    .execute(arguments: [account.id, reference, -hold.amountMinor, hold.at.timeIntervalSince1970])
            }
            try db.cachedStatement(sql: "INSERT INTO decisions (reference, doc) VALUES (?, ?)").execute(arguments: [reference, Self.document(decision)])
            return decision
        }
    }

    public func applyAdvice(reference: String, fingerprint: String, hold: NewHold, decision: AuthorizationDecision) async throws -> Bool? {
        let decisionDoc = Self.document(decision)
        return try await groupCommit.write { db in
            guard let doc = try String.fetchOne(db, sql: "SELECT doc FROM accounts WHERE fingerprint = ?", arguments: [fingerprint]) else { return nil }
            let account = try Self.decode(Account.self, doc)
            if try Int.fetchOne(db, sql: "SELECT 1 FROM holds WHERE reference = ?", arguments: [reference]) != nil { return false }
            if let previous = try String.fetchOne(db, sql: "SELECT doc FROM decisions WHERE reference = ?", arguments: [reference]),
               try Self.decode(AuthorizationDecision.self, previous) == .reversedBeforeItArrived {
                return false
            }
            try db.execute(sql: "INSERT INTO holds (reference, account_id, amount, type, state, at) VALUES (?, ?, ?, ?, 'held', ?)",
                           arguments: [reference, account.id, hold.amountMinor, hold.transactionType, hold.at.timeIntervalSince1970])
            try db.execute(sql: "INSERT INTO ledger (account_id, reference, entry, amount, at) VALUES (?, ?, 'hold', ?, ?)",
                           arguments: [account.id, reference, -hold.amountMinor, hold.at.timeIntervalSince1970])
            try db.execute(sql: "INSERT INTO decisions (reference, doc) VALUES (?, ?) ON CONFLICT (reference) DO UPDATE SET doc = excluded.doc",
                           arguments: [reference, decisionDoc])
            return true
        }
    }

    public func release(reference: String, accountID: String?, at: Date) async throws -> Bool {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT account_id, amount FROM holds WHERE reference = ? AND state = 'held'", arguments: [reference]) else {
                // Nothing held. Reversed before its original was decided: the original,
                // when it comes, gets this decision and holds nothing (one writer: no
                // authorization of the reference runs between the two statements).
                if accountID != nil {
                    try db.execute(sql: "INSERT INTO decisions (reference, doc) VALUES (?, ?) ON CONFLICT (reference) DO NOTHING",
                                   arguments: [reference, Self.document(AuthorizationDecision.reversedBeforeItArrived)])
                }
                return false
            }
            let account: String = row["account_id"], amount: Int64 = row["amount"]
            if let accountID, accountID != account { return false }
            try db.execute(sql: "UPDATE holds SET state = 'released' WHERE reference = ?", arguments: [reference])
            try db.execute(sql: "INSERT INTO ledger (account_id, reference, entry, amount, at) VALUES (?, ?, 'release', ?, ?)",
                           arguments: [account, reference, amount, at.timeIntervalSince1970])
            // The invariant, checked where it is written: a released hold nets to zero.
            let net = try Int64.fetchOne(db, sql: "SELECT SUM(amount) FROM ledger WHERE reference = ?", arguments: [reference]) ?? 0
            // An inconsistent ledger refuses this one release (the transaction rolls back) and the
            // caller raises the alarm; the process goes on for every other reference.
            guard net == 0 else { throw IssuerHostError.inconsistent("the ledger of \(reference) does not balance after its release") }
            return true
        }
    }

    public func post(_ postings: [Posting], at: Date) async throws -> [PostingOutcome] {
        try await groupCommit.write { db in
            let byFingerprint = try db.cachedStatement(sql: "SELECT doc FROM accounts WHERE fingerprint = ?")
            // The hold released only when it is the card's and still held.
            let release = try db.cachedStatement(sql: "UPDATE holds SET state = 'released' WHERE reference = ? AND state = 'held' AND account_id = ? RETURNING amount")
            let ledger = try db.cachedStatement(sql: "INSERT INTO ledger (account_id, reference, entry, amount, at) VALUES (?, ?, ?, ?, ?)")
            let posting = try db.cachedStatement(sql: "INSERT OR IGNORE INTO postings (presentment_id, reference, account_id, amount, at) VALUES (?, ?, ?, ?, ?)")
            // Each account read once (decoded, or as the authorizations' cache has it),
            // written once at the end.
            var accounts: [String: Account] = [:]
            var outcomes: [PostingOutcome] = []
            for p in postings {
                var account: Account
                if let known = accounts[p.fingerprint] ?? self.decodedAccounts.withLock({ $0[p.fingerprint] }) { account = known } else {
                    guard let doc = try String.fetchOne(byFingerprint, arguments: [p.fingerprint]) else { outcomes.append(.noAccount); continue }
                    account = try Self.decode(Account.self, doc)
                }
                // Posted once: a presentment delivered before is `already`, nothing done.
                try posting.execute(arguments: [p.presentmentID, p.reference, account.id, p.amountMinor, at.timeIntervalSince1970])
                guard db.changesCount == 1 else { outcomes.append(.already); continue }
                guard let balance = Minor.difference(account.balanceMinor, p.amountMinor) else {
                    throw IssuerHostError.inconsistent("posting \(p.presentmentID) overflows the balance")
                }
                if let amount = try Int64.fetchOne(release, arguments: [p.reference, account.id]) {
                    try ledger.execute(arguments: [account.id, p.reference, "release", amount, at.timeIntervalSince1970])
                }
                account.balanceMinor = balance
                accounts[p.fingerprint] = account
                try ledger.execute(arguments: [account.id, p.presentmentID, "posting", -p.amountMinor, at.timeIntervalSince1970])
                outcomes.append(.posted)
            }
            let update = try db.cachedStatement(sql: "UPDATE accounts SET doc = ? WHERE id = ?")
            for account in accounts.values {
                try update.execute(arguments: [Self.document(account), account.id])
            }
            if !accounts.isEmpty {
                // Out of the cache while this transaction is open; back in, as written, once
                // it commits (on the writer: no authorization decides in between).
                let changed = accounts
                self.decodedAccounts.withLock { cache in for fingerprint in changed.keys { cache[fingerprint] = nil } }
                db.afterNextTransaction(onCommit: { _ in
                    self.decodedAccounts.withLock { cache in
                        if cache.count + changed.count > Self.decodedAccountsCapacity { cache.removeAll(keepingCapacity: true) }
                        cache.merge(changed) { _, new in new }
                    }
                })
            }
            return outcomes
        }
    }

    public func expireHolds(placedBefore: Date, at: Date) async throws -> [String] {
        try await pool.write { db in
            let expired = try Row.fetchAll(db, sql: "SELECT reference, account_id, amount FROM holds WHERE state = 'held' AND type != '01' AND at < ?",
                                           arguments: [placedBefore.timeIntervalSince1970])
            for row in expired {
                let reference: String = row["reference"], account: String = row["account_id"], amount: Int64 = row["amount"]
                try db.execute(sql: "UPDATE holds SET state = 'released' WHERE reference = ?", arguments: [reference])
                try db.execute(sql: "INSERT INTO ledger (account_id, reference, entry, amount, at) VALUES (?, ?, 'expiry', ?, ?)",
                               arguments: [account, reference, amount, at.timeIntervalSince1970])
            }
            return expired.map { $0["reference"] }
        }
    }

    public func heldMinor(accountID: String) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ? AND state = 'held'", arguments: [accountID]) ?? 0
        }
    }

    public func holds(after: String?, limit: Int) async throws -> [Hold] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT reference, account_id, amount, type, state, at FROM holds WHERE reference > ? ORDER BY reference LIMIT ?",
                             arguments: [after ?? "", limit]).map { row in
                Hold(reference: row["reference"], accountID: row["account_id"], amountMinor: row["amount"], transactionType: row["type"],
                     state: Hold.State(rawValue: row["state"]) ?? .held, at: Date(timeIntervalSince1970: row["at"]))
            }
        }
    }

    public func unbalancedReferences() async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT h.reference FROM holds h JOIN ledger l ON l.reference = h.reference
                GROUP BY h.reference, h.state, h.amount
                HAVING (h.state = 'held' AND SUM(l.amount) != -h.amount) OR (h.state = 'released' AND SUM(l.amount) != 0)
                """)
        }
    }
}
