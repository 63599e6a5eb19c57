import Foundation
import GRDB
import NetworkSwitch
import PostgresNIO

/// The operator's exchange rates: one row per currency and effective time, never updated.
extension SQLiteStore: ExchangeRateStore {
    public func exchangeRates() async throws -> [ExchangeRateEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT currency, effective_at, micro_units, loaded_at FROM exchange_rates ORDER BY currency, effective_at").map {
                ExchangeRateEntry(currency: $0[0], microUnitsPerUSD: $0[2], effectiveAt: RateTime.date($0[1]), loadedAt: RateTime.date($0[3]))
            }
        }
    }

    public func addExchangeRates(_ entries: [ExchangeRateEntry]) async throws -> (added: Int, unchanged: Int) {
        try await groupCommit.write { db in
            var added = 0, unchanged = 0
            for e in entries {
                let at = RateTime.millis(e.effectiveAt)
                if let there = try Int64.fetchOne(db, sql: "SELECT micro_units FROM exchange_rates WHERE currency = ? AND effective_at = ?",
                                                  arguments: [e.currency, at]) {
                    guard there == e.microUnitsPerUSD else { throw ExchangeRateConflict(currency: e.currency, effectiveAt: e.effectiveAt) }
                    unchanged += 1
                    continue
                }
                try db.execute(sql: "INSERT INTO exchange_rates (currency, effective_at, micro_units, loaded_at) VALUES (?, ?, ?, ?)",
                               arguments: [e.currency, at, e.microUnitsPerUSD, RateTime.millis(e.loadedAt)])
                added += 1
            }
            return (added, unchanged)
        }
    }
}

extension PostgresStore: ExchangeRateStore {
    public func exchangeRates() async throws -> [ExchangeRateEntry] {
        var entries: [ExchangeRateEntry] = []
        for try await (currency, at, micro, loaded) in try await database.client.query(
            "SELECT currency, effective_at, micro_units, loaded_at FROM exchange_rates ORDER BY currency, effective_at", logger: logger
        ).decode((String, Int64, Int64, Int64).self) {
            entries.append(ExchangeRateEntry(currency: currency, microUnitsPerUSD: micro, effectiveAt: RateTime.date(at), loadedAt: RateTime.date(loaded)))
        }
        return entries
    }

    /// In one transaction; the other nodes hear "exchange-rates" when it commits.
    public func addExchangeRates(_ entries: [ExchangeRateEntry]) async throws -> (added: Int, unchanged: Int) {
        let (logger, channel) = (self.logger, changeChannel)
        return try await database.transaction { connection in
            var added = 0, unchanged = 0
            for e in entries {
                let at = RateTime.millis(e.effectiveAt)
                let inserted = try await connection.query("""
                    INSERT INTO exchange_rates (currency, effective_at, micro_units, loaded_at)
                    VALUES (\(e.currency), \(at), \(e.microUnitsPerUSD), \(RateTime.millis(e.loadedAt)))
                    ON CONFLICT (currency, effective_at) DO NOTHING RETURNING 1
                    """, logger: logger).collect().count
                if inserted == 1 { added += 1; continue }
                let there = try await connection.query("SELECT micro_units FROM exchange_rates WHERE currency = \(e.currency) AND effective_at = \(at)",
                                                       logger: logger).collect().first?.decode(Int64.self)
                guard there == e.microUnitsPerUSD else { throw ExchangeRateConflict(currency: e.currency, effectiveAt: e.effectiveAt) }
                unchanged += 1
            }
            if added > 0 { try await Self.announce(connection, channel: channel, "exchange-rates", logger: logger) }
            return (added, unchanged)
        }
    }
}
