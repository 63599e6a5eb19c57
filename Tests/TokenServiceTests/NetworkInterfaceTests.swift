import EMV
import Participants
import Foundation
import Simulators
import Testing
import TestSupport
@testable import TokenService

/// The network's one call per authorization (`NetworkTokenService.authorize`) on a tap
/// built from a real device's cryptogram: approved and routed to the card, and each way
/// to be declined before the issuer.
@Suite struct NetworkInterfaceTests {
    struct Fixture {
        let sqlite: SQLiteRooms
        var service: TokenService { sqlite.rooms.tokens }
        var phone: DeviceWallet
        let tokenID: String
        let card: String
    }

    func fixture() async throws -> Fixture {
        let sqlite = try await SQLiteRooms.make()
        let card = cardNumber("220070", seed: 11)
        var (phone, outcome) = try await sqlite.rooms.enroll(card)
        guard case .approved(let token, let sealed) = outcome else { throw CheckError.notApproved }
        try phone.receive(sealed)
        return Fixture(sqlite: sqlite, phone: phone, tokenID: token.id, card: card)
    }

    enum CheckError: Error { case notApproved, noKeys }

    /// A tap of `amount` roubles' minor units: what the network reads from the POS's 0100
    /// (field 2, 14, 22, 4, 49 and the device's chip data in 55, with a tag nobody knows).
    func tap(_ f: inout Fixture, amount: UInt64 = 150_000, entryMode: String = "071", cid: UInt8 = 0x80,
             date: Date = Date()) throws -> TokenAuthorizationRequest {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyMMdd"
        formatter.timeZone = .gmt
        let yymmdd = formatter.string(from: date)
        guard let stored = f.phone.tokens.first(where: { $0.tokenID == f.tokenID }),
              let (input, arqc) = try f.phone.generateARQC(tokenID: f.tokenID, terminal: { atc in
                  CryptogramInput(amountAuthorised: amount, terminalCountryCode: 643, transactionCurrencyCode: 643,
                                  transactionDate: yymmdd, unpredictableNumber: [0x12, 0x34, 0x56, 0x78], atc: atc)
              }) else { throw CheckError.noKeys }
        let chip = [
            TLV(.applicationCryptogram, arqc), TLV(.cryptogramInformationData, [cid]),
            TLV(.amountAuthorised, bcd(input.amountAuthorised, digits: 12)), TLV(.amountOther, bcd(0, digits: 12)),
            TLV(.terminalCountryCode, [0x06, 0x43]), TLV(.terminalVerificationResults, input.terminalVerificationResults),
            TLV(.transactionCurrencyCode, [0x06, 0x43]), TLV(.transactionDate, try Hex.decode(yymmdd)), TLV(.transactionType, [0x00]),
            TLV(.unpredictableNumber, input.unpredictableNumber), TLV(.applicationInterchangeProfile, input.applicationInterchangeProfile),
            TLV(.applicationTransactionCounter, input.atc.bytes), TLV(EMV.Tag(0xDF7F), [0xAA]),
        ]
        // The chip data as the acquirer's bytes carry it.
        return TokenAuthorizationRequest(tokenNumber: try PAN(stored.tokenNumber), expiry: stored.expiry, entryMode: entryMode,
                                         amountMinor: Int64(amount), currency: "643", chipData: try BERTLV.decode(BERTLV.encode(chip)))
    }

    /// Every check, then the ATC marked used, as the network does with its journal claim
    /// (`AuthorizationPipeline.runOnce`), here without a journal.
    func check(_ f: Fixture, _ request: TokenAuthorizationRequest) async throws -> Result<TokenAuthorization, TokenDecline> {
        let result = try await f.service.authorize(request)
        guard case .success(let passed) = result else { return result }
        guard try await f.sqlite.rooms.store.recordATC(tokenID: passed.routing.tokenID, atc: passed.atc.value) else {
            return .failure(.atcReplayed(passed.atc.value))
        }
        return result
    }

    func decline(_ r: Result<TokenAuthorization, TokenDecline>) -> TokenDecline? {
        if case .failure(let d) = r { return d }
        return nil
    }

    @Test func aGenuineTapIsRoutedToTheCard() async throws {
        var f = try await fixture()
        defer { f.sqlite.remove() }
        let result = try await check(f, try tap(&f))
        guard case .success(let passed) = result else { Issue.record("declined: \(result)"); return }
        #expect(passed.routing.pan.digits == f.card)
        #expect(passed.routing.cardExpiry == "2912")
        #expect(passed.routing.issuerID == ServiceRooms.issuerID)
        #expect(passed.atc.value == 1)
        let data91 = try await f.service.issuerAuthenticationData(for: passed, responseCode: Array("00".utf8))
        #expect(data91.count == 10 && data91.suffix(2) == Array("00".utf8), "TDES: ARPC ‖ ARC")
    }

