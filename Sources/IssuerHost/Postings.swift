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
            let fingerprint = vault.fingerprint(pan)
            guard let account = try await database.account(fingerprint: fingerprint) else { problem("no account has this card", m); continue }
            guard account.currency == currency.alpha else { problem("the amount is in \(currency.alpha), the account in \(account.currency)", m); continue }
            switch try await database.post(presentmentID: presentment, reference: reference, fingerprint: fingerprint, amountMinor: amount, at: at) {
            case .posted:
                report.posted += 1
                report.postedMinor[currency.alpha, default: 0] &+= amount
            case .already: report.already += 1
            case .noAccount: problem("no account has this card", m)
            }
        }
        return report
    }
}
