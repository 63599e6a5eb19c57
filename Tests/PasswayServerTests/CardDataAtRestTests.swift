import APIContract
import Foundation
import ISO8583
import ISO8583Transport
import Logging
import Simulators
import Testing
import TestSupport

/// PCI DSS 3.4: after a whole enrollment story, neither the platform's SQLite files
/// (database and WAL) nor the issuer host's, nor any log line, holds a card number in
/// clear: not the old one, not the renewed one, not the token numbers either, after
/// taps through the network too (its journal keeps masked numbers and answers without
/// field 2).
@Suite(.timed, .serialized) struct CardDataAtRestTests {
    @Test func noCardNumberInAnyDatabaseFileOrLogLine() async throws {
        let harness = try await PlatformHarness.start()
        let s = try await RussianBankScenario.make(harness)
        var phone = try await s.register(model: "samsung-galaxy-s24", os: "14")
        var watch = try await s.register(model: "samsung-galaxy-watch7", os: "5")
        let token1 = try phone.receive(try s.sealed(try await s.enroll(phone)))
        // Taps through the network: the journal, the issuer host's holds and both logs see them.
        let network = try await TestAcquirer.onboard(harness).client(harness)
        let pos = Terminal(.init(kind: .pos, terminalID: "SCAN0001", merchantID: "SCAN-MERCHANT01", acquirerID: "25000001",
                                 nameLocation: "Scan", country: 643, currency: Currency.alpha("RUB")!), network: network)
        var applet = ContactlessApplet(tokenID: token1.tokenID)
        let tap = try await pos.tap(amountMinor: 10_000) { applet.respond(to: $0, wallet: &phone) }
        #expect(tap.responseCode == "00")
        #expect(try await pos.send(tap.request).answer == tap.answer, "a duplicate, answered from the journal")
        await network.close()
        let pending = try await s.enroll(watch)
        let code = try #require(try await s.lastCode())
        let token2 = try watch.receive(try s.sealed(try await harness.api("POST", "/v1/enrollments/\(pending.string("verificationID")!)/verify",
                                                                            key: s.walletKey, json: ["code": code])))
        _ = try await harness.api("POST", "/v1/devices/\(watch.deviceID!)/lost", key: s.walletKey, json: [:])
        let newPAN = cardNumber("220070", seed: 4242)
        #expect(try await harness.api("POST", "/v1/cards/renew", key: s.issuerKey, json: ["pan": s.pan, "newPan": newPAN, "newExpiry": "3112"]).status == 200)
        // Bad input that carries a card number must not echo it either.
        let refused = try await harness.api("POST", "/v1/enrollments", key: s.walletKey, json: ["deviceID": "nope", "pan": s.pan, "expiry": "12/29", "extra": 1])
        #expect(refused.status == 400)

        // An API key made by an idempotent creation: replayed to its caller, kept nowhere in clear.
        let idempotencyKey = "idem-7f3c9b2e-secret"
        let created = try await harness.api("POST", "/v1/wallets", key: harness.info.operatorKey,
                                            json: ["id": "scan-wallet", "name": "Scan", "tokenRequestorID": "40010075099"],
                                            headers: ["Idempotency-Key": idempotencyKey])
        let replayed = try await harness.api("POST", "/v1/wallets", key: harness.info.operatorKey,
                                             json: ["id": "scan-wallet", "name": "Scan", "tokenRequestorID": "40010075099"],
                                             headers: ["Idempotency-Key": idempotencyKey])
        let apiKey = try #require(created.string("apiKey"))
        #expect(replayed.headers["idempotent-replayed"] == "true" && replayed.string("apiKey") == apiKey)

        let secrets = [s.pan, newPAN, token1.tokenNumber, token2.tokenNumber]
        let files = try allFiles(under: harness.dataDirectory)
        #expect(files.contains { $0.hasSuffix("passway.sqlite") })
        #expect(files.contains { $0.hasSuffix("bank-moskva.sqlite") })
        for file in files where !file.hasSuffix(".key") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            for secret in [apiKey, s.walletKey, s.bankKey, s.hostKey, idempotencyKey, harness.info.operatorKey] where bytes.range(of: Data(secret.utf8)) != nil {
                Issue.record("a key (\(secret.prefix(4))…) in clear in \((file as NSString).lastPathComponent)")
            }
            // The bank's message with the one-time code is kept sealed.
            #expect(bytes.range(of: Data("is your code to add card".utf8)) == nil, "a one-time code's message in clear in \(file)")
            for secret in secrets {
                if bytes.range(of: Data(secret.utf8)) != nil { Issue.record("\(secret == s.pan ? "card" : secret == newPAN ? "new card" : "token") number \(secret.prefix(6))… in clear in \((file as NSString).lastPathComponent)") }
                // Nor packed as BCD, as EMV data would hold it.
                #expect(bytes.range(of: Data(try EMVHexDecode(secret))) == nil, "\(secret.prefix(6))… as BCD in \(file)")
            }
        }
        let logs = harness.logs.lines
        #expect(logs.count > 10)
        for line in logs {
            for secret in secrets { #expect(!line.contains(secret), "card number in log line: \(line.prefix(80))") }
        }
        for answer in [refused.json] {
            let text = String(describing: answer)
            #expect(!text.contains(s.pan))
        }
        // The key files are owner-only; so is everything else in the data directory
        // (databases and their journals), and the directory itself.
        for keyFile in files where keyFile.hasSuffix(".key") {
            let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(keyFile) has mode \(String(mode ?? 0, radix: 8))")
        }
        #expect(files.contains { $0.hasSuffix("issuer-host-operator.key") })
        for path in files + [harness.dataDirectory] {
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? 0o777
            #expect(mode & 0o077 == 0, "\(path) has mode \(String(mode, radix: 8))")
        }
        await harness.stop()
    }

    private func allFiles(under directory: String) throws -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        for case let path as String in fm.enumerator(atPath: directory) ?? FileManager.DirectoryEnumerator() {
            var isDir: ObjCBool = false
            let full = (directory as NSString).appendingPathComponent(path)
            if fm.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue { out.append(full) }
        }
        return out
    }

    private func EMVHexDecode(_ digits: String) throws -> [UInt8] {
        try EMVHex.decode(digits.count % 2 == 0 ? digits : digits + "F")
    }
}

import EMV
typealias EMVHex = EMV.Hex
