import Foundation
import ISO8583
import Testing

/// Field 39 and field 90, as every participant reads and writes them.
@Suite struct ResponseCodeTests {
    @Test func theTableNamesEachCodeOnceAndSaysWhatItMeans() {
        let codes = ResponseCode.table.map(\.code.rawValue)
        #expect(Set(codes).count == codes.count)
        for used in ["00", "05", "13", "14", "25", "30", "41", "43", "51", "54", "57", "61", "62", "65", "91", "94", "96"] {
            #expect(codes.contains(used), "\(used) is in the table")
        }
        #expect(ResponseCode.insufficientFunds.rawValue == "51" && ResponseCode.insufficientFunds.meaning == "insufficient funds")
        #expect(ResponseCode(rawValue: "N7")?.meaning == "declined", "a code of another network passes, unnamed")
        #expect(ResponseCode(rawValue: "5") == nil && ResponseCode(rawValue: "5x") == nil && ResponseCode(rawValue: "051") == nil)
    }

    @Test func aResponseCodeIsAStringInJSON() throws {
        let data = try JSONEncoder().encode([ResponseCode.approved, .issuerUnavailable])
        #expect(String(decoding: data, as: UTF8.self) == #"["00","91"]"#)
        #expect(try JSONDecoder().decode([ResponseCode].self, from: data) == [.approved, .issuerUnavailable])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ResponseCode].self, from: Data(#"["0"]"#.utf8)) }
    }

    @Test func field90RoundTripsAndRefusesWhatIsNotFortyTwoDigits() {
        let original = OriginalDataElements(mti: "0100", stan: "000123", transmission: "1129101500", acquirer: "25000001")
        #expect(original.field90 == "0100" + "000123" + "1129101500" + "00025000001" + "00000000000")
        #expect(OriginalDataElements(field90: original.field90) == original)
        #expect(OriginalDataElements(field90: String(original.field90.dropLast())) == nil)
        #expect(OriginalDataElements(field90: "x" + original.field90.dropFirst()) == nil)
    }
}
