import Foundation
import Participants
import PostgresNIO
import PostgresSupport

extension PostgresStore: ParticipantStore {
    public func saveIssuer(_ issuer: Issuer) async throws { try await saveIssuer(issuer, walletEvents: []) }

    public func issuer(id: String) async throws -> Issuer? { try await one(Issuer.self, "SELECT doc::text FROM issuers WHERE id = \(id)") }
    public func issuers() async throws -> [Issuer] { try await all(Issuer.self, "SELECT doc::text FROM issuers ORDER BY id") }
    public func saveWallet(_ wallet: Wallet) async throws {
        try await run("INSERT INTO wallets (id, doc) VALUES (\(wallet.id), \(try Self.doc(wallet))::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc")
    }
    public func wallet(id: String) async throws -> Wallet? { try await one(Wallet.self, "SELECT doc::text FROM wallets WHERE id = \(id)") }
    public func wallets() async throws -> [Wallet] { try await all(Wallet.self, "SELECT doc::text FROM wallets ORDER BY id") }
    /// Saved and announced: every node's authorization path declines a suspended market's
    /// tokens as soon as it hears.
    public func saveMarket(_ market: Market) async throws {
        let doc = try Self.doc(market)
        let (logger, channel) = (self.logger, changeChannel)
        try await database.transaction { connection in
            try await connection.query("""
                INSERT INTO markets (country, doc) VALUES (\(market.country), \(doc)::jsonb) ON CONFLICT (country) DO UPDATE SET doc = EXCLUDED.doc
                """, logger: logger)
            try await Self.announce(connection, channel: channel, "market", logger: logger)
        }
    }
    public func market(country: String) async throws -> Market? { try await one(Market.self, "SELECT doc::text FROM markets WHERE country = \(country)") }
    public func markets() async throws -> [Market] { try await all(Market.self, "SELECT doc::text FROM markets ORDER BY country") }
    public func updateMarketSweep(country: String, _ sweep: Market.Sweep) async throws -> Bool {
        try await Self.count(try await database.client.query("""
            UPDATE markets SET doc = jsonb_set(doc, '{sweep}', \(try Self.doc(sweep))::jsonb)
            WHERE country = \(country) AND doc->'sweep'->>'id' = \(sweep.id) RETURNING 1
            """, logger: logger)) == 1
    }
    public func saveMarketKeepingSweep(_ market: Market) async throws {
        let doc = try Self.doc(market)
        let (logger, channel) = (self.logger, changeChannel)
        try await database.transaction { connection in
            try await connection.query("""
                UPDATE markets SET doc = jsonb_set(\(doc)::jsonb, '{sweep}', COALESCE(doc->'sweep', 'null'::jsonb)) WHERE country = \(market.country)
                """, logger: logger)
            try await Self.announce(connection, channel: channel, "market", logger: logger)
        }
    }
    public func saveAcquirer(_ acquirer: Acquirer) async throws {
        try await run("INSERT INTO acquirers (id, doc) VALUES (\(acquirer.id), \(try Self.doc(acquirer))::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc")
    }
    public func acquirer(id: String) async throws -> Acquirer? { try await one(Acquirer.self, "SELECT doc::text FROM acquirers WHERE id = \(id)") }
    public func acquirers() async throws -> [Acquirer] { try await all(Acquirer.self, "SELECT doc::text FROM acquirers ORDER BY id") }

    // Credentials

    public func saveCredential(hash: String, participant: Participant) async throws {
        let actor = participant.actor
        do {
            try await run("INSERT INTO credentials (hash, kind, participant_id) VALUES (\(hash), \(actor.kind.rawValue), \(actor.id))")
        } catch where error.isUniqueViolation {
            throw StoreError.duplicate("credential")
        }
    }

    public func participant(credentialHash: String) async throws -> Participant? {
        let rows = try await database.client.query("SELECT kind, participant_id FROM credentials WHERE hash = \(credentialHash)", logger: logger)
        for try await (kind, id) in rows.decode((String, String).self) {
            return Actor.Kind(rawValue: kind).flatMap { Participant(Actor(kind: $0, id: id)) }
        }
        return nil
    }

    public func credentials() async throws -> [(hash: String, participant: Participant)] {
        let rows = try await database.client.query("SELECT hash, kind, participant_id FROM credentials ORDER BY kind, participant_id, hash", logger: logger)
        var out: [(hash: String, participant: Participant)] = []
        for try await (hash, kind, id) in rows.decode((String, String, String).self) {
            if let participant = Actor.Kind(rawValue: kind).flatMap({ Participant(Actor(kind: $0, id: id)) }) { out.append((hash, participant)) }
        }
        return out
    }

