import Foundation
import Logging
import NetworkSwitch
import PostgresNIO
import PostgresSupport

/// The network's journal on PostgreSQL: the key is the primary key, so a claim is taken
/// once by one node; the claim and its ATC are one statement (prepared).
extension PostgresStore: AuthorizationJournal {
    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date) async throws -> JournalClaim {
        let rows = try await database.client.execute(ClaimJournalKey(key: key.description, digest: requestDigest, at: at), logger: logger)
        for try await (won, digest, doc) in rows {
            if won { return .claimed }
            if let doc { return .answered(try Self.value(JournalEntry.self, doc)) }
            return .pending(requestDigest: digest)
        }
        return .pending(requestDigest: requestDigest)
    }

    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String,
                      ifLost: ReversalIfLost?) async throws -> (claim: JournalClaim, atcFresh: Bool, highestSpent: UInt16?) {
        let rows = try await database.client.execute(ClaimJournalKeySpendingATC(key: key.description, digest: requestDigest, at: at,
                                                                                 tokenID: tokenID, atc: Int32(atc), lostIssuer: ifLost?.issuerID,
                                                                                 lostReversal: ifLost?.sealed), logger: logger)
        for try await (won, digest, doc, fresh, highest) in rows {
            if won { return (.claimed, fresh, highest.flatMap { UInt16(exactly: $0) }) }
            if let doc { return (.answered(try Self.value(JournalEntry.self, doc)), false, nil) }
            return (.pending(requestDigest: digest), false, nil)
        }
        return (.pending(requestDigest: requestDigest), false, nil)
    }

    public func complete(_ entry: JournalEntry, owing: OwedMessage?, standIn spend: StandInSpend?) async throws {
        let doc = try Self.doc(entry)
        // A pending claim is answered, a new key inserted; an answered entry is never replaced.
        let answer: PostgresQuery = """
            INSERT INTO journal (key, request_digest, state, claimed_at, response_code, doc)
            VALUES (\(entry.key), \(entry.requestDigest), 'answered', \(entry.at), \(entry.responseCode.rawValue), \(doc)::jsonb)
            ON CONFLICT (key) DO UPDATE SET state = 'answered', response_code = EXCLUDED.response_code, doc = EXCLUDED.doc, lost_reversal = NULL
            WHERE journal.doc IS NULL
            RETURNING 1
            """
        guard owing != nil || spend != nil else {
            if try await Self.count(database.client.query(answer, logger: logger)) == 0 { throw JournalError.alreadyAnswered(key: entry.key) }
            return
        }
        let owed = try owing.map { try Self.doc($0) }
        let logger = self.logger
        try await database.transaction { connection in
            if let spend {
                let taken = try await Self.count(connection.query("""
                    INSERT INTO stand_in_usage (token_id, day, count, amount)
                    SELECT \(spend.tokenID), \(spend.day), 1, \(spend.amountMinor) WHERE 1 <= \(spend.maxCount) AND \(spend.amountMinor) <= \(spend.maxAmountMinor)
                    ON CONFLICT (token_id, day) DO UPDATE SET count = stand_in_usage.count + 1, amount = stand_in_usage.amount + EXCLUDED.amount
                    WHERE stand_in_usage.count + 1 <= \(spend.maxCount) AND stand_in_usage.amount + EXCLUDED.amount <= \(spend.maxAmountMinor)
                    RETURNING 1
                    """, logger: logger))
                if taken == 0 {
                    let count = try await connection.query("SELECT count FROM stand_in_usage WHERE token_id = \(spend.tokenID) AND day = \(spend.day)",
                                                           logger: logger).first(Int32.self) ?? 0
                    throw JournalError.standInAllowanceExhausted(countReached: Int(count) >= spend.maxCount)
                }
            }
            if try await Self.count(connection.query(answer, logger: logger)) == 0 { throw JournalError.alreadyAnswered(key: entry.key) }
            if let owing, let owed { try await connection.query(Self.enqueue(owing, doc: owed), logger: logger) }
        }
    }

    public func forget(unanswered key: String) async throws -> Bool {
        try await Self.count(database.client.query("DELETE FROM journal WHERE key = \(key) AND doc IS NULL RETURNING 1", logger: logger)) == 1
    }

    public func entries(after: String?, limit: Int) async throws -> [JournalEntry] {
        try await all(JournalEntry.self, """
            SELECT doc::text FROM journal WHERE key COLLATE "C" > \(after ?? "") AND doc IS NOT NULL ORDER BY key COLLATE "C" LIMIT \(limit)
            """)
    }

    public func unanswered(claimedBefore: Date, limit: Int) async throws -> [UnansweredClaim] {
        let rows = try await database.client.query("""
            SELECT key, request_digest, claimed_at, lost_issuer, lost_reversal FROM journal
            WHERE doc IS NULL AND claimed_at < \(claimedBefore) ORDER BY claimed_at LIMIT \(limit)
            """, logger: logger)
        var claims: [UnansweredClaim] = []
        for try await (key, digest, at, issuer, sealed) in rows.decode((String, String, Date, String?, Data?).self) {
            claims.append(UnansweredClaim(key: key, requestDigest: digest, claimedAt: at,
                                          ifLost: issuer.flatMap { issuer in sealed.map { ReversalIfLost(id: OwedMessage.reversalID(key), issuerID: issuer, sealed: $0) } }))
        }
        return claims
    }

    public func entry(_ key: AuthorizationKey) async throws -> JournalEntry? {
        try await one(JournalEntry.self, "SELECT doc::text FROM journal WHERE key = \(key.description)")
    }

    public func isPending(_ key: AuthorizationKey) async throws -> Bool {
        try await database.client.query("SELECT 1 FROM journal WHERE key = \(key.description) AND doc IS NULL", logger: logger).first(Int.self) != nil
    }
}

