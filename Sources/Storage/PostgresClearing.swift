import Clearing
import Foundation
import NetworkSwitch
import Logging
import PostgresNIO

/// Clearing beside the journal on PostgreSQL: as on SQLite, one row per cleared
/// presentment, unique by its authorization's key, so that any number of nodes clear an
/// authorization once.
extension PostgresStore: ClearingStore {
    public func clearingFile(id: String) async throws -> ClearingFileResult? {
        try await one(ClearingFileResult.self, "SELECT doc::text FROM clearing_files WHERE file_id = \(id)")
    }

    public func clearable(_ keys: Set<ApprovalKey>) async throws -> [ApprovalKey: [ClearableAuthorization]] {
        guard !keys.isEmpty else { return [:] }
        let list = Array(keys)
        let tokens = list.map(\.tokenID), codes = list.map(\.approvalCode)
        let entries = try await all(JournalEntry.self, """
            SELECT doc::text FROM journal WHERE response_code = '00'
            AND (doc->>'tokenID', doc->>'approvalCode') IN (SELECT * FROM unnest(\(tokens)::text[], \(codes)::text[]))
            """)
        let keysFound = entries.map(\.key)
        let reversed = Set(try await database.client.query("""
            SELECT doc->>'original' FROM journal WHERE doc->>'original' = ANY(\(keysFound)::text[]) AND response_code = '00'
            """, logger: logger).all(String.self))
        var clearedBy: [String: String] = [:]
        for try await (key, id) in try await database.client.query("""
            SELECT authorization_key, id FROM presentments WHERE authorization_key = ANY(\(keysFound)::text[])
            """, logger: logger).decode((String, String).self) {
            clearedBy[key] = id
        }
        var found: [ApprovalKey: [ClearableAuthorization]] = [:]
        for e in entries {
            guard let a = ClearableAuthorization(e, reversed: reversed.contains(e.key), clearedBy: clearedBy[e.key]) else { continue }
            found[ApprovalKey(tokenID: a.tokenID, approvalCode: a.approvalCode), default: []].append(a)
        }
        return found
    }

    public func unclearedSingleMessages(from: Date, to: Date, limit: Int) async throws -> [ClearableAuthorization] {
        try await all(JournalEntry.self, """
            SELECT doc::text FROM journal j WHERE response_code = '00' AND doc->>'mti' = '0200' AND claimed_at >= \(from) AND claimed_at < \(to)
            AND NOT EXISTS (SELECT 1 FROM presentments p WHERE p.authorization_key = j.key)
            AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.doc->>'original' = j.key AND r.response_code = '00')
            ORDER BY claimed_at LIMIT \(limit)
            """).compactMap { ClearableAuthorization($0, reversed: false, clearedBy: nil) }
    }

    public func presentedReferences(acquirerID: String, _ references: Set<String>) async throws -> Set<String> {
        guard !references.isEmpty else { return [] }
        return Set(try await database.client.query("""
            SELECT acquirer_reference FROM presentments WHERE acquirer_id = \(acquirerID) AND acquirer_reference = ANY(\(Array(references))::text[])
            """, logger: logger).all(String.self))
    }

    public func record(_ file: ClearingFileResult?, cleared: [ClearedPresentment], lines: [SettlementLine], at: Date, nextCutOff: Date) async throws {
        let doc = file.map { ClearingDocuments.result($0, dates: .milliseconds) }
        let rows = try cleared.map { ($0, try ClearingDocuments.presentment($0)) }
        let logger = self.logger
        try await database.transaction { connection in
            if let file, let doc {
                let taken = try await Self.count(connection.query("""
                    INSERT INTO clearing_files (file_id, acquirer_id, received_at, doc) VALUES (\(file.fileID), \(file.acquirerID), \(file.receivedAt), \(doc)::jsonb)
                    ON CONFLICT DO NOTHING RETURNING 1
                    """, logger: logger))
                guard taken == 1 else { throw ClearingStoreError.duplicateFile(file.fileID) }
            }
            // A thousand rows a statement: a clash with any row already there (or another of
            // the same statement) leaves the count short.
            for start in stride(from: 0, to: rows.count, by: Self.rowsPerStatement) {
                let chunk = rows[start..<min(start + Self.rowsPerStatement, rows.count)]
                let inserted = try await Self.count(connection.query("""
                    INSERT INTO presentments (id, authorization_key, acquirer_id, acquirer_reference, issuer_id, currency, cleared_at, doc)
                    SELECT id, k, a, r, i, c, t, d::jsonb FROM unnest(\(chunk.map(\.0.id)), \(chunk.map(\.0.authorization)), \(chunk.map(\.0.acquirerID)),
                        \(chunk.map(\.0.acquirerReference)), \(chunk.map(\.0.issuerID)), \(chunk.map(\.0.currency)), \(chunk.map(\.0.clearedAt)),
                        \(chunk.map(\.1))) AS x(id, k, a, r, i, c, t, d)
                    ON CONFLICT DO NOTHING RETURNING 1
                    """, logger: logger))
                guard inserted == chunk.count else { throw ClearingStoreError.clearedMeanwhile }
            }
            try await Self.insert(connection, lines, at: at, nextCutOff: nextCutOff, logger: logger)
        }
    }

