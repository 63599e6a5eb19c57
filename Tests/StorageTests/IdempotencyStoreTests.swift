import Foundation
import HTTPSupport
import PostgresSupport
import Testing
import TestSupport

/// The HTTP layer's idempotency store, the same tests on SQLite (its own file) and on
/// PostgreSQL; "another node" is a second store on the same data.
@Suite struct IdempotencyStoreTests {
    static let at = Date(timeIntervalSince1970: 1_790_000_000)

    struct IdempotencyStoresUnderTest: Sendable {
        let nodes: [any IdempotencyStore]
        let close: @Sendable () async -> Void

        static func open(_ backend: Backend) async throws -> IdempotencyStoresUnderTest {
            switch backend {
            case .sqlite:
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("http-\(UUID().uuidString).sqlite").path
                return IdempotencyStoresUnderTest(nodes: [try SQLiteIdempotencyStore(path: path), try SQLiteIdempotencyStore(path: path)],
                                                  close: { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } })
            case .postgres:
                guard let url = TestPostgres.url else { throw TestPostgresMissing() }
                let schema = TestPostgres.freshSchema()
                let a = try await PostgresPool(url: url, schema: schema, maximumConnections: 4, logger: TestPostgres.logger)
                let b = try await PostgresPool(url: url, schema: schema, maximumConnections: 4, logger: TestPostgres.logger)
                return IdempotencyStoresUnderTest(nodes: [try await PostgresIdempotencyStore(database: a), try await PostgresIdempotencyStore(database: b)],
                                                  close: { await a.close(); await b.close(); await TestPostgres.dropSchema(schema) })
            }
        }
    }

    @Test(arguments: Backend.available)
    func anIdempotencyKeyRunsOneRequest(_ backend: Backend) async throws {
        let s = try await IdempotencyStoresUnderTest.open(backend)
        defer { Task { await s.close() } }
        let nodes = s.nodes
        let reservations = try await withThrowingTaskGroup(of: IdempotencyReservation.self) { group in
            for i in 0..<10 { group.addTask { try await nodes[i % 2].reserve(owner: "wallet:w1", key: "k1", requestHash: "h1", at: Self.at) } }
            return try await group.reduce(into: [IdempotencyReservation]()) { $0.append($1) }
        }
        #expect(reservations.filter { $0 == .reserved }.count == 1)
        #expect(reservations.filter { $0 != .reserved }.allSatisfy { $0 == .inProgress(requestHash: "h1") })
        let answer = StoredResponse(requestHash: "h1", status: 201, body: Data("{\"id\":\"tok_1\"}".utf8))
        try await nodes[1].save(owner: "wallet:w1", key: "k1", response: answer)
        #expect(try await nodes[0].reserve(owner: "wallet:w1", key: "k1", requestHash: "h2", at: Self.at) == .answered(answer))
        // An answer is kept for ever: not even an old one is taken over.
        #expect(try await nodes[0].reserve(owner: "wallet:w1", key: "k1", requestHash: "h1", at: Self.at + 86_400) == .answered(answer))
        await #expect(throws: IdempotencyError.reservationLost) { try await nodes[0].save(owner: "wallet:w1", key: "k1", response: answer) }
        // Keys are per participant.
        #expect(try await nodes[0].reserve(owner: "wallet:w2", key: "k1", requestHash: "h1", at: Self.at) == .reserved)

        // A failed request gives its key back.
        #expect(try await nodes[0].reserve(owner: "wallet:w1", key: "k2", requestHash: "h1", at: Self.at) == .reserved)
        try await nodes[1].release(owner: "wallet:w1", key: "k2")
        #expect(try await nodes[1].reserve(owner: "wallet:w1", key: "k2", requestHash: "h3", at: Self.at) == .reserved)
        // A reservation its node never answered (it died) is taken over after its lifetime, not before.
        let later = Self.at + IdempotencyReservation.reservationLifetime / .seconds(1) - 1
        #expect(try await nodes[0].reserve(owner: "wallet:w1", key: "k2", requestHash: "h4", at: later) == .inProgress(requestHash: "h3"))
        let muchLater = Self.at + IdempotencyReservation.reservationLifetime / .seconds(1) + 1
        #expect(try await nodes[0].reserve(owner: "wallet:w1", key: "k2", requestHash: "h4", at: muchLater) == .reserved)
    }
}
