import Foundation

/// Runs one of the Python oracle scripts in `Tests/Oracles` and returns its output
/// lines as JSON objects. The oracles are independent implementations (pyemv, psec,
/// pyiso8583, `cryptography`); when Python or a package is missing the failure says
/// so and what to install. Outside CI a missing oracle is reported and the caller may
/// skip; with `CI=true` it is a failure.
public enum Oracle {
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() } // Tests/TestSupport/Oracle.swift
        return url
    }()

    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    public static let installHint = "pip install pyemv pyiso8583 psec 'cryptography<49' gmssl cemacqr pyhpke"

    public enum Failure: Error, CustomStringConvertible {
        case unavailable(String)
        case failed(script: String, status: Int32, stderr: String)
        case badOutput(String)

        public var description: String {
            switch self {
            case .unavailable(let why): "ORACLE UNAVAILABLE: \(why). Install with: \(Oracle.installHint)"
            case .failed(let script, let status, let stderr): "oracle \(script) exited \(status): \(stderr.prefix(2000))"
            case .badOutput(let line): "oracle printed something that is not a JSON object: \(line.prefix(200))"
            }
        }
    }

    /// Whether python3 with all oracle packages is importable here.
    public static let availability: Result<Void, Failure> = {
        do {
            _ = try run(["-c", "import pyemv, iso8583, psec, cryptography, gmssl.sm4, cemacqr, pyhpke"], stdin: nil)
            return .success(())
        } catch let failure as Failure {
            return .failure(failure)
        } catch {
            return .failure(.unavailable("\(error)"))
        }
    }()

    /// Runs `python3 -W ignore Tests/Oracles/<script> <arguments>` and parses each line.
    public static func lines(script: String, arguments: [String], stdin: String? = nil) throws -> [[String: Any]] {
        let path = repositoryRoot.appendingPathComponent("Tests/Oracles/\(script)").path
        let output = try run([path] + arguments, stdin: stdin)
        var result: [[String: Any]] = []
        for line in output.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw Failure.badOutput(String(line))
            }
            if let error = object["error"] as? String, object.count == 1, error.hasPrefix("missing oracle package") {
                throw Failure.unavailable(error)
            }
            result.append(object)
        }
        return result
    }

    private static func run(_ arguments: [String], stdin: String?) throws -> String {
        let result: Subprocess.Result
        do {
            result = try Subprocess.run("/usr/bin/env", ["python3", "-W", "ignore"] + arguments, stdin: stdin.map { Data($0.utf8) })
        } catch {
            throw Failure.unavailable("cannot start python3: \(error)")
        }
        if result.status == 127 { throw Failure.unavailable("python3 not found") }
        if result.status == 3 || result.stderr.contains("ModuleNotFoundError") {
            throw Failure.unavailable(result.stderr.split(separator: "\n").last.map(String.init) ?? "missing package")
        }
        guard result.status == 0 else {
            throw Failure.failed(script: arguments.first ?? "", status: result.status, stderr: result.stderr)
        }
        return result.stdout
    }
}

/// Tallies cases and mismatches per algorithm and prints the summary line the issue
/// asks for: how many cases ran and how many mismatched.
public struct OracleTally {
    public private(set) var cases: [String: Int] = [:]
    public private(set) var mismatches: [String: [String]] = [:]
    private var order: [String] = []

    public init() {}

    public mutating func record(_ algorithm: String, ok: Bool, detail: @autoclosure () -> String) {
        if cases[algorithm] == nil { order.append(algorithm) }
        cases[algorithm, default: 0] += 1
        if !ok { mismatches[algorithm, default: []].append(detail()) }
    }

    public func report(oracle: String, seed: UInt64) -> String {
        order.map { alg in
            let n = cases[alg] ?? 0, bad = mismatches[alg]?.count ?? 0
            return "oracle \(oracle) [seed \(seed)]: \(alg): \(n) cases, \(bad) mismatched"
        }.joined(separator: "\n")
    }

    public var totalMismatches: Int { mismatches.values.reduce(0) { $0 + $1.count } }
}
