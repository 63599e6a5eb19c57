/// The terminal data a Passway card asks for in its first GENERATE AC (CDOL1) and
/// signs in its ARQC, in the order of DESIGN.md ("Cryptography"): the data the network
/// must reassemble, byte for byte, from the authorization's field 55 to verify the ARQC.
public struct CryptogramInput: Sendable, Equatable {
    /// 9F02, amount authorised, n12 in minor units.
    public var amountAuthorised: UInt64
    /// 9F03, amount other (cashback), n12.
    public var amountOther: UInt64
    /// 9F1A, terminal country code, ISO 3166-1 numeric, n3.
    public var terminalCountryCode: UInt16
    /// 95, terminal verification results, 5 bytes.
    public var terminalVerificationResults: [UInt8]
    /// 5F2A, transaction currency code, ISO 4217 numeric, n3.
    public var transactionCurrencyCode: UInt16
    /// 9A, transaction date, YYMMDD as n6.
    public var transactionDate: String
    /// 9C, transaction type (00 purchase, 01 cash), n2.
    public var transactionType: UInt8
    /// 9F37, unpredictable number, 4 bytes.
    public var unpredictableNumber: [UInt8]
    /// 82, application interchange profile, 2 bytes.
    public var applicationInterchangeProfile: [UInt8]
    /// 9F36, application transaction counter.
    public var atc: ApplicationTransactionCounter

    public init(amountAuthorised: UInt64, amountOther: UInt64 = 0, terminalCountryCode: UInt16,
                terminalVerificationResults: [UInt8] = [0, 0, 0, 0, 0], transactionCurrencyCode: UInt16,
                transactionDate: String, transactionType: UInt8 = 0, unpredictableNumber: [UInt8],
                applicationInterchangeProfile: [UInt8] = [0x19, 0x80], atc: ApplicationTransactionCounter) {
        self.amountAuthorised = amountAuthorised
        self.amountOther = amountOther
        self.terminalCountryCode = terminalCountryCode
        self.terminalVerificationResults = terminalVerificationResults
        self.transactionCurrencyCode = transactionCurrencyCode
        self.transactionDate = transactionDate
        self.transactionType = transactionType
        self.unpredictableNumber = unpredictableNumber
        self.applicationInterchangeProfile = applicationInterchangeProfile
        self.atc = atc
    }

    /// The bytes the ARQC is computed over: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(37)
        out += bcd(amountAuthorised, digits: 12)
        out += bcd(amountOther, digits: 12)
        out += bcd(UInt64(terminalCountryCode), digits: 4)
        out += terminalVerificationResults
        out += bcd(UInt64(transactionCurrencyCode), digits: 4)
        out += packDigits(transactionDate)
        out += bcd(UInt64(transactionType), digits: 2)
        out += unpredictableNumber
        out += applicationInterchangeProfile
        out += [UInt8(atc.value >> 8), UInt8(atc.value & 0xFF)]
        return out
    }

    /// The same data as BER-TLV objects, in CDOL1 order, as a terminal puts them in field 55.
    public var objects: [TLV] {
        [TLV(.amountAuthorised, bcd(amountAuthorised, digits: 12)), TLV(.amountOther, bcd(amountOther, digits: 12)),
         TLV(.terminalCountryCode, bcd(UInt64(terminalCountryCode), digits: 4)), TLV(.terminalVerificationResults, terminalVerificationResults),
         TLV(.transactionCurrencyCode, bcd(UInt64(transactionCurrencyCode), digits: 4)), TLV(.transactionDate, packDigits(transactionDate)),
         TLV(.transactionType, bcd(UInt64(transactionType), digits: 2)), TLV(.unpredictableNumber, unpredictableNumber),
         TLV(.applicationInterchangeProfile, applicationInterchangeProfile), TLV(.applicationTransactionCounter, [UInt8(atc.value >> 8), UInt8(atc.value & 0xFF)])]
    }
}

/// A number as BCD, right-justified in `digits` digits (EMV format n).
public func bcd(_ value: UInt64, digits: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: (digits + 1) / 2)
    var v = value
    var i = out.count - 1
    while i >= 0 {
        let low = UInt8(v % 10); v /= 10
        let high = UInt8(v % 10); v /= 10
        out[i] = high << 4 | low
        i -= 1
    }
    return out
}