// MARK: Prepared statements of the authorization path

struct CardByFingerprint: PostgresPreparedStatement {
    static let sql = "SELECT doc::text FROM cards WHERE fingerprint = $1"
    typealias Row = String
    var fingerprint: String
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(fingerprint); return b }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

struct CardByID: PostgresPreparedStatement {
    static let sql = "SELECT doc::text FROM cards WHERE id = $1"
    typealias Row = String
    var id: String
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(id); return b }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

struct TokenByNumber: PostgresPreparedStatement {
    static let sql = "SELECT doc::text FROM tokens WHERE number_fingerprint = $1"
    typealias Row = String
    var fingerprint: String
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(fingerprint); return b }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

/// Returns a row only when this call inserted the pair.
struct RecordATC: PostgresPreparedStatement {
    static let sql = "INSERT INTO used_atcs (token_id, atc) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1"
    typealias Row = Int32
    var tokenID: String
    var atc: Int32
    func makeBindings() throws -> PostgresBindings { var b = PostgresBindings(); b.append(tokenID); b.append(atc); return b }
    func decodeRow(_ row: PostgresRow) throws -> Int32 { try row.decode(Int32.self) }
}

/// Claims a journal key in one round trip: (true, …) when this call inserted it, else
/// the row that was there (its digest and, once answered, its entry).
struct ClaimJournalKey: PostgresPreparedStatement {
    static let sql = """
        WITH inserted AS (
            INSERT INTO journal (key, request_digest, state, claimed_at) VALUES ($1, $2, 'pending', $3)
            ON CONFLICT (key) DO NOTHING RETURNING key)
        SELECT TRUE, $2::text, NULL::text FROM inserted
        UNION ALL
        SELECT FALSE, request_digest, doc::text FROM journal WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
        """
    typealias Row = (Bool, String, String?)
    var key: String
    var digest: String
    var at: Date
    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(); b.append(key); b.append(digest); b.append(at); return b
    }
    func decodeRow(_ row: PostgresRow) throws -> (Bool, String, String?) { try row.decode((Bool, String, String?).self) }
}

