import Foundation
import GRDB
import NetworkSwitch
import SQLiteSupport

/// The network's journal in the same SQLite database as the token service. The key is
/// the primary key, so a claim is taken once; an entry is committed (WAL) before the
/// acquirer is answered.
extension SQLiteStore: AuthorizationJournal {
    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date) async throws -> JournalClaim {
        try await groupCommit.writeOneStatement { db in try Self.claim(db, key, requestDigest, at, ifLost: nil) }
    }

    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String,
                      ifLost: ReversalIfLost?) async throws -> (claim: JournalClaim, atcFresh: Bool, highestSpent: UInt16?) {
        // Two statements that write: in a savepoint of the group's transaction.
        try await groupCommit.write { db in
            let claim = try Self.claim(db, key, requestDigest, at, ifLost: ifLost)
            guard claim == .claimed else { return (claim, false, nil) }
            let highest = try Int.fetchOne(db.cachedStatement(sql: "SELECT MAX(atc) FROM used_atcs WHERE token_id = ?"), arguments: [tokenID])
            return (claim, try Self.recordATC(db, tokenID: tokenID, atc: atc), highest.flatMap { UInt16(exactly: $0) })
        }
    }

    static func claim(_ db: Database, _ key: AuthorizationKey, _ requestDigest: String, _ at: Date, ifLost: ReversalIfLost?) throws -> JournalClaim {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO journal (key, request_digest, state, claimed_at, lost_issuer, lost_reversal) VALUES (?, ?, 'pending', ?, ?, ?)")
            .execute(arguments: [key.description, requestDigest, at.timeIntervalSince1970, ifLost?.issuerID, ifLost?.sealed])
        if db.changesCount == 1 { return .claimed }
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT request_digest, state, doc FROM journal WHERE key = ?"),
                                         arguments: [key.description]) else {
            return .pending(requestDigest: requestDigest)
        }
        if let doc: String = row["doc"] { return .answered(try Self.value(JournalEntry.self, doc)) }
        return .pending(requestDigest: row["request_digest"])
    }

    public func complete(_ entry: JournalEntry, owing: OwedMessage?, standIn spend: StandInSpend?) async throws {
        let doc = Self.document(entry)
        // The UPDATE of a pending claim or, when it changed nothing, the INSERT of a new key:
        // one statement changes anything, and an answered entry is never replaced.
        @Sendable func answer(_ db: Database) throws -> Bool {
            try db.cachedStatement(sql: "UPDATE journal SET state = 'answered', response_code = ?, doc = ?, lost_reversal = NULL WHERE key = ? AND doc IS NULL")
                .execute(arguments: [entry.responseCode.rawValue, doc, entry.key])
            if db.changesCount == 0 {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO journal (key, request_digest, state, claimed_at, response_code, doc) VALUES (?, ?, 'answered', ?, ?, ?)")
                    .execute(arguments: [entry.key, entry.requestDigest, entry.at.timeIntervalSince1970, entry.responseCode.rawValue, doc])
            }
            return db.changesCount == 1
        }
        guard owing != nil || spend != nil else {
            if try await !groupCommit.writeOneStatement(answer) { throw JournalError.alreadyAnswered(key: entry.key) }
            return
        }
        // With a message owed (and a stand-in allowance taken): all, or (in its savepoint) none.
        try await groupCommit.write { db in
            if let spend {
                try db.cachedStatement(sql: """
                    INSERT INTO stand_in_usage (token_id, day, count, amount) SELECT ?, ?, 1, ? WHERE 1 <= ? AND ? <= ?
                    ON CONFLICT (token_id, day) DO UPDATE SET count = count + 1, amount = amount + excluded.amount
                    WHERE stand_in_usage.count + 1 <= ? AND stand_in_usage.amount + excluded.amount <= ?
                    """).execute(arguments: [spend.tokenID, spend.day, spend.amountMinor, spend.maxCount, spend.amountMinor, spend.maxAmountMinor,
                                             spend.maxCount, spend.maxAmountMinor])
                if db.changesCount == 0 {
                    let count = try Int.fetchOne(db, sql: "SELECT count FROM stand_in_usage WHERE token_id = ? AND day = ?",
                                                 arguments: [spend.tokenID, spend.day]) ?? 0
                    throw JournalError.standInAllowanceExhausted(countReached: count >= spend.maxCount)
                }
            }
            guard try answer(db) else { throw JournalError.alreadyAnswered(key: entry.key) }
            if let owing { _ = try Self.enqueue(db, owing) }
        }
    }

    public func forget(unanswered key: String) async throws -> Bool {
        try await groupCommit.writeOneStatement { db in
            try db.cachedStatement(sql: "DELETE FROM journal WHERE key = ? AND doc IS NULL").execute(arguments: [key])
            return db.changesCount == 1
        }
    }

    public func entries(after: String?, limit: Int) async throws -> [JournalEntry] {
        try await pool.read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT doc FROM journal WHERE key > ? AND doc IS NOT NULL ORDER BY key LIMIT ?"),
                                arguments: [after ?? "", limit]).map { try Self.value(JournalEntry.self, $0) }
        }
    }

    public func unanswered(claimedBefore: Date, limit: Int) async throws -> [UnansweredClaim] {
        try await pool.read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT key, request_digest, claimed_at, lost_issuer, lost_reversal FROM journal
                WHERE doc IS NULL AND claimed_at < ? ORDER BY claimed_at LIMIT ?
                """), arguments: [claimedBefore.timeIntervalSince1970, limit]).map { row in
                let key: String = row["key"]
                let issuer: String? = row["lost_issuer"], sealed: Data? = row["lost_reversal"]
                return UnansweredClaim(key: key, requestDigest: row["request_digest"], claimedAt: Date(timeIntervalSince1970: row["claimed_at"]),
                                       ifLost: issuer.flatMap { issuer in sealed.map { ReversalIfLost(id: OwedMessage.reversalID(key), issuerID: issuer, sealed: $0) } })
            }
        }
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
        w.field("conversionRate", e.conversionRate)
        w.field("currency", e.currency)
        w.field("decidedBy", e.decidedBy.rawValue)
        w.field("issuerID", e.issuerID)
        w.field("key", e.key)
        w.field("maskedPAN", e.maskedPAN)
        w.field("maskedToken", e.maskedToken)
        w.field("mti", e.mti)
        w.field("original", e.original)
        w.field("processingCode", e.processingCode)
        w.field("reason", e.reason)
        w.field("requestDigest", e.requestDigest)
        w.field("responseCode", e.responseCode.rawValue)
        w.field("tokenID", e.tokenID)
        return w.finish()
    }
}

/// The store-and-forward queue in the same database: one row per owed message, in the
/// order queued (`seq`); a lease row per issuer.
extension SQLiteStore: OwedMessageStore {
    static func enqueue(_ db: Database, _ m: OwedMessage) throws -> Bool {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO owed (id, issuer_id, kind, state, queued_at, doc) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [m.id, m.issuerID, m.kind.rawValue, m.state.rawValue, m.queuedAt.timeIntervalSince1970, try doc(m)])
        return db.changesCount == 1
    }

    public func enqueue(_ message: OwedMessage) async throws -> Bool {
        try await groupCommit.writeOneStatement { db in try Self.enqueue(db, message) }
    }

    public func issuersOwed() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT issuer_id FROM owed WHERE state = 'queued'")) }
    }

    public func queued(issuerID: String, limit: Int) async throws -> [OwedMessage] {
        try await pool.read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT doc FROM owed WHERE issuer_id = ? AND state = 'queued' ORDER BY seq LIMIT ?"),
                                arguments: [issuerID, limit]).map { try Self.value(OwedMessage.self, $0) }
        }
    }

    public func update(_ message: OwedMessage) async throws {
        let doc = try Self.doc(message)
        try await groupCommit.writeOneStatement { db in
            try db.cachedStatement(sql: "UPDATE owed SET state = ?, doc = ? WHERE id = ?").execute(arguments: [message.state.rawValue, doc, message.id])
        }
    }

    public func lease(issuerID: String, node: String, until: Date, now: Date) async throws -> Bool {
        try await groupCommit.writeOneStatement { db in
            try db.cachedStatement(sql: """
                INSERT INTO forwarding_leases (issuer_id, node, until) VALUES (?, ?, ?)
                ON CONFLICT (issuer_id) DO UPDATE SET node = excluded.node, until = excluded.until
                WHERE forwarding_leases.node = excluded.node OR forwarding_leases.until < ?
                """).execute(arguments: [issuerID, node, until.timeIntervalSince1970, now.timeIntervalSince1970])
            return db.changesCount == 1
        }
    }

    public func owed(id: String) async throws -> OwedMessage? {
        try await pool.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT doc FROM owed WHERE id = ?"), arguments: [id]).map { try Self.value(OwedMessage.self, $0) }
        }
    }

    public func depths() async throws -> [QueueDepth] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT issuer_id, kind, SUM(state = 'queued') AS queued, MIN(CASE WHEN state = 'queued' THEN queued_at END) AS oldest,
                       SUM(state = 'expired') AS expired, SUM(state = 'delivered') AS delivered
                FROM owed GROUP BY issuer_id, kind ORDER BY issuer_id, kind
                """).map { row in
                let oldest: Double? = row["oldest"], kind: String = row["kind"]
                return QueueDepth(issuerID: row["issuer_id"], kind: OwedMessage.Kind(rawValue: kind) ?? .reversal, queued: row["queued"], oldestQueuedAt: oldest.map(Date.init(timeIntervalSince1970:)),
                                  expired: row["expired"], delivered: row["delivered"])
            }
        }
    }
}
