import Foundation
import Logging
import SQLiteSupport
import Synchronization

/// `--log-format json`: one JSON object per line on standard error, for a log shipper
/// (Loki, Elasticsearch, journald's JSON input):
///
///     {"time":"2026-11-30T17:45:01.123Z","level":"notice","label":"passway","message":"stand-in advice queued for the issuer",
///      "source":"NetworkSwitch","metadata":{"issuer":"sberbank","key":"…"}}
///
/// `metadata` is present when the line has any; nested metadata stays nested (arrays and
/// objects); other values are their text. The lines carry what the text format carries,
/// no more: card numbers are masked before they reach a logger.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let write: @Sendable (String) -> Void

    init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = "{\"time\":"
        Self.append(string: Self.timestamp(Date()), to: &line)
        line += ",\"level\":"
        Self.append(string: event.level.rawValue, to: &line)
        line += ",\"label\":"
        Self.append(string: label, to: &line)
        line += ",\"message\":"
        Self.append(string: event.message.description, to: &line)
        line += ",\"source\":"
        Self.append(string: event.source, to: &line)
        if !all.isEmpty {
            line += ",\"metadata\":"
            Self.append(object: all, to: &line)
        }
        line += "}\n"
        write(line)
    }

    static let standardErrorLock = Mutex(())

    /// Whole lines, one writer at a time.
    static let standardError: @Sendable (String) -> Void = { line in
        standardErrorLock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC") ?? .gmt))
    }

    static func append(object: Logger.Metadata, to line: inout String) {
        line += "{"
        for (index, key) in object.keys.sorted().enumerated() {
            if index > 0 { line += "," }
            append(string: key, to: &line)
            line += ":"
            if let value = object[key] { append(value: value, to: &line) }
        }
        line += "}"
    }

    static func append(value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text): append(string: text, to: &line)
        case .stringConvertible(let convertible): append(string: convertible.description, to: &line)
        case .dictionary(let object): append(object: object, to: &line)
        case .array(let values):
            line += "["
            for (index, element) in values.enumerated() {
                if index > 0 { line += "," }
                append(value: element, to: &line)
            }
            line += "]"
        }
    }

    /// A JSON string (RFC 8259): quote, backslash and control characters escaped.
    static func append(string: String, to line: inout String) { DocumentWriter.quote(string, into: &line) }
}
