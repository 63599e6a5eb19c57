import Clearing
import Foundation
import ISO8583
import Testing
import TestSupport

/// The matching rules without a store: which authorization a presentment clears, and
/// why not when none.
@Suite struct MatchingTests {
    static let now = Date(timeIntervalSince1970: 1_795_000_000)

    static func authorization(_ stan: String, amount: Int64 = 100_000, currency: String = "643", daysAgo: Double = 1, mti: String = "0100",
                              reversed: Bool = false, clearedBy: String? = nil, acquirer: String = "25000001") -> ClearableAuthorization {
        ClearableAuthorization(key: "\(acquirer)/T1/\(stan)/1129101500", mti: mti, tokenID: "tok_1", maskedToken: nil, issuerID: "bank",
                               processingCode: "000000", amountMinor: amount, currency: currency, billingAmountMinor: nil, billingCurrency: nil,
                               approvalCode: "A1B2C3", at: now - daysAgo * 86_400, reversed: reversed, clearedBy: clearedBy)
    }

    static func presentment(amount: Int64 = 100_000, currency: String = "RUB", mcc: String = "5411") -> Presentment {
        Presentment(messageNumber: 2, number: "2201719900000017", processingCode: "000000", amountMinor: amount, currency: Currency.alpha(currency)!,
                    localTime: "261129101500", acquirerReference: String(repeating: "7", count: 23), mcc: mcc, approvalCode: "A1B2C3",
                    acquirerInstitution: "25000001")
    }

    func reason(_ p: Presentment, _ candidates: [ClearableAuthorization], taken: Set<String> = []) -> Reject.Reason? {
        if case .failure(let r) = ClearingRules.standard.match(p, candidates: candidates, taken: taken, at: Self.now) { return r.reason }
        return nil
    }

    @Test func theOldestThatFitsIsCleared() throws {
        let older = Self.authorization("000001", daysAgo: 3), newer = Self.authorization("000002", daysAgo: 1)
        let matched = try ClearingRules.standard.match(Self.presentment(), candidates: [newer, older], taken: [], at: Self.now).get()
        #expect(matched.key == older.key)
        let next = try ClearingRules.standard.match(Self.presentment(), candidates: [newer, older], taken: [older.key], at: Self.now).get()
        #expect(next.key == newer.key, "one cleared earlier in the file is taken")
    }

    @Test func aLifeCycleIDNamesTheAuthorizationWhenTwoDrewTheSameApprovalCode() throws {
        // Two approvals of one token with one approval code (the bank draws codes at random):
        // the older reversed, the newer not.
        let reversed = Self.authorization("000001", daysAgo: 3, reversed: true), kept = Self.authorization("000002", daysAgo: 1)
        func named(_ stan: String, terminal: String? = nil) -> Presentment {
            var p = Self.presentment()
            p.lifeCycleID = stan + "1129101500"
            p.terminal = terminal
            return p
        }
        // Without DE 63 the reversed one's presentment clears the other.
        #expect(try ClearingRules.standard.match(Self.presentment(), candidates: [reversed, kept], taken: [], at: Self.now).get().key == kept.key)
        // With it, each names its own.
        #expect(reason(named("000001"), [reversed, kept]) == .reversed)
        #expect(try ClearingRules.standard.match(named("000002"), candidates: [reversed, kept], taken: [], at: Self.now).get().key == kept.key)
        #expect(try ClearingRules.standard.match(named("000002", terminal: "T1"), candidates: [reversed, kept], taken: [], at: Self.now).get().key == kept.key)
        // One it does not name is no authorization, for DE 63; so is another terminal's.
        let unnamed = ClearingRules.standard.match(named("000003"), candidates: [reversed, kept], taken: [], at: Self.now)
        guard case .failure(let reject) = unnamed else { Issue.record("DE 63 of no candidate cleared one"); return }
        #expect(reject.reason == .noAuthorization && reject.element == 63)
        #expect(reason(named("000002", terminal: "T2"), [reversed, kept]) == .noAuthorization)
        #expect(reason(named("000002"), [reversed, kept], taken: [kept.key]) == .alreadyCleared)
    }

    @Test func aLifeCycleIDIsReadAndWrittenAsDE63() throws {
        var p = Self.presentment()
        p.lifeCycleID = "0000421129101500"
        #expect(p.message[63] == "0000421129101500")
        #expect(try Presentment(p.message).lifeCycleID == "0000421129101500")
        #expect(try Presentment(Self.presentment().message).lifeCycleID == nil, "optional")
        var bad = p.message
        bad[63] = "00004211291015"
        #expect(throws: Reject(.format, element: 63, detail: "DE 63 must be 16 digits")) { try Presentment(bad) }
    }

    @Test func eachRuleHasItsReason() {
        #expect(reason(Self.presentment(), []) == .noAuthorization)
        #expect(reason(Self.presentment(), [Self.authorization("1", acquirer: "99999999")]) == .noAuthorization, "another acquirer's")
        #expect(reason(Self.presentment(), [Self.authorization("1", reversed: true)]) == .reversed)
        #expect(reason(Self.presentment(), [Self.authorization("1", mti: "0200")]) == .singleMessage)
        #expect(reason(Self.presentment(), [Self.authorization("1", clearedBy: "prs_x")]) == .alreadyCleared)
        #expect(reason(Self.presentment(), [Self.authorization("1", daysAgo: 7.01)]) == .late)
        #expect(reason(Self.presentment(), [Self.authorization("1", daysAgo: 6.99)]) == nil, "within seven days")
        #expect(reason(Self.presentment(currency: "EUR"), [Self.authorization("1")]) == .currencyMismatch)
        #expect(reason(Self.presentment(amount: 100_001), [Self.authorization("1")]) == .amountAboveAuthorized)
        // The closest candidate's reason: an amount problem over a reversed one.
        #expect(reason(Self.presentment(amount: 100_001), [Self.authorization("1", reversed: true), Self.authorization("2")]) == .amountAboveAuthorized)
    }

