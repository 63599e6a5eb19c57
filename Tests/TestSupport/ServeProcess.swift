import Foundation

/// A `passway serve` (or `passway issuer-host serve`) process on ephemeral ports with a
/// data directory of its own, its banner read for the addresses it listens on.
public final class ServeProcess: @unchecked Sendable {
    public let process: ChildProcess
    public let dataDirectory: String
    /// The banner's lines: "  label   value …".
    let banner: String

    private init(process: ChildProcess, dataDirectory: String, banner: String) {
        self.process = process; self.dataDirectory = dataDirectory; self.banner = banner
    }

    /// The first word after `label` on a banner line.
    public func field(_ label: String) -> String? {
        banner.split(separator: "\n").first { $0.hasPrefix("  " + label) }
            .flatMap { $0.dropFirst(label.count + 2).split(separator: " ").first.map(String.init) }
    }

    /// `passway serve`, the bundled issuer host included unless `arguments` say otherwise.
    public var api: String { field("API") ?? "" }
    public var issuerHost: String { field("bundled issuer host") ?? "" }
    public var networkHost: String { field("network ISO 8583").flatMap { $0.split(separator: ":").first.map(String.init) } ?? "" }
    public var networkPort: Int { field("network ISO 8583").flatMap { $0.split(separator: ":").last.flatMap { Int($0) } } ?? 0 }
    public var operatorKey: String {
        (try? String(contentsOfFile: dataDirectory + "/operator.key", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
    /// The issuer host's operator key (bundled, or `passway issuer-host serve`'s).
    public var issuerHostOperatorKey: String {
        (try? String(contentsOfFile: dataDirectory + "/issuer-host-operator.key", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// `passway serve` on free ports with `arguments` added.
    public static func start(_ arguments: [String] = [], environment: [String: String] = [:]) async throws -> ServeProcess {
        try await launch(["serve", "--port", "0", "--issuer-host-port", "0", "--network-port", "0", "--issuer-host-iso-port", "0",
                          "--log-level", "debug"] + arguments, environment: environment, ready: "Stop with Ctrl-C") { p in
            p.field("API") != nil && p.field("network ISO 8583") != nil
        }
    }

    /// `passway issuer-host serve` on free ports.
    public static func startIssuerHost(_ arguments: [String] = [], environment: [String: String] = [:]) async throws -> ServeProcess {
        try await launch(["issuer-host", "serve", "--port", "0", "--iso-port", "0", "--log-level", "debug"] + arguments,
                         environment: environment, ready: "Stop with Ctrl-C") { p in p.field("JSON API") != nil && p.field("ISO 8583") != nil }
    }

    static func launch(_ arguments: [String], environment: [String: String], ready: String,
                       started: (ServeProcess) -> Bool) async throws -> ServeProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passway-node-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let out = try PipeEnds()
        let logFD = open(directory + "/serve.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { out.closeBoth(); throw ChildProcess.SpawnError(call: "open serve.log", code: errno) }
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(Subprocess.passwayExecutable, arguments + ["--data-dir", directory],
                                             environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                             stdin: nil, stdout: out.write, stderr: logFD)
        } catch {
            out.closeBoth(); _ = close(logFD)
            throw error
        }
        out.closeWrite(); _ = close(logFD)
        let reader = out.readHandle
        // Its banner, read on a thread of its own (blocking reads stay off the pool).
        let banner: String = await withCheckedContinuation { continuation in
            Thread {
                var text = ""
                while !text.contains(ready) {
                    let chunk = reader.readChunk()
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                continuation.resume(returning: text)
                while !reader.readChunk().isEmpty {}
                try? reader.close()
            }.start()
        }
        let server = ServeProcess(process: process, dataDirectory: directory, banner: banner)
        guard started(server) else {
            process.terminate()
            throw ServeDidNotStart(output: banner + server.log)
        }
        return server
    }

    /// Its log so far (standard error).
    public var log: String { (try? String(contentsOfFile: dataDirectory + "/serve.log", encoding: .utf8)) ?? "" }

    /// Waits (30 s at most) until its log satisfies `condition`.
    public func waitForLog(_ condition: (String) -> Bool) async -> Bool {
        await eventually { condition(log) }
    }

    /// Sends SIGTERM and returns its exit status once it has exited (waiting on a thread
    /// of its own, not the concurrency pool).
    public func terminate() async -> Int32 {
        process.terminate()
        let process = process
        return await withCheckedContinuation { continuation in
            Thread {
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }.start()
        }
    }

    /// Stops it (SIGTERM) and removes its data directory.
    public func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

public struct ServeDidNotStart: Error, CustomStringConvertible {
    let output: String
    public var description: String { "passway did not start: \(output)" }
}
