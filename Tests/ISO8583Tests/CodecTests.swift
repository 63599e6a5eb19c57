import Testing
@testable import ISO8583
import EMV
import TestSupport

@Suite struct CodecTests {
    let codec = ISO8583Codec()

    /// A contactless 0100 as an acquirer sends it, byte for byte.
    @Test func packsATypicalAuthorizationRequest() throws {
        var m = Message(mti: "0100")
        m.set(2, "4111111111111111")
        m.set(3, "000000")
        m.set(4, "000000012345")
        m.set(11, "000001")
        m.set(22, "071")
        m.set(41, "TERM0001")
        m.set(49, "643")
        m[55] = hex("9F02060000000123459F360200019F2608A1B2C3D4E5F60718")
        let packed = try codec.pack(m)
        #expect(Hex.encode(packed.prefix(12)) == "30313030" + "7020040000808200")
        #expect(String(decoding: packed[12..<30], as: UTF8.self) == "164111111111111111")
        #expect(try codec.unpack(packed) == m)
    }

    @Test func secondaryBitmapAppearsOnlyWithFieldsAbove64() throws {
        var m = Message(mti: "0800")
        m.set(7, "1125120000")
        m.set(11, "000042")
        #expect(try codec.pack(m).count == 4 + 8 + 10 + 6)
        m.set(70, "301")
        let packed = try codec.pack(m)
        #expect(packed.count == 4 + 16 + 10 + 6 + 3)
        #expect(packed[4] & 0x80 != 0)
        #expect(try codec.unpack(packed).string(70) == "301")
    }

    @Test func packRefusesValuesThatBreakTheSpec() {
        var m = Message(mti: "0100")
        m.set(3, "00000")
        #expect(throws: EncodeError.wrongLength(field: 3, expected: 6, actual: 5)) { try codec.pack(m) }
        m.set(3, "00000A")
        #expect(throws: EncodeError.invalidCharacter(field: 3, position: 5, type: .numeric)) { try codec.pack(m) }
        m.set(3, "000000")
        m.set(2, String(repeating: "4", count: 20))
        #expect(throws: EncodeError.tooLong(field: 2, max: 19, actual: 20)) { try codec.pack(m) }
        #expect(throws: EncodeError.invalidMTI("01X0")) { try codec.pack(Message(mti: "01X0")) }
    }