    @Test func someMerchantCategoriesMayPresentMoreThanAuthorized() {
        // Restaurants 20%, hotels 15%; a grocer not a minor unit more.
        #expect(reason(Self.presentment(amount: 120_000, mcc: "5812"), [Self.authorization("1")]) == nil)
        #expect(reason(Self.presentment(amount: 120_001, mcc: "5812"), [Self.authorization("1")]) == .amountAboveAuthorized)
        #expect(reason(Self.presentment(amount: 115_000, mcc: "7011"), [Self.authorization("1")]) == nil)
        #expect(reason(Self.presentment(amount: 115_001, mcc: "7011"), [Self.authorization("1")]) == .amountAboveAuthorized)
        #expect(reason(Self.presentment(amount: 40_000), [Self.authorization("1")]) == nil, "less is a partial presentment")
        #expect(ClearingRules.standard.ceiling(authorized: .max, mcc: "5812") == .max, "no overflow")
    }

    @Test func aRecordThatIsNoPresentmentIsAReject() throws {
        var m = Self.presentment().message
        #expect(try Presentment(m) == Self.presentment())
        m[24] = "205"
        #expect(throws: Reject(.notAPresentment, element: 24, detail: "function code 205: only first presentments (200) are taken")) { try Presentment(m) }
        m[24] = "200"
        m[4] = "00000000000A"
        #expect(throws: Reject.self) { try Presentment(m) }
        m[4] = "000000000000"
        #expect(throws: Reject(.format, element: 4, detail: "DE 4 must be a positive amount")) { try Presentment(m) }
        m[4] = "000000000100"
        m[49] = "999"
        #expect(throws: Reject(.format, element: 49, detail: "DE 49 is not an ISO 4217 currency")) { try Presentment(m) }
        m[49] = nil
        #expect(throws: Reject(.format, element: 49, detail: "DE 49 is missing")) { try Presentment(m) }
        #expect(throws: Reject.self) { try Presentment(IPMMessage(mti: "1442")) }
    }

    @Test func aFileWithoutItsHeaderOrTrailerOrCountIsRefusedWhole() throws {
        let id = "0012611290002500000100001"
        let good = try ClearingFile.write(id: id, messages: [Self.presentment().message])
        let read = try ClearingFile.read(good)
        #expect(read.id == id && read.records.count == 1 && read.characterSet == .ebcdic && read.blocked)
        let latin = try ClearingFile.read(try ClearingFile.write(id: id, messages: [], characterSet: .latin1, blocked: false))
        #expect(latin.characterSet == .latin1 && !latin.blocked && latin.records.isEmpty)
        #expect(throws: ClearingFile.Error.self) { try ClearingFile.read([]) }
        #expect(throws: ClearingFile.Error.badFileID("12345")) { try ClearingFile.read(try ClearingFile.write(id: "12345", messages: [])) }
        // Header only, no trailer.
        var header = IPMMessage(mti: "1644")
        header[24] = "697"
        try header.setPDS([105: id])
        #expect(throws: ClearingFile.Error.noTrailer("the file ends without one")) {
            try ClearingFile.read(try VBS.write([try IPMCodec().pack(header)], blocked: false))
        }
        // A trailer that counts wrong.
        var trailer = IPMMessage(mti: "1644")
        trailer[24] = "695"
        try trailer.setPDS([306: "00000005"])
        #expect(throws: ClearingFile.Error.countMismatch(trailer: 5, records: 2)) {
            try ClearingFile.read(try VBS.write([try IPMCodec().pack(header), try IPMCodec().pack(trailer)], blocked: true))
        }
    }
}

/// Clearing files from outside are untrusted: every mutation of a valid file (bytes
/// flipped, lengths changed, cut short, blocks damaged) is read or refused, never a trap.
@Suite(.heavy) struct ClearingFileFuzzTests {
    @Test func mutatedFilesAreReadOrRefused() throws {
        let seed = ProcessInfo.processInfo.environment["PASSWAY_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64(UInt32.max))
        var rng = SplitMix64(seed: seed)
        let messages = (0..<20).map { i in
            MatchingTests.presentment(amount: Int64(1_000 + i)).message
        }
        var read = 0, refused = 0
        for characterSet in [IPMCodec.CharacterSet.ebcdic, .latin1] {
            for blocked in [true, false] {
                let good = try ClearingFile.write(id: "0012611290002500000100001", messages: messages, characterSet: characterSet, blocked: blocked)
                for _ in 0..<1_500 {
                    var bytes = good
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0:
                        for _ in 0..<Int.random(in: 1...8, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                    case 1:
                        bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
                    case 2:
                        // A record length (at a record's start) made to lie.
                        let at = Int.random(in: 0..<max(1, bytes.count - 4), using: &rng)
                        bytes.replaceSubrange(at..<(at + 4), with: (0..<4).map { _ in UInt8.random(in: 0...255, using: &rng) })
                    default:
                        bytes += (0..<Int.random(in: 1...2_000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    }
                    if let file = try? ClearingFile.read(bytes) {
                        read += 1
                        for case .success(let m) in file.records { _ = try? Presentment(m) }
                    } else {
                        refused += 1
                    }
                }
            }
        }
        print("clearing file fuzz [seed \(seed)]: \(read) read, \(refused) refused, no trap")
        #expect(refused > 0 && read + refused == 6_000)
    }
}
