/// The Data Encryption Standard block cipher (FIPS 46-3), written here because no
/// library on these machines has it, and checked against the NIST SP 800-20 known
/// answers and against an independent implementation (`psec`).
///
/// The permutations are precomputed into byte-indexed tables, and the S-boxes are
/// merged with the P permutation (the classic "SP box"), so a block costs a few dozen
/// table look-ups rather than a loop over bits.
struct DESKeySchedule: Sendable {
    /// 16 round keys, each eight 6-bit groups (one per S-box) in the low bits of a byte.
    let rounds: [UInt64]

    init(key: UInt64) {
        let permuted = DESTables.pc1.apply(key) // 56 bits, right-aligned
        var c = UInt32(truncatingIfNeeded: permuted >> 28) & 0x0FFF_FFFF
        var d = UInt32(truncatingIfNeeded: permuted) & 0x0FFF_FFFF
        var rounds: [UInt64] = []
        rounds.reserveCapacity(16)
        for shift in DESTables.shifts {
            c = ((c << shift) | (c >> (28 - shift))) & 0x0FFF_FFFF
            d = ((d << shift) | (d >> (28 - shift))) & 0x0FFF_FFFF
            let cd = (UInt64(c) << 28) | UInt64(d)
            rounds.append(DESTables.pc2.apply(cd)) // 48 bits, right-aligned
        }
        self.rounds = rounds
    }

    @inline(__always)
    func crypt(_ block: UInt64, decrypt: Bool) -> UInt64 {
        let ip = DESTables.ip.apply(block)
        var left = UInt32(truncatingIfNeeded: ip >> 32)
        var right = UInt32(truncatingIfNeeded: ip)
        let sp = DESTables.sp
        rounds.withUnsafeBufferPointer { keys in
            sp.withUnsafeBufferPointer { sp in
                for i in 0..<16 {
                    let k = keys[decrypt ? 15 - i : i]
                    // E expansion: the 32 bits of R with the neighbouring bit on either
                    // side, read as eight overlapping 6-bit groups.
                    let r = UInt64(right)
                    let x = (UInt64(right & 1) << 33) | (r << 1) | (r >> 31)
                    var f: UInt32 = 0
                    for box in 0..<8 {
                        let shift = UInt64(28 - 4 * box)
                        let group = Int(((x >> shift) ^ (k >> UInt64(42 - 6 * box))) & 0x3F)
                        f |= sp[box &* 64 &+ group]
                    }
                    (left, right) = (right, left ^ f)
                }
            }
        }
        // The halves are not swapped after the last round.
        return DESTables.fp.apply((UInt64(right) << 32) | UInt64(left))
    }
}

/// A bit permutation as data (FIPS 46-3 numbering: bit 1 is the most significant of
/// `inputBits`), expanded into one table per input byte so applying it is eight look-ups.
struct BitPermutation: Sendable {
    private let table: [UInt64] // 8 * 256
    private let inputBytes: Int

    init(_ positions: [Int], inputBits: Int) {
        precondition(inputBits % 8 == 0 || inputBits == 56)
        let bytes = (inputBits + 7) / 8
        let outBits = positions.count
        var table = [UInt64](repeating: 0, count: bytes * 256)
        for byteIndex in 0..<bytes {
            for value in 0..<256 {
                var out: UInt64 = 0
                for bit in 0..<8 where value & (0x80 >> bit) != 0 {
                    // Input bit number (1-based from the MSB of the input width).
                    let inputBit = byteIndex * 8 + bit + 1 - (bytes * 8 - inputBits)
                    guard inputBit >= 1 else { continue }
                    for (o, p) in positions.enumerated() where p == inputBit {
                        out |= 1 << UInt64(outBits - 1 - o)
                    }
                }
                table[byteIndex * 256 + value] = out
            }
        }
        self.table = table
        self.inputBytes = bytes
    }

    @inline(__always)
    func apply(_ input: UInt64) -> UInt64 {
        table.withUnsafeBufferPointer { t in
            var out: UInt64 = 0
            var shift = UInt64(inputBytes * 8 - 8)
            for i in 0..<inputBytes {
                out |= t[i &* 256 &+ Int((input >> shift) & 0xFF)]
                shift &-= 8
            }
            return out
        }
    }
}

enum DESTables {
    static let ipPositions = [
        58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
        62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
        57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
        61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
    ]
    static let fpPositions = [
        40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31,
        38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29,
        36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
        34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
    ]
    static let pc1Positions = [
        57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
        10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
        63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
        14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
    ]
    static let pc2Positions = [
        14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
        23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
        41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
        44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
    ]
    static let pPositions = [
        16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
        2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
    ]
    static let shifts: [UInt32] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
    static let sBoxes: [[UInt8]] = [
        [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
         0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
         4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
         15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
        [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
         3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
         0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
         13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
        [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
         13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
         13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
         1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
        [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
         13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
         10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
         3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
        [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
         14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
         4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
         11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
        [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
         10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
         9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
         4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
        [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
         13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
         1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
         6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
        [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
         1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
         7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
         2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
    ]

    static let ip = BitPermutation(ipPositions, inputBits: 64)
    static let fp = BitPermutation(fpPositions, inputBits: 64)
    static let pc1 = BitPermutation(pc1Positions, inputBits: 64)
    static let pc2 = BitPermutation(pc2Positions, inputBits: 56)

    /// S-box `b` for 6-bit input `v` (row from the outer bits, column from the inner
    /// four), its 4-bit output placed at its position and then put through P.
    static let sp: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 64)
        for box in 0..<8 {
            for v in 0..<64 {
                let row = ((v >> 4) & 0b10) | (v & 1)
                let column = (v >> 1) & 0xF
                let s = UInt32(sBoxes[box][row * 16 + column])
                let placed = s << UInt32(28 - 4 * box)
                var permuted: UInt32 = 0
                for (o, p) in pPositions.enumerated() where placed & (1 << UInt32(32 - p)) != 0 {
                    permuted |= 1 << UInt32(31 - o)
                }
                table[box * 64 + v] = permuted
            }
        }
        return table
    }()
}
