import EMV
import Foundation
import ISO8583
import Logging
@testable import NetworkSwitch
import Participants
import Testing
import TestSupport
import TokenService

/// The authorization pipeline without sockets: messages in and out of `handle`, an
/// in-memory journal, issuer links and token service that record and answer as told.
@Suite struct AuthorizationPipelineTests {
    static let token = "2201719900000017"
    static let card = "2200701234567896"
    static let rouble = Issuer(id: "moskva", name: "Moskva Bank", country: "RU", currency: "RUB", cardRanges: ["220070"],
                               tokenRanges: ["22017199"], enabledWallets: [], hostURL: "http://127.0.0.1:1")
    static let yuan = Issuer(id: "jade", name: "Jade Bank", country: "CN", currency: "CNY", cardRanges: ["621700"],
                             tokenRanges: ["62189999"], enabledWallets: [], hostURL: "http://127.0.0.1:1")

    struct Network {
        let pipeline: AuthorizationPipeline
        let journal = MemoryJournal()
        let links: RecordingIssuerLinks
        let tokens = TokenServiceDouble()

        init(_ behaviour: RecordingIssuerLinks.Behaviour = .answer(.approved), forwarding: RetryPolicy = .standard,
             standIn: StandInRules? = nil) throws {
            links = RecordingIssuerLinks(behaviour)
            try tokens.add(token: AuthorizationPipelineTests.token, card: AuthorizationPipelineTests.card, issuerID: "moskva")
            try tokens.add(token: "6218999900000012", card: "6217001234567894", issuerID: "jade")
            var rouble = AuthorizationPipelineTests.rouble
            rouble.standIn = standIn
            pipeline = AuthorizationPipeline(tokens: tokens, issuers: FixedIssuers(list: [rouble, AuthorizationPipelineTests.yuan]),
                                             journal: journal, owed: journal, links: links, duplicateWait: .milliseconds(200),
                                             forwarding: forwarding, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        }
    }

    /// A contactless 0100 as a POS sends it, with chip data whose ATC is `atc`.
    static func authorization(stan: String = "000001", pan: String = token, amount: String = "000000150000", currency: String = "643",
                              atc: UInt16 = 1) throws -> Message {
        var m = Message(mti: "0100")
        m.set(2, pan); m.set(3, "000000"); m.set(4, amount); m.set(7, "1129101500"); m.set(11, stan); m.set(14, "2912")
        m.set(22, "071"); m.set(32, "25000001"); m.set(41, "MSK00001"); m.set(49, currency)
        try m.setICCData([TLV(.applicationTransactionCounter, [UInt8(atc >> 8), UInt8(atc & 0xFF)]), TLV(EMV.Tag(0xDF7F), [0xAA])])
        return m
    }

    static func reversal(of original: Message, stan: String = "000900") -> Message {
        var m = Message(mti: "0400")
        for f in [2, 3, 4, 32, 41, 49] { m[f] = original[f] }
        m.set(7, "1129101600"); m.set(11, stan)
        m.set(90, OriginalDataElements(mti: original.mti, stan: original.string(11) ?? "", transmission: original.string(7) ?? "",
                                       acquirer: original.string(32) ?? "").field90)
        return m
    }

    @Test func anApprovalGoesToTheIssuerWithTheCardAndBackWithTheToken() async throws {
        let n = try Network()
        let answer = try #require(await n.pipeline.handle(try Self.authorization()))
        #expect(answer.mti == "0110")
        #expect(answer.responseCode == .approved)
        #expect(answer.string(38) == "A1B2C3")
        #expect(answer.string(2) == Self.token, "the token goes back to the acquirer, never the card")
        #expect(try answer.iccData()?.value(.issuerAuthenticationData) == Array("00".utf8) + [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5] + Array("00".utf8))
        let sent = try #require(n.links.messages.first)
        #expect(sent.string(2) == Self.card && sent.string(14) == "2912")
        #expect(try sent.iccData()?.value(EMV.Tag(0xDF7F)) == [0xAA], "field 55 goes on as it came, unknown tags included")
        let entry = try #require(n.journal.entries.first)
        #expect(entry.decidedBy == .issuer && entry.responseCode == .approved && entry.approvalCode == "A1B2C3")
        #expect(entry.maskedPAN == PAN.mask(Self.card) && entry.tokenID == "tok_0017")
        #expect(!String(decoding: entry.answer, as: UTF8.self).contains(Self.card) && !String(decoding: entry.answer, as: UTF8.self).contains(Self.token))
    }

