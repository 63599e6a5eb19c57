import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion with optional standard input; stdout and stderr are
/// drained concurrently so that neither side blocks on a full pipe.
public enum Subprocess {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    public static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil,
                           environment: [String: String]? = nil) throws -> Result {
        let input = try PipeEnds(), out = try PipeEnds(), err = try PipeEnds()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable, arguments, environment: environment,
                                           stdin: input.read, stdout: out.write, stderr: err.write)
        } catch {
            input.closeBoth(); out.closeBoth(); err.closeBoth()
            throw error
        }
        input.closeRead(); out.closeWrite(); err.closeWrite()
        let writer = input.writeHandle
        Thread {
            if let stdin { try? writer.write(contentsOf: stdin) }
            try? writer.close()
        }.start()
        let errorData = LockedData()
        let errorDone = DispatchSemaphore(value: 0)
        let errorHandle = err.readHandle
        Thread {
            errorData.set(errorHandle.readAll())
            try? errorHandle.close()
            errorDone.signal()
        }.start()
        let outHandle = out.readHandle
        let data = outHandle.readAll()
        try? outHandle.close()
        child.waitUntilExit()
        errorDone.wait()
        return Result(status: child.terminationStatus,
                      stdout: String(decoding: data, as: UTF8.self),
                      stderr: String(decoding: errorData.value, as: UTF8.self))
    }

    /// The `passway` executable built beside the test bundle.
    public static var passwayExecutable: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        // macOS runs tests from inside an .xctest bundle.
        while dir.path.contains(".xctest") { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("passway").path
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data ?? Data() }
}

extension FileHandle {
    /// Everything up to the end of the file. Foundation's `readDataToEndOfFile()` and
    /// `availableData` trap on a read error, a signal's EINTR included (seen in CI with the
    /// machine busy); these read with read(2) and try an interrupted read again.
    public func readAll() -> Data {
        var data = Data()
        while case let chunk = readChunk(), !chunk.isEmpty { data += chunk }
        return data
    }

    /// The bytes there are now, waiting for some: empty at the end of the file, or after an
    /// error other than EINTR.
    public func readChunk() -> Data {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fileDescriptor, $0.baseAddress, $0.count) }
            if count >= 0 { return Data(buffer.prefix(count)) }
            if errno != EINTR { return Data() }
        }
    }
}

/// A pipe made close-on-exec, so that no other child inherits either end (a write end kept
/// open by another child would keep a reader from its end of file).
struct PipeEnds {
    let read: CInt
    let write: CInt

    init() throws {
        var fds: [CInt] = [-1, -1]
        guard let pipe2 = Self.pipe2 else { throw ChildProcess.SpawnError(call: "pipe2", code: ENOSYS) }
        guard pipe2(&fds, O_CLOEXEC) == 0 else { throw ChildProcess.SpawnError(call: "pipe2", code: errno) }
        read = fds[0]; write = fds[1]
    }

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<CInt>, CInt) -> CInt
    /// glibc's pipe2(2), which Swift's Glibc module does not declare.
    private static let pipe2: Pipe2? = dlsym(nil, "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }

    var readHandle: FileHandle { FileHandle(fileDescriptor: read, closeOnDealloc: false) }
    var writeHandle: FileHandle { FileHandle(fileDescriptor: write, closeOnDealloc: false) }
    func closeRead() { _ = Glibc.close(read) }
    func closeWrite() { _ = Glibc.close(write) }
    func closeBoth() { closeRead(); closeWrite() }
}

/// A child process started with posix_spawn(3). Foundation's `Process` is not used: on Linux
/// its `run()` copies each /proc/self/fd entry as a whole 256-byte `d_name` and can read past
/// glibc's buffer, which killed the suite with SIGSEGV in CI (swift-corelibs-foundation
/// pull request 5472, in Swift 6.3.1). The child gets the given descriptors as 0, 1 and 2,
/// every other descriptor closed, default signal dispositions and an empty signal mask.
public final class ChildProcess: @unchecked Sendable {
    public struct SpawnError: Error, CustomStringConvertible {
        let call: String
        let code: CInt
        public var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    public let pid: pid_t
    private let lock = NSLock()
    /// The wait status once reaped; reaping happens only under `lock`, so `pid` is never
    /// signalled after it may have been reused.
    private var status: CInt?

    private init(pid: pid_t) { self.pid = pid }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
    /// glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does
    /// not declare.
    private static let addCloseFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }

    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]?,
                             stdin: CInt?, stdout: CInt?, stderr: CInt?) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let nullFD = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if nullFD >= 0 { _ = Glibc.close(nullFD) } }
        for (target, source) in [(CInt(0), stdin), (1, stdout), (2, stderr)] {
            let fd = source ?? nullFD
            guard fd >= 0 else { throw SpawnError(call: "open /dev/null", code: errno) }
            let code = posix_spawn_file_actions_adddup2(&actions, fd, target)
            guard code == 0 else { throw SpawnError(call: "posix_spawn_file_actions_adddup2", code: code) }
        }
        if let addCloseFrom {
            let code = addCloseFrom(&actions, 3)
            guard code == 0 else { throw SpawnError(call: "posix_spawn_file_actions_addclosefrom_np", code: code) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals); sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environment = environment ?? ProcessInfo.processInfo.environment
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid = pid_t()
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard code == 0 else { throw SpawnError(call: "posix_spawn \(executable)", code: code) }
        return ChildProcess(pid: pid)
    }

    /// Reaps the child if it has ended; the caller holds `lock`.
    private func reapIfEnded() -> Bool {
        if status != nil { return true }
        var raw: CInt = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw; return true }
        return false
    }

    public var isRunning: Bool {
        lock.lock(); defer { lock.unlock() }
        return !reapIfEnded()
    }

    /// Sends `signal` unless the child has already ended.
    public func signal(_ signal: CInt) {
        lock.lock(); defer { lock.unlock() }
        if !reapIfEnded() { _ = kill(pid, signal) }
    }

    /// SIGTERM.
    public func terminate() { signal(SIGTERM) }

    /// Blocks until the child has ended (waitid with WNOWAIT, so several threads may wait),
    /// then reaps it.
    public func waitUntilExit() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
            if errno != EINTR { break }
        }
        lock.lock(); defer { lock.unlock() }
        if status == nil {
            var raw: CInt = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            status = raw
        }
    }

    /// The exit code, or the number of the signal that ended it (as Foundation's `Process`
    /// gives it); -1 while it runs.
    public var terminationStatus: CInt {
        lock.lock(); defer { lock.unlock() }
        guard let status else { return -1 }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }
}
