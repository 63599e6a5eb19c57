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
        #expect(url.requireTLS)
        #expect(url.description == "postgres://passway@db.example:6432/payments", "no password in what is logged")
        #expect(try PostgresURL(url.connectionString) == url, "round trip")

        let defaults = try PostgresURL("postgresql://passway@localhost")
        #expect(defaults.port == 5432)
        #expect(defaults.database == "passway", "the database defaults to the user's name")
        #expect(!defaults.requireTLS)

        let socket = try PostgresURL("postgres://postgres@/passway?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql")
        #expect(socket.description == "postgres://postgres@/run/postgresql/.s.PGSQL.5432/passway")
        #expect(try PostgresURL(socket.connectionString) == socket)
    }

    @Test(arguments: [
        ("mysql://passway@db/x", "starts postgres://"),
        ("postgres://db.example/x", "names no user"),
        ("postgres://u@db/x?sslmode=sometimes", "sslmode=sometimes"),
        ("postgres://u@db/x?application_name=y", "application_name is not understood"),
    ])
    func refusesWhatItCannotUse(_ text: String, _ says: String) {
        #expect(throws: PostgresURLError.self) { try PostgresURL(text) }
        do { _ = try PostgresURL(text) } catch { #expect("\(error)".contains(says), "\(error)") }
    }
}
