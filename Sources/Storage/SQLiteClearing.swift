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
            let approvals = try db.cachedStatement(sql: """
                SELECT doc FROM journal WHERE response_code = '00'
                AND json_extract(doc, '$.tokenID') = ? AND json_extract(doc, '$.approvalCode') = ?
                """)
            let reversal = try db.cachedStatement(sql: "SELECT 1 FROM journal WHERE json_extract(doc, '$.original') = ? AND response_code = '00' LIMIT 1")
            let cleared = try db.cachedStatement(sql: "SELECT id FROM presentments WHERE authorization_key = ?")
            for key in keys {
                for doc in try String.fetchAll(approvals, arguments: [key.tokenID, key.approvalCode]) {
                    let e = try Self.value(JournalEntry.self, doc)
                    guard let a = Self.clearable(e, reversed: try Bool.fetchOne(reversal, arguments: [e.key]) ?? false,
                                                 clearedBy: try String.fetchOne(cleared, arguments: [e.key])) else { continue }
                    found[key, default: []].append(a)
                }
            }
            return found
        }
    }

    static func clearable(_ e: JournalEntry, reversed: Bool, clearedBy: String?) -> ClearableAuthorization? {
        guard e.responseCode.isApproval, e.mti == "0100" || e.mti == "0200", let tokenID = e.tokenID, let issuerID = e.issuerID,
              let approvalCode = e.approvalCode else { return nil }
        return ClearableAuthorization(key: e.key, mti: e.mti, tokenID: tokenID, maskedToken: e.maskedToken, issuerID: issuerID,
                                      processingCode: e.processingCode, amountMinor: e.amountMinor, currency: e.currency,
                                      billingAmountMinor: e.billingAmountMinor, billingCurrency: e.billingCurrency, approvalCode: approvalCode,
                                      at: e.at, reversed: reversed, clearedBy: clearedBy)
    }

    public func presentedReferences(acquirerID: String, _ references: Set<String>) async throws -> Set<String> {
        try await pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM presentments WHERE acquirer_id = ? AND acquirer_reference = ?")
            return try Set(references.filter { try Bool.fetchOne(statement, arguments: [acquirerID, $0]) ?? false })
        }
    }

    public func record(_ file: ClearingFileResult, cleared: [ClearedPresentment]) async throws {
        let doc = try Self.doc(file)
        let rows = try cleared.map { ($0, try Self.doc($0)) }
        try await groupCommit.write { db in
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO clearing_files (file_id, acquirer_id, received_at, doc) VALUES (?, ?, ?, ?)")
                .execute(arguments: [file.fileID, file.acquirerID, file.receivedAt.timeIntervalSince1970, doc])
            guard db.changesCount == 1 else { throw ClearingStoreError.duplicateFile(file.fileID) }
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO presentments (id, authorization_key, acquirer_id, acquirer_reference, issuer_id, currency, cleared_at, doc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for (p, doc) in rows {
                try insert.execute(arguments: [p.id, p.authorization, p.acquirerID, p.acquirerReference, p.issuerID, p.currency,
                                               p.clearedAt.timeIntervalSince1970, doc])
                guard db.changesCount == 1 else { throw ClearingStoreError.clearedMeanwhile }
            }
        }
    }
}
