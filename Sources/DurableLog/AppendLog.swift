import Crypto
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An append-only file of records, written with group commit: what callers append while
/// one batch is being written and synced gathers into the next, which goes out with one
/// `write` and one `fdatasync`. `append` returns only after its records are on disk.
///
/// The file: the 8 bytes `PWLOG001`, then records one after another, each
///
///     length   4 bytes, little-endian, the payload's (at most `maxRecord`)
///     check    8 bytes, the first 8 of SHA-256(position ‖ length ‖ payload), position
///              being the record's offset in the file as 8 bytes little-endian
///     payload  `length` bytes
///
/// Opening reads the file to its end and keeps the records up to the first that is not
/// whole and right (a write torn by a crash, or pages of an unsynced batch lost with the
/// machine); the file is cut there, so the next append goes where that record began.
/// What is cut was never acknowledged: an append returns after the sync of its batch.
/// The file is created owner-only.
public final class AppendLog: Sendable {
    public static let magic = Array("PWLOG001".utf8)
    public static let headerSize = 8
    public static let recordOverhead = 12
    /// The largest payload a record may have: 16 MiB.
    public static let maxRecord = 16 << 20

    public enum LogError: Error, CustomStringConvertible, Equatable {
        case notALog(String)
        case io(String, Int32)
        case recordTooLarge(Int)
        case closed

        public var description: String {
            switch self {
            case .notALog(let path): "\(path) is not a Passway log (no PWLOG001 header)"
            case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
            case .recordTooLarge(let size): "a log record of \(size) bytes is over the limit of \(AppendLog.maxRecord)"
            case .closed: "the log is closed"
            }
        }
    }

    /// What opening found: the records kept, with their positions, and what was cut.
    public struct Opened: Sendable {
        public var records: [(position: UInt64, payload: [UInt8])]
        /// Bytes past the last whole record, cut from the file.
        public var cutBytes: Int
    }

    public let path: String
    private let fd: Int32
    private let syncs: Bool
    private let queue = DispatchQueue(label: "append-log")

    private struct Waiting {
        /// Where the first of `bytes` goes in the file.
        var start: UInt64 = 0
        var bytes: [UInt8] = []
        var continuations: [(CheckedContinuation<UInt64, any Error>, count: Int)] = []
    }

    private struct State {
        /// The end of what is written.
        var end: UInt64
        /// Where the next record appended goes: past what is written, being written and waiting.
        var next: UInt64
        var waiting = Waiting()
        var flushing = false
        var closed = false
        var fileClosed = false
        var failed: LogError?
    }

    private let state: Mutex<State>

    /// Opens the log at `path`, creating it (owner-only) when absent, and returns it with
    /// the records it holds. `syncs: false` skips `fdatasync` (for tests of what a crash
    /// leaves; never for a log whose records anyone is told about).
    public static func open(path: String, syncs: Bool = true) throws -> (AppendLog, Opened) {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw LogError.io("cannot open \(path)", errno) }
        do {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw LogError.io("cannot stat \(path)", errno) }
            let size = Int(st.st_size)
            var contents = [UInt8](repeating: 0, count: size)
            var read = 0
            while read < size {
                let n = contents.withUnsafeMutableBytes { raw in
                    guard let base = raw.baseAddress else { return -1 }
                    return pread(fd, base + read, size - read, off_t(read))
                }
                guard n > 0 else { throw LogError.io("cannot read \(path)", n < 0 ? errno : EIO) }
                read += n
            }
            var opened = Opened(records: [], cutBytes: 0)
            let end: Int
            if size == 0 {
                try writeAll(fd, magic, at: 0, path: path)
                if syncs { guard fdatasync(fd) == 0 else { throw LogError.io("cannot sync \(path)", errno) } }
                try syncDirectory(of: path)
                end = headerSize
            } else if size < headerSize {
                // Torn while writing the header of a new log: nothing was ever appended.
                guard Array(contents) == Array(magic.prefix(size)) else { throw LogError.notALog(path) }
                try writeAll(fd, magic, at: 0, path: path)
                if syncs { guard fdatasync(fd) == 0 else { throw LogError.io("cannot sync \(path)", errno) } }
                end = headerSize
            } else {
                guard Array(contents[0..<headerSize]) == magic else { throw LogError.notALog(path) }
                (opened.records, end) = scan(contents)
                opened.cutBytes = size - end
            }
            if end < size {
                guard ftruncate(fd, off_t(end)) == 0 else { throw LogError.io("cannot cut \(path)", errno) }
            }
            if syncs, end != size { guard fdatasync(fd) == 0 else { throw LogError.io("cannot sync \(path)", errno) } }
            return (AppendLog(path: path, fd: fd, end: UInt64(end), syncs: syncs), opened)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    private init(path: String, fd: Int32, end: UInt64, syncs: Bool) {
        self.path = path; self.fd = fd; self.syncs = syncs
        state = Mutex(State(end: end, next: end))
    }

    deinit { if !state.withLock({ $0.fileClosed }) { Glibc.close(fd) } }

