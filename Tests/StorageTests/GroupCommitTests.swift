import Foundation
import GRDB
@testable import SQLiteSupport
import Synchronization
import Testing

/// Group commit: operations committed together, a failing one rolled back alone, every
/// caller answered after its transaction committed.
@Suite struct GroupCommitTests {
    /// Under a stream of group-committed writes that never lets the queue run dry, a write of
    /// the pool's own still gets its turn: batches take turns on the writer's queue.
    @Test(.timeLimit(.minutes(1))) func otherWritesGetTheirTurnUnderContinuousLoad() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("group-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pool = try DatabasePool(path: path)
        try await pool.write { db in try db.execute(sql: "CREATE TABLE t (n INTEGER PRIMARY KEY AUTOINCREMENT)") }
        let commit = GroupCommit(pool)
        // Each operation queues the next before its batch commits: the queue is never empty
        // when a batch ends.
        final class Chain: Sendable {
            let commit: GroupCommit
            let running = Atomic<Bool>(true)
            let started: AsyncStream<Void>.Continuation
            init(_ commit: GroupCommit, started: AsyncStream<Void>.Continuation) { self.commit = commit; self.started = started }
            func next() {
                guard running.load(ordering: .relaxed) else { return }
                Task {
                    try? await commit.write { db in
                        // The next is waiting before this batch ends (the writer's thread
                        // waits for it here, briefly).
                        let before = self.commit.waiting
                        self.next()
                        self.started.yield()
                        while self.running.load(ordering: .relaxed), self.commit.waiting == before { sched_yield() }
                        try db.execute(sql: "INSERT INTO t DEFAULT VALUES")
                    }
                }
            }
        }
        let (started, starting) = AsyncStream.makeStream(of: Void.self)
        let chain = Chain(commit, started: starting)
        chain.next()
        // The stream is running (a batch is on the writer) before the pool's own write asks.
        for await _ in started { break }
        try await pool.write { db in try db.execute(sql: "INSERT INTO t DEFAULT VALUES") }
        chain.running.store(false, ordering: .relaxed)
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") ?? 0 } >= 1)
    }

    @Test func aFailingOperationIsRolledBackAloneAndTheOthersCommit() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("group-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pool = try DatabasePool(path: path)
        try await pool.write { db in try db.execute(sql: "CREATE TABLE t (n INTEGER PRIMARY KEY, note TEXT)") }
        let commit = GroupCommit(pool)
        struct Refused: Error {}
        let outcomes = await withTaskGroup(of: Bool.self, returning: [Bool].self) { group in
            for n in 0..<200 {
                group.addTask {
                    do {
                        try await commit.write { db in
                            try db.execute(sql: "INSERT INTO t (n, note) VALUES (?, 'x')", arguments: [n])
                            if n % 10 == 0 { throw Refused() }  // after writing: its insert must vanish
                        }
                        // Committed before we hear of it: another connection sees the row.
                        return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t WHERE n = ?", arguments: [n]) } == 1
                    } catch is Refused {
                        return false
                    } catch {
                        Issue.record("unexpected \(error)")
                        return false
                    }
                }
            }
            var all: [Bool] = []
            for await o in group { all.append(o) }
            return all
        }
        #expect(outcomes.filter { $0 }.count == 180)
        let rows = try await pool.read { db in try Int.fetchAll(db, sql: "SELECT n FROM t ORDER BY n") }
        #expect(rows.count == 180)
        #expect(rows.allSatisfy { $0 % 10 != 0 })
    }

    /// Without a savepoint: a statement that fails (here a multi-row INSERT whose last row
    /// breaks the primary key) leaves nothing of itself, and its batch commits the rest.
    @Test func aFailingSingleStatementLeavesNothingWithoutASavepoint() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("group-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pool = try DatabasePool(path: path)
        try await pool.write { db in
            try db.execute(sql: "CREATE TABLE t (n INTEGER PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO t (n) VALUES (-1)")
        }
        let commit = GroupCommit(pool)
        let outcomes = await withTaskGroup(of: Bool.self, returning: [Bool].self) { group in
            for n in 0..<200 {
                group.addTask {
                    do {
                        try await commit.writeOneStatement { db in
                            // Rows 1000+n and n; every tenth also -1, which exists: all three or none.
                            let last = n % 10 == 0 ? -1 : 2000 + n
                            try db.execute(sql: "INSERT INTO t (n) VALUES (?), (?), (?)", arguments: [1000 + n, n, last])
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var all: [Bool] = []
            for await o in group { all.append(o) }
            return all
        }
        #expect(outcomes.filter { $0 }.count == 180)
        let rows = try await pool.read { db in try Int.fetchAll(db, sql: "SELECT n FROM t WHERE n BETWEEN 0 AND 999 ORDER BY n") }
        #expect(rows.count == 180)
        #expect(rows.allSatisfy { $0 % 10 != 0 })
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 1 + 180 * 3)
    }
}
