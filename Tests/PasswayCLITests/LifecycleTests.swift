import EMV
import Foundation
import GRDB
import ISO8583
import ISO8583Transport
import Logging
import Simulators
import Synchronization
import Testing
import TestSupport

/// `passway serve` and `passway issuer-host serve` as an operator runs them: stopped with
/// SIGTERM, and apart on two processes.
@Suite(.timed) struct LifecycleTests {
    static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// An issuer host that holds every authorization until told to answer: what is in
    /// flight at the network while it waits.
    final class HeldIssuer: Sendable {
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        actor Gate {
            var isOpen = false
            var waiting: [CheckedContinuation<Void, Never>] = []
            func pass() async {
                if isOpen { return }
                await withCheckedContinuation { waiting.append($0) }
            }
            func open() {
                isOpen = true
                for w in waiting { w.resume() }
                waiting = []
            }
        }

        let server: ISO8583Server
        let received: Counter
        let gate: Gate

        init() async throws {
            let received = Counter(), gate = Gate()
            server = try await ISO8583Server.start(.init(port: 0, name: "held-issuer"), logger: LifecycleTests.quiet, overloaded: { _ in nil }) { m in
                guard m.mti == "0100" else { return m.answer(.approved, echoing: [7, 11, 70]) }
                received.value.wrappingAdd(1, ordering: .relaxed)
                await gate.pass()
                var answer = m.answer(.approved, echoing: [2, 3, 4, 7, 11, 32, 41, 49])
                answer.set(38, "HELD01")
                return answer
            }
            self.received = received
            self.gate = gate
        }

        var count: Int { received.value.load(ordering: .relaxed) }
    }

    /// SIGTERM while authorizations wait for their issuer: the network stops accepting,
    /// answers each of them once the issuer does, journals them, and exits 0. None is
    /// lost and none is left pending in the journal.
    @Test func noAuthorizationInFlightAtSIGTERMIsLostOrLeftUndecided() async throws {
        let issuer = try await HeldIssuer()
        let node = try await ServeProcess.start(["--issuer-endpoint", "moskva-bank=127.0.0.1:\(issuer.server.port)", "--issuer-timeout", "30s"])
        defer { node.stop() }
        let scenario = try await RussianBankScenario.make(api: node.api, issuerHost: node.issuerHost, operatorKey: node.operatorKey,
                                                          issuerHostOperatorKey: node.issuerHostOperatorKey)
        var (phone, tokenID) = try await scenario.phoneWithCard()
        let acquirer = try await TestAcquirer.onboard(api: node.api, operatorKey: node.operatorKey)
        let network = acquirer.client(host: node.networkHost, port: node.networkPort, timeout: .seconds(60))
        let pos = Terminal(.init(kind: .pos, terminalID: "MSK00001", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                 nameLocation: "GUM, Red Square 3       MOSCOW       RU", country: 643, currency: try #require(Currency.alpha("RUB"))),
                           network: network)
        var applet = ContactlessApplet(tokenID: tokenID)
        var requests: [Message] = []
        for _ in 0..<6 {
            let card = try pos.read(amountMinor: 1_000, transactionType: 0) { applet.respond(to: $0, wallet: &phone) }
            requests.append(pos.request(for: card, amountMinor: 1_000))
        }
        let answers = Task {
            try await withThrowingTaskGroup(of: Terminal.Outcome.self) { group in
                for request in requests { group.addTask { try await pos.send(request) } }
                return try await group.reduce(into: [Terminal.Outcome]()) { $0.append($1) }
            }
        }
        // All six reach the issuer and wait there.
        #expect(await eventually { issuer.count == 6 })
        node.process.terminate()
        #expect(await node.waitForLog { $0.contains("listener draining") && $0.contains("listener=network") })
        // It no longer takes connections.
        let late = ISO8583Client(host: node.networkHost, port: node.networkPort, timeout: .seconds(5), logger: Self.quiet)
        var echo = Message(mti: "0800")
        echo.set(7, "1129101500"); echo.set(11, "000777"); echo.set(70, "301")
        await #expect(throws: ISO8583Client.ClientError.self) { try await late.send(echo) }
        await late.close()
        await issuer.gate.open()
        let outcomes = try await answers.value
        #expect(outcomes.map(\.responseCode) == Array(repeating: "00", count: 6))
        #expect(outcomes.allSatisfy { $0.answer.string(38) == "HELD01" })
        #expect(await node.terminate() == 0, "exit status")
        await network.close()
        await issuer.server.close()
        // The journal says the same: six answered, none pending.
        let journal = try DatabaseQueue(path: node.dataDirectory + "/passway.sqlite")
        let states = try await journal.read { db in
            try Row.fetchAll(db, sql: "SELECT state, response_code FROM journal").map { "\($0["state"] as String)/\($0["response_code"] as String? ?? "-")" }
        }
        #expect(states == Array(repeating: "answered/00", count: 6), "\(states)")
    }

    /// The bundled bank on its own process (`passway issuer-host serve`) and the platform
    /// without it (`passway serve --issuer-host`): enrolment asks that bank, a tap is
    /// decided and held by it.
    @Test func theBankRunsApartFromThePlatform() async throws {
        let bank = try await ServeProcess.startIssuerHost()
        defer { bank.stop() }
        let bankJSON = try #require(bank.field("JSON API")), bankISO = try #require(bank.field("ISO 8583"))
        let node = try await ServeProcess.start(["--issuer-host", bankISO, "--issuer-host-link-key", bank.dataDirectory + "/issuer-host-link.key"])
        defer { node.stop() }
        #expect(node.field("bundled issuer host") == nil)
        #expect(node.field("issuer host") == bankISO)
        let scenario = try await RussianBankScenario.make(api: node.api, issuerHost: bankJSON, operatorKey: node.operatorKey,
                                                          issuerHostOperatorKey: bank.issuerHostOperatorKey)
        var (phone, tokenID) = try await scenario.phoneWithCard()
        let network = try await TestAcquirer.onboard(api: node.api, operatorKey: node.operatorKey)
            .client(host: node.networkHost, port: node.networkPort, timeout: .seconds(30))
        let pos = Terminal(.init(kind: .pos, terminalID: "MSK00001", merchantID: "GUM-DEPARTMENT1", acquirerID: "25000001",
                                 nameLocation: "GUM, Red Square 3       MOSCOW       RU", country: 643, currency: try #require(Currency.alpha("RUB"))),
                           network: network)
        var applet = ContactlessApplet(tokenID: tokenID)
        let before = try #require(try await scenario.available())
        let outcome = try await pos.tap(amountMinor: 150_000) { applet.respond(to: $0, wallet: &phone) }
        #expect(outcome.responseCode == "00")
        #expect(try await scenario.available() == before - 150_000, "the bank in the other process holds it")
        #expect(bank.log.contains("issuer host: authorization"))
        await network.close()
        #expect(await node.terminate() == 0)
        #expect(await bank.terminate() == 0)
    }
}
