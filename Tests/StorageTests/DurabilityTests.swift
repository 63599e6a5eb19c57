import Foundation
import GRDB
import SQLiteSupport
@testable import IssuerHost
@testable import Storage
import Testing

/// The databases that tell the outside world of a state change (the network's journal and
/// ATCs, the bundled bank's holds and ledger) sync their WAL at every commit: GRDB opens a
/// pool with `synchronous = NORMAL`, where a commit survives the process's crash but not
/// the machine's.
@Suite struct DurabilityTests {
    func path(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).sqlite").path
    }

    func removeFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    func synchronous(_ pool: DatabasePool) throws -> Int? {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
    }

    @Test func theNetworksWriterSyncsEveryCommit() throws {
        let path = path("network")
        defer { removeFiles(path) }
        let store = try SQLiteStore(path: path)
        #expect(try synchronous(store.pool) == 2, "synchronous = FULL on the writer")
    }

    @Test func theBanksWriterSyncsEveryCommit() throws {
        let path = path("bank")
        defer { removeFiles(path) }
        let bank = try IssuerDatabase(path: path)
        #expect(try synchronous(bank.pool) == 2, "synchronous = FULL on the writer")
    }

    @Test func aPlainPoolIsNotSynced() throws {
        // What GRDB does by itself, so that the two checks above could fail.
        let path = path("plain")
        defer { removeFiles(path) }
        let pool = try DatabasePool(path: path)
        #expect(try synchronous(pool) == 1)
        try pool.syncEveryCommit()
        #expect(try synchronous(pool) == 2)
    }
}