    public func deleteCredential(hash: String) async throws -> Bool {
        let rows = try await database.client.query("DELETE FROM credentials WHERE hash = \(hash) RETURNING 1", logger: logger)
        var deleted = false
        for try await _ in rows { deleted = true }
        return deleted
    }

    // MARK: The operator's audit trail

    public func appendOperatorAudit(_ entry: OperatorAuditEntry) async throws {
        try await run("INSERT INTO operator_audit (at, doc) VALUES (\(entry.at), \(try Self.doc(entry))::jsonb)")
    }
    public func operatorAudit(after seq: Int64, limit: Int) async throws -> [OperatorAuditEntry] {
        let rows = try await database.client.query("""
            SELECT seq, doc::text FROM operator_audit WHERE seq > \(seq) ORDER BY seq LIMIT \(max(limit, 0))
            """, logger: logger)
        var entries: [OperatorAuditEntry] = []
        for try await (seq, doc) in rows.decode((Int64, String).self) {
            var entry = try Self.value(OperatorAuditEntry.self, doc)
            entry.seq = seq
            entries.append(entry)
        }
        return entries
    }

    // MARK: Console sessions

    public func saveConsoleSession(key: String, _ session: ConsoleSession) async throws {
        try await run("""
            INSERT INTO console_sessions (key, last_seen, created, doc) VALUES (\(key), \(session.lastSeen), \(session.created), \(try Self.doc(session))::jsonb)
            ON CONFLICT (key) DO UPDATE SET last_seen = EXCLUDED.last_seen, created = EXCLUDED.created, doc = EXCLUDED.doc
            """)
    }
    public func consoleSession(key: String) async throws -> ConsoleSession? {
        try await one(ConsoleSession.self, "SELECT doc::text FROM console_sessions WHERE key = \(key)")
    }
    public func deleteConsoleSession(key: String) async throws { try await run("DELETE FROM console_sessions WHERE key = \(key)") }
    public func deleteConsoleSessions(idleBefore: Date, openedBefore: Date) async throws {
        try await run("DELETE FROM console_sessions WHERE last_seen <= \(idleBefore) OR created <= \(openedBefore)")
    }

    // MARK: Assets and wallet events

    public func saveAsset(_ asset: Asset) async throws {
        try await run("""
            INSERT INTO assets (id, issuer_id, content_type, bytes, created)
            VALUES (\(asset.id), \(asset.issuerID), \(asset.contentType), \(Data(asset.bytes)), \(asset.createdAt)) ON CONFLICT (id) DO NOTHING
            """)
    }

    public func asset(id: String) async throws -> Asset? {
        let rows = try await database.client.query("SELECT id, issuer_id, content_type, bytes, created FROM assets WHERE id = \(id)", logger: logger)
        for try await (id, issuer, type, bytes, created) in rows.decode((String, String, String, Data, Date).self) {
            return Asset(id: id, issuerID: issuer, contentType: type, bytes: Array(bytes), createdAt: created)
        }
        return nil
    }

    public func saveIssuer(_ issuer: Issuer, walletEvents: [WalletEvent]) async throws {
        let doc = try Self.doc(issuer)
        let events = try walletEvents.map { ($0.walletID, try Self.doc($0)) }
        let (logger, channel) = (self.logger, changeChannel)
        try await database.transaction { connection in
            try await connection.query("""
                INSERT INTO issuers (id, doc) VALUES (\(issuer.id), \(doc)::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc
                """, logger: logger)
            for (wallet, event) in events {
                try await connection.query("INSERT INTO wallet_events (wallet_id, doc) VALUES (\(wallet), \(event)::jsonb)", logger: logger)
            }
            try await Self.announce(connection, channel: channel, "issuer", logger: logger)
        }
    }

    public func walletEvents(walletID: String, after seq: Int64, limit: Int) async throws -> [WalletEvent] {
        let rows = try await database.client.query("""
            SELECT seq, doc::text FROM wallet_events WHERE wallet_id = \(walletID) AND seq > \(seq) ORDER BY seq LIMIT \(limit)
            """, logger: logger)
        var events: [WalletEvent] = []
        for try await (seq, doc) in rows.decode((Int64, String).self) {
            var event = try Self.value(WalletEvent.self, doc)
            event.seq = seq
            events.append(event)
        }
        return events
    }
}
