import DurableLog
import Foundation
import Testing

/// The append-only log: what was appended comes back on opening, in order; a crash at any
/// point of an append (a record torn at any byte, pages of an unsynced batch lost or left
/// as garbage) leaves the records before it and nothing else, and the log goes on from
/// there.
@Suite struct AppendLogTests {
    func path() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).pwlog").path
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    func record(_ n: Int, _ rng: inout some RandomNumberGenerator) -> [UInt8] {
        // Sizes from empty to a few kilobytes, contents that tell records apart.
        let size = Int.random(in: 0...3_000, using: &rng)
        return (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n &* 7) }
    }

    @Test func whatWasAppendedComesBackInOrder() async throws {
        let path = path()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (log, opened) = try AppendLog.open(path: path)
        #expect(opened.records.isEmpty && opened.cutBytes == 0)
        // 200 callers at once, one to three records each: group commit batches them.
        let appended = try await withThrowingTaskGroup(of: (UInt64, [[UInt8]]).self) { group in
            for caller in 0..<200 {
                group.addTask {
                    var rng = SystemRandomNumberGenerator()
                    let records = (0..<Int.random(in: 1...3)).map { record(caller * 10 + $0, &rng) }
                    return (try await log.append(records), records)
                }
            }
            var all: [(UInt64, [[UInt8]])] = []
            for try await result in group { all.append(result) }
            return all
        }
        let end = log.end
        await log.close()
        await #expect(throws: AppendLog.LogError.closed) { try await log.append([[1]]) }

        let (again, reopened) = try AppendLog.open(path: path)
        defer { Task { await again.close() } }
        #expect(reopened.cutBytes == 0)
        #expect(again.end == end)
        let byPosition = Dictionary(uniqueKeysWithValues: reopened.records.map { ($0.position, $0.payload) })
        #expect(reopened.records.count == appended.reduce(0) { $0 + $1.1.count })
        for (first, records) in appended {
            // Each caller's records are where it was told, one after another.
            var position = first
            for record in records {
                let same = byPosition[position] == record
                #expect(same, "the record at \(position)")
                position += UInt64(AppendLog.recordOverhead + record.count)
            }
        }
    }

    /// Five records written; the file then cut at every byte of the last: opening keeps the
    /// four, cuts the file where the fifth began, and the next append goes there.
    @Test func aRecordTornAtAnyByteIsCutAndTheLogGoesOn() async throws {
        let source = path()
        defer { try? FileManager.default.removeItem(atPath: source) }
        var rng = SystemRandomNumberGenerator()
        let records = (0..<5).map { n in n == 4 ? [UInt8](repeating: 0xA5, count: 300) : record(n, &rng) }
        let (log, _) = try AppendLog.open(path: source)
        var positions: [UInt64] = []
        for r in records { positions.append(try await log.append([r])) }
        await log.close()
        let whole = try bytes(source)
        let lastStart = Int(positions[4])
        #expect(whole.count == lastStart + AppendLog.recordOverhead + 300)

        let torn = path()
        defer { try? FileManager.default.removeItem(atPath: torn) }
        for cut in lastStart..<whole.count {
            try write(Array(whole[0..<cut]), to: torn)
            let (log, opened) = try AppendLog.open(path: torn, syncs: false)
            let kept = opened.records.map(\.payload) == Array(records[0..<4])
            #expect(kept, "cut at \(cut)")
            #expect(opened.cutBytes == cut - lastStart)
            #expect(try bytes(torn).count == lastStart)
            #expect(try await log.append([[7, 7, 7]]) == UInt64(lastStart))
            await log.close()
            let (after, again) = try AppendLog.open(path: torn, syncs: false)
            let goesOn = again.records.map(\.payload) == Array(records[0..<4]) + [[7, 7, 7]]
            #expect(goesOn, "cut at \(cut), then appended")
            #expect(again.cutBytes == 0)
            await after.close()
        }
    }

    /// A batch written but not synced when the machine stopped: any of its records may be
    /// lost (zeros) or garbage while later ones reached the disk. Opening keeps exactly the
    /// records before the first that is not right.
    @Test func pagesOfAnUnsyncedBatchLostAnywhereLeaveThePrefix() async throws {
        let source = path()
        defer { try? FileManager.default.removeItem(atPath: source) }
        var rng = SystemRandomNumberGenerator()
        let synced = (0..<10).map { record($0, &rng) }, unsynced = (10..<20).map { record($0, &rng) }
        let (log, _) = try AppendLog.open(path: source)
        try await log.append(synced)
        let first = try await log.append(unsynced)
        await log.close()
        let whole = try bytes(source)

        let damaged = path()
        defer { try? FileManager.default.removeItem(atPath: damaged) }
        var start = Int(first)
        for (k, record) in unsynced.enumerated() {
            let size = AppendLog.recordOverhead + record.count
            for damage in ["zeros", "garbage", "one bit"] {
                var copy = whole
                switch damage {
                case "zeros": for i in start..<(start + size) { copy[i] = 0 }
                case "garbage": for i in start..<(start + size) { copy[i] = UInt8.random(in: 0...255, using: &rng) }
                default: let i = Int.random(in: start..<(start + size), using: &rng); copy[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                }
                try write(copy, to: damaged)
                let (log, opened) = try AppendLog.open(path: damaged, syncs: false)
                let prefix = opened.records.map(\.payload) == synced + Array(unsynced[0..<k])
                #expect(prefix, "record \(k), \(damage): \(opened.records.count) records kept")
                #expect(opened.cutBytes == whole.count - start)
                await log.close()
            }
            start += size
        }
    }

    /// A new log's header torn by a crash: nothing was appended, the header is rewritten.
    @Test func aTornHeaderIsRewritten() async throws {
        let path = path()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try write(Array("PWLO".utf8), to: path)
        let (log, opened) = try AppendLog.open(path: path)
        #expect(opened.records.isEmpty)
        #expect(try bytes(path) == AppendLog.magic)
        #expect(try await log.append([[9]]) == UInt64(AppendLog.headerSize))
        await log.close()
        try write(Array("PWLX".utf8), to: path)
        #expect(throws: AppendLog.LogError.notALog(path)) { try AppendLog.open(path: path) }
    }

    @Test func aFileThatIsNotALogIsRefusedAndLeftAlone() async throws {
        let path = path()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = Array("key,value\n1,2\n".utf8)
        try write(text, to: path)
        #expect(throws: AppendLog.LogError.notALog(path)) { try AppendLog.open(path: path) }
        #expect(try bytes(path) == text)
    }

    @Test func theFileIsOwnerOnlyAndARecordOverTheLimitIsRefused() async throws {
        let path = path()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (log, _) = try AppendLog.open(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        await #expect(throws: AppendLog.LogError.recordTooLarge(AppendLog.maxRecord + 1)) {
            try await log.append([[1], [UInt8](repeating: 0, count: AppendLog.maxRecord + 1)])
        }
        // Nothing of the refused call was written; the log takes the next.
        #expect(try await log.append([[2]]) == UInt64(AppendLog.headerSize))
        await log.close()
        let (again, opened) = try AppendLog.open(path: path)
        #expect(opened.records.map(\.payload) == [[2]])
        await again.close()
    }
}