    @Test func decodeErrorsNameTheFieldAndTheOffset() throws {
        var m = Message(mti: "0100")
        m.set(2, "4111111111111111")
        m.set(3, "000000")
        let packed = try codec.pack(m)
        // Cut inside field 3.
        #expect(throws: DecodeError.truncated(field: .data(3), offset: 30, needed: 6, available: 2)) {
            try codec.unpack(Array(packed.prefix(32)))
        }
        // A letter inside the PAN.
        var bad = packed
        bad[16] = UInt8(ascii: "X")
        #expect(throws: DecodeError.invalidCharacter(field: 2, offset: 16, type: .numeric)) { try codec.unpack(bad) }
        // A length prefix above the field's maximum.
        bad = packed
        bad[12] = UInt8(ascii: "2"); bad[13] = UInt8(ascii: "0")
        #expect(throws: DecodeError.fieldTooLong(field: 2, offset: 12, max: 19, length: 20)) { try codec.unpack(bad) }
        #expect(throws: DecodeError.trailingBytes(offset: packed.count, count: 1)) { try codec.unpack(packed + [0x30]) }
        #expect(DecodeError.invalidCharacter(field: 2, offset: 16, type: .numeric).field == 2)
    }

    @Test func field55KeepsUnknownTagsInOrder() throws {
        var m = Message(mti: "0100")
        let icc: [TLV] = [TLV(EMV.Tag(0x9F26), hex("0102030405060708")), TLV(EMV.Tag(0xDF7F), [0xAA]), TLV(EMV.Tag(0x9F36), [0, 1])]
        try m.setICCData(icc)
        let back = try codec.unpack(codec.pack(m))
        #expect(try back.iccData() == icc)
        var broken = m
        broken[55] = hex("9F2608AABB")
        #expect(throws: DecodeError.self) { try broken.iccData() }
    }

    @Test func logDescriptionMasksThePAN() throws {
        var m = Message(mti: "0100")
        m.set(2, "4111111111111111")
        m.set(35, "4111111111111111=2812201")
        m[55] = [0x9F, 0x36, 0x02, 0x00, 0x01]
        let text = m.description
        #expect(text.contains("2=411111******1111"))
        #expect(!text.contains("4111111111111111"))
        #expect(text.contains("55=<5 bytes>"))
    }

    @Test(.heavy) func randomMessagesRoundTrip() throws {
        let seed = SplitMix64.seed(for: "CodecTests.randomMessagesRoundTrip")
        var rng = SplitMix64(seed: seed)
        for _ in 0..<10_000 {
            let m = RandomMessages.message(&rng)
            let packed = try codec.pack(m)
            #expect(try codec.unpack(packed) == m)
        }
    }

    /// At least 100,000 random and mutated messages: each unpacks or throws a
    /// `DecodeError`; none crashes, hangs or reads out of bounds.
    @Test(.heavy) func randomAndMutatedBytesNeverCrash() throws {
        let seed = SplitMix64.seed(for: "CodecTests.randomAndMutatedBytesNeverCrash")
        var rng = SplitMix64(seed: seed)
        var decoded = 0, refused = 0
        let valid = try (0..<64).map { _ in try codec.pack(RandomMessages.message(&rng)) }
        for i in 0..<150_000 {
            var input: [UInt8]
            switch i % 3 {
            case 0:
                input = rng.bytes(Int.random(in: 0...300, using: &rng))
            case 1:
                // A valid MTI and bitmap, then noise: reaches deep into the field loop.
                input = Array("0100".utf8) + rng.bytes(Int.random(in: 8...400, using: &rng))
            default:
                input = valid.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if Int.random(in: 0..<4, using: &rng) == 0 { input = Array(input.prefix(Int.random(in: 0...input.count, using: &rng))) }
            }
            do {
                let m = try codec.unpack(input)
                decoded += 1
                _ = try? m.iccData()
            } catch {
                refused += 1
            }
        }
        print("ISO 8583 fuzz [seed \(seed)]: \(decoded + refused) inputs, \(decoded) decoded, \(refused) refused with a typed error, 0 crashes")
        #expect(decoded + refused == 150_000)
        #expect(decoded > 0 && refused > 0)
    }
}

@Suite struct FramingTests {
    @Test func framesReassembleFromAnySplit() throws {
        let seed = SplitMix64.seed(for: "FramingTests.framesReassembleFromAnySplit")
        var rng = SplitMix64(seed: seed)
        let payloads = (0..<200).map { _ in rng.bytes(Int.random(in: 1...600, using: &rng)) }
        var stream: [UInt8] = []
        for p in payloads { stream += try LengthPrefixFraming.frame(p) }
        var decoder = LengthPrefixFrameDecoder()
        var received: [[UInt8]] = []
        var offset = 0
        while offset < stream.count {
            let n = min(Int.random(in: 1...97, using: &rng), stream.count - offset)
            decoder.append(stream[offset..<offset + n])
            offset += n
            while let frame = try decoder.next() { received.append(frame) }
        }
        #expect(received == payloads)
        #expect(decoder.pendingByteCount == 0)
    }

    @Test func oversizedFramesAreRefusedBeforeBuffering() {
        var decoder = LengthPrefixFrameDecoder(maxFrameLength: 4096)
        decoder.append([0x20, 0x00])
        #expect(throws: FramingError.frameTooLong(0x2000, max: 4096)) { try decoder.next() }
    }

    @Test func emptyFramesAreSkipped() throws {
        var decoder = LengthPrefixFrameDecoder()
        decoder.append([0, 0, 0, 2, 0xAB, 0xCD, 0, 0])
        #expect(try decoder.next() == [0xAB, 0xCD])
        #expect(try decoder.next() == nil)
    }
}

@Suite struct TertiaryBitmapTests {
    /// Bit 65 announces a tertiary bitmap in 1987 implementations; Passway has no
    /// fields above 128 and says so rather than misreading the next 8 bytes.
    @Test func bit65IsRefusedAsUndefined() throws {
        var bytes = Array("0100".utf8) + [0x80, 0, 0, 0, 0, 0, 0, 0] + [0x80, 0, 0, 0, 0, 0, 0, 0]
        bytes += [UInt8](repeating: 0, count: 8)
        #expect(throws: DecodeError.fieldNotInSpec(field: 65, offset: 20)) { try ISO8583Codec().unpack(bytes) }
    }
}
