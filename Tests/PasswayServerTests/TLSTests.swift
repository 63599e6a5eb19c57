import AsyncHTTPClient
import EMV
import Foundation
import ISO8583
import ISO8583Transport
import NIOSSL
import PKI
import Simulators
import Testing
import TestSupport

/// TLS on the API, the network's acquirer port and the bundled bank's ISO 8583 port,
/// with certificates from `passway pki`'s private CA: a client that trusts the CA gets
/// through, one that does not (or speaks plain TCP) gets nothing.
@Suite(.timed) struct TLSTests {
    @Test func theAPIAndBothISOPortsSpeakTLSWithThePrivateCAsCertificates() async throws {
        let pki = FileManager.default.temporaryDirectory.appendingPathComponent("passway-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pki) }
        let ca = PrivateCA(directory: pki)
        try ca.create()
        try ca.issue(name: "passway", hosts: ["127.0.0.1", "localhost"])
        for key in [ca.caKeyFile, ca.keyFile("passway")] {
            #expect((try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int) == 0o600, "\(key)")
        }
        #expect(throws: PrivateCA.PKIError.self) { try ca.create() }
        // An implementation nobody here wrote reads the chain: openssl, when the machine has it.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") {
            let verified = try Subprocess.run("/usr/bin/openssl", ["verify", "-CAfile", ca.caCertificateFile, ca.certificateFile("passway")])
            #expect(verified.status == 0 && verified.stdout.contains(": OK"), "\(verified.stdout) \(verified.stderr)")
        }

        let harness = try await PlatformHarness.start {
            $0.tls = TLSFiles.Server(certificateFile: ca.certificateFile("passway"), keyFile: ca.keyFile("passway"))
            $0.issuerLinkCA = ca.caCertificateFile
        }
        defer { Task { await harness.stop() } }
        #expect(harness.info.apiURL.hasPrefix("https://"))
        // Without the CA, HTTPS fails; plain HTTP on the TLS port gets no answer.
        await #expect(throws: (any Error).self) {
            _ = try await HTTPClient.shared.execute(HTTPClientRequest(url: harness.info.apiURL + "/openapi.yaml"), timeout: .seconds(10))
        }
        let plainURL = harness.info.apiURL.replacingOccurrences(of: "https://", with: "http://")
        let plain = try? await HTTPClient.shared.execute(HTTPClientRequest(url: plainURL + "/openapi.yaml"), timeout: .seconds(10))
        #expect(plain?.status != .ok)
        // With it: the whole flow, enrollment included, over HTTPS.
        PlatformHarness.trust(caFile: ca.caCertificateFile)
        let s = try await RussianBankScenario.make(harness)
        var (phone, tokenID) = try await s.phoneWithCard()

        let acquirer = try await TestAcquirer.onboard(harness)
        let tls = try TLSFiles.context(try TLSFiles.clientConfiguration(trusting: ca.caCertificateFile))
        let network = ISO8583Client(host: harness.info.networkHost, port: harness.info.networkPort, connections: 1, timeout: .seconds(10),
                                    signOn: acquirer.signOn, tls: tls, logger: TestAcquirer.quiet)
        defer { Task { await network.close() } }
        let pos = Terminal(.init(kind: .pos, terminalID: "MSK00011", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                 nameLocation: "GUM MOSCOW RU", country: 643, currency: try #require(Currency.alpha("RUB"))), network: network)
        var applet = ContactlessApplet(tokenID: tokenID)
        let before = try await s.available()
        let card = try pos.read(amountMinor: 2_500, transactionType: 0) { applet.respond(to: $0, wallet: &phone) }
        // The acquirer's port over TLS, and the bank's behind it (the network's link trusts the CA).
        #expect(try await pos.send(pos.request(for: card, amountMinor: 2_500)).responseCode == "00")
        #expect(try await s.available() == before.map { $0 - 2_500 })
        #expect(harness.info.counters.issuerHostRequests == 1)

        // A client that does not trust the CA, or that speaks plain TCP, gets no answer.
        let untrusting = ISO8583Client(host: harness.info.networkHost, port: harness.info.networkPort, connections: 1, timeout: .seconds(5),
                                       signOn: acquirer.signOn, tls: try TLSFiles.context(try TLSFiles.clientConfiguration(trusting: nil)),
                                       logger: TestAcquirer.quiet)
        defer { Task { await untrusting.close() } }
        await #expect(throws: ISO8583Client.ClientError.self) { try await untrusting.send(ISO8583Client.signOnMessage("25000001")) }
        let cleartext = ISO8583Client(host: harness.info.networkHost, port: harness.info.networkPort, connections: 1, timeout: .seconds(5),
                                      signOn: acquirer.signOn, logger: TestAcquirer.quiet)
        defer { Task { await cleartext.close() } }
        await #expect(throws: ISO8583Client.ClientError.self) { try await cleartext.send(ISO8583Client.signOnMessage("25000001")) }
        let bankPort = try #require(harness.info.issuerHostISOPort)
        let cleartextToBank = ISO8583Client(host: "127.0.0.1", port: bankPort, connections: 1, timeout: .seconds(5), logger: TestAcquirer.quiet)
        defer { Task { await cleartextToBank.close() } }
        await #expect(throws: ISO8583Client.ClientError.self) { try await cleartextToBank.send(ISO8583Client.signOnMessage("99000001")) }
    }
}
