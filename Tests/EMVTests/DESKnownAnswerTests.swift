import Testing
@testable import EMV
import TestSupport

/// DES and TDES against published known answers, independent of any implementation.
@Suite struct DESKnownAnswerTests {
    /// NIST SP 800-20, Table A.1 (variable plaintext known answer test): key 01…01,
    /// plaintext with a single bit set, bit 1 to 64 in turn.
    static let sp800_20_tableA1 = [
        "95F8A5E5DD31D900", "DD7F121CA5015619", "2E8653104F3834EA", "4BD388FF6CD81D4F",
        "20B9E767B2FB1456", "55579380D77138EF", "6CC5DEFAAF04512F", "0D9F279BA5D87260",
        "D9031B0271BD5A0A", "424250B37C3DD951", "B8061B7ECD9A21E5", "F15D0F286B65BD28",
        "ADD0CC8D6E5DEBA1", "E6D5F82752AD63D1", "ECBFE3BD3F591A5E", "F356834379D165CD",
        "2B9F982F20037FA9", "889DE068A16F0BE6", "E19E275D846A1298", "329A8ED523D71AEC",
        "E7FCE22557D23C97", "12A9F5817FF2D65D", "A484C3AD38DC9C19", "FBE00A8A1EF8AD72",
        "750D079407521363", "64FEED9C724C2FAF", "F02B263B328E2B60", "9D64555A9A10B852",
        "D106FF0BED5255D7", "E1652C6B138C64A5", "E428581186EC8F46", "AEB5F5EDE22D1A36",
        "E943D7568AEC0C5C", "DF98C8276F54B04B", "B160E4680F6C696F", "FA0752B07D9C4AB8",
        "CA3A2B036DBC8502", "5E0905517BB59BCF", "814EEB3B91D90726", "4D49DB1532919C9F",
        "25EB5FC3F8CF0621", "AB6A20C0620D1C6F", "79E90DBC98F92CCA", "866ECEDD8072BB0E",
        "8B54536F2F3E64A8", "EA51D3975595B86B", "CAFFC6AC4542DE31", "8DD45A2DDF90796C",
        "1029D55E880EC2D0", "5D86CB23639DBEA9", "1D1CA853AE7C0C5F", "CE332329248F3228",
        "8405D1ABE24FB942", "E643D78090CA4207", "48221B9937748A23", "DD7C0BBD61FAFD54",
        "2FBC291A570DB5C4", "E07C30D7E4E26E12", "0953E2258E8E90A1", "5B711BC4CEEBF2EE",
        "CC083F1E6D9E85F6", "D2FD8867D50D2DFE", "06E7EA22CE92708F", "166B40B44ABA4BD6",
    ]

    @Test func variablePlaintextKnownAnswersOfSP800_20() throws {
        let key = try TDESKey([UInt8](repeating: 0x01, count: 24))
        for (bit, expected) in Self.sp800_20_tableA1.enumerated() {
            let plaintext = UInt64(1) << UInt64(63 - bit)
            let ciphertext = try TDES.encryptECB(plaintext.bigEndianBytes, key: key)
            #expect(ciphertext.hex == expected, "bit \(bit + 1)")
            #expect(try TDES.decryptECB(ciphertext, key: key) == plaintext.bigEndianBytes)
        }
        print("DES known answers: SP 800-20 Table A.1, \(Self.sp800_20_tableA1.count) cases, 0 mismatched")
    }

    /// NIST CAVP DESMMT (multi-block message test), TDES-CBC with three independent keys.
    @Test(arguments: [
        ("627F460E08104A1043CD265D5840EAF1313EDF97DF2A8A8C", "8E29F75EA77E5475", "326A494CD33FE756", "B22B8D66DE970692"),
        ("37AE5EBF46DFF2DC0754B94F31CBB3855E7FD36DC870BFAE", "3D1DE3CC132E3B65", "84401F78FE6C10876D8EA23094EA5309", "7B1F7C7E3B1C948EBD04A75FFBA7D2F5"),
    ])
    func tripleDESCBCMultiBlockMessageTest(key: String, iv: String, plaintext: String, ciphertext: String) throws {
        let k = try TDESKey(hex: key)
        #expect(try TDES.encryptCBC(hex(plaintext), key: k, iv: hex(iv)).hex == ciphertext)
        #expect(try TDES.decryptCBC(hex(ciphertext), key: k, iv: hex(iv)).hex == plaintext)
    }

    /// The worked example of FIPS 46 as taught (key 133457799BBCDFF1).
    @Test func textbookExample() throws {
        let single = hex("133457799BBCDFF1")
        let key = try TDESKey(single + single)
        #expect(try TDES.encryptECB(hex("0123456789ABCDEF"), key: key).hex == "85E813540F0AB405")
    }

    @Test func partialBlocksAreRefusedNotPadded() throws {
        let key = try TDESKey([UInt8](repeating: 1, count: 16))
        #expect(throws: CipherError.notWholeBlocks(length: 7, blockSize: 8)) { try TDES.encryptECB([UInt8](repeating: 0, count: 7), key: key) }
    }
}

/// AES-CMAC against RFC 4493 §4, through the same AESKey the AES profile uses.
@Suite struct AESCMACTests {
    static let key = "2B7E151628AED2A6ABF7158809CF4F3C"
    static let message = "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710"

    @Test(arguments: [
        (0, "BB1D6929E95937287FA37D129B756746"),
        (16, "070A16B46B4D4144F79BDD9DD04A287C"),
        (40, "DFA66747DE9AE63030CA32611497C827"),
        (64, "51F0BEBF7E3B9D92FC49741779363CFE"),
    ])
    func rfc4493Examples(length: Int, mac: String) throws {
        let key = try AESKey(hex: Self.key)
        #expect(key.cmac(Array(hex(Self.message).prefix(length))).hex == mac)
    }
}
