/// Track 2 equivalent data (tag 57; ISO/IEC 7813 track 2 layout): PAN, separator `D`,
/// expiry YYMM, service code, discretionary data, padded with `F` to whole bytes.
public struct Track2EquivalentData: Sendable, Equatable, CustomStringConvertible {
    public var pan: PAN
    /// YYMM.
    public var expiry: String
    /// Three digits (for example 201: international, chip, normal authorization).
    public var serviceCode: String
    /// Digits only.
    public var discretionaryData: String

    public init(pan: PAN, expiry: String, serviceCode: String, discretionaryData: String = "") throws(CardDataError) {
        guard expiry.utf8.count == 4, expiry.utf8.allSatisfy(isDigit) else { throw .malformedTrack2("expiry must be YYMM") }
        guard serviceCode.utf8.count == 3, serviceCode.utf8.allSatisfy(isDigit) else { throw .malformedTrack2("service code must be three digits") }
        guard discretionaryData.utf8.allSatisfy(isDigit) else { throw .malformedTrack2("discretionary data must be digits") }
        self.pan = pan
        self.expiry = expiry
        self.serviceCode = serviceCode
        self.discretionaryData = discretionaryData
    }

    /// The nibbles as a string: `PAN D YYMM SSS discretionary`.
    public var nibbles: String { pan.digits + "D" + expiry + serviceCode + discretionaryData }

    /// Tag 57's value: the nibbles packed, an odd count padded with one `F`.
    public var bytes: [UInt8] {
        var n = nibbles
        if n.count % 2 == 1 { n += "F" }
        return try! Hex.decode(n)
    }

    /// The ISO 8583 field 35 form (`=` as the separator).
    public var field35: String { pan.digits + "=" + expiry + serviceCode + discretionaryData }

    /// Parses tag 57 bytes.
    public init(bytes: [UInt8]) throws(CardDataError) {
        var text = Hex.encode(bytes)
        if text.hasSuffix("F") { text.removeLast() }
        try self.init(text: text, separator: "D")
    }

    /// Parses field 35 (`=`) or the nibble string (`D`).
    public init(text: String, separator: Character = "=") throws(CardDataError) {
        let parts = text.split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .malformedTrack2("no '\(separator)' separator") }
        let after = parts[1]
        guard after.count >= 7 else { throw .malformedTrack2("expiry and service code missing after the separator") }
        let pan = try PAN(unchecked: String(parts[0]))
        try self.init(pan: pan,
                      expiry: String(after.prefix(4)),
                      serviceCode: String(after.dropFirst(4).prefix(3)),
                      discretionaryData: String(after.dropFirst(7)))
    }

    public var description: String { "Track2(\(pan.masked) D \(expiry) \(serviceCode) …)" }
}

@inline(__always)
private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
