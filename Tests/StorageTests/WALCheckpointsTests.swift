import Foundation
import GRDB
import SQLiteSupport
import Testing
import TestSupport

/// WAL checkpoints off the writer: the background connection copies pages back, the
/// writer only checkpoints at the hard limit, and the WAL stays bounded.
@Suite(.timed) struct WALCheckpointsTests {
    /// A database of one table, each insert a row of 3,000 bytes (a page of its own, about).
    func database(_ checkpoints: WALCheckpoints) throws -> (pool: DatabasePool, path: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString).sqlite").path
        var config = Configuration()
        checkpoints.configure(&config)
        let pool = try DatabasePool(path: path, configuration: config)
        try checkpoints.start(path: path)
        try pool.write { db in try db.execute(sql: "CREATE TABLE t (n INTEGER PRIMARY KEY, payload BLOB NOT NULL)") }
        return (pool, path)
    }

    func insert(_ pool: DatabasePool, _ range: Range<Int>) throws {
        for n in range {  // one transaction each: one commit, one report to the hook
            try pool.write { db in
                try db.execute(sql: "INSERT INTO t VALUES (?, ?)", arguments: [n, Data(repeating: UInt8(n % 251), count: 3_000)])
            }
        }
    }

    func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    func removeFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func pagesAreCopiedBackByTheBackgroundConnectionNotTheWriter() async throws {
        let checkpoints = WALCheckpoints(softLimit: 8, hardLimit: 100_000, interval: .milliseconds(200))
        let (pool, path) = try database(checkpoints)
        defer { removeFiles(path) }
        let before = size(path)
        // The hook asks after each commit past 8 pages, at most one checkpoint per 200 ms;
        // SQLite's own checkpoint (at 1,000 pages) would not have run at all, so only the
        // background can fill the file.
        try insert(pool, 0..<20)
        _ = await eventually { checkpoints.counts.background > 0 }
        // A second burst, within the interval of the first checkpoint: no commit follows
        // it, and still each of the 40 rows (a leaf page of its own) must reach the file.
        try insert(pool, 20..<40)
        let expected = before + 40 * 4_096
        _ = await eventually { size(path) >= expected }
        #expect(size(path) >= expected, "the database file did not receive all of the WAL's pages")
        #expect(checkpoints.counts.background >= 1)
        #expect(checkpoints.counts.onWriter == 0)
        let rows = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") }
        #expect(rows == 40)
    }

    @Test func theWriterCheckpointsAtTheHardLimitSoTheWALStaysBounded() async throws {
        // No background help (its limit is the hard one): the writer alone keeps the bound.
        let checkpoints = WALCheckpoints(softLimit: 32, hardLimit: 32)
        let (pool, path) = try database(checkpoints)
        defer { removeFiles(path) }
        try insert(pool, 0..<300)
        // 300 rows are over 300 pages: without the restarts the WAL would hold them all.
        let bound = 32 + 8  // pages: the limit, plus the last transaction's pages past it
        #expect(size(path + "-wal") <= 32 + bound * (4_096 + 24), "WAL of \(size(path + "-wal")) bytes")
        #expect(checkpoints.counts.onWriter >= 5)
        let rows = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") }
        #expect(rows == 300)
    }
}
