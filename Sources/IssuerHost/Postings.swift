import EMV
import Foundation
import IPM
import ISO8583

/// What a clearing file came to at the bank.
public struct PostingReport: Codable, Sendable, Equatable {
    public struct Problem: Codable, Sendable, Equatable {
        /// The record's DE 71 (its position when it has none).
        public var messageNumber: Int
        public var reason: String
    }
    public var fileID: String
    /// Presentments posted now, and their total by currency (ISO 4217 alpha), in minor units.
    public var posted: Int
    public var postedMinor: [String: Int64]
    /// Delivered before: nothing done again.
    public var already: Int
    public var problems: [Problem]
}

extension Bank {
    /// The network's clearing file for this bank: each first presentment posted to its
    /// card's account (the amount in the account's currency: DE 6/51 when present, else
    /// DE 4/49), the hold of its authorization (PDS 0800) released, once per presentment
    /// (PDS 0801) however often the file comes. A record that cannot be posted is reported,
    /// and the others are posted.
    public func applyClearingFile(_ bytes: [UInt8]) async throws -> PostingReport {
        let file: ClearingFile
        do { file = try ClearingFile.read(bytes) } catch { throw IssuerHostError.invalid("not a clearing file: \(error)") }
        var report = PostingReport(fileID: file.id, posted: 0, postedMinor: [:], already: 0, problems: [])
        let at = now()
        // Read and checked first; then posted `Self.postingsPerTransaction` at a time.
        struct Work: Sendable { var number: Int, currency: String, posting: Posting }
        var work: [Work] = []
        for (i, record) in file.records.enumerated() {
            let position = i + 2
            func problem(_ reason: String, _ m: IPMMessage? = nil) {
                report.problems.append(.init(messageNumber: m.flatMap { $0[71] }.flatMap { Int($0) } ?? position, reason: reason))
            }
            guard case .success(let m) = record else { problem("the record cannot be read"); continue }
            guard m.mti == "1240", m[24] == "200" else { problem("not a first presentment", m); continue }
            guard let digits = m[2], let pan = try? PAN(digits), issues(pan.digits) else { problem("not a card of this bank", m); continue }
            guard let pds = try? m.pds(), let reference = pds[800], let presentment = pds[801], !presentment.isEmpty else {
                problem("no authorization reference (PDS 0800) or presentment id (PDS 0801)", m); continue
            }
            let (amountText, currencyText) = m[6] != nil ? (m[6], m[51]) : (m[4], m[49])
            guard let amount = amountText.flatMap({ Int64($0) }), amount > 0, let currency = currencyText.flatMap(Currency.numeric) else {
                problem("no amount and currency", m); continue
            }
            work.append(Work(number: m[71].flatMap { Int($0) } ?? position, currency: currency.alpha,
                             posting: Posting(presentmentID: presentment, reference: reference, fingerprint: vault.fingerprint(pan), amountMinor: amount)))
        }
        // Each card's account read once, for its currency.
        var accounts: [String: Account?] = [:]
        var postable: [Work] = []
        for w in work {
            let fingerprint = w.posting.fingerprint
            if accounts[fingerprint] == nil { accounts[fingerprint] = .some(try await database.account(fingerprint: fingerprint)) }
            guard let account = accounts[fingerprint] ?? nil else {
                report.problems.append(.init(messageNumber: w.number, reason: "no account has this card")); continue
            }
            guard account.currency == w.currency else {
                report.problems.append(.init(messageNumber: w.number, reason: "the amount is in \(w.currency), the account in \(account.currency)")); continue
            }
            postable.append(w)
        }
        // In the file's order (the order the authorizations came in, so that a chunk's holds
        // are neighbours in their table), a chunk a transaction.
        for start in stride(from: 0, to: postable.count, by: Self.postingsPerTransaction) {
            let chunk = postable[start..<min(start + Self.postingsPerTransaction, postable.count)]
            let outcomes = try await database.post(chunk.map(\.posting), at: at)
            for (w, outcome) in zip(chunk, outcomes) {
                switch outcome {
                case .posted:
                    report.posted += 1
                    report.postedMinor[w.currency, default: 0] &+= w.posting.amountMinor
                case .already: report.already += 1
                case .noAccount: report.problems.append(.init(messageNumber: w.number, reason: "no account has this card"))
                }
            }
        }
        report.problems.sort { $0.messageNumber < $1.messageNumber }
        return report
    }

    /// Postings of one file in one transaction.
    static let postingsPerTransaction = 1_000
}