    /// Lines into the open windows of their currencies.
    static func insert(_ connection: PostgresConnection, _ lines: [SettlementLine], at: Date, nextCutOff: Date, logger: Logger) async throws {
        var windows: [String: String] = [:]
        for l in lines where windows[l.currency] == nil {
            windows[l.currency] = try await Self.openWindow(connection, currency: l.currency, at: at, nextCutOff: nextCutOff, logger: logger)
        }
        // In the order given (their sequence numbers keep it), a thousand a statement.
        for start in stride(from: 0, to: lines.count, by: rowsPerStatement) {
            let chunk = lines[start..<min(start + rowsPerStatement, lines.count)]
            try await connection.query("""
                INSERT INTO settlement_lines (window_id, participant, currency, amount, kind, source, presentments)
                SELECT w, p, c, a, k, s, m FROM unnest(\(chunk.map { windows[$0.currency] ?? "" }), \(chunk.map(\.participant)), \(chunk.map(\.currency)),
                    \(chunk.map(\.amountMinor)), \(chunk.map(\.kind.rawValue)), \(chunk.map(\.source)), \(chunk.map { Int64($0.presentments) }))
                    WITH ORDINALITY AS x(w, p, c, a, k, s, m, n)
                ORDER BY n
                """, logger: logger)
        }
    }

    /// Rows written by one INSERT … SELECT FROM unnest(…).
    static let rowsPerStatement = 1_000

    public func makeIssuerFile(_ file: IssuerFile, limit: Int) async throws -> IssuerFile {
        let logger = self.logger
        return try await database.transaction { connection in
            let count = try await Self.count(connection.query("""
                UPDATE presentments SET issuer_file_id = \(file.id) WHERE id IN (
                    SELECT id FROM presentments WHERE issuer_id = \(file.issuerID) AND issuer_file_id IS NULL ORDER BY cleared_at, id LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
                """, logger: logger))
            var made = file
            made.presentments = count
            let taken = try await Self.count(connection.query("""
                INSERT INTO issuer_files (file_id, issuer_id, created_at, doc) VALUES (\(made.id), \(made.issuerID), \(made.createdAt), \(try Self.doc(made))::jsonb)
                ON CONFLICT DO NOTHING RETURNING 1
                """, logger: logger))
            guard taken == 1 else { throw ClearingStoreError.duplicateFile(file.id) }
            return made
        }
    }

    public func issuerFile(id: String) async throws -> IssuerFile? {
        try await one(IssuerFile.self, "SELECT doc::text FROM issuer_files WHERE file_id = \(id)")
    }

    public func issuerFileCount(issuerID: String, since: Date) async throws -> Int {
        Int(try await database.client.query("SELECT COUNT(*) FROM issuer_files WHERE issuer_id = \(issuerID) AND created_at >= \(since)",
                                            logger: logger).all(Int64.self).first ?? 0)
    }

    public func presentments(issuerFile id: String) async throws -> [ClearedPresentment] {
        try await all(ClearedPresentment.self, "SELECT doc::text FROM presentments WHERE issuer_file_id = \(id) ORDER BY cleared_at, id")
    }

    public func presentment(id: String) async throws -> ClearedPresentment? {
        try await one(ClearedPresentment.self, "SELECT doc::text FROM presentments WHERE id = \(id)")
    }

    public func updatePresentment(_ p: ClearedPresentment, expected: PresentmentState, lines: [SettlementLine], at: Date, nextCutOff: Date) async throws {
        let doc = try Self.doc(p)
        let logger = self.logger
        try await database.transaction { connection in
            let changed = try await Self.count(connection.query("""
                UPDATE presentments SET state = \(p.disputeState.rawValue), doc = \(doc)::jsonb WHERE id = \(p.id) AND state = \(expected.rawValue) RETURNING 1
                """, logger: logger))
            guard changed == 1 else { throw ClearingStoreError.clearedMeanwhile }
            try await Self.insert(connection, lines, at: at, nextCutOff: nextCutOff, logger: logger)
        }
    }

