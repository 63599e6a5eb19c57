import Clearing
import Foundation
import ISO8583
import Testing
import TestSupport

/// An acquirer's clearing day over the real API: taps at a POS through the network and the
/// bundled bank, then the acquirer's clearing file, written by `cardutil` (PyPI) from plain
/// values, submitted, each record cleared or rejected by the stated rules; the reject file
/// Passway answers with is read back by `cardutil`.
@Suite(.timed) struct ClearingFlowTests {
    static func cardutil() -> Bool {
        if (try? Oracle.lines(script: "ipm_oracle.py", arguments: ["cp500"])) != nil { return true }
        if Oracle.isCI { Issue.record("cardutil is missing: pip install cardutil") }
        return false
    }

    static func padded(_ n: Int64, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(n).count)) + String(n) }

    /// `records` written by cardutil as an IPM file (header, records, trailer).
    static func cardutilFile(id: String, _ records: [[String: String]], encoding: String = "cp500", blocked: Bool = true) throws -> [UInt8] {
        var all: [[String: String]] = [["MTI": "1644", "DE24": "697", "PDS0105": id]] + records
        all.append(["MTI": "1644", "DE24": "695", "PDS0306": padded(Int64(records.count + 2), 8)])
        for i in all.indices { all[i]["DE71"] = padded(Int64(i + 1), 8) }
        let input = try all.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }.joined(separator: "\n") + "\n"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("clearing-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try Oracle.lines(script: "ipm_oracle.py", arguments: ["write", path, encoding, blocked ? "1" : "0"], stdin: input)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// What cardutil reads in `bytes`.
    static func cardutilRead(_ bytes: [UInt8], encoding: String = "cp500", blocked: Bool = true) throws -> [[String: Any]] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rejects-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try Oracle.lines(script: "ipm_oracle.py", arguments: ["read", path, encoding, blocked ? "1" : "0"])
    }

    @Test func anAcquirersFileFromCardutilIsClearedOnceAndItsRejectsReadByCardutil() async throws {
        guard Self.cardutil() else { return }
        var shop = try await NetworkFlowTests.Shop.open()
        var taps: [(request: Message, approval: String)] = []
        for amount: Int64 in [150_000, 50_000, 30_000, 100_000] {
            let (request, _) = try shop.read(amount: amount)
            let outcome = try await shop.pos.send(request)
            #expect(outcome.responseCode == "00")
            taps.append((request, try #require(outcome.answer.string(38))))
        }
        // The third is reversed by the acquirer: nothing of it may clear.
        #expect(try await shop.network.send(NetworkFlowTests.reversal(of: taps[2].request, stan: "900001")).string(39) == "00")

        let token = try #require(taps[0].request.string(2))
        // DE 63, the life cycle ID: the authorization's STAN and transmission time.
        func lifeCycleID(_ tap: Int) -> String { (taps[tap].request.string(11) ?? "") + (taps[tap].request.string(7) ?? "") }
        func presentment(_ tap: Int, amount: Int64, reference: Int, mcc: String = "5311", approval: String? = nil) -> [String: String] {
            ["MTI": "1240", "DE2": token, "DE3": "000000", "DE4": Self.padded(amount, 12), "DE12": "261129101500", "DE24": "200", "DE26": mcc,
             "DE31": "7" + Self.padded(Int64(reference), 22), "DE32": "25000001", "DE38": approval ?? taps[tap].approval, "DE41": "MSK00001",
             "DE42": "GUM-DEPARTMENT1", "DE49": "643", "DE63": lifeCycleID(tap)]
        }
        var noCurrency = presentment(3, amount: 1_000, reference: 9)
        noCurrency["DE49"] = nil
        var anotherTaps = presentment(3, amount: 1_000, reference: 20)
        anotherTaps["DE63"] = lifeCycleID(1)
        var noLifeCycleID = presentment(1, amount: 10_000, reference: 21)
        noLifeCycleID["DE63"] = nil
        let fileID = "001" + "261129" + "00025000001" + "00001"
        let file = try Self.cardutilFile(id: fileID, [
            presentment(0, amount: 150_000, reference: 1),              // 2: cleared in full
            presentment(1, amount: 40_000, reference: 2),               // 3: cleared, partial
            presentment(2, amount: 30_000, reference: 3),               // 4: reversed
            presentment(3, amount: 115_000, reference: 4, mcc: "5812"), // 5: a restaurant's tip, within 20%
            presentment(0, amount: 150_000, reference: 5),              // 6: cleared already, by record 2
            presentment(1, amount: 10_000, reference: 2),               // 7: the reference of record 3
            presentment(0, amount: 1_000, reference: 6, approval: "ZZZZZZ"), // 8: no such approval
            noCurrency,                                                 // 9: DE 49 missing
            anotherTaps,                                                // 10: DE 63 names another authorization
            noLifeCycleID,                                              // 11: without DE 63, the oldest fitting: cleared already
        ])
        let answer = try await shop.harness.upload("/v1/clearing/files", key: shop.acquirer.apiKey, bytes: file)
        #expect(answer.status == 201, "\(answer.json)")
        let result = try JSONDecoder.iso8601.decode(ClearingFileResult.self, from: answer.body)
        #expect(result.fileID == fileID && result.cleared == 3 && result.rejected == 7 && result.characterSet == "ebcdic" && result.blocked)
        let byNumber = Dictionary(result.results.map { ($0.messageNumber, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byNumber[2]?.outcome == .cleared && byNumber[2]?.partial == false && byNumber[2]?.amountMinor == 150_000)
        #expect(byNumber[3]?.outcome == .cleared && byNumber[3]?.partial == true)
        #expect(byNumber[5]?.outcome == .cleared && byNumber[5]?.amountMinor == 115_000)
        #expect(byNumber[4]?.reject?.reason == .reversed)
        #expect(byNumber[6]?.reject?.reason == .alreadyCleared)
        #expect(byNumber[7]?.reject?.reason == .duplicateReference)
        #expect(byNumber[8]?.reject?.reason == .noAuthorization)
        #expect(byNumber[9]?.reject?.reason == .format && byNumber[9]?.reject?.element == 49)
        #expect(byNumber[10]?.reject?.reason == .noAuthorization && byNumber[10]?.reject?.element == 63)
        #expect(byNumber[11]?.reject?.reason == .alreadyCleared)
        #expect(Set(result.results.compactMap(\.authorization)).count == 3, "three authorizations, each cleared once")
        #expect(!String(decoding: answer.body, as: UTF8.self).contains(token), "the token number is masked in the answer")

        // The reject file, as cardutil reads it: a record per reject with its reason.
        let rejects = try await shop.harness.api("GET", "/v1/clearing/files/\(fileID)/rejects", key: shop.acquirer.apiKey)
        #expect(rejects.status == 200 && rejects.headers["content-type"] == "application/octet-stream")
        let read = try Self.cardutilRead(Array(rejects.body))
        #expect(read.count == 9 && read.first?["PDS0105"] as? String == "003" + fileID.dropFirst(3))
        #expect(read.last?["PDS0306"] as? String == "00000009")
        let reasons = read.dropFirst().dropLast().map { ($0["PDS0138"] as? String ?? "", String(($0["PDS0005"] as? String ?? "").prefix(7))) }
        #expect(reasons.map(\.0) == ["00000004", "00000006", "00000007", "00000008", "00000009", "00000010", "00000011"])
        #expect(reasons.map(\.1) == ["0203000", "0204000", "0103031", "0202038", "0101049", "0202063", "0204000"])
        #expect(read.dropFirst().dropLast().allSatisfy { $0["MTI"] as? String == "1644" && $0["DE24"] as? String == "691" && $0["PDS0280"] as? String == fileID })

        // A file is taken once; its results stay readable by its acquirer.
        let again = try await shop.harness.upload("/v1/clearing/files", key: shop.acquirer.apiKey, bytes: file)
        #expect(again.status == 409 && again.string("type") == "https://passway.dev/problems/duplicate-file")
        let stored = try await shop.harness.api("GET", "/v1/clearing/files/\(fileID)", key: shop.acquirer.apiKey)
        let storedResult = try JSONDecoder.iso8601.decode(ClearingFileResult.self, from: stored.body)
        #expect(stored.status == 200 && storedResult == result)

        // A file in ISO 8859-1, plain VBS, that presents the reversed and the cleared again:
        // rejected record by record; a file of another processor is refused whole.
        let second = try Self.cardutilFile(id: "001" + "261129" + "00025000001" + "00002", [presentment(2, amount: 30_000, reference: 10),
                                                                           presentment(1, amount: 40_000, reference: 11)],
                                           encoding: "latin_1", blocked: false)
        let secondAnswer = try await shop.harness.upload("/v1/clearing/files", key: shop.acquirer.apiKey, bytes: second)
        #expect(secondAnswer.status == 201, "\(secondAnswer.json)")
        let secondResult = try JSONDecoder.iso8601.decode(ClearingFileResult.self, from: secondAnswer.body)
        #expect(secondResult.characterSet == "latin1" && !secondResult.blocked)
        #expect(secondResult.results.map { $0.reject?.reason } == [.reversed, .alreadyCleared])
        let foreign = try Self.cardutilFile(id: "001" + "261129" + "00099999999" + "00001", [presentment(3, amount: 1_000, reference: 12)])
        let refused = try await shop.harness.upload("/v1/clearing/files", key: shop.acquirer.apiKey, bytes: foreign)
        #expect(refused.status == 422 && refused.string("type") == "https://passway.dev/problems/invalid-clearing-file")
        #expect(refused.string("detail")?.contains("is not from this acquirer") == true, "\(refused.json)")
        #expect(try await shop.harness.upload("/v1/clearing/files", key: shop.acquirer.apiKey, bytes: Array("not a file".utf8)).status == 422)

        // The same by `passway clearing submit`: a line per record, the reject file saved;
        // the file again is a one-line error and a non-zero exit.
        let third = try Self.cardutilFile(id: "001" + "261129" + "00025000001" + "00003", [presentment(0, amount: 150_000, reference: 20)])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clearing-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("in.ipm").path, rejectsPath = dir.appendingPathComponent("rejects.ipm").path
        try Data(third).write(to: URL(fileURLWithPath: path))
        let submitted = try Subprocess.run(Subprocess.passwayExecutable, ["clearing", "submit", path, "--api", shop.harness.info.apiURL,
                                                                          "--api-key", shop.acquirer.apiKey, "--rejects", rejectsPath])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(submitted.stdout.contains("0 cleared, 1 rejected") && submitted.stdout.contains("00000002 rejected 0204"), "\(submitted.stdout)")
        let saved = try Self.cardutilRead(Array(try Data(contentsOf: URL(fileURLWithPath: rejectsPath))))
        #expect(saved.count == 3 && (saved[1]["PDS0005"] as? String)?.hasPrefix("0204") == true)
        let repeated = try Subprocess.run(Subprocess.passwayExecutable, ["clearing", "submit", path, "--api", shop.harness.info.apiURL,
                                                                         "--api-key", shop.acquirer.apiKey, "--json"])
        #expect(repeated.status != 0 && repeated.stdout.isEmpty && repeated.stderr.contains("409") && repeated.stderr.split(separator: "\n").count == 1,
                "\(repeated.stderr)")

        // The day's settlement in roubles: the window closed by the operator; the three
        // presentments priced by the default schedule (a Russian debit card at an everyday
        // merchant: 0.80% interchange to the issuer; 0.05% scheme fee from each side).
        let op = shop.harness.info.operatorKey
        let closed = try Subprocess.run(Subprocess.passwayExecutable, ["settlement", "close", "--currency", "RUB", "--api", shop.harness.info.apiURL,
                                                                       "--operator-key", op, "--json"])
        #expect(closed.status == 0, "\(closed.stderr)")
        let report = try JSONDecoder.iso8601.decode(SettlementReport.self, from: Data(closed.stdout.utf8))
        let interchange: Int64 = 1_200 + 320 + 920, fees: Int64 = 75 + 20 + 58
        let acquirer = "acquirer:" + shop.acquirer.id, issuer = "issuer:" + shop.scenario.issuerID
        #expect(report.window.state == .closed && report.window.currency == "RUB" && report.totalMinor == 0)
        #expect(Dictionary(uniqueKeysWithValues: report.positions.map { ($0.participant, $0.amountMinor) })
                == [acquirer: 305_000 - interchange - fees, issuer: -305_000 + interchange - fees, "network": 2 * fees])
        #expect(report.instructions.map(\.direction) == [.receive, .pay, .receive])
        // Each participant reads its own report; the acquirer's as CSV.
        let csv = try await shop.harness.api("GET", "/v1/settlement/windows/\(report.window.id)/report?format=csv", key: shop.acquirer.apiKey)
        #expect(csv.status == 200 && csv.headers["content-type"] == "text/csv")
        let rows = String(decoding: csv.body, as: UTF8.self).split(separator: "\n")
        // The file's three presentments summed per kind, each line with its count.
        #expect(rows.first == "window,participant,source,presentments,kind,currency,amount_minor" && rows.count == 1 + 3 + 1)
        #expect(rows.dropFirst().dropLast() == ["\(report.window.id),\(acquirer),\(fileID),3,amount,RUB,305000",
                                                "\(report.window.id),\(acquirer),\(fileID),3,interchange,RUB,-\(interchange)",
                                                "\(report.window.id),\(acquirer),\(fileID),3,scheme-fee,RUB,-\(fees)"])
        #expect(rows.last == "\(report.window.id),\(acquirer),,,net,RUB,\(305_000 - interchange - fees)")
        let issuerReport = try await shop.harness.api("GET", "/v1/settlement/windows/\(report.window.id)/report", key: shop.scenario.issuerKey)
        #expect((issuerReport["netMinor"] as? Int).map(Int64.init) == -305_000 + interchange - fees)
        let peek = try await shop.harness.api("GET", "/v1/settlement/windows/\(report.window.id)/report?participant=\(acquirer)", key: shop.scenario.issuerKey)
        #expect(peek.status == 404, "an issuer does not read the acquirer's report")
        // Settled once the funds moved; not twice.
        let settled = try Subprocess.run(Subprocess.passwayExecutable, ["settlement", "settled", report.window.id, "--api", shop.harness.info.apiURL, "--operator-key", op])
        #expect(settled.status == 0 && settled.stdout.contains("settled"), "\(settled.stderr)")
        let twice = try Subprocess.run(Subprocess.passwayExecutable, ["settlement", "settled", report.window.id, "--api", shop.harness.info.apiURL, "--operator-key", op])
        #expect(twice.status != 0 && twice.stderr.contains("409"))

        // A dispute: the bank charges back the 1,500.00 purchase (4837); the acquirer
        // presents 1,000.00 of it again; the next window moves the rest back to the bank.
        let disputed = try #require(byNumber[2]?.presentmentID)
        let presentmentPath = "/v1/clearing/presentments/\(disputed)"
        #expect(try await shop.harness.api("POST", presentmentPath + "/chargeback", key: shop.scenario.issuerKey, json: ["reasonCode": "9999"]).status == 422)
        #expect(try await shop.harness.api("POST", presentmentPath + "/chargeback", key: shop.acquirer.apiKey, json: ["reasonCode": "4837"]).status == 403)
        let chargeback = try await shop.harness.api("POST", presentmentPath + "/chargeback", key: shop.scenario.issuerKey, json: ["reasonCode": "4837"])
        #expect(chargeback.status == 200 && chargeback.string("state") == "charged-back", "\(chargeback.json)")
        #expect(try await shop.harness.api("POST", presentmentPath + "/chargeback", key: shop.scenario.issuerKey, json: ["reasonCode": "4837"]).status == 409, "once")
        #expect(try await shop.harness.api("POST", presentmentPath + "/second-presentment", key: shop.acquirer.apiKey, json: ["amountMinor": 150_001]).status == 422)
        let represented = try await shop.harness.api("POST", presentmentPath + "/second-presentment", key: shop.acquirer.apiKey, json: ["amountMinor": 100_000])
        #expect(represented.status == 200 && represented.string("state") == "represented")
        #expect(try await shop.harness.api("GET", presentmentPath, key: shop.scenario.issuerKey).string("state") == "represented")
        let disputeWindow = try await shop.harness.api("POST", "/v1/settlement/windows/close", key: op, json: ["currency": "RUB"])
        let disputeReport = try JSONDecoder.iso8601.decode(SettlementReport.self, from: disputeWindow.body)
        #expect(disputeReport.window.id != report.window.id && disputeReport.totalMinor == 0)
        #expect(Dictionary(uniqueKeysWithValues: disputeReport.positions.map { ($0.participant, $0.amountMinor) }) == [acquirer: -50_000, issuer: 50_000])

        // The bank's side: its clearing file, with its card numbers, read by cardutil; posted
        // at the bank once however often it comes: the holds released, the balance lowered by
        // what was presented (the partial's rest and the reversed tap's hold back to the card).
        let beforePosting = try #require(try await shop.available())
        let made = try await shop.harness.api("POST", "/v1/clearing/issuer-files", key: shop.scenario.issuerKey)
        #expect(made.status == 201 && made["presentments"] as? Int == 3, "\(made.json)")
        let issuerFileID = try #require(made.string("id"))
        #expect(try await shop.harness.api("GET", "/v1/clearing/issuer-files/\(issuerFileID)", key: shop.acquirer.apiKey).status == 403)
        let issuerFile = try await shop.harness.api("GET", "/v1/clearing/issuer-files/\(issuerFileID)", key: shop.scenario.issuerKey)
        #expect(issuerFile.status == 200)
        let issuerRecords = try Self.cardutilRead(Array(issuerFile.body)).dropFirst().dropLast()
        #expect(issuerRecords.count == 3 && issuerRecords.allSatisfy { $0["DE2"] as? String == shop.scenario.pan && $0["MTI"] as? String == "1240" })
        #expect(Set(issuerRecords.compactMap { $0["PDS0800"] as? String }) == Set(result.results.compactMap(\.authorization)))
        #expect(try await shop.harness.api("POST", "/v1/clearing/issuer-files", key: shop.scenario.issuerKey)["presentments"] as? Int == 0, "each presentment in one file")
        let bankURL = shop.scenario.issuerHostURL + "/banks/\(shop.scenario.bankID)/clearing"
        let posted = try await PlatformHarness.send("POST", bankURL, key: shop.scenario.bankKey, json: nil, raw: nil, headers: [:], bytes: Array(issuerFile.body))
        #expect(posted.status == 200 && posted["posted"] as? Int == 3 && (posted["postedMinor"] as? [String: Int])?["RUB"] == 305_000, "\(posted.json)")
        let again2 = try await PlatformHarness.send("POST", bankURL, key: shop.scenario.bankKey, json: nil, raw: nil, headers: [:], bytes: Array(issuerFile.body))
        #expect(again2["posted"] as? Int == 0 && again2["already"] as? Int == 3, "once however often it comes")
        // Before: 1,500 + 500 + 1,000 held (the reversed 300 released). After: 1,500 + 400 + 1,150 posted.
        #expect(try await shop.available() == beforePosting + 300_000 - 305_000)
        let holds = try await shop.scenario.bankCall("GET", "/holds")
        #expect(holds.array.allSatisfy { $0["state"] as? String == "released" }, "\(holds.json)")
        #expect((try await shop.scenario.bankCall("GET", "/ledger"))["unbalancedReferences"] as? [String] == [])
        await shop.close()
    }
}

extension JSONDecoder {
    static let iso8601: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
