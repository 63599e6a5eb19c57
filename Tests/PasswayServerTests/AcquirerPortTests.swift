import EMV
import Foundation
import ISO8583
import ISO8583Transport
import Logging
import IssuerHostServer
import Simulators
import Synchronization
import Testing
import TestSupport

/// The network's acquirer port as an attacker on the same network meets it: nothing is
/// decided for a connection that has not signed on as an onboarded acquirer, for a
/// message whose field 32 is another acquirer's, or for one whose MAC does not verify;
/// each gets 63 and the issuer hears nothing.
@Suite(.timed) struct AcquirerPortTests {
    typealias Shop = NetworkFlowTests.Shop

    /// A plain client: it neither signs on nor MACs; the test does either by hand.
    static func plainClient(_ shop: Shop) -> ISO8583Client {
        ISO8583Client(host: shop.harness.info.networkHost, port: shop.harness.info.networkPort, connections: 1, timeout: .seconds(10),
                      logger: TestAcquirer.quiet)
    }

    static func sealed(_ message: Message, _ key: MACKey) throws -> Message {
        try MessageAuthentication.seal(message, key: key, codec: ISO8583Codec()).message
    }

    @Test func aConnectionThatHasNotSignedOnIsRefused63AndTheIssuerHearsNothing() async throws {
        let opened = try await Shop.open()
        var shop = opened
        defer { Task { await opened.close() } }
        let before = shop.harness.info.counters.issuerHostRequests
        let available = try await shop.available()
        let (request, _) = try shop.read(amount: 1_000)
        let plain = Self.plainClient(shop)
        defer { Task { await plain.close() } }
        // Unsigned, and unsigned with a MAC under the right key: neither is decided.
        #expect(try await plain.send(request).string(39) == "63")
        var again = request
        again.set(11, "999001")
        #expect(try await plain.send(try Self.sealed(again, shop.acquirer.signOn.key)).string(39) == "63")
        #expect(shop.harness.info.counters.issuerHostRequests == before)
        #expect(try await shop.available() == available)
        // The same tap from the signed-on acquirer goes through.
        #expect(try await shop.pos.send(request).responseCode == "00")
        #expect(shop.harness.info.counters.issuerHostRequests == before + 1)
    }

    @Test func aSignOnNeedsAnOnboardedAcquirersMACAndBindsTheConnectionToIt() async throws {
        let opened = try await Shop.open()
        var shop = opened
        defer { Task { await opened.close() } }
        let other = try await TestAcquirer.onboard(shop.harness, id: "tsum-acquirer", institutionID: "25000002")
        let plain = Self.plainClient(shop)
        defer { Task { await plain.close() } }
        let key = shop.acquirer.signOn.key
        // No MAC, a MAC under another acquirer's key, an institution nobody has: 63.
        #expect(try await plain.send(ISO8583Client.signOnMessage("25000001")).string(39) == "63")
        #expect(try await plain.send(try Self.sealed(ISO8583Client.signOnMessage("25000001"), other.signOn.key)).string(39) == "63")
        #expect(try await plain.send(try Self.sealed(ISO8583Client.signOnMessage("99999999"), key)).string(39) == "63")
        // Signed on as 25000001: its answer carries the network's MAC.
        let answer = try await plain.send(try Self.sealed(ISO8583Client.signOnMessage("25000001"), key))
        #expect(answer.string(39) == "00")
        let codec = ISO8583Codec()
        let bytes = try codec.pack(answer)
        #expect(throws: Never.self) { try MessageAuthentication.verify(frame: bytes, message: answer, key: key) }

        let before = shop.harness.info.counters.issuerHostRequests
        let available = try await shop.available()
        let (request, _) = try shop.read(amount: 2_000)
        // Field 32 of another acquirer, MAC'd with that one's key or this one's: 63.
        var foreign = request
        foreign.set(32, "25000002")
        #expect(try await plain.send(try Self.sealed(foreign, other.signOn.key)).string(39) == "63")
        #expect(try await plain.send(try Self.sealed(foreign, key)).string(39) == "63")
        // The amount changed after the MAC: 63, and the answer is MAC'd under the key.
        var tampered = try Self.sealed(request, key)
        tampered.set(4, "000000000001")
        let refused = try await plain.send(tampered)
        #expect(refused.string(39) == "63")
        #expect(throws: Never.self) { try MessageAuthentication.verify(frame: try codec.pack(refused), message: refused, key: key) }
        // No MAC at all: 63.
        #expect(try await plain.send(request).string(39) == "63")
        #expect(shop.harness.info.counters.issuerHostRequests == before)
        #expect(try await shop.available() == available)
        // The genuine message on the same connection: approved, nothing was spent before.
        let approved = try await plain.send(try Self.sealed(request, key))
        #expect(approved.string(39) == "00")
        #expect(try await shop.available() == available.map { $0 - 2_000 })
        // A repeat (0101) of it, MAC'd anew, is the same message: the same answer, no second hold.
        var repeated = request
        repeated.mti = "0101"
        let repeatAnswer = try await plain.send(try Self.sealed(repeated, key))
        #expect(repeatAnswer.string(39) == "00" && repeatAnswer.string(38) == approved.string(38))
        #expect(try await shop.available() == available.map { $0 - 2_000 })
    }