    /// The open window of `currency` (locked against closing until this transaction ends),
    /// one past its cut-off closed first, a new one opened when none is.
    static func openWindow(_ connection: PostgresConnection, currency: String, at: Date, nextCutOff: Date, logger: Logger) async throws -> String {
        try await closeDue(connection, at: at, logger: logger)
        for _ in 0..<2 {
            if let id = try await connection.query("SELECT id FROM settlement_windows WHERE currency = \(currency) AND state = 'open' FOR SHARE",
                                                   logger: logger).all(String.self).first {
                return id
            }
            let window = SettlementWindow(id: "win_" + currency + "_" + String(Int64(at.timeIntervalSince1970 * 1000)), currency: currency, state: .open,
                                          openedAt: at, cutOff: nextCutOff)
            try await connection.query("""
                INSERT INTO settlement_windows (id, currency, state, cut_off, doc) VALUES (\(window.id), \(currency), 'open', \(nextCutOff), \(try Self.doc(window))::jsonb)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        throw ClearingStoreError.clearedMeanwhile
    }

    static func closeDue(_ connection: PostgresConnection, at: Date, logger: Logger) async throws {
        let due = try await connection.query("SELECT doc::text FROM settlement_windows WHERE state = 'open' AND cut_off <= \(at) FOR UPDATE",
                                             logger: logger).all(String.self)
        for doc in due {
            var w = try Self.value(SettlementWindow.self, doc)
            w.state = .closed
            w.closedAt = w.cutOff
            try await save(connection, w, logger: logger)
        }
    }

    static func save(_ connection: PostgresConnection, _ w: SettlementWindow, logger: Logger) async throws {
        try await connection.query("UPDATE settlement_windows SET state = \(w.state.rawValue), doc = \(try Self.doc(w))::jsonb WHERE id = \(w.id)", logger: logger)
    }

    public func feeSchedule() async throws -> FeeSchedule? {
        try await one(FeeSchedule.self, "SELECT doc::text FROM clearing_settings WHERE name = 'fees'")
    }

    public func saveFeeSchedule(_ schedule: FeeSchedule) async throws {
        try await database.client.query("""
            INSERT INTO clearing_settings (name, doc) VALUES ('fees', \(try Self.doc(schedule))::jsonb) ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc
            """, logger: logger)
    }

    public func closeDueWindows(at: Date) async throws {
        let logger = self.logger
        try await database.transaction { connection in try await Self.closeDue(connection, at: at, logger: logger) }
    }

    public func closeWindow(currency: String, at: Date) async throws -> SettlementWindow? {
        let logger = self.logger
        return try await database.transaction { connection in
            try await Self.closeDue(connection, at: at, logger: logger)
            guard let doc = try await connection.query("SELECT doc::text FROM settlement_windows WHERE currency = \(currency) AND state = 'open' FOR UPDATE",
                                                       logger: logger).all(String.self).first else { return nil }
            var w = try Self.value(SettlementWindow.self, doc)
            w.state = .closed
            w.closedAt = at
            try await Self.save(connection, w, logger: logger)
            return w
        }
    }

    public func settleWindow(id: String, at: Date) async throws -> SettlementWindow {
        let logger = self.logger
        return try await database.transaction { connection in
            guard let doc = try await connection.query("SELECT doc::text FROM settlement_windows WHERE id = \(id) FOR UPDATE", logger: logger)
                .all(String.self).first else { throw ClearingStoreError.notClosed(id) }
            var w = try Self.value(SettlementWindow.self, doc)
            guard w.state == .closed else { throw ClearingStoreError.notClosed(id) }
            w.state = .settled
            w.settledAt = at
            try await Self.save(connection, w, logger: logger)
            return w
        }
    }

    public func windows(currency: String?) async throws -> [SettlementWindow] {
        if let currency {
            return try await all(SettlementWindow.self, "SELECT doc::text FROM settlement_windows WHERE currency = \(currency) ORDER BY cut_off, id")
        }
        return try await all(SettlementWindow.self, "SELECT doc::text FROM settlement_windows ORDER BY cut_off, currency, id")
    }

    public func window(id: String) async throws -> SettlementWindow? {
        try await one(SettlementWindow.self, "SELECT doc::text FROM settlement_windows WHERE id = \(id)")
    }

    public func positions(windowID: String) async throws -> [NetPosition] {
        var positions: [NetPosition] = []
        for try await (participant, net) in try await database.client.query("""
            SELECT participant, SUM(amount)::bigint FROM settlement_lines WHERE window_id = \(windowID) GROUP BY participant ORDER BY participant COLLATE "C"
            """, logger: logger).decode((String, Int64).self) {
            positions.append(NetPosition(participant: participant, amountMinor: net))
        }
        return positions
    }

    public func lines(windowID: String, participant: String?) async throws -> [SettlementLine] {
        var lines: [SettlementLine] = []
        for try await (window, who, currency, amount, kind, source, count) in try await database.client.query("""
            SELECT window_id, participant, currency, amount, kind, source, presentments FROM settlement_lines
            WHERE window_id = \(windowID) AND (\(participant)::text IS NULL OR participant = \(participant)) ORDER BY seq
            """, logger: logger).decode((String, String, String, Int64, String, String, Int32).self) {
            guard let kind = SettlementLine.Kind(rawValue: kind) else { continue }
            lines.append(SettlementLine(participant: who, currency: currency, amountMinor: amount, kind: kind, source: source, presentments: Int(count),
                                        windowID: window))
        }
        return lines
    }
}
