import Clearing
import Foundation
import Testing
import TestSupport

/// The IPM codec and the VBS record format against `cardutil` (PyPI), an independent
/// implementation: files Passway writes are read by cardutil with the same values, field
/// for field and PDS for PDS; files cardutil writes are read by Passway. EBCDIC (code page
/// 500) and ISO 8859-1, VBS plain and 1014-blocked.
@Suite struct IPMTests {
    /// Random messages over the whole layout: every element at times, lengths from empty
    /// to the limit, text with ISO 8859-1 letters beyond ASCII, DE 55 binary, PDS in 48.
    static func messages(count: Int, seed: UInt64) throws -> [IPMMessage] {
        var rng = SplitMix64(seed: seed)
        let alphabet = Array("0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/-.,'&éÄßøÑ".unicodeScalars)
        func text(_ n: Int) -> String { String(String.UnicodeScalarView((0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })) }
        return try (0..<count).map { _ in
            var m = IPMMessage(mti: ["1240", "1442", "1644", "1740"].randomElement(using: &rng) ?? "1240")
            for (n, spec) in IPMLayout.fields.sorted(by: { $0.key < $1.key }) where !IPMLayout.pdsElements.contains(n) && Bool.random(using: &rng) {
                let size: Int = switch spec.length {
                case .fixed(let k): k
                case .llvar(let max), .lllvar(let max): Int.random(in: 0...min(max, 120), using: &rng)
                }
                if spec.binary {
                    // Chip data as BER-TLV (cardutil reads DE 55 as tags): two-byte tags, short lengths.
                    var tlv: [UInt8] = []
                    for _ in 0..<Int.random(in: 0...6, using: &rng) {
                        let value = (0..<Int.random(in: 0...20, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                        tlv += [0x9F, UInt8.random(in: 0x01...0x7F, using: &rng), UInt8(value.count)] + value
                    }
                    m.fields[n] = tlv
                } else {
                    m[n] = text(size)
                }
            }
            var pds: [Int: String] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &rng) { pds[Int.random(in: 1...999, using: &rng)] = text(Int.random(in: 0...40, using: &rng)) }
            try m.setPDS(pds)
            return m
        }
    }

    /// The oracle's view of a message: "DEn" as text, DE 55 as hex, "PDSnnnn".
    static func view(_ m: IPMMessage) throws -> [String: String] {
        var v: [String: String] = ["MTI": m.mti]
        for (n, value) in m.fields {
            v["DE\(n)"] = n == 55 ? value.map { String(format: "%02X", $0) }.joined() : m[n]
        }
        for (tag, value) in try m.pds() { v["PDS" + String(format: "%04d", tag)] = value }
        return v
    }

    static func available() -> Bool {
        if (try? Oracle.lines(script: "ipm_oracle.py", arguments: ["cp500"])) != nil { return true }
        if Oracle.isCI { Issue.record("cardutil is missing: pip install cardutil") }
        return false
    }

    @Test func theCodePageIsCardutilsCP500() throws {
        guard Self.available() else { return }
        let table = try #require(try Oracle.lines(script: "ipm_oracle.py", arguments: ["cp500"]).first?["cp500"] as? [Int])
        #expect(table == EBCDIC.fromLatin1.map(Int.init))
        #expect((0...255).allSatisfy { EBCDIC.toLatin1[Int(EBCDIC.fromLatin1[$0])] == UInt8($0) })
    }

    @Test(arguments: [(IPMCodec.CharacterSet.ebcdic, true), (.ebcdic, false), (.latin1, true), (.latin1, false)])
    func cardutilReadsWhatPasswayWrites(_ characterSet: IPMCodec.CharacterSet, _ blocked: Bool) throws {
        guard Self.available() else { return }
        // IPM_SEED=n repeats a run whose seed a failure printed.
        let seed = ProcessInfo.processInfo.environment["IPM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let messages = try Self.messages(count: 300, seed: seed)
        let codec = IPMCodec(characterSet)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ipm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(VBS.write(try messages.map(codec.pack), blocked: blocked)).write(to: URL(fileURLWithPath: file))
        let read = try Oracle.lines(script: "ipm_oracle.py", arguments: ["read", file, characterSet == .ebcdic ? "cp500" : "latin_1", blocked ? "1" : "0"])
        #expect(read.count == messages.count, "seed \(seed)")
        var mismatched = 0
        for (theirs, ours) in zip(read, messages) {
            let expected = try Self.view(ours)
            let got = theirs.compactMapValues { $0 as? String }
            if got != expected {
                mismatched += 1
                if mismatched <= 3 { Issue.record("seed \(seed): cardutil read \(got.filter { expected[$0.key] != $0.value }) where Passway wrote \(expected.filter { got[$0.key] != $0.value })") }
            }
        }
        print("oracle cardutil [seed \(seed)]: IPM \(characterSet) blocked=\(blocked), Passway → cardutil: \(messages.count) records, \(mismatched) mismatched")
        #expect(mismatched == 0)
    }

    @Test(arguments: [(IPMCodec.CharacterSet.ebcdic, true), (.latin1, false)])
    func passwayReadsWhatCardutilWrites(_ characterSet: IPMCodec.CharacterSet, _ blocked: Bool) throws {
        guard Self.available() else { return }
        let seed = ProcessInfo.processInfo.environment["IPM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64(UInt32.max))
        // cardutil leaves out an element whose value is empty: so do these.
        let messages = try Self.messages(count: 300, seed: seed).map { m in
            var m = m
            m.fields = m.fields.filter { !$0.value.isEmpty }
            return m
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ipm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        // cardutil is given the elements (48 and the others as built), not the PDS keys.
        let input = try messages.map { m -> String in
            var v = try Self.view(m)
            v = v.filter { !$0.key.hasPrefix("PDS") }
            return String(decoding: try JSONSerialization.data(withJSONObject: v), as: UTF8.self)
        }.joined(separator: "\n") + "\n"
        _ = try Oracle.lines(script: "ipm_oracle.py", arguments: ["write", file, characterSet == .ebcdic ? "cp500" : "latin_1", blocked ? "1" : "0"],
                             stdin: input)
        let codec = IPMCodec(characterSet)
        let records = try VBS.read(Array(try Data(contentsOf: URL(fileURLWithPath: file))), blocked: blocked)
        let read = try records.map(codec.unpack)
        #expect(read.count == messages.count, "seed \(seed)")
        var mismatched = 0
        for (ours, theirs) in zip(read, messages) where ours != theirs {
            mismatched += 1
            if mismatched <= 3 {
                let (a, b) = (try Self.view(ours), try Self.view(theirs))
                Issue.record("seed \(seed): Passway read \(a.filter { b[$0.key] != $0.value }) where cardutil was given \(b.filter { a[$0.key] != $0.value })")
            }
        }
        #expect(mismatched == 0, "seed \(seed)")
        print("oracle cardutil [seed \(seed)]: IPM \(characterSet) blocked=\(blocked), cardutil → Passway: \(read.count) records")
    }

    /// Bad records are errors, never traps: every truncation of a record, and lengths
    /// that are not digits or lie.
    @Test func badRecordsAreErrors() throws {
        let codec = IPMCodec(.ebcdic)
        for message in try Self.messages(count: 20, seed: 7) {
            let bytes = try codec.pack(message)
            #expect(try codec.unpack(bytes) == message)
            for cut in 0..<bytes.count { #expect(throws: IPMError.self) { try codec.unpack(Array(bytes[0..<cut])) } }
            #expect(throws: IPMError.self) { try codec.unpack(bytes + [0x40]) }
        }
        var m = IPMMessage(mti: "1240")
        m[3] = "00000"
        #expect(throws: IPMError.badValue(element: 3, reason: "5 characters where 6 are fixed")) { try codec.pack(m) }
        m[3] = nil
        m[7] = "X"
        #expect(throws: IPMError.notInLayout(7)) { try codec.pack(m) }
        #expect(throws: IPMError.badMTI) { try codec.pack(IPMMessage(mti: "12A0")) }
        // VBS: a record that claims more than the file holds, a missing end record, a bad block.
        #expect(throws: VBS.Error.truncated(record: 0)) { try VBS.read([0, 0, 0, 9, 1, 2], blocked: false) }
        #expect(throws: VBS.Error.noEndRecord) { try VBS.read([0, 0, 0, 1, 1], blocked: false) }
        #expect(throws: VBS.Error.badBlock(0)) { try VBS.read([UInt8](repeating: 0, count: 1014), blocked: true) }
        #expect(try VBS.read(try VBS.write([[1, 2, 3], []].filter { !$0.isEmpty }, blocked: true), blocked: true) == [[1, 2, 3]])
    }
}