    @Test func theTokenServicesDeclinesNeverReachTheIssuer() async throws {
        for (decline, code) in [(TokenDecline.cryptogramInvalid, ResponseCode.doNotHonour), (.expiryMismatch, .expiredCard),
                                (.domainControl(entryMode: "012"), .transactionNotPermittedToCardholder), (.tokenNotActive(status: .suspended), .doNotHonour),
                                (.format(field: 55, reason: "tag 9F26 missing"), .formatError)] {
            let n = try Network()
            try n.tokens.add(token: Self.token, card: Self.card, issuerID: "moskva", decline: decline)
            let answer = try #require(await n.pipeline.handle(try Self.authorization()))
            #expect(answer.responseCode == code, "\(decline)")
            #expect(answer[55] == nil, "no ARPC for a cryptogram that did not pass")
            #expect(n.links.messages.isEmpty)
            #expect(n.journal.entries.first?.decidedBy == .network)
        }
    }

    @Test func aReplayedATCIsDeclinedWithoutReachingTheIssuer() async throws {
        let n = try Network()
        #expect(await n.pipeline.handle(try Self.authorization(stan: "000001", atc: 7))?.responseCode == .approved)
        let replay = try #require(await n.pipeline.handle(try Self.authorization(stan: "000002", atc: 7)))
        #expect(replay.responseCode == .doNotHonour)
        #expect(replay[55] == nil)
        #expect(n.links.messages.count == 1)
        #expect(n.journal.entries.contains { $0.reason == "ATC 7 used before" && $0.tokenID == "tok_0017" })
    }

    @Test func routingByRange() async throws {
        let n = try Network()
        // A card number of an onboarded issuer: this network takes tokens only.
        #expect(await n.pipeline.handle(try Self.authorization(pan: Self.card))?.responseCode == .transactionNotPermittedToCardholder)
        // A number in nobody's range.
        #expect(await n.pipeline.handle(try Self.authorization(stan: "000002", pan: "9999991234567897"))?.responseCode == .invalidCardNumber)
        #expect(n.tokens.asked.load(ordering: .relaxed) == 0, "the token service is not asked about numbers that are no token")
        #expect(n.links.messages.isEmpty)
    }

    @Test func aDuplicateIsAnsweredIdenticallyAndTheIssuerAskedOnce() async throws {
        let n = try Network()
        let request = try Self.authorization()
        async let first = n.pipeline.handle(request)
        async let second = n.pipeline.handle(request)
        let (a, b) = await (first, second)
        let third = await n.pipeline.handle(request)
        #expect(a == b && b == third)
        #expect(n.links.messages.count == 1)
        // The same key with other bytes is not the same message.
        var other = request
        other.set(4, "000000000100")
        #expect(await n.pipeline.handle(other)?.responseCode == .duplicateTransmission)
    }

    @Test func anIssuerThatDoesNotAnswerGets91AndIsOwedAReversal() async throws {
        let n = try Network(.silent)
        let answer = try #require(await n.pipeline.handle(try Self.authorization()))
        #expect(answer.responseCode == .issuerUnavailable)
        #expect(n.journal.entries.first?.decidedBy == .timeout)
        // The reversal was queued with the journal entry, before the acquirer heard 91.
        let owed = try #require(n.journal.owed.first)
        #expect(n.journal.owed.count == 1 && owed.state == .queued && owed.issuerID == "moskva")
        let reversal = try ISO8583Codec().unpack(try n.tokens.open(owed.sealed, context: owed.id))
        #expect(reversal.mti == "0420")
        #expect(reversal.string(2) == Self.card)
        #expect(reversal.string(90).flatMap(OriginalDataElements.init(field90:))?.stan == "000001")
        #expect(owed.sealed.range(of: Data(Self.card.utf8)) == nil, "the card number is sealed")
    }

