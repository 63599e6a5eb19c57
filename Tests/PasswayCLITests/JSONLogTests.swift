import Foundation
import Logging
@testable import passway
import Synchronization
import Testing
import TestSupport

/// `--log-format json`: every line an object that a JSON parser (Foundation's) reads back
/// with what was logged, whatever the message and metadata hold.
@Suite struct JSONLogTests {
    final class Lines: Sendable {
        let storage = Mutex<[String]>([])
        var all: [String] { storage.withLock { $0 } }
        func append(_ line: String) { storage.withLock { $0.append(line) } }
    }

    @Test func eachLineIsAnObjectWithWhatWasLogged() throws {
        let lines = Lines()
        var logger = Logger(label: "passway") { JSONLogHandler(label: $0, write: { lines.append($0) }) }
        logger.logLevel = .info
        logger[metadataKey: "node"] = "n1"
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{07} cyrillic Москва emoji 💳"
        logger.notice("reversal queued for the issuer", metadata: [
            "issuer": "sberbank", "text": .string(awkward), "count": .stringConvertible(3),
            "nested": .dictionary(["a": "1", "list": .array(["x", .dictionary(["y": "z"])])]),
        ])
        logger.debug("not at info")
        logger.info("\(awkward)")

        #expect(lines.all.count == 2)
        #expect(lines.all.allSatisfy { $0.hasSuffix("}\n") && $0.filter { $0 == "\n" }.count == 1 }, "one line per record")
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
        #expect(first["level"] as? String == "notice")
        #expect(first["label"] as? String == "passway")
        #expect(first["message"] as? String == "reversal queued for the issuer")
        let metadata = try #require(first["metadata"] as? [String: Any])
        #expect(metadata["node"] as? String == "n1")
        #expect(metadata["issuer"] as? String == "sberbank")
        #expect(metadata["text"] as? String == awkward)
        #expect(metadata["count"] as? String == "3")
        let nested = try #require(metadata["nested"] as? [String: Any])
        #expect(nested["a"] as? String == "1")
        let list = try #require(nested["list"] as? [Any])
        #expect(list.first as? String == "x")
        #expect((list.last as? [String: Any])?["y"] as? String == "z")
        // RFC 3339, UTC, milliseconds: what ISO8601DateFormatter reads back, near now.
        let time = try #require(first["time"] as? String)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let at = try #require(formatter.date(from: time))
        #expect(abs(at.timeIntervalSinceNow) < 60)
        #expect(time.hasSuffix("Z"))

        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[1].utf8)) as? [String: Any])
        #expect(second["message"] as? String == awkward)
        #expect((second["metadata"] as? [String: Any])?["node"] as? String == "n1")
    }

    @Test func serveRefusesAnUnknownFormat() throws {
        let result = try Subprocess.run(Subprocess.passwayExecutable, ["serve", "--log-format", "xml"], stdin: nil)
        #expect(result.status != 0)
        #expect(result.stderr.contains("--log-format: text or json"))
    }
}
