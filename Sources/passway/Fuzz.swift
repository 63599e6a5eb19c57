import ArgumentParser
import Foundation
import EMV
import ISO8583

struct Fuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throw random and mutated bytes at the ISO 8583 and BER-TLV decoders.",
        discussion: "Every input must decode or be refused with a typed error; a crash stops the run and its seed replays it.")

    @Option(help: "Number of inputs.") var iterations: Int = 1_000_000
    @Option(help: "Seed (printed; the same seed replays the same inputs).") var seed: UInt64 = UInt64.random(in: 1...UInt64(UInt32.max))

    func validate() throws {
        guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
    }

    func run() throws {
        print("fuzzing \(iterations) inputs, seed \(seed)")
        var rng = Xorshift(seed: seed)
        let codec = ISO8583Codec()
        // Well-formed messages to mutate: a contactless 0100 with field 55.
        var base = Message(mti: "0100")
        base.set(2, "4111111111111111"); base.set(3, "000000"); base.set(4, "000000012345")
        base.set(7, "1125120000"); base.set(11, "000001"); base.set(14, "2812"); base.set(22, "071")
        base.set(41, "TERM0001"); base.set(42, "MERCHANT0000001"); base.set(49, "643")
        base[55] = try Hex.decode("9F02060000000123459F03060000000000009F1A0206435F2A0206439A032611259C01009F3704DEADBEEF82021980"
                                   + "9F360200019F2608A1B2C3D4E5F607189F2701809F100706010A03A00000")
        let seedMessage = try codec.pack(base)
        var decoded = 0, refused = 0, tlvDecoded = 0, tlvRefused = 0
        let start = Date()
        var lastReport = start
        for i in 0..<iterations {
            var input: [UInt8]
            if i % 2 == 0 {
                input = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                input = seedMessage
                for _ in 0..<(1 + rng.next() % 6) {
                    input[Int(rng.next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if (try? codec.unpack(input)) != nil { decoded += 1 } else { refused += 1 }
            if (try? BERTLV.decode(input)) != nil { tlvDecoded += 1 } else { tlvRefused += 1 }
            if i & 0x3FFF == 0, Date().timeIntervalSince(lastReport) > 0.5 {
                lastReport = Date()
                let rate = Double(i) / lastReport.timeIntervalSince(start)
                let width = 30, done = Int(Double(width) * Double(i) / Double(iterations))
                let bar = String(repeating: "█", count: done) + String(repeating: "░", count: width - done)
                FileHandle.standardError.write(Data("\r\(bar) \(i)/\(iterations)  \(Int(rate)) inputs/s".utf8))
            }
        }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        let seconds = Date().timeIntervalSince(start)
        print("ISO 8583: \(decoded) decoded, \(refused) refused with a typed error")
        print("BER-TLV:  \(tlvDecoded) decoded, \(tlvRefused) refused with a typed error")
        print("0 crashes in \(iterations) inputs, \(String(format: "%.1f", seconds)) s (\(Int(Double(iterations) / max(seconds, 0.001))) inputs/s)")
    }
}

/// xorshift64*: a fast seedable generator for the fuzz loop.
struct Xorshift {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
