import Foundation

/// SplitMix64: a small, fast, seedable generator for property tests. Every randomised
/// test prints its seed; set `PASSWAY_SEED` to replay one.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The seed from `PASSWAY_SEED`, or a fresh one; printed either way.
    public static func seed(for test: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["PASSWAY_SEED"].flatMap(UInt64.init)
            ?? UInt64.random(in: 1...UInt64(Int32.max))
        print("\(test): seed \(seed) (replay with PASSWAY_SEED=\(seed))")
        return seed
    }
}

extension RandomNumberGenerator {
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

/// Parses hex in tests, where a malformed literal is a bug in the test itself.
public func hex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var chars = Array(text.filter { !$0.isWhitespace })
    if chars.count % 2 == 1 { chars.insert("0", at: 0) }
    var i = 0
    while i < chars.count {
        out.append(UInt8(String(chars[i...i + 1]), radix: 16)!)
        i += 2
    }
    return out
}
