import GRDB
import Synchronization

/// Group commit: many small write operations share one SQLite transaction, and so one
/// WAL append and one hand-off to GRDB's writer. While one batch commits, the next
/// gathers; a lone operation is committed at once, without waiting for company.
///
/// Each operation runs in its own savepoint, so one that fails is rolled back alone and
/// its caller gets the error; the others commit. Every caller is resumed only after the
/// transaction that holds its operation has committed: what `write` returns is durable.
public final class GroupCommit: Sendable {
    let writer: any DatabaseWriter

    struct Job: Sendable {
        /// Runs the operation inside the batch's transaction; returns what to do once the batch committed.
        let run: @Sendable (Database) -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private let state = Mutex<(queue: [Job], flushing: Bool)>(([], false))

    public init(_ writer: any DatabaseWriter) { self.writer = writer }

    /// Operations waiting for the next batch.
    var waiting: Int { state.withLock { $0.queue.count } }

    public func write<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await enqueue(savepoint: true, operation)
    }

    /// For an operation that changes the database with at most one statement (reads
    /// around it are fine): SQLite undoes a failed statement on its own, so no savepoint
    /// is needed to roll it back alone. Saves two statements per operation.
    public func writeOneStatement<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await enqueue(savepoint: false, operation)
    }

    private func enqueue<T: Sendable>(savepoint: Bool, _ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                run: { db in
                    let result: Result<T, any Error>
                    do {
                        if savepoint {
                            var value: T?
                            try db.inSavepoint {
                                value = try operation(db)
                                return .commit
                            }
                            result = .success(value!)
                        } else {
                            result = .success(try operation(db))
                        }
                    } catch {
                        result = .failure(error)
                    }
                    return { continuation.resume(with: result) }
                },
                fail: { continuation.resume(throwing: $0) })
            let start = state.withLock { s -> Bool in
                s.queue.append(job)
                if s.flushing { return false }
                s.flushing = true
                return true
            }
            if start { writer.asyncWriteWithoutTransaction { db in self.flush(db) } }
        }
    }

    /// On the writer's queue, one batch in one transaction; what gathered meanwhile goes
    /// again to the back of the writer's queue, so that the pool's other writes (a token
    /// suspended, a file posted) get their turn between batches under continuous load. No
    /// task, no hop back to the concurrency pool per batch.
    private func flush(_ db: Database) {
        let batch = state.withLock { s -> [Job] in
            defer { s.queue = [] }
            return s.queue
        }
        var resumes: [@Sendable () -> Void] = []
        do {
            try db.inTransaction {
                resumes = batch.map { $0.run(db) }
                return .commit
            }
            for resume in resumes { resume() }
        } catch {
            for job in batch { job.fail(error) }
        }
        let again = state.withLock { s -> Bool in
            if s.queue.isEmpty { s.flushing = false }
            return s.flushing
        }
        if again { writer.asyncWriteWithoutTransaction { db in self.flush(db) } }
    }
}
