import Foundation
import ISO8583
import Testing
import TestSupport

/// `/metrics` as a scraper sees it: behind a network operator's credential, and its
/// series moving with real taps over the sockets. (The text format itself is checked
/// by `prometheus_client`'s parser in CI: Tests/Oracles/metrics_test.py.)
@Suite(.timed) struct MetricsTests {
    @Test func seriesMoveWithTapsAndOnlyTheOperatorReadsThem() async throws {
        var shop = try await NetworkFlowTests.Shop.open()
        let harness = shop.harness
        #expect(try await harness.api("GET", "/metrics", key: nil).status == 401)
        #expect(try await harness.api("GET", "/metrics", key: shop.scenario.walletKey).status == 403)

        func scrape() async throws -> Scrape {
            let answer = try await harness.api("GET", "/metrics", key: harness.info.operatorKey)
            #expect(answer.status == 200)
            #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            return Scrape(String(decoding: answer.body, as: UTF8.self))
        }
        let issuer = shop.scenario.issuerID
        let approved = ["mti": "0100", "rc": "00", "issuer": issuer, "decided_by": "issuer"]
        let declined = ["mti": "0100", "rc": "51", "issuer": issuer, "decided_by": "issuer"]
        let before = try await scrape()
        #expect(before.value("passway_enrollments_total", ["outcome": "approved"]) == 1, "the shop's card went onto its phone")
        #expect(before.value("passway_tokens", ["market": "RU", "status": "active"]) == 1)
        #expect(before.value("passway_authorizations_total", approved) == nil)

        for amount: Int64 in [1_000, 2_000] {
            let (request, _) = try shop.read(amount: amount)
            #expect(try await shop.pos.send(request).responseCode == "00")
        }
        let (big, _) = try shop.read(amount: 6_000_000)
        #expect(try await shop.pos.send(big).responseCode == "51")

        let after = try await scrape()
        #expect(after.value("passway_authorizations_total", approved) == 2)
        #expect(after.value("passway_authorizations_total", declined) == 1)
        #expect(after.value("passway_authorization_duration_seconds_count", ["mti": "0100"]) == 3)
        #expect(after.value("passway_issuer_duration_seconds_count", ["issuer": issuer]) == 3)
        // Every answer took longer than nothing and less than the test.
        let sum = try #require(after.value("passway_authorization_duration_seconds_sum", ["mti": "0100"]))
        #expect(sum > 0 && sum < 60)
        #expect(after.value("passway_issuer_link_up", [:]) == 1, "the link to the bundled host is up")
        await shop.close()
    }
}

/// The samples of a scrape, looked up by name and some of their labels.
struct Scrape {
    var samples: [(name: String, labels: [String: String], value: Double)] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: Substring
            if let brace = series.firstIndex(of: "{") {
                name = series[..<brace]
                for pair in series[series.index(after: brace)...].dropLast().split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
            } else {
                name = series
            }
            samples.append((String(name), labels, value))
        }
    }

    /// The sum over the series of `name` whose labels include `labels`; nil when none has.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        let matching = samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }
}
