import Foundation
import GRDB
import SQLiteSupport

/// The bundled bank's own database (it is a different institution from the network):
/// accounts, its ID&V rules, the outbox of messages to cardholders, and the token
/// notifications it received.
public final class IssuerDatabase: Sendable {
    let pool: DatabasePool
    /// Authorizations share transactions (see `GroupCommit`).
    let groupCommit: GroupCommit

    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: config)
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
        Self.registerAuthorizationMigrations(&migrator)
        try migrator.migrate(pool)
    }

    static let encoder: JSONEncoder = { let e = JSONEncoder(); e.dateEncodingStrategy = .millisecondsSince1970; e.outputFormatting = .sortedKeys; return e }()
    static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .millisecondsSince1970; return d }()
    static func doc<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T { try decoder.decode(T.self, from: Data(s.utf8)) }

    public func wrappedDataKey() async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM secrets WHERE name = 'data-key'") }
    }

    public func saveWrappedDataKey(_ wrapped: Data) async throws {
        try await pool.write { db in try db.execute(sql: "INSERT INTO secrets (name, value) VALUES ('data-key', ?)", arguments: [wrapped]) }
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
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT doc FROM accounts WHERE fingerprint = ?", arguments: [fingerprint]).map { try Self.decode(Account.self, $0) } }
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
        try await pool.write { db in try db.execute(sql: "UPDATE accounts SET doc = ? WHERE id = ?", arguments: [doc, account.id]) }
    }

    public func accounts() async throws -> [Account] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT doc FROM accounts ORDER BY id").map { try Self.decode(Account.self, $0) } }
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

    public func appendNotification(_ n: ReceivedNotification) async throws {
        let doc = try Self.doc(n)
        try await pool.write { db in try db.execute(sql: "INSERT INTO notifications (token_id, doc) VALUES (?, ?)", arguments: [n.tokenID, doc]) }
    }

    public func notifications() async throws -> [ReceivedNotification] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT doc FROM notifications ORDER BY id").map { try Self.decode(ReceivedNotification.self, $0) } }
    }
}