/// `ClaimJournalKey`, and when the key was inserted the token's ATC too, in the same
/// statement (one round trip, one commit): the fourth column says whether the ATC was new.
struct ClaimJournalKeySpendingATC: PostgresPreparedStatement {
    static let sql = """
        WITH inserted AS (
            INSERT INTO journal (key, request_digest, state, claimed_at, lost_issuer, lost_reversal) VALUES ($1, $2, 'pending', $3, $6, $7)
            ON CONFLICT (key) DO NOTHING RETURNING key),
        spent AS (
            INSERT INTO used_atcs (token_id, atc) SELECT $4, $5 FROM inserted
            ON CONFLICT DO NOTHING RETURNING 1)
        SELECT TRUE, $2::text, NULL::text, EXISTS (SELECT 1 FROM spent), (SELECT MAX(atc) FROM used_atcs WHERE token_id = $4)::int4 FROM inserted
        UNION ALL
        SELECT FALSE, request_digest, doc::text, FALSE, NULL::int4 FROM journal WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
        """
    typealias Row = (Bool, String, String?, Bool, Int32?)
    var key: String
    var digest: String
    var at: Date
    var tokenID: String
    var atc: Int32
    var lostIssuer: String?
    var lostReversal: Data?
    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(); b.append(key); b.append(digest); b.append(at); b.append(tokenID); b.append(atc)
        b.append(lostIssuer); b.append(lostReversal.map { ByteBuffer(bytes: $0) })
        return b
    }
    func decodeRow(_ row: PostgresRow) throws -> (Bool, String, String?, Bool, Int32?) { try row.decode((Bool, String, String?, Bool, Int32?).self) }
}

extension AsyncSequence where Self: Sendable, Element: Sendable {
    /// The first element, or nil.
    func firstElement() async throws -> Element? {
        for try await element in self { return element }
        return nil
    }
}

/// The store-and-forward queue in the same schema: one row per owed message, in the order
/// queued (`seq`); a lease row per issuer, so that one node at a time forwards its queue.
extension PostgresStore: OwedMessageStore {
    static func enqueue(_ m: OwedMessage, doc: String) -> PostgresQuery {
        """
        INSERT INTO owed (id, issuer_id, kind, state, queued_at, doc)
        VALUES (\(m.id), \(m.issuerID), \(m.kind.rawValue), \(m.state.rawValue), \(m.queuedAt), \(doc)::jsonb)
        ON CONFLICT (id) DO NOTHING RETURNING 1
        """
    }

    public func enqueue(_ message: OwedMessage) async throws -> Bool {
        try await Self.count(database.client.query(Self.enqueue(message, doc: try Self.doc(message)), logger: logger)) == 1
    }

    public func issuersOwed() async throws -> [String] {
        try await database.client.query("SELECT DISTINCT issuer_id FROM owed WHERE state = 'queued'", logger: logger).all(String.self)
    }

    public func queued(issuerID: String, limit: Int) async throws -> [OwedMessage] {
        try await all(OwedMessage.self, "SELECT doc::text FROM owed WHERE issuer_id = \(issuerID) AND state = 'queued' ORDER BY seq LIMIT \(limit)")
    }

    public func update(_ message: OwedMessage) async throws {
        try await run("UPDATE owed SET state = \(message.state.rawValue), doc = \(try Self.doc(message))::jsonb WHERE id = \(message.id)")
    }

    public func lease(issuerID: String, node: String, until: Date, now: Date) async throws -> Bool {
        try await Self.count(database.client.query("""
            INSERT INTO forwarding_leases (issuer_id, node, until) VALUES (\(issuerID), \(node), \(until))
            ON CONFLICT (issuer_id) DO UPDATE SET node = EXCLUDED.node, until = EXCLUDED.until
            WHERE forwarding_leases.node = EXCLUDED.node OR forwarding_leases.until < \(now)
            RETURNING 1
            """, logger: logger)) == 1
    }

    public func owed(id: String) async throws -> OwedMessage? {
        try await one(OwedMessage.self, "SELECT doc::text FROM owed WHERE id = \(id)")
    }

    public func depths() async throws -> [QueueDepth] {
        let rows = try await database.client.query("""
            SELECT issuer_id, kind, COUNT(*) FILTER (WHERE state = 'queued')::int8, MIN(queued_at) FILTER (WHERE state = 'queued'),
                   COUNT(*) FILTER (WHERE state = 'expired')::int8, COUNT(*) FILTER (WHERE state = 'delivered')::int8
            FROM owed GROUP BY issuer_id, kind ORDER BY issuer_id, kind
            """, logger: logger)
        var depths: [QueueDepth] = []
        for try await (issuer, kind, queued, oldest, expired, delivered) in rows.decode((String, String, Int64, Date?, Int64, Int64).self) {
            depths.append(QueueDepth(issuerID: issuer, kind: OwedMessage.Kind(rawValue: kind) ?? .reversal, queued: Int(queued), oldestQueuedAt: oldest, expired: Int(expired),
                                     delivered: Int(delivered)))
        }
        return depths
    }
}
