import Clearing
import Foundation
import GRDB
import NetworkSwitch

/// Clearing beside the journal, in the same SQLite database: the approvals a presentment
/// may clear are read from the journal by token and approval code (a partial index), and a
/// cleared presentment's row is unique by its authorization's key, so that an
/// authorization is cleared once whatever files arrive.
extension SQLiteStore: ClearingStore {
    public func clearingFile(id: String) async throws -> ClearingFileResult? {
        try await one(ClearingFileResult.self, "SELECT doc FROM clearing_files WHERE file_id = ?", [id])
    }

    public func clearable(_ keys: Set<ApprovalKey>) async throws -> [ApprovalKey: [ClearableAuthorization]] {
        try await pool.read { db in
            var found: [ApprovalKey: [ClearableAuthorization]] = [:]
            // One statement per token and approval code: the approvals, whether each was
            // reversed, and the presentment that cleared it.
            let approvals = try db.cachedStatement(sql: """
                SELECT j.doc,
                    EXISTS (SELECT 1 FROM journal r WHERE json_extract(r.doc, '$.original') = j.key AND r.response_code = '00') AS reversed,
                    (SELECT p.id FROM presentments p WHERE p.authorization_key = j.key) AS cleared
                FROM journal j WHERE j.response_code = '00'
                AND json_extract(j.doc, '$.tokenID') = ? AND json_extract(j.doc, '$.approvalCode') = ?
                """)
            for key in keys {
                let rows = try Row.fetchCursor(approvals, arguments: [key.tokenID, key.approvalCode])
                while let row = try rows.next() {
                    guard let doc: String = row[0] else { continue }
                    let e = try Self.value(ClearableFields.self, doc)
                    guard let a = ClearableAuthorization(
                        approved: e.key, mti: e.mti, tokenID: e.tokenID, maskedToken: e.maskedToken, issuerID: e.issuerID, processingCode: e.processingCode,
                        amountMinor: e.amountMinor, currency: e.currency, billingAmountMinor: e.billingAmountMinor, billingCurrency: e.billingCurrency,
                        approvalCode: e.approvalCode, at: e.at, conversionRate: e.conversionRate, reversed: (row[1] as Bool?) ?? false,
                        clearedBy: row[2]) else { continue }
                    found[key, default: []].append(a)
                }
            }
            return found
        }
    }

    /// What clearing reads of a journal entry (approved: its response code is the row's),
    /// decoded without the rest of the document.
    struct ClearableFields: Decodable {
        var key: String
        var mti: String
        var maskedToken: String?
        var tokenID: String?
        var issuerID: String?
        var processingCode: String
        var amountMinor: Int64
        var currency: String
        var billingAmountMinor: Int64?
        var billingCurrency: String?
        var approvalCode: String?
        var at: Date
        var conversionRate: String?
    }

    public func unclearedSingleMessages(from: Date, to: Date, limit: Int) async throws -> [ClearableAuthorization] {
        try await pool.read { db in
            try String.fetchAll(db.cachedStatement(sql: """
                SELECT doc FROM journal j WHERE response_code = '00' AND json_extract(doc, '$.mti') = '0200' AND claimed_at >= ? AND claimed_at < ?
                AND NOT EXISTS (SELECT 1 FROM presentments p WHERE p.authorization_key = j.key)
                AND NOT EXISTS (SELECT 1 FROM journal r WHERE json_extract(r.doc, '$.original') = j.key AND r.response_code = '00')
                ORDER BY claimed_at LIMIT ?
                """), arguments: [from.timeIntervalSince1970, to.timeIntervalSince1970, limit]).compactMap {
                ClearableAuthorization(try Self.value(JournalEntry.self, $0), reversed: false, clearedBy: nil)
            }
        }
    }