    @Test func anAcquirerOnTheAESProfileMACsWithAESCMAC() async throws {
        let opened = try await Shop.open()
        var shop = opened
        defer { Task { await opened.close() } }
        let aes = try await TestAcquirer.onboard(shop.harness, id: "aes-acquirer", institutionID: "25000003", algorithm: "aes")
        guard case .aes = aes.signOn.key else { Issue.record("not an AES key: \(aes.signOn.key)"); return }
        let client = aes.client(shop.harness, connections: 1, timeout: .seconds(10))
        defer { Task { await client.close() } }
        var (request, _) = try shop.read(amount: 1_500)
        request.set(32, "25000003")
        let answer = try await client.send(request)
        #expect(answer.string(39) == "00")
        #expect(answer[64]?.count == 8, "the answer carries the network's CMAC")
    }

    @Test func anAcquirerGetsItsShareOfThePortAndNoMore() async throws {
        let (authorizations, arrived) = AsyncStream.makeStream(of: Void.self)
        let silent = try await ISO8583Server.start(.init(port: 0, name: "silent-issuer"), logger: TestAcquirer.quiet, overloaded: { _ in nil },
                                                   handler: { m in
            if m.mti == "0100" { arrived.yield(()) }
            return nil
        })
        defer { Task { await silent.close() } }
        let opened = try await Shop.open {
            $0.issuerTimeout = .seconds(3)
            $0.issuerEndpoints = ["moskva-bank": ("127.0.0.1", silent.port)]
        }
        var shop = opened
        defer { Task { await opened.close() } }
        let small = try await TestAcquirer.onboard(shop.harness, id: "small-acquirer", institutionID: "25000004",
                                                   limits: ["connections": 1, "inFlight": 1])
        let first = small.client(shop.harness, connections: 1, timeout: .seconds(10))
        defer { Task { await first.close() } }
        var (one, _) = try shop.read(amount: 100)
        var (two, _) = try shop.read(amount: 100)
        one.set(32, "25000004")
        two.set(32, "25000004")
        // One in flight (the issuer sits on it), the second answered 96 at once.
        async let held = first.send(one)
        var arrivals = authorizations.makeAsyncIterator()
        #expect(await arrivals.next() != nil)
        #expect(try await first.send(two).string(39) == "96")
        // Its second connection is refused at sign-on (65); other acquirers are not held up.
        let second = small.client(shop.harness, connections: 1, timeout: .seconds(10))
        defer { Task { await second.close() } }
        await #expect(throws: ISO8583Client.ClientError.signOnRefused("65")) { try await second.send(two) }
        #expect(try await shop.network.send(ISO8583Client.signOnMessage("25000001")).string(39) == "00")
        #expect(try await held.string(39) == "91")
    }
}

