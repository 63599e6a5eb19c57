import EMV
import Foundation
import IPM
import ISO8583

/// What a clearing file came to at the bank.
public struct PostingReport: Codable, Sendable, Equatable {
    public struct Problem: Error, Codable, Sendable, Equatable {
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
        // Read and checked first; then posted up to `Self.postingsInFlight` at a time, so
        // that the store commits many in one transaction (SQLite's group commit) or on
        // several connections (PostgreSQL). Each posting is its own unit all the same.
        struct Work: Sendable { var number: Int, presentment: String, reference: String, fingerprint: String, amount: Int64, currency: String }
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
            work.append(Work(number: m[71].flatMap { Int($0) } ?? position, presentment: presentment, reference: reference,
                             fingerprint: vault.fingerprint(pan), amount: amount, currency: currency.alpha))
        }
        let database = self.database
        @Sendable func post(_ w: Work) async throws -> (Work, Result<PostingOutcome, PostingReport.Problem>) {
            guard let account = try await database.account(fingerprint: w.fingerprint) else {
                return (w, .failure(.init(messageNumber: w.number, reason: "no account has this card")))
            }
            guard account.currency == w.currency else {
                return (w, .failure(.init(messageNumber: w.number, reason: "the amount is in \(w.currency), the account in \(account.currency)")))
            }
            switch try await database.post(presentmentID: w.presentment, reference: w.reference, fingerprint: w.fingerprint, amountMinor: w.amount, at: at) {
            case .noAccount: return (w, .failure(.init(messageNumber: w.number, reason: "no account has this card")))
            case let outcome: return (w, .success(outcome))
            }
        }
        let outcomes = try await withThrowingTaskGroup(of: (Work, Result<PostingOutcome, PostingReport.Problem>).self) { group in
            var results: [(Work, Result<PostingOutcome, PostingReport.Problem>)] = []
            var next = work.makeIterator()
            for _ in 0..<Self.postingsInFlight { if let w = next.next() { group.addTask { try await post(w) } } }
            while let done = try await group.next() {
                results.append(done)
                if let w = next.next() { group.addTask { try await post(w) } }
            }
            return results
        }
        for (w, outcome) in outcomes {
            switch outcome {
            case .success(.posted):
                report.posted += 1
                report.postedMinor[w.currency, default: 0] &+= w.amount
            case .success(.already): report.already += 1
            case .success(.noAccount): break
            case .failure(let problem): report.problems.append(problem)
            }
        }
        report.problems.sort { $0.messageNumber < $1.messageNumber }
        return report
    }

    /// Postings of one file worked on at once.
    static let postingsInFlight = 64
}
