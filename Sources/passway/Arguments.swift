import ArgumentParser
import Logging
import PostgresSupport

/// A duration on the command line, with its unit: `300ms`, `5s`, `2m`.
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let value: Duration
    let text: String

    init?(argument: String) {
        guard let value = Self.parse(argument) else { return nil }
        self.value = value
        text = argument
    }

    init(_ text: String) {
        self.text = text
        value = Self.parse(text) ?? .zero
    }

    var description: String { text }
    var defaultValueDescription: String { text }

    static func parse(_ s: String) -> Duration? {
        if s.hasSuffix("ms"), let v = Double(s.dropLast(2)), v.isFinite, v >= 0 { return .milliseconds(v) }
        if s.hasSuffix("s"), let v = Double(s.dropLast()), v.isFinite, v >= 0 { return .seconds(v) }
        if s.hasSuffix("m"), let v = Double(s.dropLast()), v.isFinite, v >= 0 { return .seconds(v * 60) }
        return nil
    }
}

/// `host:port` on the command line.
struct Endpoint: Sendable {
    let host: String
    let port: Int

    /// `host:port` with a port of 1 to 65535, or nil.
    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
              colon != text.startIndex else { return nil }
        host = String(text[..<colon])
        self.port = port
    }
}

/// What every server command takes: where its data lives when it is not SQLite, and how
/// much it logs (to standard error).
struct ServerOptions: ParsableArguments {
    @Option(name: .customLong("database"),
            help: "postgres://user[:password]@host[:port]/database (?sslmode=verify-full for checked TLS; serve also reads PASSWAY_DATABASE_URL); embedded SQLite files when absent.")
    var database: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(name: .customLong("log-format"), help: "text (a line for people) or json (an object per line, for a log shipper).") var logFormat = "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: one of trace, debug, info, notice, warning, error") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format: text or json") }
        if let database {
            do { _ = try PostgresURL(database) } catch { throw ValidationError("--database: \(error)") }
        }
    }

    /// The PostgreSQL database given, checked by `validate`.
    var databaseURL: PostgresURL? { database.flatMap { try? PostgresURL($0) } }

    func logger(label: String) -> Logger {
        var logger = logFormat == "json" ? Logger(label: label) { JSONLogHandler(label: $0) } : Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}
