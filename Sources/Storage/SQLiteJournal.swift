import Foundation
import GRDB
import NetworkSwitch
import SQLiteSupport

/// The network's journal in the same SQLite database as the token service. The key is
/// the primary key, so a claim is taken once; an entry is committed (WAL) before the
/// acquirer is answered.
extension SQLiteStore: AuthorizationJournal {
    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date) async throws -> JournalClaim {
        try await groupCommit.writeOneStatement { db in try Self.claim(db, key, requestDigest, at) }
    }

    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String) async throws
        -> (claim: JournalClaim, atcFresh: Bool, highestSpent: UInt16?) {
        // Two statements that write: in a savepoint of the group's transaction.
        try await groupCommit.write { db in
            let claim = try Self.claim(db, key, requestDigest, at)
            guard claim == .claimed else { return (claim, false, nil) }
            let highest = try Int.fetchOne(db.cachedStatement(sql: "SELECT MAX(atc) FROM used_atcs WHERE token_id = ?"), arguments: [tokenID])
            return (claim, try Self.recordATC(db, tokenID: tokenID, atc: atc), highest.flatMap { UInt16(exactly: $0) })
        }
    }

    static func claim(_ db: Database, _ key: AuthorizationKey, _ requestDigest: String, _ at: Date) throws -> JournalClaim {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO journal (key, request_digest, state, claimed_at) VALUES (?, ?, 'pending', ?)")
            .execute(arguments: [key.description, requestDigest, at.timeIntervalSince1970])
        if db.changesCount == 1 { return .claimed }
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT request_digest, state, doc FROM journal WHERE key = ?"),
                                         arguments: [key.description]) else {
            return .pending(requestDigest: requestDigest)
        }
        if let doc: String = row["doc"] { return .answered(try Self.value(JournalEntry.self, doc)) }
        return .pending(requestDigest: row["request_digest"])
    }

    public func complete(_ entry: JournalEntry) async throws {
        let doc = Self.document(entry)
        // The UPDATE of a pending claim or, when it changed nothing, the INSERT of a new key:
        // one statement changes anything, and an answered entry is never replaced.
        let written = try await groupCommit.writeOneStatement { db in
            try db.cachedStatement(sql: "UPDATE journal SET state = 'answered', response_code = ?, doc = ? WHERE key = ? AND doc IS NULL")
                .execute(arguments: [entry.responseCode.rawValue, doc, entry.key])
            if db.changesCount == 0 {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO journal (key, request_digest, state, claimed_at, response_code, doc) VALUES (?, ?, 'answered', ?, ?, ?)")
                    .execute(arguments: [entry.key, entry.requestDigest, entry.at.timeIntervalSince1970, entry.responseCode.rawValue, doc])
            }
            return db.changesCount == 1
        }
        if !written { throw JournalError.alreadyAnswered(key: entry.key) }
    }

    public func entry(_ key: AuthorizationKey) async throws -> JournalEntry? {
        try await pool.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT doc FROM journal WHERE key = ?"), arguments: [key.description])
                .map { try Self.value(JournalEntry.self, $0) }
        }
    }

    public func isPending(_ key: AuthorizationKey) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM journal WHERE key = ? AND doc IS NULL"), arguments: [key.description]) ?? false
        }
    }

    /// The entry as `doc(entry)` would write it (the same keys, sorted), by hand: this is
    /// written on every authorization.
    static func document(_ e: JournalEntry) -> String {
        var w = DocumentWriter()
        w.field("amountMinor", e.amountMinor)
        w.field("answer", base64: e.answer)
        w.field("approvalCode", e.approvalCode)
        w.field("at", milliseconds: e.at)
        w.field("billingAmountMinor", e.billingAmountMinor)
        w.field("billingCurrency", e.billingCurrency)
        w.field("currency", e.currency)
        w.field("decidedBy", e.decidedBy.rawValue)
        w.field("issuerID", e.issuerID)
        w.field("key", e.key)
        w.field("maskedPAN", e.maskedPAN)
        w.field("maskedToken", e.maskedToken)
        w.field("mti", e.mti)
        w.field("processingCode", e.processingCode)
        w.field("reason", e.reason)
        w.field("requestDigest", e.requestDigest)
        w.field("responseCode", e.responseCode.rawValue)
        w.field("tokenID", e.tokenID)
        return w.finish()
    }
}
