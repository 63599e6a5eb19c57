import Clearing
import Foundation
import NetworkSwitch
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
            guard let a = SQLiteStore.clearable(e, reversed: reversed.contains(e.key), clearedBy: clearedBy[e.key]) else { continue }
            found[ApprovalKey(tokenID: a.tokenID, approvalCode: a.approvalCode), default: []].append(a)
        }
        return found
    }

    public func presentedReferences(acquirerID: String, _ references: Set<String>) async throws -> Set<String> {
        guard !references.isEmpty else { return [] }
        return Set(try await database.client.query("""
            SELECT acquirer_reference FROM presentments WHERE acquirer_id = \(acquirerID) AND acquirer_reference = ANY(\(Array(references))::text[])
            """, logger: logger).all(String.self))
    }

    public func record(_ file: ClearingFileResult, cleared: [ClearedPresentment]) async throws {
        let doc = try Self.doc(file)
        let rows = try cleared.map { ($0, try Self.doc($0)) }
        let logger = self.logger
        try await database.transaction { connection in
            let taken = try await Self.count(connection.query("""
                INSERT INTO clearing_files (file_id, acquirer_id, received_at, doc) VALUES (\(file.fileID), \(file.acquirerID), \(file.receivedAt), \(doc)::jsonb)
                ON CONFLICT DO NOTHING RETURNING 1
                """, logger: logger))
            guard taken == 1 else { throw ClearingStoreError.duplicateFile(file.fileID) }
            for (p, doc) in rows {
                let inserted = try await Self.count(connection.query("""
                    INSERT INTO presentments (id, authorization_key, acquirer_id, acquirer_reference, issuer_id, currency, cleared_at, doc)
                    VALUES (\(p.id), \(p.authorization), \(p.acquirerID), \(p.acquirerReference), \(p.issuerID), \(p.currency), \(p.clearedAt), \(doc)::jsonb)
                    ON CONFLICT DO NOTHING RETURNING 1
                    """, logger: logger))
                guard inserted == 1 else { throw ClearingStoreError.clearedMeanwhile }
            }
        }
    }
}
