import Testing
import ISO8583
import EMV
import TestSupport

/// pyiso8583 with its standard 1987 spec as the independent codec, in both directions:
/// it packs random messages that Passway must decode to the same dictionary and pack
/// to the same bytes; Passway packs random messages that it must decode to ours.
@Suite(.heavy) struct PyISO8583OracleTests {
    static let cases = 1000
    let codec = ISO8583Codec()

    private func oracleAvailable() -> Bool {
        if case .failure(let failure) = Oracle.availability, !Oracle.isCI {
            print("⚠️ \(failure) — pyiso8583 comparison NOT RUN")
            return false
        }
        return true
    }

    @Test func passwayReadsAndWritesWhatPyISO8583Packs() throws {
        guard oracleAvailable() else { return }
        let seed = SplitMix64.seed(for: "PyISO8583OracleTests.pyiso8583ToPassway")
        let lines = try Oracle.lines(script: "iso8583_oracle.py", arguments: ["pack", "--seed", "\(seed)", "--count", "\(Self.cases)"])
        var tally = OracleTally()
        for line in lines {
            let expected = (line["dict"] as? [String: String]) ?? [:]
            let bytes = hex(line["hex"] as? String ?? "")
            do {
                let decoded = try codec.unpack(bytes)
                tally.record("pyiso8583 → Passway decode", ok: decoded.pyiso8583Dictionary == expected,
                             detail: "\(line["hex"] ?? "") decoded to \(decoded.pyiso8583Dictionary)")
                let repacked = try codec.pack(Message(pyiso8583Dictionary: expected))
                tally.record("pyiso8583 dict → Passway encode", ok: repacked == bytes, detail: "\(expected) packed to \(repacked.hex)")
            } catch {
                tally.record("pyiso8583 → Passway decode", ok: false, detail: "\(line["hex"] ?? ""): \(error)")
            }
        }
        print(tally.report(oracle: "pyiso8583", seed: seed))
        for (alg, failures) in tally.mismatches { Issue.record("\(alg): \(failures.count) mismatches, first: \(failures[0])") }
        #expect(tally.cases["pyiso8583 → Passway decode", default: 0] >= Self.cases)
    }

    @Test func pyISO8583ReadsWhatPasswayPacks() throws {
        guard oracleAvailable() else { return }
        let seed = SplitMix64.seed(for: "PyISO8583OracleTests.passwayToPyiso8583")
        var rng = SplitMix64(seed: seed)
        var messages: [Message] = []
        var input = ""
        for _ in 0..<Self.cases {
            let m = RandomMessages.message(&rng)
            messages.append(m)
            input += try codec.pack(m).hex + "\n"
        }
        let lines = try Oracle.lines(script: "iso8583_oracle.py", arguments: ["decode"], stdin: input)
        #expect(lines.count == messages.count)
        var tally = OracleTally()
        for (message, line) in zip(messages, lines) {
            let decoded = line["dict"] as? [String: String]
            tally.record("Passway → pyiso8583 decode", ok: decoded == message.pyiso8583Dictionary,
                         detail: "\(message.pyiso8583Dictionary) read back as \(String(describing: line))")
        }
        print(tally.report(oracle: "pyiso8583", seed: seed))
        for (alg, failures) in tally.mismatches { Issue.record("\(alg): \(failures.count) mismatches, first: \(failures[0])") }
        #expect(tally.cases["Passway → pyiso8583 decode", default: 0] >= Self.cases)
    }
}
