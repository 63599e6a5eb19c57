/// Field 90, original data elements (ISO 8583:1987, n 42): what a reversal names as the
/// message it reverses. The original's MTI (4), STAN (6), transmission date and time (10),
/// acquiring institution (11, zero-padded) and forwarding institution (11).
public struct OriginalDataElements: Sendable, Equatable {
    public var mti: String
    public var stan: String
    /// MMDDhhmmss.
    public var transmission: String
    /// Field 32 of the original, without its padding zeros.
    public var acquirer: String

    public init(mti: String, stan: String, transmission: String, acquirer: String) {
        self.mti = mti; self.stan = stan; self.transmission = transmission; self.acquirer = acquirer
    }

    /// Field 90 as sent: 42 digits, or nil.
    public init?(field90 s: String) {
        let d = Array(s.utf8)
        guard d.count == 42, d.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        func text(_ r: Range<Int>) -> String { String(decoding: d[r], as: UTF8.self) }
        mti = text(0..<4); stan = text(4..<10); transmission = text(10..<20)
        acquirer = String(text(20..<31).drop { $0 == "0" })
    }

    /// Field 90 to send: the forwarding institution is zeros (the acquirer sends directly).
    public var field90: String {
        let acq = String(repeating: "0", count: max(0, 11 - acquirer.count)) + acquirer.suffix(11)
        return mti + stan + transmission + acq + String(repeating: "0", count: 11)
    }
}
