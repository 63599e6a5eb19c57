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

    public func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String) async throws
        -> (claim: JournalClaim, atcFresh: Bool, highestSpent: UInt16?) {
        let rows = try await database.client.execute(ClaimJournalKeySpendingATC(key: key.description, digest: requestDigest, at: at,
                                                                                 tokenID: tokenID, atc: Int32(atc)), logger: logger)
        for try await (won, digest, doc, fresh, highest) in rows {
            if won { return (.claimed, fresh, highest.flatMap { UInt16(exactly: $0) }) }
            if let doc { return (.answered(try Self.value(JournalEntry.self, doc)), false, nil) }
            return (.pending(requestDigest: digest), false, nil)
        }
        return (.pending(requestDigest: requestDigest), false, nil)
    }

    public func complete(_ entry: JournalEntry) async throws {
        let doc = try Self.doc(entry)
        // A pending claim is answered, a new key inserted; an answered entry is never replaced.
        let rows = try await database.client.query("""
            INSERT INTO journal (key, request_digest, state, claimed_at, response_code, doc)
            VALUES (\(entry.key), \(entry.requestDigest), 'answered', \(entry.at), \(entry.responseCode.rawValue), \(doc)::jsonb)
            ON CONFLICT (key) DO UPDATE SET state = 'answered', response_code = EXCLUDED.response_code, doc = EXCLUDED.doc
            WHERE journal.doc IS NULL
            RETURNING 1
            """, logger: logger)
        var written = false
        for try await _ in rows { written = true }
        if !written { throw JournalError.alreadyAnswered(key: entry.key) }
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
            INSERT INTO journal (key, request_digest, state, claimed_at) VALUES ($1, $2, 'pending', $3)
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
    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(); b.append(key); b.append(digest); b.append(at); b.append(tokenID); b.append(atc); return b
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
