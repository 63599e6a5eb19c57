import EMV
import Foundation
import ISO8583
@testable import NetworkSwitch
import Testing
import TokenService
import Wallet

/// The network's token checks on a contactless 0100 built from a real device's
/// cryptogram: approved and detokenized, and each way to be declined before the issuer.
@Suite struct TokenCheckTests {
    struct Fixture {
        let service: TokenService
        let check: TokenCheck
        var phone: DeviceWallet
        let tokenID: String
        let card: String
        let path: String
    }

    func fixture() async throws -> Fixture {
        let (service, path) = try await TokenServiceTests().makeService()
        var phone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: "RU")
        let device = try await service.registerDevice(walletID: "wallet-1", modelID: phone.modelID, osVersion: "14", country: "RU", publicKey: try phone.publicKey)
        phone.deviceID = device.id
        let card = cardNumber("220070", seed: 11)
        guard case .approved(let token, let sealed) = try await service.enroll(walletID: "wallet-1", .init(deviceID: device.id, pan: card, expiry: "12/29", cvv2: nil, riskScore: 0)) else {
            throw CheckError.notApproved
        }
        try phone.receive(sealed)
        return Fixture(service: service, check: TokenCheck(tokens: service), phone: phone, tokenID: token.id, card: card, path: path)
    }

    enum CheckError: Error { case notApproved, noKeys }

    /// A tap of `amount` roubles' minor units: the device's ARQC in field 55, as a POS sends it.
    func tap(_ f: inout Fixture, amount: UInt64 = 150_000, entryMode: String = "071") throws -> Message {
        let stored = f.phone.tokens.first { $0.tokenID == f.tokenID }!
        guard let (input, arqc) = try f.phone.generateARQC(tokenID: f.tokenID, terminal: { atc in
            CryptogramInput(amountAuthorised: amount, terminalCountryCode: 643, transactionCurrencyCode: 643,
                            transactionDate: "261125", unpredictableNumber: [0x12, 0x34, 0x56, 0x78], atc: atc)
        }) else { throw CheckError.noKeys }
        var m = Message(mti: "0100")
        m.set(2, stored.tokenNumber)
        m.set(3, "000000")
        m.set(4, String(format: "%012llu", amount))
        m.set(11, "000001")
        m.set(14, stored.expiry)
        m.set(22, entryMode)
        m.set(49, "643")
        try m.setICCData([
            TLV(.applicationCryptogram, arqc), TLV(.cryptogramInformationData, [0x80]),
            TLV(.amountAuthorised, bcd(input.amountAuthorised, digits: 12)), TLV(.amountOther, bcd(0, digits: 12)),
            TLV(.terminalCountryCode, [0x06, 0x43]), TLV(.terminalVerificationResults, input.terminalVerificationResults),
            TLV(.transactionCurrencyCode, [0x06, 0x43]), TLV(.transactionDate, [0x26, 0x11, 0x25]), TLV(.transactionType, [0x00]),
            TLV(.unpredictableNumber, input.unpredictableNumber), TLV(.applicationInterchangeProfile, input.applicationInterchangeProfile),
            TLV(.applicationTransactionCounter, input.atc.bytes), TLV(EMV.Tag(0xDF7F), [0xAA]),
        ])
        // The acquirer's bytes, through the real codec.
        return try ISO8583Codec().unpack(ISO8583Codec().pack(m))
    }

    func decline(_ r: Result<TokenCheck.Passed, TokenDecline>) -> TokenDecline? {
        if case .failure(let d) = r { return d }
        return nil
    }

    @Test func aGenuineTapDetokenizesToTheCard() async throws {
        var f = try await fixture()
        defer { try? FileManager.default.removeItem(atPath: f.path) }
        let result = try await f.check.check(try tap(&f))
        guard case .success(let passed) = result else { Issue.record("declined: \(result)"); return }
        #expect(try await f.service.detokenize(passed.token).digits == f.card)
        #expect(passed.atc.value == 1)
        let arpc = try await f.service.responseCryptogram(token: passed.token, atc: passed.atc, arqc: passed.arqc, responseCode: "00")
        #expect(arpc.count == 8)
    }

    @Test func theSameCryptogramTwiceIsAReplay() async throws {
        var f = try await fixture()
        defer { try? FileManager.default.removeItem(atPath: f.path) }
        let message = try tap(&f)
        #expect(try await f.check.check(message).map { _ in true } == .success(true))
        #expect(decline(try await f.check.check(message)) == .atcReplayed(1))
        // The next key's tap is fine.
        #expect(try await f.check.check(try tap(&f)).map(\.atc.value) == .success(2))
    }

    @Test func aChangedCryptogramOrAmountIsDeclined() async throws {
        var f = try await fixture()
        defer { try? FileManager.default.removeItem(atPath: f.path) }
        var message = try tap(&f)
        var icc = try message.iccData()!
        icc[0] = TLV(.applicationCryptogram, icc[0].valueBytes.map { $0 ^ 0x01 })
        try message.setICCData(icc)
        #expect(decline(try await f.check.check(message)) == .cryptogramInvalid)
        var bigger = try tap(&f)
        bigger.set(4, "000099999999")
        #expect(decline(try await f.check.check(bigger)) == .chipDataMismatch("9F02 differs from field 4"))
        // A failed check does not spend the ATC: the untouched message still goes through.
        var honest = try tap(&f)
        #expect(try await f.check.check(honest).map(\.atc.value) == .success(3))
        honest.set(14, "2001")
        #expect(decline(try await f.check.check(honest)) == .expiryMismatch)
    }

    @Test func manualKeyEntryAndInactiveAndUnknownTokensAreDeclined() async throws {
        var f = try await fixture()
        defer { try? FileManager.default.removeItem(atPath: f.path) }
        let manual = try tap(&f, entryMode: "012")
        #expect(decline(try await f.check.check(manual)) == .domainControl(entryMode: "012"))
        #expect(TokenDecline.domainControl(entryMode: "012").responseCode == .transactionNotPermitted)
        var noChip = try tap(&f)
        noChip[55] = nil
        #expect(decline(try await f.check.check(noChip)) == .format(field: 55, reason: "no chip data for a chip entry mode"))
        _ = try await f.service.change(tokenID: f.tokenID, action: .suspend, by: .issuer("bank"), reason: "fraud review")
        let suspended = try tap(&f)
        #expect(decline(try await f.check.check(suspended)) == .tokenNotActive(status: "suspended"))
        var unknown = try tap(&f)
        unknown.set(2, cardNumber("22017199", seed: 77))
        #expect(decline(try await f.check.check(unknown)) == .unknownToken)
        #expect(TokenDecline.unknownToken.responseCode.rawValue == "14")
    }
}

extension TokenCheck {
    /// Every check with the ATC marked used last, as the network does with its journal
    /// claim (`AuthorizationPipeline.runOnce`), here without a journal.
    func check(_ message: Message) async throws -> Result<Passed, TokenDecline> {
        let verified = try await verify(message)
        guard case .success(let passed) = verified else { return verified }
        guard try await tokens.store.recordATC(tokenID: passed.token.id, atc: passed.atc.value) else { return .failure(.atcReplayed(passed.atc.value)) }
        return verified
    }
}
