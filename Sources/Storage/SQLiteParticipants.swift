import Foundation
import GRDB
import Participants

extension SQLiteStore: ParticipantStore {
    public func saveIssuer(_ issuer: Issuer) async throws { try await saveIssuer(issuer, walletEvents: []) }

    public func issuer(id: String) async throws -> Issuer? { try await one(Issuer.self, "SELECT doc FROM issuers WHERE id = ?", [id]) }
    public func issuers() async throws -> [Issuer] { try await all(Issuer.self, "SELECT doc FROM issuers ORDER BY id") }
    public func saveWallet(_ wallet: Wallet) async throws { try await put("INSERT OR REPLACE INTO wallets (id, doc) VALUES (?, ?)", [wallet.id, try Self.doc(wallet)]) }
    public func wallet(id: String) async throws -> Wallet? { try await one(Wallet.self, "SELECT doc FROM wallets WHERE id = ?", [id]) }
    public func wallets() async throws -> [Wallet] { try await all(Wallet.self, "SELECT doc FROM wallets ORDER BY id") }
    public func saveMarket(_ market: Market) async throws { try await put("INSERT OR REPLACE INTO markets (country, doc) VALUES (?, ?)", [market.country, try Self.doc(market)]) }
    public func market(country: String) async throws -> Market? { try await one(Market.self, "SELECT doc FROM markets WHERE country = ?", [country]) }
    public func markets() async throws -> [Market] { try await all(Market.self, "SELECT doc FROM markets ORDER BY country") }
    public func updateMarketSweep(country: String, _ sweep: Market.Sweep) async throws -> Bool {
        let doc = try Self.doc(sweep)
        return try await pool.write { db in
            try db.execute(sql: "UPDATE markets SET doc = json_set(doc, '$.sweep', json(?)) WHERE country = ? AND json_extract(doc, '$.sweep.id') = ?",
                           arguments: [doc, country, sweep.id])
            return db.changesCount == 1
        }
    }
    public func saveMarketKeepingSweep(_ market: Market) async throws {
        let doc = try Self.doc(market)
        try await pool.write { db in
            try db.execute(sql: "UPDATE markets SET doc = json_set(?, '$.sweep', json(json_extract(doc, '$.sweep'))) WHERE country = ?",
                           arguments: [doc, market.country])
        }
    }
    public func saveAcquirer(_ acquirer: Acquirer) async throws {
        try await put("INSERT OR REPLACE INTO acquirers (id, doc) VALUES (?, ?)", [acquirer.id, try Self.doc(acquirer)])
    }
    public func acquirer(id: String) async throws -> Acquirer? { try await one(Acquirer.self, "SELECT doc FROM acquirers WHERE id = ?", [id]) }
    public func acquirers() async throws -> [Acquirer] { try await all(Acquirer.self, "SELECT doc FROM acquirers ORDER BY id") }

    // MARK: Credentials

    public func saveCredential(hash: String, participant: Participant) async throws {
        let actor = participant.actor
        try await put("INSERT INTO credentials (hash, kind, participant_id) VALUES (?, ?, ?)", [hash, actor.kind.rawValue, actor.id])
    }

    public func participant(credentialHash: String) async throws -> Participant? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT kind, participant_id FROM credentials WHERE hash = ?", arguments: [credentialHash]) else { return nil }
            let kind: String = row["kind"], id: String = row["participant_id"]
            return Actor.Kind(rawValue: kind).flatMap { Participant(Actor(kind: $0, id: id)) }
        }
    }

    public func credentials() async throws -> [(hash: String, participant: Participant)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT hash, kind, participant_id FROM credentials ORDER BY kind, participant_id, hash").compactMap { row in
                let hash: String = row["hash"], kind: String = row["kind"], id: String = row["participant_id"]
                return Actor.Kind(rawValue: kind).flatMap { Participant(Actor(kind: $0, id: id)) }.map { (hash, $0) }
            }
        }
    }

    public func deleteCredential(hash: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM credentials WHERE hash = ?", arguments: [hash])
            return db.changesCount == 1
        }
    }

    // MARK: The operator's audit trail

    public func appendOperatorAudit(_ entry: OperatorAuditEntry) async throws {
        try await put("INSERT INTO operator_audit (at, doc) VALUES (?, ?)", [entry.at.timeIntervalSince1970, try Self.doc(entry)])
    }
    public func operatorAudit(after seq: Int64, limit: Int) async throws -> [OperatorAuditEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, doc FROM operator_audit WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, max(limit, 0)]).map { row in
                let doc: String = row["doc"]
                var entry = try Self.value(OperatorAuditEntry.self, doc)
                entry.seq = row["seq"]
                return entry
            }
        }
    }

    // MARK: Console sessions

    public func saveConsoleSession(key: String, _ session: ConsoleSession) async throws {
        try await put("INSERT OR REPLACE INTO console_sessions (key, last_seen, created, doc) VALUES (?, ?, ?, ?)",
                      [key, session.lastSeen.timeIntervalSince1970, session.created.timeIntervalSince1970, try Self.doc(session)])
    }
    public func consoleSession(key: String) async throws -> ConsoleSession? {
        try await one(ConsoleSession.self, "SELECT doc FROM console_sessions WHERE key = ?", [key])
    }
    public func deleteConsoleSession(key: String) async throws { try await put("DELETE FROM console_sessions WHERE key = ?", [key]) }
    public func deleteConsoleSessions(idleBefore: Date, openedBefore: Date) async throws {
        try await put("DELETE FROM console_sessions WHERE last_seen <= ? OR created <= ?",
                      [idleBefore.timeIntervalSince1970, openedBefore.timeIntervalSince1970])
    }

    // MARK: Assets and wallet events

    public func saveAsset(_ asset: Asset) async throws {
        try await put("INSERT OR IGNORE INTO assets (id, issuer_id, content_type, bytes, created) VALUES (?, ?, ?, ?, ?)",
                      [asset.id, asset.issuerID, asset.contentType, Data(asset.bytes), asset.createdAt.timeIntervalSince1970])
    }

    public func asset(id: String) async throws -> Asset? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, issuer_id, content_type, bytes, created FROM assets WHERE id = ?", arguments: [id]) else { return nil }
            let bytes: Data = row["bytes"], created: Double = row["created"]
            return Asset(id: row["id"], issuerID: row["issuer_id"], contentType: row["content_type"], bytes: Array(bytes),
                         createdAt: Date(timeIntervalSince1970: created))
        }
    }

    public func saveIssuer(_ issuer: Issuer, walletEvents: [WalletEvent]) async throws {
        let doc = try Self.doc(issuer)
        let events = try walletEvents.map { ($0.walletID, try Self.doc($0)) }
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO issuers (id, doc) VALUES (?, ?)", arguments: [issuer.id, doc])
            for (wallet, event) in events {
                try db.execute(sql: "INSERT INTO wallet_events (wallet_id, doc) VALUES (?, ?)", arguments: [wallet, event])
            }
        }
    }

    public func walletEvents(walletID: String, after seq: Int64, limit: Int) async throws -> [WalletEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, doc FROM wallet_events WHERE wallet_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                             arguments: [walletID, seq, limit]).compactMap { row in
                let doc: String = row["doc"]
                var event = try Self.value(WalletEvent.self, doc)
                event.seq = row["seq"]
                return event
            }
        }
    }
}
