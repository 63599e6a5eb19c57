import Benchmark
import Foundation
import EMV
import ISO8583

/// The hot functions of an authorization: unpacking the acquirer's 0100, parsing its
/// field 55, verifying the ARQC, packing the answer.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
        warmupIterations: 100,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    let fixture = Fixture.make()
    let codec = ISO8583Codec()

    Benchmark("ISO 8583 pack (contactless 0100)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try codec.pack(fixture.message))
        }
    }

    Benchmark("ISO 8583 unpack (contactless 0100)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try codec.unpack(fixture.packed))
        }
    }

    Benchmark("BER-TLV parse (field 55)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try BERTLV.decode(fixture.field55))
        }
    }

    // The acquirer port's MAC (issue 13): the request's verified, the answer's sealed.
    let tdes = MACKey.tdes(try! TDESKey(hex: "0123456789ABCDEFFEDCBA9876543210"))
    let aes = MACKey.aes(try! AESKey(hex: "000102030405060708090A0B0C0D0E0F"))
    let macd = try! MessageAuthentication.seal(fixture.message, key: tdes, codec: codec)
    let cmacd = try! MessageAuthentication.seal(fixture.message, key: aes, codec: codec)
    var answer = fixture.message.answer(.approved, echoing: [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49])
    answer.set(38, "123456")
    answer[55] = [0x91, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8, 0x30, 0x30]

    Benchmark("MAC verify (0100, ISO 9797-1 alg. 3)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try MessageAuthentication.verify(frame: macd.bytes, message: macd.message, key: tdes))
        }
    }

    Benchmark("MAC verify (0100, AES-CMAC)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try MessageAuthentication.verify(frame: cmacd.bytes, message: cmacd.message, key: aes))
        }
    }

    Benchmark("MAC seal (0110, ISO 9797-1 alg. 3)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try MessageAuthentication.seal(answer, key: tdes, codec: codec))
        }
    }

    Benchmark("ARQC verify (session key derivation + MAC 3)") { benchmark in
        for _ in benchmark.scaledIterations {
            let sk = SessionKeyDerivation.commonSessionKey(master: fixture.tokenMasterKey, atc: fixture.input.atc)
            blackHole(ApplicationCryptogram.verify(fixture.arqc, sessionKey: sk, data: fixture.input.bytes))
        }
    }

    Benchmark("ARQC verify (from issuer master key, Option A)") { benchmark in
        for _ in benchmark.scaledIterations {
            let mk = MasterKeyDerivation.optionA(issuerMasterKey: fixture.issuerMasterKey, pan: fixture.pan)
            let sk = SessionKeyDerivation.commonSessionKey(master: mk, atc: fixture.input.atc)
            blackHole(ApplicationCryptogram.verify(fixture.arqc, sessionKey: sk, data: fixture.input.bytes))
        }
    }
}

/// A typical contactless authorization: the fields an acquirer sends for a tap and
/// the chip data of a Passway token.
struct Fixture {
    let message: Message
    let packed: [UInt8]
    let field55: [UInt8]
    let issuerMasterKey: TDESKey
    let tokenMasterKey: TDESKey
    let pan: PAN
    let input: CryptogramInput
    let arqc: [UInt8]

    static func make() -> Fixture {
        let imk = try! TDESKey(hex: "0123456789ABCDEFFEDCBA9876543210")
        let pan = try! PAN("4895370012345678".dropLast() + String(Luhn.checkDigit(for: "489537001234567")!))
        let mk = MasterKeyDerivation.optionA(issuerMasterKey: imk, pan: pan)
        let input = CryptogramInput(amountAuthorised: 150_000, terminalCountryCode: 643, transactionCurrencyCode: 643,
                                    transactionDate: "261125", unpredictableNumber: [0xDE, 0xAD, 0xBE, 0xEF],
                                    atc: ApplicationTransactionCounter(42))
        let sk = SessionKeyDerivation.commonSessionKey(master: mk, atc: input.atc)
        let arqc = ApplicationCryptogram.generate(sessionKey: sk, data: input.bytes)
        let icc: [TLV] = [
            TLV(.applicationCryptogram, arqc),
            TLV(.cryptogramInformationData, [0x80]),
            TLV(.issuerApplicationData, [0x06, 0x01, 0x0A, 0x03, 0xA0, 0x00, 0x00]),
            TLV(.unpredictableNumber, input.unpredictableNumber),
            TLV(.applicationTransactionCounter, input.atc.bytes),
            TLV(.terminalVerificationResults, input.terminalVerificationResults),
            TLV(.transactionDate, [0x26, 0x11, 0x25]),
            TLV(.transactionType, [0x00]),
            TLV(.amountAuthorised, bcd(input.amountAuthorised, digits: 12)),
            TLV(.transactionCurrencyCode, [0x06, 0x43]),
            TLV(.applicationInterchangeProfile, input.applicationInterchangeProfile),
            TLV(.terminalCountryCode, [0x06, 0x43]),
            TLV(.amountOther, bcd(0, digits: 12)),
            TLV(.cvmResults, [0x1F, 0x03, 0x02]),
            TLV(.panSequenceNumber, [0x00]),
        ]
        var m = Message(mti: "0100")
        m.set(2, pan.digits)
        m.set(3, "000000")
        m.set(4, "000000150000")
        m.set(7, "1125143000")
        m.set(11, "004217")
        m.set(12, "173000")
        m.set(13, "1125")
        m.set(14, "2811")
        m.set(18, "5411")
        m.set(22, "071")
        m.set(23, "000")
        m.set(25, "00")
        m.set(32, "12345678")
        m.set(35, pan.digits + "=28112010000000000")
        m.set(37, "533012004217")
        m.set(41, "TERM0001")
        m.set(42, "MERCHANT0000001")
        // Name (25), city (13), country (2).
        m.set(43, "PASSWAY CAFE".padding(toLength: 25, withPad: " ", startingAt: 0)
                  + "MOSCOW".padding(toLength: 13, withPad: " ", startingAt: 0) + "RU")
        m.set(49, "643")
        try! m.setICCData(icc)
        let packed = try! ISO8583Codec().pack(m)
        return Fixture(message: m, packed: packed, field55: m[55]!, issuerMasterKey: imk, tokenMasterKey: mk,
                       pan: pan, input: input, arqc: arqc)
    }
}