/// The acquirer's side: an answer whose MAC does not verify is refused, not believed.
@Suite(.timed) struct AnswerAuthenticationTests {
    @Test func anApprovalWithoutTheNetworksMACIsRefused() async throws {
        let key = MACKey.tdes(try TDESKey(hex: "0123456789ABCDEFFEDCBA9876543210"))
        let codec = ISO8583Codec()
        // A listener that takes the sign-on but then forges: a wrong MAC, no MAC.
        let forger = try await ISO8583Server.start(.init(port: 0, name: "forger"), logger: TestAcquirer.quiet, overloaded: { _ in nil },
                                                   handler: { m in
            var answer = m.answer(.approved, echoing: [7, 11, 32, 41, 70])
            if m.mti == "0800" { return try? MessageAuthentication.seal(answer, key: key, codec: codec).message }
            if m.string(41) == "NOMAC001" { return answer }
            answer[64] = [UInt8](repeating: 0x55, count: 8)
            return answer
        })
        defer { Task { await forger.close() } }
        let client = ISO8583Client(host: "127.0.0.1", port: forger.port, connections: 1, timeout: .seconds(10),
                                   signOn: .init(institutionID: "25000001", key: key), logger: TestAcquirer.quiet)
        defer { Task { await client.close() } }
        var request = Message(mti: "0100")
        request.set(7, "1129120000"); request.set(11, "000001"); request.set(32, "25000001"); request.set(41, "WRONGMAC")
        await #expect(throws: ISO8583Client.ClientError.self) { try await client.send(request) }
        request.set(11, "000002"); request.set(41, "NOMAC001")
        await #expect(throws: ISO8583Client.ClientError.self) { try await client.send(request) }
    }
}

/// The network's side of its link with an issuer host: it signs on under the link key,
/// MACs what it sends, and believes no answer whose MAC does not verify.
@Suite(.timed) struct IssuerLinkTests {
    /// Both link key kinds: TDES (ISO 9797-1 MAC algorithm 3) and AES-256 (AES-CMAC).
    @Test(arguments: ["89ABCDEF01234567FEDCBA9876543210", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"])
    func anIssuersAnswerWithABadMACIsNotBelievedAndWhatItHeldIsReversed(linkKey: String) async throws {
        let key = try LinkKey.parse(linkKey)
        let codec = ISO8583Codec()
        let (reversals, received) = AsyncStream.makeStream(of: Message.self)
        let signOns = Atomic<Int>(0)
        // An issuer host that checks the network's MACs, then forges its approval's MAC.
        let forger = try await ISO8583Server.start(.init(port: 0, name: "forging-issuer"), logger: TestAcquirer.quiet,
                                                   sessions: .init(open: { _ in () }, closed: { _ in }), overloaded: { _ in nil },
                                                   handler: { m, inbound in
            guard (try? MessageAuthentication.verify(frame: inbound.frame, message: m, key: key)) != nil else {
                return m.answer(.securityViolation, echoing: [7, 11, 32, 41, 70])
            }
            switch m.mti {
            case "0800":
                signOns.wrappingAdd(1, ordering: .relaxed)
                return try? MessageAuthentication.seal(m.answer(.approved, echoing: [7, 11, 32, 70]), key: key, codec: codec).message
            case "0420", "0421":
                received.yield(m)
                return try? MessageAuthentication.seal(m.answer(.approved, echoing: [2, 3, 4, 7, 11, 32, 41, 90]), key: key, codec: codec).message
            default:
                var answer = m.answer(.approved, echoing: [2, 3, 4, 7, 11, 32, 41, 49])
                answer.set(38, "777777")
                answer[64] = [UInt8](repeating: 0xA5, count: 8)
                return answer
            }
        })
        defer { Task { await forger.close() } }
        let opened = try await NetworkFlowTests.Shop.open {
            $0.issuerEndpoints = ["moskva-bank": ("127.0.0.1", forger.port)]
            $0.issuerEndpointLinkKeys = ["moskva-bank": key]
        }
        var shop = opened
        defer { Task { await opened.close() } }
        let (request, _) = try shop.read(amount: 4_200)
        #expect(try await shop.pos.send(request).responseCode == "91", "a forged approval is not passed on")
        #expect(signOns.load(ordering: .relaxed) >= 1, "the network signed on under the link key")
        var iterator = reversals.makeAsyncIterator()
        let reversal = try #require(await iterator.next())
        #expect(reversal.string(90).map { String($0.prefix(20)) } == "0100" + request.string(11)! + request.string(7)!)
    }
}

