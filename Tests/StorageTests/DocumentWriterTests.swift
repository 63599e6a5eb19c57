import Foundation
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
