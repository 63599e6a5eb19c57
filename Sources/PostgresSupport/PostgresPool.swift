import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL database is: `postgres://user[:password]@host[:port]/database`,
/// with `?host=/run/postgresql` for a Unix socket directory, and `sslmode` (with
/// `sslrootcert`) as libpq documents them: `disable` (no TLS), `allow` and `prefer` (TLS
/// when the server offers it, the certificate not checked; `prefer` is the default, as in
/// libpq), `require` (TLS or no connection; the certificate checked against
/// `sslrootcert` when one is given, as libpq does, not otherwise), `verify-ca` (TLS, the
/// chain checked against `sslrootcert`, or the system's roots when none is given) and
/// `verify-full` (the chain and the host name).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// What the connection does about TLS, as `sslmode` and `sslrootcert` say.
    public enum TLSPolicy: Sendable, Equatable {
        case none
        /// TLS when the server offers it, without checking its certificate.
        case whenOffered
        /// TLS or no connection; `verification` of the server's certificate.
        case required(Verification)

        public enum Verification: Sendable, Equatable {
            case none
            /// The chain, not the host name.
            case chain
            /// The chain and the host name.
            case full
        }
    }

    public var host: String
    public var port: Int
    /// A directory holding the server's socket (`.s.PGSQL.<port>`), instead of TCP.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// A PEM file of trusted roots (`sslrootcert`); nil: the system's.
    public var sslRootCert: String?

    /// Whether TLS is required (`require` or a `verify-` mode).
    public var requireTLS: Bool { if case .required = tlsPolicy { true } else { false } }

    public var tlsPolicy: TLSPolicy {
        switch sslMode {
        case .disable: .none
        case .allow, .prefer: .whenOffered
        case .require: .required(sslRootCert == nil ? .none : .chain)
        case .verifyCA: .required(.chain)
        case .verifyFull: .required(.full)
        }
    }

    public init(_ text: String) throws(PostgresURLError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              ["postgres", "postgresql"].contains(scheme) else {
            throw PostgresURLError("a database URL starts postgres://, like postgres://passway@127.0.0.1:5432/passway")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresURLError("the database URL names no user: postgres://USER@host/database")
        }
        self.user = user                 // URLComponents has decoded %XX already
        password = components.password
        port = components.port ?? 5432
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? self.user : path
        var host = components.host ?? ""
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            switch (item.name, item.value ?? "") {
            case ("sslmode", let mode):
                guard let known = SSLMode(rawValue: mode) else {
                    throw PostgresURLError("sslmode=\(mode): one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = known
            case ("sslrootcert", let path) where !path.isEmpty: sslRootCert = path
            case ("host", let directory) where directory.hasPrefix("/"): socketDirectory = directory
            case (let name, _): throw PostgresURLError("database URL parameter \(name) is not understood (sslmode, sslrootcert and host are)")
            }
        }
        if host.isEmpty, socketDirectory == nil { host = "127.0.0.1" }
        self.host = host
        self.sslMode = sslMode
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        let place = socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } ?? "\(host):\(port)"
        return "postgres://\(user)@\(place)/\(database)"
    }

    /// The URL in full, password included, as `--database` takes it.
    public var connectionString: String {
        var c = URLComponents()
        c.scheme = "postgres"
        c.user = user
        c.password = password
        c.host = host
        c.port = port
        c.path = "/" + database
        var query: [URLQueryItem] = []
        if let socketDirectory { query.append(URLQueryItem(name: "host", value: socketDirectory)) }
        if sslMode != .prefer { query.append(URLQueryItem(name: "sslmode", value: sslMode.rawValue)) }
        if let sslRootCert { query.append(URLQueryItem(name: "sslrootcert", value: sslRootCert)) }
        if !query.isEmpty { c.queryItems = query }
        return c.string ?? description
    }

    public func with(database: String) -> PostgresURL {
        var copy = self
        copy.database = database
        return copy
    }

    func configuration(searchPath: String?) throws -> PostgresClient.Configuration {
        var config: PostgresClient.Configuration
        if let socketDirectory {
            config = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            config = .init(host: host, port: port, username: user, password: password, database: database, tls: try tls())
        }
        if let searchPath { config.options.additionalStartupParameters = [("search_path", searchPath)] }
        config.options.connectTimeout = .seconds(5)
        return config
    }
}

