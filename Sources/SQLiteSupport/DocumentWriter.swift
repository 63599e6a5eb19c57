import Foundation

/// Writes one flat JSON object by hand, for the documents written on every authorization
/// (the journal entry, the issuer's decision), where Foundation's `JSONEncoder` was the
/// largest cost left. What it writes is what `JSONEncoder` would (millisecond dates,
/// base64 data, nil left out), so the same `JSONDecoder` reads old and new documents;
/// `DocumentWriterTests` decodes its output with Foundation's.
public struct DocumentWriter {
    private var out: String
    private var first = true

    public init(capacity: Int = 512) {
        out = "{"
        out.reserveCapacity(capacity)
    }

    public mutating func field(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        name(key)
        Self.quote(value, into: &out)
    }

    public mutating func field(_ key: StaticString, _ value: Int64?) {
        guard let value else { return }
        name(key)
        out += String(value)
    }

    public mutating func field(_ key: StaticString, _ value: Int?) {
        field(key, value.map { Int64($0) })
    }

    /// A JSON value written elsewhere (a nested object), as is.
    public mutating func field(_ key: StaticString, json: String?) {
        guard let json else { return }
        name(key)
        out += json
    }

    public mutating func field(_ key: StaticString, _ value: Bool?) {
        guard let value else { return }
        name(key)
        out += value ? "true" : "false"
    }

    /// A date as `JSONEncoder.DateEncodingStrategy.millisecondsSince1970` writes it.
    public mutating func field(_ key: StaticString, milliseconds date: Date) {
        name(key)
        out += (date.timeIntervalSince1970 * 1000).description
    }

    /// Bytes as base64, `JSONEncoder`'s default for `Data`.
    public mutating func field(_ key: StaticString, base64 data: Data) {
        name(key)
        out += "\""
        out += data.base64EncodedString()
        out += "\""
    }

    public mutating func finish() -> String {
        out += "}"
        return out
    }

    private mutating func name(_ key: StaticString) {
        if first { first = false } else { out += "," }
        out += "\""
        out += key.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        out += "\":"
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var out = ""
        quote(s, into: &out)
        return out
    }

    /// A JSON string: quote, backslash and control characters escaped, the rest as is (UTF-8).
    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        var plain = true
        for byte in s.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C { plain = false; break }
        if plain {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
