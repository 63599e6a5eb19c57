import EMV
import Foundation
import Testing
import TestSupport

/// TR-31 version D against psec, both ways and byte for byte: psec's blocks unwrap here
/// to its keys and, wrapped again here with the same padding, give psec's exact text;
/// the blocks wrapped here unwrap in psec to the same keys; a block changed anywhere, or
/// under another KBPK, is refused.
@Suite(.heavy) struct TR31OracleTests {
    @Test func keyBlocksMatchPsecByteForByte() throws {
        switch Oracle.availability {
        case .failure(let failure) where !Oracle.isCI:
            print("⚠️ \(failure) — TR-31 oracle comparison NOT RUN")
            return
        default: break
        }
        let seed = SplitMix64.seed(for: "TR31OracleTests")
        let blocks = try Oracle.lines(script: "tr31_oracle.py", arguments: ["--mode", "wrap", "--seed", "\(seed)", "--count", "200"])
        #expect(blocks.count == 200)
        var ours: [[String: String]] = []
        for item in blocks {
            let v = item.compactMapValues { $0 as? String }
            let kbpk = try Hex.decode(v["kbpk"] ?? ""), key = try Hex.decode(v["key"] ?? "")
            let block = v["block"] ?? ""
            let opened = try TR31.unwrap(block, kbpk: kbpk)
            #expect(opened.key == key, "seed \(seed): \(block.prefix(16))")
            let header = TR31.Header(keyUsage: v["usage"] ?? "", algorithm: Character(v["algorithm"] ?? "?"), modeOfUse: Character(v["mode"] ?? "?"),
                                     keyVersion: v["version"] ?? "", exportability: Character(v["exportability"] ?? "?"))
            #expect(opened.header == header)
            #expect(try TR31.wrap(key, header: header, kbpk: kbpk, padding: opened.padding) == block, "seed \(seed): re-wrapped differs")
            // Tampered anywhere, or under another KBPK: refused.
            var bytes = Array(block.utf8)
            let at = Int(seed % UInt64(bytes.count - 16)) + 16
            bytes[at] = bytes[at] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            #expect(throws: TR31.Failure.self) { try TR31.unwrap(String(decoding: bytes, as: UTF8.self), kbpk: kbpk) }
            #expect(throws: TR31.Failure.self) { try TR31.unwrap(block, kbpk: kbpk.map { $0 ^ 0x01 }) }
            ours.append(["kbpk": v["kbpk"] ?? "", "block": try TR31.wrap(key, header: header, kbpk: kbpk), "key": v["key"] ?? ""])
        }
        let input = try ours.map { String(decoding: try JSONSerialization.data(withJSONObject: ["kbpk": $0["kbpk"], "block": $0["block"]]), as: UTF8.self) }
            .joined(separator: "\n") + "\n"
        let unwrapped = try Oracle.lines(script: "tr31_oracle.py", arguments: ["--mode", "unwrap"], stdin: input)
        #expect(unwrapped.count == ours.count)
        for (answer, wrapped) in zip(unwrapped, ours) {
            #expect(answer["key"] as? String == wrapped["key"], "psec: \(answer) for \(wrapped["block"]?.prefix(16) ?? "")")
        }
    }
}
