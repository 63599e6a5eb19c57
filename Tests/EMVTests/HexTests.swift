import EMV
import Testing

@Suite struct HexTests {
    /// Random bytes: the contiguous fast path writes what the byte-by-byte path writes,
    /// upper-case, two digits a byte, and decoding gives the bytes back.
    @Test func encodeAgreesWithItselfAndRoundTrips() throws {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 2, 15, 16, 255, 1024] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let fast = Hex.encode(bytes)
            let slow = Hex.encode(bytes.lazy.map { $0 })  // a sequence without contiguous storage
            #expect(fast == slow)
            #expect(fast.utf8.count == length * 2)
            #expect(fast.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) })
            #expect(try Hex.decode(fast) == bytes)
        }
        #expect(Hex.encode([0x00, 0x09, 0x0A, 0xAF, 0xF0, 0xFF]) == "00090AAFF0FF")
    }
}
