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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        let writer = Thread {
            if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let errorData = LockedData()
        let errorDone = DispatchSemaphore(value: 0)
        Thread {
            errorData.set(err.fileHandleForReading.readAll())
            errorDone.signal()
        }.start()
        let data = out.fileHandleForReading.readAll()
        process.waitUntilExit()
        errorDone.wait()
        return Result(status: process.terminationStatus,
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
