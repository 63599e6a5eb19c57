import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// WAL checkpoints taken off the writer.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000
/// pages, on the writing connection: every operation waiting in a `GroupCommit` behind
/// that commit waits while about 4 MB are copied into the database file and synced.
/// On the authorization path that is the slowest answer of the second.
///
/// Here the writer only notices the WAL's size after each commit (a WAL hook, which
/// replaces the automatic checkpoint) and asks a connection of its own to copy pages
/// back (PASSIVE: it never blocks the writer or the readers), at most once per
/// `interval`; a commit that arrives while one runs, or too soon after the last, leaves a
/// request that the running one picks up, so the last commits of a burst are copied back
/// too, not left in the WAL until the next write. Under steady writes those background
/// checkpoints rarely catch the WAL's end, so SQLite cannot start it over; once it holds `hardLimit` pages the writer
/// checkpoints itself as SQLite would have done, with most pages already copied, and the
/// next transaction rewinds the WAL. Durability is unchanged: each commit still syncs
/// the WAL before it returns.
public final class WALCheckpoints: Sendable {
    public let softLimit: Int
    public let hardLimit: Int
    public let interval: Duration

    struct State {
        var connection: DatabaseQueue?
        var running = false
        var requested = false
        var lastRun: ContinuousClock.Instant?
        var background = 0
        var onWriter = 0
    }
    private let state = Mutex(State())

    public init(softLimit: Int = 1_000, hardLimit: Int = 8_192, interval: Duration = .milliseconds(100)) {
        precondition(softLimit > 0 && hardLimit >= softLimit, "WAL limits: 0 < soft <= hard")
        self.softLimit = softLimit
        self.hardLimit = hardLimit
        self.interval = interval
    }

    /// A configuration whose connections report their commits here. Open the pool with
    /// it, then `start(path:)` once the database file exists.
    public func configure(_ config: inout Configuration) {
        config.prepareDatabase { db in self.install(on: db) }
    }

    /// Opens the checkpointing connection. Until then the writer checkpoints at `hardLimit`.
    public func start(path: String) throws {
        var config = Configuration()
        config.label = "wal-checkpoints"
        let connection = try DatabaseQueue(path: path, configuration: config)
        state.withLock { $0.connection = connection }
    }

    /// Checkpoints run so far: by the background connection, and by the writer itself at `hardLimit`.
    public var counts: (background: Int, onWriter: Int) {
        state.withLock { ($0.background, $0.onWriter) }
    }

    private func install(on db: Database) {
        // The pool's configuration keeps this object alive as long as its connections.
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = sqlite3_wal_hook(db.sqliteConnection, { context, connection, name, pages in
            let checkpoints = Unmanaged<WALCheckpoints>.fromOpaque(context!).takeUnretainedValue()
            if checkpoints.committed(walPages: Int(pages)) {
                _ = sqlite3_wal_checkpoint_v2(connection, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            }
            return SQLITE_OK
        }, context)
    }

    /// After each commit, on the writer: returns whether the writer must checkpoint now.
    func committed(walPages: Int) -> Bool {
        if walPages >= hardLimit {
            state.withLock { $0.onWriter += 1 }
            return true
        }
        guard walPages >= softLimit else { return false }
        let connection = state.withLock { s -> DatabaseQueue? in
            guard let connection = s.connection else { return nil }
            s.requested = true
            guard !s.running else { return nil }
            s.running = true
            return connection
        }
        if let connection { checkpointWhileRequested(connection) }
        return false
    }

    /// Runs passive checkpoints on the connection's own queue, at most one per `interval`,
    /// until no commit has asked for one since the last began. Dispatch, not a task: the
    /// checkpoint must not wait behind the work that fills the cooperative pool.
    private func checkpointWhileRequested(_ connection: DatabaseQueue) {
        let wait = state.withLock { s -> Duration? in
            guard s.requested else {
                s.running = false
                return nil
            }
            s.requested = false
            guard let last = s.lastRun else { return .zero }
            return interval - (ContinuousClock.now - last)
        }
        guard let wait else { return }
        let run: @Sendable () -> Void = {
            connection.asyncWriteWithoutTransaction { db in
                // A failure (the file busy with a restart, say) leaves the pages for the next try.
                _ = try? db.checkpoint(.passive)
                self.state.withLock {
                    $0.lastRun = .now
                    $0.background += 1
                }
                self.checkpointWhileRequested(connection)
            }
        }
        if wait > .zero {
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(wait / .nanoseconds(1))), execute: run)
        } else {
            run()
        }
    }
}
