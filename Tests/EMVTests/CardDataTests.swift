import Testing
@testable import EMV
import TestSupport

@Suite struct CardDataTests {
    @Test(arguments: ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "2200000000000004"])
    func knownValidNumbersPassLuhn(number: String) throws {
        #expect(Luhn.isValid(number))
        #expect(Luhn.checkDigit(for: number.dropLast()) == number.last)
        _ = try PAN(number)
    }

    @Test func everySingleDigitErrorIsCaught() {
        let number = Array("4111111111111111")
        for i in number.indices {
            for d in "0123456789" where d != number[i] {
                var wrong = number
                wrong[i] = d
                #expect(!Luhn.isValid(String(wrong)))
            }
        }
    }

    @Test func panRefusesBadInputWithoutEchoingIt() {
        #expect(throws: CardDataError.panLength(11)) { try PAN("41111111111") }
        #expect(throws: CardDataError.notDigits(field: "PAN")) { try PAN("41111111111111a1") }
        do {
            _ = try PAN("4111111111111112")
            Issue.record("Luhn failure accepted")
        } catch {
            #expect(error.description.contains("411111******1112"))
            #expect(!error.description.contains("4111111111111112"))
        }
    }

    @Test func panPrintsMaskedOnly() throws {
        let pan = try PAN("4111111111111111")
        #expect("\(pan)" == "411111******1111")
        #expect(String(reflecting: pan) == "PAN(411111******1111)")
        #expect(pan.bin == "411111")
    }

    @Test func track2RoundTripsBetweenTag57AndField35() throws {
        let t2 = try Track2EquivalentData(pan: PAN("4111111111111111"), expiry: "2812", serviceCode: "201", discretionaryData: "0000123")
        #expect(t2.bytes.hex == "4111111111111111D28122010000123F")
        #expect(t2.field35 == "4111111111111111=28122010000123")
        #expect(try Track2EquivalentData(bytes: t2.bytes) == t2)
        #expect(try Track2EquivalentData(text: t2.field35) == t2)
        #expect(throws: CardDataError.self) { try Track2EquivalentData(text: "4111111111111111") }
        #expect(throws: CardDataError.self) { try Track2EquivalentData(text: "4111111111111111=28") }
    }

    @Test func panSequenceNumberIsTwoDigits() throws {
        #expect(try PANSequenceNumber(digits: "07").digits == "07")
        #expect(throws: CardDataError.self) { try PANSequenceNumber(digits: "7") }
        #expect(throws: CardDataError.self) { try PANSequenceNumber(100) }
    }
}

@Suite struct KeyMaterialTests {
    @Test func keysPrintTheirCheckValueNeverTheirBytes() throws {
        let material = hex("0123456789ABCDEFFEDCBA9876543210")
        let key = try TDESKey(material)
        for text in ["\(key)", String(reflecting: key), "\([key])"] {
            #expect(!text.contains("0123456789ABCDEF"))
            #expect(!text.contains("FEDCBA9876543210"))
        }
        // KCV of this well-known test key (the first bytes of TDES(K)[0]).
        #expect("\(key)" == "TDESKey(128 bits, KCV 08D7B4)")
        let aes = try AESKey(hex: "2B7E151628AED2A6ABF7158809CF4F3C")
        #expect(!"\(aes)".contains("2B7E1516"))
        #expect("\(aes)".hasPrefix("AESKey(128 bits, KCV "))
    }

    @Test func wrongKeyLengthsAreRefused() {
        #expect(throws: KeyError.wrongLength(expected: "16 or 24", actual: 8)) { try TDESKey([UInt8](repeating: 0, count: 8)) }
        #expect(throws: KeyError.self) { try TDESKey(hex: "XYZ") }
        #expect(throws: KeyError.wrongLength(expected: "16, 24 or 32", actual: 15)) { try AESKey([UInt8](repeating: 0, count: 15)) }
    }

    @Test func parityAdjustmentMakesEveryByteOdd() {
        for b in 0...255 {
            let adjusted = adjustingOddParity([UInt8(b)])[0]
            #expect(adjusted.nonzeroBitCount % 2 == 1)
            #expect(adjusted & 0xFE == UInt8(b) & 0xFE)
        }
    }
}

@Suite struct CryptogramInputTests {
    /// The CDOL1 layout of DESIGN.md, field by field.
    @Test func cdol1BytesFollowTheDesignOrder() {
        let input = CryptogramInput(amountAuthorised: 12_345, amountOther: 0, terminalCountryCode: 643,
                                    terminalVerificationResults: [0, 0, 0, 0x80, 0], transactionCurrencyCode: 643,
                                    transactionDate: "261125", transactionType: 0, unpredictableNumber: [0xDE, 0xAD, 0xBE, 0xEF],
                                    applicationInterchangeProfile: [0x19, 0x80], atc: ApplicationTransactionCounter(0x002A))
        #expect(input.bytes.hex == "000000012345" + "000000000000" + "0643" + "0000008000" + "0643" + "261125" + "00" + "DEADBEEF" + "1980" + "002A")
    }
}

@Suite struct APDUTests {
    @Test func selectPPSEIsTheStandardCommand() {
        #expect(CommandAPDU.select(name: CommandAPDU.ppseName).bytes.hex == "00A404000E325041592E5359532E444446303100")
        #expect(CommandAPDU.readRecord(1, sfi: 1).bytes.hex == "00B2010C00")
    }

    @Test(arguments: ["00A40400", "00A4040000", "00A404000E325041592E5359532E4444463031", "00A404000E325041592E5359532E444446303100"])
    func allFourCasesRoundTrip(text: String) throws {
        #expect(try CommandAPDU(bytes: hex(text)).bytes.hex == text)
    }

    @Test func malformedCommandsAreRefused() {
        #expect(throws: APDUError.tooShort(3)) { try CommandAPDU(bytes: hex("00A404")) }
        #expect(throws: APDUError.lengthMismatch(lc: 5, bodyBytes: 3)) { try CommandAPDU(bytes: hex("00A4040005AABB")) }
    }

    @Test func responseCarriesStatusWord() throws {
        let r = try ResponseAPDU(bytes: hex("6F009000"))
        #expect(r.status == .success)
        #expect(r.data == hex("6F00"))
        #expect(try ResponseAPDU(bytes: hex("6A82")).status == .fileNotFound)
    }
}