    @Test func aYuanCardIsBilledInYuan() async throws {
        let n = try Network()
        let answer = try #require(await n.pipeline.handle(try Self.authorization(pan: "6218999900000012")))
        #expect(answer.responseCode == .approved)
        let sent = try #require(n.links.messages.first)
        #expect(sent.string(6) == "000000013400" && sent.string(10) == "70893317" && sent.string(51) == "156")
        #expect(answer.string(6) == "000000013400" && answer.string(51) == "156")
        #expect(n.journal.entries.first?.billingAmountMinor == 13_400)
    }

    @Test func malformedMessagesAre30AndAnswersAreNotAnswered() async throws {
        let n = try Network()
        var noTerminal = try Self.authorization()
        noTerminal[41] = nil
        #expect(await n.pipeline.handle(noTerminal)?.responseCode == .formatError)
        var badTime = try Self.authorization()
        badTime.set(7, "1329101500")
        #expect(await n.pipeline.handle(badTime)?.responseCode == .formatError)
        var unsupported = try Self.authorization()
        unsupported.mti = "0300"
        #expect(await n.pipeline.handle(unsupported)?.mti == "0310")
        var answer = try Self.authorization()
        answer.mti = "0110"
        #expect(await n.pipeline.handle(answer) == nil)
        #expect(n.journal.entries.isEmpty && n.links.messages.isEmpty)
        var echo = Message(mti: "0800")
        echo.set(7, "1129101500"); echo.set(11, "000001"); echo.set(70, "301")
        let echoed = try #require(await n.pipeline.handle(echo))
        #expect(echoed.mti == "0810" && echoed.responseCode == .approved && echoed.string(70) == "301")
    }

    @Test func reversals() async throws {
        let n = try Network()
        let original = try Self.authorization()
        #expect(await n.pipeline.handle(original)?.responseCode == .approved)
        let reversed = try #require(await n.pipeline.handle(Self.reversal(of: original)))
        #expect(reversed.mti == "0410" && reversed.responseCode == .approved && reversed[90] != nil)
        let sent = try #require(n.links.messages.last)
        #expect(sent.mti == "0400" && sent.string(2) == Self.card)
        // The network never saw this one.
        var unknown = try Self.authorization(stan: "000555")
        unknown.set(7, "1129101501")
        #expect(await n.pipeline.handle(Self.reversal(of: unknown, stan: "000901"))?.responseCode == .originalNotFound)
        // A declined original holds nothing: answered 00 without asking the issuer.
        n.links.behaviour.withLock { $0 = .answer(.insufficientFunds) }
        let declined = try Self.authorization(stan: "000003", atc: 3)
        #expect(await n.pipeline.handle(declined)?.responseCode == .insufficientFunds)
        let asked = n.links.messages.count
        #expect(await n.pipeline.handle(Self.reversal(of: declined, stan: "000902"))?.responseCode == .approved)
        #expect(n.links.messages.count == asked)
    }

    /// The attack: an 0400 whose own key (acquirer, terminal, STAN, time) is an approved
    /// 0100's. It is refused (94) and the approval's entry stays: the genuine reversal
    /// then reaches the issuer, and a retransmission of the 0100 gets its first answer.
    @Test func aReversalCarryingAnApprovalsKeyChangesNothing() async throws {
        let n = try Network()
        let original = try Self.authorization()
        let approved = try #require(await n.pipeline.handle(original))
        #expect(approved.responseCode == .approved)
        let key = "25000001/MSK00001/000001/1129101500"
        let entryBefore = try #require(n.journal.entries.first { $0.key == key })

        var forged = Self.reversal(of: original, stan: "000001")
        forged.set(7, "1129101500")
        let refused = try #require(await n.pipeline.handle(forged))
        #expect(refused.mti == "0410" && refused.responseCode == .duplicateTransmission)
        #expect(n.journal.entries.first { $0.key == key } == entryBefore)
        #expect(n.links.messages.filter { $0.mti == "0400" }.isEmpty, "the forged reversal reached the issuer")

        let retransmitted = try #require(await n.pipeline.handle(original))
        #expect(retransmitted.responseCode == .approved && retransmitted.string(38) == approved.string(38))

        let genuine = try #require(await n.pipeline.handle(Self.reversal(of: original)))
        #expect(genuine.responseCode == .approved)
        #expect(n.links.messages.filter { $0.mti == "0400" }.count == 1, "the genuine reversal did not reach the issuer")
        // Its repeat is answered as it was, without a second reversal at the issuer.
        #expect(await n.pipeline.handle(Self.reversal(of: original))?.responseCode == .approved)
        #expect(n.links.messages.filter { $0.mti == "0400" }.count == 1)
    }

