import Clearing
import Foundation
import Testing
import TestSupport

/// `passway load` against a running `passway serve` (a process of its own, so that its
/// time windows measure the platform, not this process's other tests): it provisions its
/// tokens in bulk, sends real authorizations over TCP and reports throughput, codes and
/// latency, in JSON too.
@Suite(.timed) struct LoadCommandTests {
    /// Runs a process on a thread of its own, not on the concurrency pool that the
    /// in-process platform answers with.
    func run(_ arguments: [String]) async throws -> Subprocess.Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try Subprocess.run(Subprocess.passwayExecutable, arguments) })
            }.start()
        }
    }

    /// The load generator's flags that point it at `node`.
    func target(_ node: ServeProcess) -> [String] {
        ["--api", node.api, "--issuer-host", node.issuerHost, "--network", "\(node.networkHost):\(node.networkPort)", "--operator-key", node.operatorKey,
         "--issuer-host-operator-key", node.issuerHostOperatorKey]
    }

    /// ISO 8583 requests the node's bundled issuer host has decided so far (its log says each).
    func issuerRequests(_ node: ServeProcess) -> Int {
        node.log.components(separatedBy: "issuer host: authorization").count - 1
    }

    @Test func loadReportsThroughputLatencyAndCodes() async throws {
        let node = try await ServeProcess.start()
        defer { node.stop() }
        let before = issuerRequests(node)
        let r = try await run(["load"] + target(node) + [
                               "--tokens", "120", "--keys-per-token", "5", "--count", "480", "--connections", "2", "--depth", "4", "--echo", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("provisioned 120 tokens with 5 keys each"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["authorizations"] as? Int == 480)
        #expect((report["response_codes"] as? [String: Int])?["00"] == 480, "\(report["response_codes"] ?? "")")
        #expect((report["authorizations_per_second"] as? Double ?? 0) > 0)
        let latency = try #require(report["latency_ms"] as? [String: Double])
        let p50 = try #require(latency["p50"]), p99 = try #require(latency["p99"]), max = try #require(latency["max"])
        #expect(p50 > 0 && p50 <= p99 && p99 <= max)
        for key in ["p90", "p999"] { #expect(latency[key] != nil) }
        #expect((report["floor_ratio"] as? Double ?? 0) > 0)
        #expect(((report["echo_floor"] as? [String: Any])?["authorizations"] as? Int) == 480)
        // Every one of them reached the issuer host: real authorizations, not echoes.
        #expect(await eventually { issuerRequests(node) == before + 480 }, "\(issuerRequests(node) - before) reached the issuer")
    }

    /// `--presentments`: the acquirer presents what it was approved for, in an IPM file
    /// written owner-only and submitted; each clears once; the same file again is refused.
    @Test func theLoadPresentsWhatItWasApproved() async throws {
        let node = try await ServeProcess.start()
        defer { node.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("load-presentments-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("presentments.ipm").path
        let r = try await run(["load"] + target(node) + ["--tokens", "60", "--keys-per-token", "5", "--count", "300", "--connections", "2",
                                                         "--depth", "4", "--presentments", file, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("presentments: 300 in \(file)") && r.stderr.contains("300 cleared, 0 rejected"), "\(r.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600, "it holds token numbers")
        let records = try ClearingFile.read(Array(try Data(contentsOf: URL(fileURLWithPath: file)))).records
        #expect(records.count == 300 && records.allSatisfy { (try? $0.get().mti) == "1240" })
    }

    /// The warmup's authorizations reach the issuer but not the figures: the report is
    /// the traffic after it (the first use of each token fills the server's caches). The
    /// run ends when its 2,000 keys are spent, not at a time: on a machine busy with other
    /// work the first answers may come after seconds, yet some are measured.
    @Test func aWarmupIsSentButNotMeasured() async throws {
        let node = try await ServeProcess.start()
        defer { node.stop() }
        let before = issuerRequests(node)
        let r = try await run(["load"] + target(node) + [
                               "--tokens", "50", "--keys-per-token", "40", "--warmup", "1s", "--duration", "120s",
                               "--connections", "2", "--depth", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["warmup"] as? Double == 1)
        let measured = try #require(report["authorizations"] as? Int)
        let warmedUp = try #require(report["warmup_authorizations"] as? Int)
        #expect(measured > 0)
        #expect((report["response_codes"] as? [String: Int])?["00"] == measured)
        // At least the first four (2 connections × 2 in flight, each worker's first request
        // whenever it is sent) went in the warmup: answered by the issuer, left out of the
        // report.
        _ = await eventually { issuerRequests(node) - before >= measured + warmedUp }
        let sent = issuerRequests(node) - before
        #expect(warmedUp >= 4)
        #expect(sent == measured + warmedUp, "\(sent) reached the issuer, \(measured) measured, \(warmedUp) in the warmup")
    }

    /// Single-use keys bound the network's run; the echo listener checks nothing, so the
    /// floor goes round them again instead of stopping when they run out.
    @Test func theFloorReusesKeysTheNetworkDoesNot() async throws {
        let node = try await ServeProcess.start()
        defer { node.stop() }
        let r = try await run(["load"] + target(node) + [
                               "--tokens", "10", "--keys-per-token", "2", "--count", "50", "--connections", "1", "--depth", "2", "--echo", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["authorizations"] as? Int == 20)
        #expect((report["response_codes"] as? [String: Int])?["00"] == 20)
        #expect(((report["echo_floor"] as? [String: Any])?["authorizations"] as? Int) == 50)
    }

    /// Keys that run out during the warmup leave nothing to measure: one line that says so.
    @Test func keysSpentInTheWarmupAreNamed() async throws {
        let node = try await ServeProcess.start()
        defer { node.stop() }
        let r = try await run(["load"] + target(node) + [
                               "--tokens", "5", "--keys-per-token", "2", "--warmup", "30s", "--duration", "1s", "--json"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("every authorization fell in the warmup"), "\(r.stderr)")
    }

    @Test func badArgumentsAreOneLine() async throws {
        let r = try await run(["load", "--connections", "0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--connections"))
        let warm = try await run(["load", "--warmup", "5s", "--count", "100"])
        #expect(warm.status != 0)
        #expect(warm.stderr.contains("--warmup"))
    }
}
