import Foundation
import GRDB
import Participants

extension SQLiteStore: ParticipantStore {
    public func saveIssuer(_ issuer: Issuer) async throws { try await put("INSERT OR REPLACE INTO issuers (id, doc) VALUES (?, ?)", [issuer.id, try Self.doc(issuer)]) }

    public func issuer(id: String) async throws -> Issuer? { try await one(Issuer.self, "SELECT doc FROM issuers WHERE id = ?", [id]) }
    public func issuers() async throws -> [Issuer] { try await all(Issuer.self, "SELECT doc FROM issuers ORDER BY id") }
    public func saveWallet(_ wallet: Wallet) async throws { try await put("INSERT OR REPLACE INTO wallets (id, doc) VALUES (?, ?)", [wallet.id, try Self.doc(wallet)]) }
    public func wallet(id: String) async throws -> Wallet? { try await one(Wallet.self, "SELECT doc FROM wallets WHERE id = ?", [id]) }
    public func wallets() async throws -> [Wallet] { try await all(Wallet.self, "SELECT doc FROM wallets ORDER BY id") }
    public func saveMarket(_ market: Market) async throws { try await put("INSERT OR REPLACE INTO markets (country, doc) VALUES (?, ?)", [market.country, try Self.doc(market)]) }
    public func market(country: String) async throws -> Market? { try await one(Market.self, "SELECT doc FROM markets WHERE country = ?", [country]) }
    public func markets() async throws -> [Market] { try await all(Market.self, "SELECT doc FROM markets ORDER BY country") }
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
}
