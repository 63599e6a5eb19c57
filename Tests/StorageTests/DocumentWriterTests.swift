import Foundation
import HTTPSupport
@testable import Clearing
import ISO8583
@testable import IssuerHost
import NetworkSwitch
@testable import Storage
import Testing
import TestSupport

/// The hand-written documents of the authorization path against Foundation: what
/// `JSONDecoder` reads from them equals what it reads from `JSONEncoder`'s documents,
/// for random entries with every awkward character a string can hold.
@Suite(.heavy) struct DocumentWriterTests {
    static let awkward: [String] = ["", "plain", "quote \" here", "back\\slash", "new\nline\r\ttab", "\u{0}\u{1}\u{1F}control",
                                    "кириллица", "emoji 💳", "mixed \"\\\n💳\u{7}", "/slash/", "\u{7F}del"]

    func randomString(_ g: inout some RandomNumberGenerator) -> String {
        (Self.awkward.randomElement(using: &g) ?? "") + String(Int.random(in: 0...999_999, using: &g))
    }

    @Test func journalEntriesDecodeAsFoundationsDo() throws {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            func maybe(_ s: String) -> String? { Bool.random(using: &g) ? s : nil }
            var entry = JournalEntry(
                key: randomString(&g), requestDigest: randomString(&g), mti: "0110", maskedToken: maybe(randomString(&g)), tokenID: maybe(randomString(&g)),
                issuerID: maybe(randomString(&g)), maskedPAN: maybe(randomString(&g)), processingCode: randomString(&g),
                amountMinor: Int64.random(in: Int64.min...Int64.max, using: &g), currency: randomString(&g),
                billingAmountMinor: Bool.random(using: &g) ? Int64.random(in: -1_000_000...1_000_000_000_000, using: &g) : nil,
                billingCurrency: maybe(randomString(&g)), responseCode: ResponseCode.table.randomElement(using: &g)?.code ?? .approved,
                approvalCode: maybe(randomString(&g)), decidedBy: Decider.allCases.randomElement(using: &g) ?? .network, reason: randomString(&g),
                answer: Data((0..<Int.random(in: 0...300, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }),
                at: Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &g)))
            entry.original = maybe(randomString(&g))
            entry.conversionRate = maybe(randomString(&g))
            let byHand = SQLiteStore.document(entry)
            let byFoundation = try SQLiteStore.doc(entry)
            let read = try SQLiteStore.value(JournalEntry.self, byHand)
            #expect(try read == SQLiteStore.value(JournalEntry.self, byFoundation), "\(byHand)")
            #expect(read.at.timeIntervalSince1970.rounded(.down) == entry.at.timeIntervalSince1970.rounded(.down))
        }
    }

    @Test func accountsDecodeAsFoundationsDo() throws {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            func maybe(_ s: String) -> String? { Bool.random(using: &g) ? s : nil }
            let account = Account(
                id: randomString(&g), fingerprint: randomString(&g), sealedPAN: Data((0..<Int.random(in: 0...80, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }),
                maskedPAN: randomString(&g), expiry: randomString(&g), cvv2Hash: maybe(randomString(&g)), holderName: randomString(&g),
                phone: maybe(randomString(&g)), bankApp: Bool.random(using: &g), currency: randomString(&g),
                balanceMinor: Int64.random(in: Int64.min...Int64.max, using: &g), creditLimitMinor: Int64.random(in: 0...Int64.max, using: &g),
                dailyLimitMinor: Int64.random(in: 0...Int64.max, using: &g), status: [.active, .blocked, .lost, .stolen].randomElement(using: &g) ?? .active)
            let byHand = IssuerDatabase.document(account)
            #expect(try IssuerDatabase.decode(Account.self, byHand) == account, "\(byHand)")
        }
        // A field added to Account must be written by hand too.
        #expect(Mirror(reflecting: Account(id: "", fingerprint: "", sealedPAN: Data(), maskedPAN: "", expiry: "", cvv2Hash: nil, holderName: "", phone: nil,
                                           bankApp: false, currency: "", balanceMinor: 0, creditLimitMinor: 0, dailyLimitMinor: 0, status: .active)).children.count == 14)
    }

    @Test func presentmentsDecodeAsFoundationsDo() throws {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            func maybe(_ s: String) -> String? { Bool.random(using: &g) ? s : nil }
            func amount() -> Int64 { Int64.random(in: Int64.min...Int64.max, using: &g) }
            func date() -> Date { Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &g)) }
            var p = ClearedPresentment(
                id: randomString(&g), fileID: randomString(&g), messageNumber: Int.random(in: Int.min...Int.max, using: &g), acquirerID: randomString(&g),
                acquirerReference: randomString(&g), authorization: randomString(&g), tokenID: randomString(&g), maskedToken: maybe(randomString(&g)),
                issuerID: randomString(&g), processingCode: randomString(&g), mcc: randomString(&g), amountMinor: amount(), currency: randomString(&g),
                authorizedMinor: amount(), billingCurrency: maybe(randomString(&g)), billingAmountMinor: Bool.random(using: &g) ? amount() : nil,
                localTime: randomString(&g), authorizedAt: date(), clearedAt: date(), conversionRate: maybe(randomString(&g)),
                pricing: Bool.random(using: &g) ? Pricing(issuerCurrency: randomString(&g), issuerAmountMinor: amount(),
                                                          interchangeBasisPoints: Int.random(in: Int.min...Int.max, using: &g), interchangeMinor: amount(),
                                                          issuerInterchangeMinor: amount(), acquirerSchemeFeeMinor: amount(), issuerSchemeFeeMinor: amount()) : nil)
            if Bool.random(using: &g) {
                p.state = [.cleared, .chargedBack, .represented].randomElement(using: &g)
                p.chargeback = Chargeback(reasonCode: randomString(&g), amountMinor: amount(), at: date())
                p.secondPresentment = Bool.random(using: &g) ? SecondPresentment(amountMinor: amount(), at: date()) : nil
            }
            let byHand = try ClearingDocuments.presentment(p)
            let read = try SQLiteStore.value(ClearedPresentment.self, byHand)
            #expect(try read == SQLiteStore.value(ClearedPresentment.self, try SQLiteStore.doc(p)), "\(byHand)")
            #expect(read.id == p.id && read.pricing == p.pricing && read.chargeback?.amountMinor == p.chargeback?.amountMinor)
        }
        // A field added to ClearedPresentment must be written by hand too.
        #expect(Mirror(reflecting: ClearedPresentment(
            id: "", fileID: "", messageNumber: 0, acquirerID: "", acquirerReference: "", authorization: "", tokenID: "", maskedToken: nil, issuerID: "",
            processingCode: "", mcc: "", amountMinor: 0, currency: "", authorizedMinor: 0, billingCurrency: nil, billingAmountMinor: nil, localTime: "",
            authorizedAt: Date(), clearedAt: Date())).children.count == 24)
    }

    @Test func clearingFileResultsDecodeAsFoundationsDo() throws {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            func maybe(_ s: String) -> String? { Bool.random(using: &g) ? s : nil }
            let results = (0..<Int.random(in: 0...30, using: &g)).map { _ in
                PresentmentResult(messageNumber: Int.random(in: Int.min...Int.max, using: &g), outcome: Bool.random(using: &g) ? .cleared : .rejected,
                                  acquirerReference: maybe(randomString(&g)), presentmentID: maybe(randomString(&g)), authorization: maybe(randomString(&g)),
                                  maskedToken: maybe(randomString(&g)), amountMinor: Bool.random(using: &g) ? Int64.random(in: Int64.min...Int64.max, using: &g) : nil,
                                  currency: maybe(randomString(&g)), partial: Bool.random(using: &g) ? Bool.random(using: &g) : nil,
                                  reject: Bool.random(using: &g) ? Reject(Reject.Reason.allCases.randomElement(using: &g) ?? .format,
                                                                         element: Int.random(in: 0...128, using: &g), detail: randomString(&g)) : nil)
            }
            let file = ClearingFileResult(
                fileID: randomString(&g), acquirerID: randomString(&g), receivedAt: Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &g)),
                characterSet: randomString(&g), blocked: Bool.random(using: &g), cleared: Int.random(in: 0...100_000, using: &g),
                rejected: Int.random(in: 0...100_000, using: &g), results: results, rejectFileID: maybe(randomString(&g)))
            // Stored (milliseconds), as the store's decoder reads it.
            let stored = ClearingDocuments.result(file, dates: .milliseconds)
            #expect(try SQLiteStore.value(ClearingFileResult.self, stored) == SQLiteStore.value(ClearingFileResult.self, try SQLiteStore.doc(file)), "\(stored)")
            // Answered (ISO 8601), as the API's encoder writes it.
            let answered = Data(ClearingDocuments.result(file, dates: .iso8601).utf8)
            #expect(try JSONBody.decoder.decode(ClearingFileResult.self, from: answered) == JSONBody.decoder.decode(ClearingFileResult.self, from: JSONBody.encoder.encode(file)))
        }
        #expect(Mirror(reflecting: PresentmentResult(messageNumber: 0, outcome: .cleared)).children.count == 10)
        #expect(Mirror(reflecting: ClearingFileResult(fileID: "", acquirerID: "", receivedAt: Date(), characterSet: "", blocked: false, cleared: 0, rejected: 0,
                                                      results: [])).children.count == 9)
    }

    @Test func decisionsDecodeAsFoundationsDo() throws {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let decision = AuthorizationDecision(responseCode: ResponseCode.table.randomElement(using: &g)?.code ?? .approved, approvalCode: Bool.random(using: &g) ? randomString(&g) : nil,
                                                 reason: randomString(&g))
            let read = try IssuerDatabase.decode(AuthorizationDecision.self, IssuerDatabase.document(decision))
            #expect(read == decision)
        }
    }
}