    public func presentedReferences(acquirerID: String, _ references: Set<String>) async throws -> Set<String> {
        try await pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM presentments WHERE acquirer_id = ? AND acquirer_reference = ?")
            return try Set(references.filter { try Bool.fetchOne(statement, arguments: [acquirerID, $0]) ?? false })
        }
    }

    public func record(_ file: ClearingFileResult?, cleared: [ClearedPresentment], lines: [SettlementLine], at: Date, nextCutOff: Date) async throws {
        let doc = file.map { ClearingDocuments.result($0, dates: .milliseconds) }
        let rows = try cleared.map { ($0, try ClearingDocuments.presentment($0)) }
        try await groupCommit.write { db in
            if let file, let doc {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO clearing_files (file_id, acquirer_id, received_at, doc) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [file.fileID, file.acquirerID, file.receivedAt.timeIntervalSince1970, doc])
                guard db.changesCount == 1 else { throw ClearingStoreError.duplicateFile(file.fileID) }
            }
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO presentments (id, authorization_key, acquirer_id, acquirer_reference, issuer_id, currency, cleared_at, doc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for (p, doc) in rows {
                try insert.execute(arguments: [p.id, p.authorization, p.acquirerID, p.acquirerReference, p.issuerID, p.currency,
                                               p.clearedAt.timeIntervalSince1970, doc])
                guard db.changesCount == 1 else { throw ClearingStoreError.clearedMeanwhile }
            }
            try Self.insert(db, lines, at: at, nextCutOff: nextCutOff)
        }
    }

    /// Lines into the open windows of their currencies.
    static func insert(_ db: Database, _ lines: [SettlementLine], at: Date, nextCutOff: Date) throws {
        var windows: [String: String] = [:]
        let line = try db.cachedStatement(sql: """
            INSERT INTO settlement_lines (window_id, participant, currency, amount, kind, source, presentments) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for l in lines {
            if windows[l.currency] == nil { windows[l.currency] = try Self.openWindow(db, currency: l.currency, at: at, nextCutOff: nextCutOff) }
            try line.execute(arguments: [windows[l.currency], l.participant, l.currency, l.amountMinor, l.kind.rawValue, l.source, l.presentments])
        }
    }

    public func makeIssuerFile(_ file: IssuerFile, limit: Int) async throws -> IssuerFile {
        try await groupCommit.write { db in
            try db.execute(sql: """
                UPDATE presentments SET issuer_file_id = ? WHERE id IN (
                    SELECT id FROM presentments WHERE issuer_id = ? AND issuer_file_id IS NULL ORDER BY cleared_at, id LIMIT ?)
                """, arguments: [file.id, file.issuerID, limit])
            var made = file
            made.presentments = db.changesCount
            try db.execute(sql: "INSERT OR IGNORE INTO issuer_files (file_id, issuer_id, created_at, doc) VALUES (?, ?, ?, ?)",
                           arguments: [made.id, made.issuerID, made.createdAt.timeIntervalSince1970, try Self.doc(made)])
            guard db.changesCount == 1 else { throw ClearingStoreError.duplicateFile(file.id) }
            return made
        }
    }

    public func issuerFile(id: String) async throws -> IssuerFile? {
        try await one(IssuerFile.self, "SELECT doc FROM issuer_files WHERE file_id = ?", [id])
    }

    public func issuerFileCount(issuerID: String, since: Date) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM issuer_files WHERE issuer_id = ? AND created_at >= ?",
                             arguments: [issuerID, since.timeIntervalSince1970]) ?? 0
        }
    }

    public func presentments(issuerFile id: String) async throws -> [ClearedPresentment] {
        try await many(ClearedPresentment.self, "SELECT doc FROM presentments WHERE issuer_file_id = ? ORDER BY cleared_at, id", [id])
    }

    public func presentment(id: String) async throws -> ClearedPresentment? {
        try await one(ClearedPresentment.self, "SELECT doc FROM presentments WHERE id = ?", [id])
    }

    public func updatePresentment(_ p: ClearedPresentment, expected: PresentmentState, lines: [SettlementLine], at: Date, nextCutOff: Date) async throws {
        let doc = try Self.doc(p)
        try await groupCommit.write { db in
            try db.execute(sql: "UPDATE presentments SET state = ?, doc = ? WHERE id = ? AND state = ?",
                           arguments: [p.disputeState.rawValue, doc, p.id, expected.rawValue])
            guard db.changesCount == 1 else { throw ClearingStoreError.clearedMeanwhile }
            try Self.insert(db, lines, at: at, nextCutOff: nextCutOff)
        }
    }

    /// The open window of `currency` that `at` falls in: one past its cut-off is closed
    /// first, and a new one opened when none is.
    static func openWindow(_ db: Database, currency: String, at: Date, nextCutOff: Date) throws -> String {
        try closeDue(db, at: at)
        if let id = try String.fetchOne(db.cachedStatement(sql: "SELECT id FROM settlement_windows WHERE currency = ? AND state = 'open'"),
                                        arguments: [currency]) {
            return id
        }
        let window = SettlementWindow(id: "win_" + currency + "_" + String(Int64(at.timeIntervalSince1970 * 1000)), currency: currency, state: .open,
                                      openedAt: at, cutOff: nextCutOff)
        try db.execute(sql: "INSERT INTO settlement_windows (id, currency, state, cut_off, doc) VALUES (?, ?, 'open', ?, ?)",
                       arguments: [window.id, currency, nextCutOff.timeIntervalSince1970, try Self.doc(window)])
        return window.id
    }

    static func closeDue(_ db: Database, at: Date) throws {
        let due = try String.fetchAll(db.cachedStatement(sql: "SELECT doc FROM settlement_windows WHERE state = 'open' AND cut_off <= ?"),
                                      arguments: [at.timeIntervalSince1970])
        for doc in due {
            var w = try Self.value(SettlementWindow.self, doc)
            w.state = .closed
            w.closedAt = w.cutOff
            try save(db, w)
        }
    }

    static func save(_ db: Database, _ w: SettlementWindow) throws {
        try db.execute(sql: "UPDATE settlement_windows SET state = ?, doc = ? WHERE id = ?", arguments: [w.state.rawValue, try Self.doc(w), w.id])
    }

    public func feeSchedule() async throws -> FeeSchedule? {
        try await one(FeeSchedule.self, "SELECT doc FROM clearing_settings WHERE name = 'fees'", [])
    }

    public func saveFeeSchedule(_ schedule: FeeSchedule) async throws {
        let doc = try Self.doc(schedule)
        try await groupCommit.write { db in
            try db.execute(sql: "INSERT INTO clearing_settings (name, doc) VALUES ('fees', ?) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                           arguments: [doc])
        }
    }

    public func closeDueWindows(at: Date) async throws {
        try await groupCommit.write { db in try Self.closeDue(db, at: at) }
    }

    public func closeWindow(currency: String, at: Date) async throws -> SettlementWindow? {
        try await groupCommit.write { db in
            try Self.closeDue(db, at: at)
            guard let doc = try String.fetchOne(db, sql: "SELECT doc FROM settlement_windows WHERE currency = ? AND state = 'open'", arguments: [currency]) else {
                return nil
            }
            var w = try Self.value(SettlementWindow.self, doc)
            w.state = .closed
            w.closedAt = at
            try Self.save(db, w)
            return w
        }
    }

    public func settleWindow(id: String, at: Date) async throws -> SettlementWindow {
        try await groupCommit.write { db in
            guard let doc = try String.fetchOne(db, sql: "SELECT doc FROM settlement_windows WHERE id = ?", arguments: [id]) else {
                throw ClearingStoreError.notClosed(id)
            }
            var w = try Self.value(SettlementWindow.self, doc)
            guard w.state == .closed else { throw ClearingStoreError.notClosed(id) }
            w.state = .settled
            w.settledAt = at
            try Self.save(db, w)
            return w
        }
    }

    public func windows(currency: String?) async throws -> [SettlementWindow] {
        if let currency {
            return try await all(SettlementWindow.self, "SELECT doc FROM settlement_windows WHERE currency = ? ORDER BY cut_off, id", [currency])
        }
        return try await all(SettlementWindow.self, "SELECT doc FROM settlement_windows ORDER BY cut_off, currency, id")
    }

    public func window(id: String) async throws -> SettlementWindow? {
        try await one(SettlementWindow.self, "SELECT doc FROM settlement_windows WHERE id = ?", [id])
    }

    public func positions(windowID: String) async throws -> [NetPosition] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT participant, SUM(amount) AS net FROM settlement_lines WHERE window_id = ? GROUP BY participant ORDER BY participant",
                             arguments: [windowID]).map { NetPosition(participant: $0["participant"], amountMinor: $0["net"]) }
        }
    }

    public func lines(windowID: String, participant: String?) async throws -> [SettlementLine] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT window_id, participant, currency, amount, kind, source, presentments FROM settlement_lines
                WHERE window_id = ? AND (? IS NULL OR participant = ?) ORDER BY seq
                """, arguments: [windowID, participant, participant]).compactMap { row in
                SettlementLine.Kind(rawValue: row["kind"]).map {
                    SettlementLine(participant: row["participant"], currency: row["currency"], amountMinor: row["amount"], kind: $0,
                                   source: row["source"], presentments: row["presentments"], windowID: row["window_id"])
                }
            }
        }
    }
}
