import Clearing
import Foundation
import IssuerHost
import Logging
import NetworkSwitch
import PostgresNIO
import PostgresSupport
import Storage
import Testing
import Participants
import TokenService
import WalletProvider

/// The databases the contract suites run on: SQLite always, PostgreSQL when
/// `PASSWAY_POSTGRES_URL` names a server (`.ci/run` starts one and sets it).
public enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    public static var available: [Backend] { TestPostgres.url == nil ? [.sqlite] : [.sqlite, .postgres] }
    public var testDescription: String { rawValue }
}

public enum TestPostgres {
    public static let logger = Logger(label: "test-postgres") { _ in SwiftLogNoOpLogHandler() }

    public static var url: PostgresURL? {
        guard let text = ProcessInfo.processInfo.environment["PASSWAY_POSTGRES_URL"], !text.isEmpty else { return nil }
        return try? PostgresURL(text)
    }

    /// A schema name no other test uses.
    public static func freshSchema() -> String { "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased() }

    public static func dropSchema(_ schema: String) async {
        guard let url else { return }
        try? await withAdmin(url) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"), logger: logger)
        }
    }

    /// A new, empty database on the test server, for tests that run whole nodes.
    public static func freshDatabase() async throws -> PostgresURL {
        guard let url else { throw TestPostgresMissing() }
        let name = "passway_" + freshSchema()
        try await withAdmin(url) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
        }
        return url.with(database: name)
    }

    public static func dropDatabase(_ database: PostgresURL) async {
        guard let url else { return }
        try? await withAdmin(url) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(database.database)\" WITH (FORCE)"), logger: logger)
        }
    }

    public static func withAdmin(_ url: PostgresURL, _ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let pool = try await PostgresPool(url: url, schema: "public", maximumConnections: 1, logger: logger)
        do { try await body(pool.client) } catch { await pool.close(); throw error }
        await pool.close()
    }
}

/// A token store and network journal on one backend, and how to open a second node's
/// view of the same data.
public struct StoreUnderTest: Sendable {
    public typealias Store = any ParticipantStore & TokenStore & WalletStore & AuthorizationJournal & OwedMessageStore & ClearingStore & ExchangeRateStore
    public let store: Store
    public let openAnother: @Sendable () async throws -> Store
    public let close: @Sendable () async -> Void

    public static func open(_ backend: Backend) async throws -> StoreUnderTest {
        switch backend {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString).sqlite").path
            return StoreUnderTest(store: try SQLiteStore(path: path), openAnother: { try SQLiteStore(path: path) },
                                  close: { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } })
        case .postgres:
            guard let url = TestPostgres.url else { throw TestPostgresMissing() }
            let schema = TestPostgres.freshSchema()
            let first = try await PostgresStore(url: url, schema: schema, maximumConnections: 8, logger: TestPostgres.logger)
            let others = OpenedStores()
            return StoreUnderTest(
                store: first,
                openAnother: {
                    let another = try await PostgresStore(url: url, schema: schema, maximumConnections: 8, logger: TestPostgres.logger)
                    await others.add(another)
                    return another
                },
                close: {
                    await first.close()
                    for other in await others.all { await other.close() }
                    await TestPostgres.dropSchema(schema)
                })
        }
    }
}

actor OpenedStores {
    var all: [PostgresStore] = []
    func add(_ store: PostgresStore) { all.append(store) }
}

/// A bank's store on one backend, and a second node's view of the same bank.
public struct BankStoreUnderTest: Sendable {
    public let store: any BankStore
    public let openAnother: @Sendable () async throws -> any BankStore
    public let close: @Sendable () async -> Void

    public static func open(_ backend: Backend) async throws -> BankStoreUnderTest {
        switch backend {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("bank-\(UUID().uuidString).sqlite").path
            let store = try IssuerDatabase(path: path)
            try await store.saveCardRanges(["220070"])
            return BankStoreUnderTest(store: store, openAnother: { try IssuerDatabase(path: path) },
                                      close: { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } })
        case .postgres:
            guard let url = TestPostgres.url else { throw TestPostgresMissing() }
            let schema = TestPostgres.freshSchema()
            let host = try await PostgresIssuerHost(url: url, schema: schema, maximumConnections: 8, logger: TestPostgres.logger)
            _ = try await host.createBank(id: "bank", cardRanges: ["220070"])
            let second = try await PostgresIssuerHost(url: url, schema: schema, maximumConnections: 8, logger: TestPostgres.logger)
            return BankStoreUnderTest(store: host.store(bank: "bank"), openAnother: { second.store(bank: "bank") },
                                      close: { await host.close(); await second.close(); await TestPostgres.dropSchema(schema) })
        }
    }
}

public struct TestPostgresMissing: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "PASSWAY_POSTGRES_URL is not set" }
}
