import Foundation
import GRDB
import PostgresNIO
import PostgresSupport

/// Idempotency keys on SQLite, in a database file of their own (`http.sqlite` beside the
/// platform's): the HTTP layer's store, apart from the domain's.
public final class SQLiteIdempotencyStore: IdempotencyStore {
    let queue: DatabaseQueue

    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: idempotency keys") { db in
            try db.execute(sql: """
                CREATE TABLE idempotency_keys (
                    participant TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, reserved_at REAL NOT NULL, doc TEXT,
                    PRIMARY KEY (participant, key))
                """)
        }
        try migrator.migrate(queue)
    }

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()

    public func reserve(owner: String, key: String, requestHash: String, at: Date) async throws -> IdempotencyReservation {
        let cutoff = at.timeIntervalSince1970 - IdempotencyReservation.reservationLifetime / .seconds(1)
        return try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO idempotency_keys (participant, key, request_hash, reserved_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (participant, key) DO UPDATE SET request_hash = excluded.request_hash, reserved_at = excluded.reserved_at
                WHERE doc IS NULL AND reserved_at < ?
                """, arguments: [owner, key, requestHash, at.timeIntervalSince1970, cutoff])
            if db.changesCount == 1 { return .reserved }
            guard let row = try Row.fetchOne(db, sql: "SELECT request_hash, doc FROM idempotency_keys WHERE participant = ? AND key = ?",
                                             arguments: [owner, key]) else { return .inProgress(requestHash: requestHash) }
            if let doc: String = row["doc"] { return .answered(try Self.decoder.decode(StoredResponse.self, from: Data(doc.utf8))) }
            return .inProgress(requestHash: row["request_hash"])
        }
    }

    public func save(owner: String, key: String, response: StoredResponse) async throws {
        let doc = String(decoding: try Self.encoder.encode(response), as: UTF8.self)
        try await queue.write { db in
            try db.execute(sql: "UPDATE idempotency_keys SET doc = ? WHERE participant = ? AND key = ? AND doc IS NULL",
                           arguments: [doc, owner, key])
            guard db.changesCount == 1 else { throw IdempotencyError.reservationLost }
        }
    }

    public func release(owner: String, key: String) async throws {
        try await queue.write { db in
            try db.execute(sql: "DELETE FROM idempotency_keys WHERE participant = ? AND key = ? AND doc IS NULL", arguments: [owner, key])
        }
    }
}

/// Idempotency keys on PostgreSQL, in the table `idempotency_keys` of the pool's schema,
/// shared by every node.
public final class PostgresIdempotencyStore: IdempotencyStore {
    let database: PostgresPool

    public init(database: PostgresPool) async throws {
        self.database = database
        try await database.migrate([
            ("http v1: idempotency keys", ["""
                CREATE TABLE IF NOT EXISTS idempotency_keys (
                    participant TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, reserved_at TIMESTAMPTZ NOT NULL, doc JSONB,
                    PRIMARY KEY (participant, key))
                """]),
        ])
    }

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()

    public func reserve(owner: String, key: String, requestHash: String, at: Date) async throws -> IdempotencyReservation {
        let cutoff = at.addingTimeInterval(-(IdempotencyReservation.reservationLifetime / .seconds(1)))
        let logger = database.logger
        // A release between the two statements below leaves no row: then try again.
        for _ in 0..<3 {
            let taken = try await database.client.query("""
                INSERT INTO idempotency_keys (participant, key, request_hash, reserved_at) VALUES (\(owner), \(key), \(requestHash), \(at))
                ON CONFLICT (participant, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, reserved_at = EXCLUDED.reserved_at
                WHERE idempotency_keys.doc IS NULL AND idempotency_keys.reserved_at < \(cutoff)
                RETURNING 1
                """, logger: logger).all(Int.self).count
            if taken == 1 { return .reserved }
            let rows = try await database.client.query("""
                SELECT request_hash, doc::text FROM idempotency_keys WHERE participant = \(owner) AND key = \(key)
                """, logger: logger)
            for try await (hash, doc) in rows.decode((String, String?).self) {
                if let doc { return .answered(try Self.decoder.decode(StoredResponse.self, from: Data(doc.utf8))) }
                return .inProgress(requestHash: hash)
            }
        }
        return .inProgress(requestHash: requestHash)
    }

    public func save(owner: String, key: String, response: StoredResponse) async throws {
        let doc = String(decoding: try Self.encoder.encode(response), as: UTF8.self)
        let updated = try await database.client.query("""
            UPDATE idempotency_keys SET doc = \(doc)::jsonb
            WHERE participant = \(owner) AND key = \(key) AND doc IS NULL RETURNING 1
            """, logger: database.logger).all(Int.self).count
        guard updated == 1 else { throw IdempotencyError.reservationLost }
    }

    public func release(owner: String, key: String) async throws {
        try await database.client.query("DELETE FROM idempotency_keys WHERE participant = \(owner) AND key = \(key) AND doc IS NULL",
                                        logger: database.logger)
    }
}
