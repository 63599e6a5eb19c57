/// The Luhn (mod 10) check digit of ISO/IEC 7812-1 Annex B.
public enum Luhn {
    /// Whether the last digit of `digits` is the check digit of the others.
    public static func isValid(_ digits: some StringProtocol) -> Bool {
        let d = Array(digits.utf8)
        guard d.count >= 2, d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        return sum(d, doubleFirst: false) % 10 == 0
    }

    /// The digit to append to `payload` to make it Luhn-valid.
    public static func checkDigit(for payload: some StringProtocol) -> Character? {
        let d = Array(payload.utf8)
        guard !d.isEmpty, d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let s = sum(d, doubleFirst: true)
        return Character(String((10 - s % 10) % 10))
    }

    /// Sum from the right; when `doubleFirst`, the rightmost digit is doubled (it will
    /// sit left of the check digit).
    private static func sum(_ digits: [UInt8], doubleFirst: Bool) -> Int {
        var total = 0
        var double = doubleFirst
        for c in digits.reversed() {
            var v = Int(c - 0x30)
            if double { v *= 2; if v > 9 { v -= 9 } }
            total += v
            double.toggle()
        }
        return total
    }
}