extension PostgresURL {
    /// The TLS settings `tlsPolicy` asks for: nil for none, else whether TLS is required.
    func tlsSettings() throws -> (required: Bool, configuration: TLSConfiguration)? {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let sslRootCert {
            do { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(sslRootCert)) } catch {
                throw PostgresURLError("sslrootcert=\(sslRootCert) cannot be read as PEM certificates: \(error)")
            }
        }
        switch tlsPolicy {
        case .none:
            return nil
        case .whenOffered:
            tls.certificateVerification = .none
            return (false, tls)
        case .required(let verification):
            tls.certificateVerification = switch verification {
            case .none: .none
            case .chain: .noHostnameVerification
            case .full: .fullVerification
            }
            return (true, tls)
        }
    }

    func tls() throws -> PostgresClient.Configuration.TLS {
        guard let (required, configuration) = try tlsSettings() else { return .disable }
        return required ? .require(configuration) : .prefer(configuration)
    }

    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        guard let (required, configuration) = try tlsSettings() else { return .disable }
        let context = try NIOSSLContext(configuration: configuration)
        return required ? .require(context) : .prefer(context)
    }
}

public struct PostgresURLError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A connection pool to one schema of a PostgreSQL database: every connection has the
/// schema as its `search_path`, so statements (and prepared statements) name tables
/// without it. The pool runs until `close()`.
public final class PostgresPool: Sendable {
    public let client: PostgresClient
    public let url: PostgresURL
    public let schema: String
    public let logger: Logger
    private let runner: Task<Void, Never>

    /// Opens a pool and checks that the server answers (a clear error when it does not).
    public init(url: PostgresURL, schema: String, maximumConnections: Int = 16, logger: Logger) async throws {
        guard Self.isPlainName(schema) else { throw PostgresURLError("schema \(schema): lower-case letters, digits and _, up to 63") }
        try await Self.probe(url)
        var config = try url.configuration(searchPath: schema)
        config.options.maximumConnections = maximumConnections
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.client = client
        self.url = url
        self.schema = schema
        self.logger = logger
        // Queries wait for `run()`; this waits until it has begun, so none asks first.
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        runner = Task {
            signal.finish()
            await client.run()
        }
        for await _ in started {}
        await Task.yield()
        do {
            try await client.query("SELECT 1", logger: logger)
        } catch {
            runner.cancel()
            await runner.value
            throw PostgresUnavailable(url: url, reason: Self.reason(error))
        }
    }

    /// One connection, opened and closed, before any pool: a server that is down or
    /// refuses us is one clear line at once, not a minute of retries.
    static func probe(_ url: PostgresURL) async throws {
        let config: PostgresConnection.Configuration
        do {
            if let socketDirectory = url.socketDirectory {
                config = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(url.port)", username: url.user, password: url.password, database: url.database)
            } else {
                config = .init(host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
                               tls: try url.connectionTLS())
            }
        } catch {
            throw PostgresUnavailable(url: url, reason: "TLS: \(error)")
        }
        var quiet = Logger(label: "passway-postgres-probe")
        quiet.logLevel = .critical
        do {
            let connection = try await PostgresConnection.connect(configuration: config, id: 0, logger: quiet)
            try? await connection.close()
        } catch {
            throw PostgresUnavailable(url: url, reason: reason(error))
        }
    }

    public func close() async {
        runner.cancel()
        await runner.value
    }

    static func isPlainName(_ name: String) -> Bool {
        (1...63).contains(name.count) && name.first.map { $0.isLetter || $0 == "_" } == true
            && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }
    }

    /// Runs the migrations not yet applied to this schema, in order, each with its record
    /// in `schema_migrations`, all in one transaction under an advisory lock: nodes that
    /// start together migrate once.
    public func migrate(_ migrations: [(name: String, statements: [String])]) async throws {
        let schema = self.schema
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("passway-migrations/" + schema)))", logger: self.logger)
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""), logger: self.logger)
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(schema)\""), logger: self.logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: self.logger)
            var applied = Set<String>()
            for try await name in try await connection.query("SELECT name FROM schema_migrations", logger: self.logger).decode(String.self) {
                applied.insert(name)
            }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query("INSERT INTO schema_migrations (name) VALUES (\(migration.name))", logger: self.logger)
            }
        }
    }

    /// `body` in one transaction: committed when it returns, rolled back when it throws
    /// (and its own error is what the caller sees).
    public func transaction<R: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.commitError ?? error.beginError ?? error
        }
    }

    /// What went wrong, in the server's words when it said something.
    public static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}

/// The database could not be reached or refused the connection.
public struct PostgresUnavailable: Error, CustomStringConvertible {
    public let url: PostgresURL
    public let reason: String
    public var description: String { "cannot use PostgreSQL at \(url): \(reason)" }
}

extension Error {
    /// A unique or primary-key constraint refused the write (SQLSTATE 23505).
    public var isUniqueViolation: Bool {
        (self as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }
}

extension PostgresRowSequence {
    /// The first row's single column, or nil when there are no rows.
    public func first<T: PostgresDecodable & Sendable>(_ type: T.Type) async throws -> T? {
        for try await value in self.decode(T.self) { return value }
        return nil
    }

    public func all<T: PostgresDecodable & Sendable>(_ type: T.Type) async throws -> [T] {
        var values: [T] = []
        for try await value in self.decode(T.self) { values.append(value) }
        return values
    }
}
