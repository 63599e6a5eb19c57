import Testing
import TestSupport
import Vault

@Suite struct SecureRandomTests {
    /// Ids and keys: the asked length, only letters and digits, and every symbol about
    /// equally often (a modulo bias would give the first symbols a quarter more).
    @Test(.heavy, arguments: [false, true])
    func randomIdsAreUniformOverTheirAlphabet(uppercase: Bool) {
        let alphabet = Set(uppercase ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var counts: [Character: Int] = [:]
        for _ in 0..<10_000 {
            let id = SecureRandom.alphanumeric(20, uppercase: uppercase)
            #expect(id.count == 20)
            for c in id { counts[c, default: 0] += 1 }
        }
        #expect(Set(counts.keys) == alphabet)
        let expected = 200_000 / Double(alphabet.count)
        for (c, n) in counts { #expect(abs(Double(n) - expected) < expected * 0.15, "\(c): \(n), expected about \(Int(expected))") }
    }


    @Test func constantTimeEqualsComparesWholeStrings() {
        #expect(SecureRandom.constantTimeEquals("abc", "abc"))
        #expect(!SecureRandom.constantTimeEquals("abc", "abd"))
        #expect(!SecureRandom.constantTimeEquals("abc", "abcd"))
    }
}