    /// The records of a log's bytes (header included) up to the first that is not whole
    /// and right, and where that is.
    static func scan(_ bytes: [UInt8]) -> (records: [(position: UInt64, payload: [UInt8])], end: Int) {
        var records: [(position: UInt64, payload: [UInt8])] = []
        var at = headerSize
        while bytes.count - at >= recordOverhead {
            var length = 0
            for i in 0..<4 { length |= Int(bytes[at + i]) << (8 * i) }
            guard length <= maxRecord, bytes.count - at - recordOverhead >= length else { break }
            let payload = Array(bytes[(at + recordOverhead)..<(at + recordOverhead + length)])
            guard Array(bytes[(at + 4)..<(at + recordOverhead)]) == check(position: UInt64(at), payload: payload) else { break }
            records.append((UInt64(at), payload))
            at += recordOverhead + length
        }
        return (records, at)
    }

    static func check(position: UInt64, payload: [UInt8]) -> [UInt8] {
        var hash = SHA256()
        withUnsafeBytes(of: position.littleEndian) { hash.update(bufferPointer: $0) }
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { hash.update(bufferPointer: $0) }
        hash.update(data: payload)
        return Array(hash.finalize().prefix(8))
    }

    /// Where the next record will go: the file's end once everything appended is written.
    public var end: UInt64 { state.withLock { $0.next } }

    /// Appends the records, in order and next to each other, and returns the position of
    /// the first once they are written and synced (with whatever else was appended
    /// meanwhile). Records appended by concurrent callers keep each caller's order; which
    /// caller's go first is not defined.
    @discardableResult
    public func append(_ payloads: [[UInt8]]) async throws -> UInt64 {
        for p in payloads where p.count > Self.maxRecord { throw LogError.recordTooLarge(p.count) }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UInt64, any Error>) in
            let start: Bool
            do {
                start = try state.withLock { s throws(LogError) -> Bool in
                    if s.closed { throw .closed }
                    if let failed = s.failed { throw failed }
                    if s.waiting.bytes.isEmpty { s.waiting.start = s.next }
                    var position = s.next
                    for payload in payloads {
                        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { s.waiting.bytes.append(contentsOf: $0) }
                        s.waiting.bytes.append(contentsOf: Self.check(position: position, payload: payload))
                        s.waiting.bytes.append(contentsOf: payload)
                        position += UInt64(Self.recordOverhead + payload.count)
                    }
                    s.next = position
                    s.waiting.continuations.append((continuation, payloads.count))
                    if s.flushing { return false }
                    s.flushing = true
                    return true
                }
            } catch {
                continuation.resume(throwing: error)
                return
            }
            if start { queue.async { self.flush() } }
        }
    }

    /// Writes and syncs what has gathered, again until nothing is waiting; on the log's queue.
    private func flush() {
        while true {
            let batch = state.withLock { s -> Waiting in
                let b = s.waiting
                s.waiting = Waiting()
                if b.continuations.isEmpty { s.flushing = false }
                return b
            }
            let at = batch.start
            if batch.continuations.isEmpty { return }
            var failure: LogError?
            do {
                try Self.writeAll(fd, batch.bytes, at: Int(at), path: path)
                if syncs, fdatasync(fd) != 0 { throw LogError.io("cannot sync \(path)", errno) }
            } catch {
                failure = error as? LogError ?? .io("\(error)", EIO)
            }
            state.withLock { s in
                if let failure {
                    // A log that failed a write or a sync may hold anything past `end`: it
                    // takes no more appends (reopen it, which cuts what is not whole).
                    s.failed = failure
                    for (c, _) in s.waiting.continuations { c.resume(throwing: failure) }
                    s.waiting = Waiting()
                } else {
                    s.end = at + UInt64(batch.bytes.count)
                }
            }
            if let failure {
                for (c, _) in batch.continuations { c.resume(throwing: failure) }
                continue
            }
            // Each caller's first record's position: the batch's records follow each other.
            var position = at
            var offset = 0
            for (c, count) in batch.continuations {
                let first = position
                for _ in 0..<count {
                    var length = 0
                    for i in 0..<4 { length |= Int(batch.bytes[offset + i]) << (8 * i) }
                    offset += Self.recordOverhead + length
                    position += UInt64(Self.recordOverhead + length)
                }
                c.resume(returning: first)
            }
        }
    }

    /// Closes the file once what was appended before is written; later appends fail.
    public func close() async {
        state.withLock { $0.closed = true }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in queue.async { self.closeWhenIdle(c) } }
    }

    /// On the log's queue: a flush may still be due (its caller marked the log flushing
    /// before dispatching it), so come back after it.
    private func closeWhenIdle(_ c: CheckedContinuation<Void, Never>) {
        let (flushing, open) = state.withLock { s -> (Bool, Bool) in
            if s.flushing { return (true, false) }
            defer { s.fileClosed = true }
            return (false, !s.fileClosed)
        }
        if flushing {
            queue.async { self.closeWhenIdle(c) }
            return
        }
        if open { Glibc.close(fd) }
        c.resume()
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return -1 }
                return pwrite(fd, base + done, bytes.count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw LogError.io("cannot write \(path)", errno)
            }
            done += n
        }
    }

    /// Makes a new file's name durable: syncs its directory.
    static func syncDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = Glibc.open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw LogError.io("cannot open the directory of \(path)", errno) }
        defer { Glibc.close(dfd) }
        guard fsync(dfd) == 0 else { throw LogError.io("cannot sync the directory of \(path)", errno) }
    }
}