    @Test func theSameCryptogramTwiceIsAReplay() async throws {
        var f = try await fixture()
        defer { f.sqlite.remove() }
        let request = try tap(&f)
        #expect(try await check(f, request).map { _ in true } == .success(true))
        #expect(decline(try await check(f, request)) == .atcReplayed(1))
        // The next key's tap is fine.
        #expect(try await check(f, try tap(&f)).map(\.atc.value) == .success(2))
    }

    @Test func aChangedCryptogramOrAmountIsDeclined() async throws {
        var f = try await fixture()
        defer { f.sqlite.remove() }
        var forged = try tap(&f)
        var icc = try #require(forged.chipData)
        icc[0] = TLV(.applicationCryptogram, icc[0].valueBytes.map { $0 ^ 0x01 })
        forged.chipData = icc
        #expect(decline(try await check(f, forged)) == .cryptogramInvalid)
        var bigger = try tap(&f)
        bigger.amountMinor = 99_999_999
        #expect(decline(try await check(f, bigger)) == .chipDataMismatch("9F02 differs from field 4"))
        // A failed check does not spend the ATC: the untouched request still goes through.
        var honest = try tap(&f)
        #expect(try await check(f, honest).map(\.atc.value) == .success(3))
        honest.expiry = "2001"
        #expect(decline(try await check(f, honest)) == .expiryMismatch)
    }

    @Test func manualKeyEntryAndInactiveAndUnknownTokensAreDeclined() async throws {
        var f = try await fixture()
        defer { f.sqlite.remove() }
        let manual = try tap(&f, entryMode: "012")
        #expect(decline(try await check(f, manual)) == .domainControl(entryMode: "012"))
        var noChip = try tap(&f)
        noChip.chipData = nil
        #expect(decline(try await check(f, noChip)) == .format(field: 55, reason: "no chip data for a chip entry mode"))
        _ = try await f.service.change(tokenID: f.tokenID, action: .suspend, by: .issuer(ServiceRooms.issuerID), reason: "fraud review")
        let suspended = try tap(&f)
        #expect(decline(try await check(f, suspended)) == .tokenNotActive(status: .suspended))
        var unknown = try tap(&f)
        unknown.tokenNumber = try PAN(cardNumber("22017199", seed: 77))
        #expect(decline(try await check(f, unknown)) == .unknownToken)
    }

    /// Freshness: the cryptogram must be an ARQC (9F27), dated within a day of the
    /// network's date (9A), under a key younger than the issuer's key lifetime.
    @Test func aCryptogramMustBeAFreshARQC() async throws {
        var f = try await fixture()
        defer { f.sqlite.remove() }
        for cid: UInt8 in [0x40, 0x00] {
            #expect(decline(try await check(f, try tap(&f, cid: cid))) == .notARQC(cid: cid), "9F27 \(cid)")
        }
        let twoDaysAgo = try tap(&f, date: Date().addingTimeInterval(-2 * 86_400))
        #expect(decline(try await check(f, twoDaysAgo)).map { if case .transactionDateOutOfRange = $0 { true } else { false } } == true)
        #expect(try await check(f, try tap(&f, date: Date().addingTimeInterval(-86_400))).map { _ in true } == .success(true), "yesterday is in date")
        var expired = try tap(&f)
        expired.policy = CryptogramPolicy(atcWindow: 20, keyLifetimeDays: 0)
        #expect(decline(try await check(f, expired)) == .keyExpired(atc: 5))
        #expect(try await check(f, try tap(&f)).map { _ in true } == .success(true), "under the standard 30 days it pays")
    }

    /// A reversal's token is routed to its card; a number that is no token is not.
    @Test func aReversalFindsTheCardBehindItsToken() async throws {
        var f = try await fixture()
        defer { f.sqlite.remove() }
        let request = try tap(&f)
        let routing = try #require(try await f.service.routing(forToken: request.tokenNumber))
        #expect(routing.pan.digits == f.card)
        #expect(routing.tokenID == f.tokenID)
        #expect(try await f.service.routing(forToken: try PAN(cardNumber("22017199", seed: 78))) == nil)
    }
}
