import Foundation
import Logging
import PostgresSupport
import Testing

/// `--database` and `PASSWAY_DATABASE_URL` as libpq reads them; the password never shows.
@Suite struct PostgresURLTests {
    @Test func readsWhatLibpqReads() throws {
        let url = try PostgresURL("postgres://passway:s%40cr%2Ft@db.example:6432/payments?sslmode=require")
        #expect(url.user == "passway")
        #expect(url.password == "s@cr/t")
        #expect(url.host == "db.example")
        #expect(url.port == 6432)
        #expect(url.database == "payments")
        #expect(url.requireTLS && url.tlsPolicy == .required(.none))
        #expect(url.description == "postgres://passway@db.example:6432/payments", "no password in what is logged")
        #expect(try PostgresURL(url.connectionString) == url, "round trip")

        let defaults = try PostgresURL("postgresql://passway@localhost")
        #expect(defaults.port == 5432)
        #expect(defaults.database == "passway", "the database defaults to the user's name")
        #expect(!defaults.requireTLS)
        #expect(defaults.tlsPolicy == .whenOffered, "libpq's default is prefer")

        let socket = try PostgresURL("postgres://postgres@/passway?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql")
        #expect(socket.description == "postgres://postgres@/run/postgresql/.s.PGSQL.5432/passway")
        #expect(try PostgresURL(socket.connectionString) == socket)
    }

    @Test(arguments: [
        ("mysql://passway@db/x", "starts postgres://"),
        ("postgres://db.example/x", "names no user"),
        ("postgres://u@db/x?sslmode=sometimes", "sslmode=sometimes: one of disable, allow, prefer, require, verify-ca, verify-full"),
        ("postgres://u@db/x?application_name=y", "application_name is not understood"),
    ])
    func refusesWhatItCannotUse(_ text: String, _ says: String) {
        #expect(throws: PostgresURLError.self) { try PostgresURL(text) }
        do { _ = try PostgresURL(text) } catch { #expect("\(error)".contains(says), "\(error)") }
    }

    /// `sslmode` and `sslrootcert` as libpq documents them.
    @Test func sslModesAsLibpqDocumentsThem() throws {
        let table: [(String, PostgresURL.TLSPolicy)] = [
            ("disable", .none), ("allow", .whenOffered), ("prefer", .whenOffered), ("require", .required(.none)),
            ("require&sslrootcert=/etc/ssl/root.pem", .required(.chain)), ("verify-ca", .required(.chain)), ("verify-full", .required(.full)),
        ]
        for (mode, policy) in table {
            let url = try PostgresURL("postgres://u@db.example/x?sslmode=\(mode)")
            #expect(url.tlsPolicy == policy, "\(mode)")
            #expect(try PostgresURL(url.connectionString) == url, "\(mode) round trip")
        }
    }

    /// Against a server without TLS (the test cluster): `require` refuses to connect in
    /// the clear, `prefer` (the default) connects.
    @Test func requireRefusesAServerWithoutTLSAndPreferConnects() async throws {
        guard let text = ProcessInfo.processInfo.environment["PASSWAY_POSTGRES_URL"] else { return }
        let base = try PostgresURL(text)
        var required = base
        required.sslMode = .require
        await #expect(throws: (any Error).self) {
            let pool = try await PostgresPool(url: required, schema: "public", maximumConnections: 1, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
            await pool.close()
        }
        var preferred = base
        preferred.sslMode = .prefer
        let pool = try await PostgresPool(url: preferred, schema: "public", maximumConnections: 1, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        await pool.close()
    }
}
