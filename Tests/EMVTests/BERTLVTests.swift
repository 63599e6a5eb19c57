import Testing
@testable import EMV
import TestSupport

@Suite struct BERTLVTests {
    @Test func decodesNestedMultiByteTagsAndLongLengths() throws {
        let long = [UInt8](repeating: 0xAB, count: 200)
        let bytes = hex("6F 81D3 84 02 A0B1 A5 81CC 9F38 81C8") + long
        let objects = try BERTLV.decode(bytes)
        #expect(objects.count == 1)
        #expect(objects[0].tag == .fciTemplate)
        #expect(objects.value(.dedicatedFileName) == hex("A0B1"))
        #expect(objects.value(.pdol) == long)
        #expect(BERTLV.encode(objects) == bytes)
    }

    @Test func threeByteTag() throws {
        let objects = try BERTLV.decode(hex("DF8101 02 1234"))
        #expect(objects[0].tag.value == 0xDF8101)
        #expect(objects[0].tag.hex == "DF8101")
    }

    @Test func unknownTagsAreKeptInOrder() throws {
        let bytes = hex("9F36 02 0001 DF7F 01 AA 9F26 08 0102030405060708 C1 00")
        let objects = try BERTLV.decode(bytes)
        #expect(objects.map(\.tag.hex) == ["9F36", "DF7F", "9F26", "C1"])
        #expect(BERTLV.encode(objects) == bytes)
    }

    @Test(arguments: [
        ("9F", TLVError.truncatedTag(offset: 0, path: [])),
        ("9F36", TLVError.truncatedLength(tag: EMV.Tag(0x9F36), offset: 2, path: [])),
        ("9F3605AABB", TLVError.valueOverrun(tag: EMV.Tag(0x9F36), offset: 3, declared: 5, available: 2, path: [])),
        ("5A80", TLVError.indefiniteLength(tag: EMV.Tag(0x5A), offset: 1, path: [])),
        ("5A84FFFFFFFF", TLVError.lengthTooLong(tag: EMV.Tag(0x5A), offset: 1, lengthBytes: 4, path: [])),
        ("5A82FF", TLVError.truncatedLength(tag: EMV.Tag(0x5A), offset: 2, path: [])),
        ("70 04 9F36 05 00", TLVError.valueOverrun(tag: EMV.Tag(0x9F36), offset: 5, declared: 5, available: 1, path: [EMV.Tag(0x70)])),
        ("DFFFFFFF01 00", TLVError.tagTooLong(offset: 0, path: [])),
    ])
    func malformedInputIsATypedErrorWithOffsetAndPath(input: String, expected: TLVError) {
        #expect(throws: expected) { try BERTLV.decode(hex(input)) }
    }

    @Test func nestingIsBounded() {
        // 70 nested 20 deep, each wrapping the next.
        var bytes: [UInt8] = []
        for _ in 0..<20 { bytes = [0x70, UInt8(bytes.count)] + bytes }
        #expect(throws: TLVError.self) { try BERTLV.decode(bytes) }
    }

    @Test func errorsNameTheTagPath() {
        do {
            _ = try BERTLV.decode(hex("77 06 70 04 9F36 05 00"))
            Issue.record("should have thrown")
        } catch {
            #expect(error.description.contains("inside 77/70"))
        }
    }

    @Test(.heavy) func randomTreesRoundTrip() throws {
        let seed = SplitMix64.seed(for: "BERTLVTests.randomTreesRoundTrip")
        var rng = SplitMix64(seed: seed)
        for _ in 0..<5_000 {
            let tree = randomTree(&rng, depth: 0)
            let bytes = BERTLV.encode(tree)
            #expect(try BERTLV.decode(bytes) == tree)
        }
    }

    /// At least 100,000 random and mutated inputs: every one decodes or throws a
    /// `TLVError`; none crashes, hangs or reads out of bounds.
    @Test(.heavy) func randomAndMutatedBytesNeverCrash() throws {
        let seed = SplitMix64.seed(for: "BERTLVTests.randomAndMutatedBytesNeverCrash")
        var rng = SplitMix64(seed: seed)
        var decoded = 0, refused = 0
        let valid = BERTLV.encode(randomTree(&rng, depth: 0))
        for i in 0..<120_000 {
            var input: [UInt8]
            if i % 2 == 0 {
                input = rng.bytes(Int.random(in: 0...64, using: &rng))
            } else {
                input = valid
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !input.isEmpty {
                    input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if Bool.random(using: &rng) { input = Array(input.prefix(Int.random(in: 0...input.count, using: &rng))) }
            }
            do { _ = try BERTLV.decode(input); decoded += 1 } catch { refused += 1 }
        }
        print("TLV fuzz [seed \(seed)]: \(decoded + refused) inputs, \(decoded) decoded, \(refused) refused with a typed error, 0 crashes")
        #expect(decoded + refused == 120_000)
        #expect(refused > 0 && decoded > 0)
    }

    private func randomTree(_ rng: inout SplitMix64, depth: Int) -> [TLV] {
        (0..<Int.random(in: 1...5, using: &rng)).map { _ in
            let constructed = depth < 3 && Int.random(in: 0..<5, using: &rng) == 0
            let cls = UInt32([0x00, 0x40, 0x80, 0xC0].randomElement(using: &rng)!)
            let c: UInt32 = constructed ? 0x20 : 0
            let tag: EMV.Tag
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: tag = EMV.Tag(cls | c | UInt32.random(in: 1...0x1E, using: &rng))
            case 1: tag = EMV.Tag((cls | c | 0x1F) << 8 | UInt32.random(in: 1...0x7F, using: &rng))
            default: tag = EMV.Tag((cls | c | 0x1F) << 16 | UInt32.random(in: 0x81...0xFF, using: &rng) << 8 | UInt32.random(in: 1...0x7F, using: &rng))
            }
            if constructed { return TLV(tag, children: randomTree(&rng, depth: depth + 1)) }
            let size = [0, 1, 8, Int.random(in: 0...127, using: &rng), Int.random(in: 128...400, using: &rng)].randomElement(using: &rng)!
            return TLV(tag, rng.bytes(size))
        }
    }
}