    /// Repeats (0101, 0401, 0421) are handled as the messages they repeat: the original's
    /// answer under the answer MTI, and nothing asked of the issuer twice; a repeat whose
    /// original never arrived is worked out as that original.
    @Test func repeatsAreAnsweredAsTheirOriginals() async throws {
        let n = try Network()
        let original = try Self.authorization()
        let approved = try #require(await n.pipeline.handle(original))
        var repeated = original
        repeated.mti = "0101"
        let again = try #require(await n.pipeline.handle(repeated))
        #expect(again.mti == "0110" && again.responseCode == .approved && again.string(38) == approved.string(38))
        #expect(n.links.messages.filter { $0.mti == "0100" }.count == 1)

        var lost = try Self.authorization(stan: "000002", atc: 2)
        lost.mti = "0101"
        let first = try #require(await n.pipeline.handle(lost))
        #expect(first.mti == "0110" && first.responseCode == .approved)
        #expect(n.links.messages.filter { $0.mti == "0100" }.count == 2)

        let reversal = Self.reversal(of: original)
        #expect(await n.pipeline.handle(reversal)?.responseCode == .approved)
        for mti in ["0401", "0400"] {
            var r = reversal
            r.mti = mti
            let answer = try #require(await n.pipeline.handle(r))
            #expect(answer.mti == "0410" && answer.responseCode == .approved)
        }
        #expect(n.links.messages.filter { $0.mti == "0400" }.count == 1)
        var advice = Self.reversal(of: lost, stan: "000901")
        advice.mti = "0421"
        let acknowledged = try #require(await n.pipeline.handle(advice))
        #expect(acknowledged.mti == "0430" && acknowledged.responseCode == .approved)
    }

    /// The issuer's ATC window: a cryptogram held back while later ones were used is
    /// declined once it is further below the highest accepted ATC than the window; within
    /// the window it is still taken.
    @Test func anATCFarBelowTheHighestAcceptedIsDeclined() async throws {
        var windowed = Self.rouble
        windowed.cryptogramPolicy = CryptogramPolicy(atcWindow: 3, keyLifetimeDays: 30)
        let links = RecordingIssuerLinks(.answer(.approved))
        let tokens = TokenServiceDouble()
        try tokens.add(token: Self.token, card: Self.card, issuerID: "moskva")
        let journal = MemoryJournal()
        let pipeline = AuthorizationPipeline(tokens: tokens, issuers: FixedIssuers(list: [windowed]), journal: journal, owed: journal, links: links,
                                             duplicateWait: .milliseconds(200), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        #expect(await pipeline.handle(try Self.authorization(stan: "000010", atc: 10))?.responseCode == .approved)
        #expect(await pipeline.handle(try Self.authorization(stan: "000006", atc: 6))?.responseCode == .doNotHonour)
        #expect(await pipeline.handle(try Self.authorization(stan: "000007", atc: 7))?.responseCode == .approved)
        #expect(links.messages.count == 2, "the held-back cryptogram never reached the issuer")
    }

    @Test func aJournalThatFailsIs96() async throws {
        let n = try Network()
        n.journal.fail()
        #expect(await n.pipeline.handle(try Self.authorization())?.responseCode == .systemMalfunction)
        #expect(n.links.messages.isEmpty)
    }

    /// Every reason the network declines, to its code, in the one table.
    @Test func declineTable() {
        #expect(TokenDecline.unknownToken.responseCode == .invalidCardNumber)
        #expect(TokenDecline.domainControl(entryMode: "012").responseCode == .transactionNotPermittedToCardholder)
        #expect(TokenDecline.atcReplayed(1).responseCode == .doNotHonour)
        #expect(NetworkDecline.unknownRange.responseCode.rawValue == "14")
        #expect(NetworkDecline.cardNumberNotToken.responseCode.rawValue == "57")
        #expect(AuthorizationOutcome.issuerUnavailable(.timedOut(after: .seconds(5))).responseCode.rawValue == "91")
        #expect(AuthorizationOutcome.decidedByIssuer(.insufficientFunds, approvalCode: nil).decidedBy == .issuer)
    }
}
