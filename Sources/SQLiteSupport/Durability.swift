import GRDB

extension DatabasePool {
    /// Makes every commit of this pool's writer durable before it returns: `synchronous =
    /// FULL`, so SQLite syncs the WAL at each commit (with group commit, once per batch).
    /// GRDB opens a pool in WAL mode with `synchronous = NORMAL`, where a commit survives
    /// the process's crash but not the machine's (power, kernel): the WAL is synced only at
    /// checkpoints. The setting is the connection's, so it is made on the writer after the
    /// pool has opened it.
    public func syncEveryCommit() throws {
        try writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                throw DatabaseError(message: "PRAGMA synchronous = FULL did not take")
            }
        }
    }
}
