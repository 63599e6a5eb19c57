/// Names of the EMV data elements Passway reads and writes (EMV Book 3 Annex A, EMV
/// contactless Book C-2/C-3, ISO 7816-4), for pretty-printing and logs.
extension Tag {
    public static let applicationIdentifierCard = Tag(0x4F)
    public static let applicationLabel = Tag(0x50)
    public static let track2EquivalentData = Tag(0x57)
    public static let pan = Tag(0x5A)
    public static let fciTemplate = Tag(0x6F)
    public static let readRecordTemplate = Tag(0x70)
    public static let responseTemplateFormat2 = Tag(0x77)
    public static let responseTemplateFormat1 = Tag(0x80)
    public static let applicationInterchangeProfile = Tag(0x82)
    public static let dedicatedFileName = Tag(0x84)
    public static let applicationPriorityIndicator = Tag(0x87)
    public static let authorisationResponseCode = Tag(0x8A)
    public static let issuerAuthenticationData = Tag(0x91)
    public static let applicationFileLocator = Tag(0x94)
    public static let terminalVerificationResults = Tag(0x95)
    public static let transactionDate = Tag(0x9A)
    public static let transactionType = Tag(0x9C)
    public static let cardholderName = Tag(0x5F20)
    public static let applicationExpirationDate = Tag(0x5F24)
    public static let transactionCurrencyCode = Tag(0x5F2A)
    public static let panSequenceNumber = Tag(0x5F34)
    public static let amountAuthorised = Tag(0x9F02)
    public static let amountOther = Tag(0x9F03)
    public static let applicationIdentifierTerminal = Tag(0x9F06)
    public static let issuerApplicationData = Tag(0x9F10)
    public static let terminalCountryCode = Tag(0x9F1A)
    public static let interfaceDeviceSerialNumber = Tag(0x9F1E)
    public static let applicationCryptogram = Tag(0x9F26)
    public static let cryptogramInformationData = Tag(0x9F27)
    public static let terminalCapabilities = Tag(0x9F33)
    public static let cvmResults = Tag(0x9F34)
    public static let terminalType = Tag(0x9F35)
    public static let applicationTransactionCounter = Tag(0x9F36)
    public static let unpredictableNumber = Tag(0x9F37)
    public static let pdol = Tag(0x9F38)
    public static let formFactorIndicator = Tag(0x9F6E)
    public static let terminalTransactionQualifiers = Tag(0x9F66)
    public static let cardTransactionQualifiers = Tag(0x9F6C)
    public static let paymentAccountReference = Tag(0x9F24)
    public static let tokenRequestorID = Tag(0x9F19)
    public static let fciProprietaryTemplate = Tag(0xA5)
    public static let fciIssuerDiscretionaryData = Tag(0xBF0C)
    public static let directoryEntry = Tag(0x61)

    /// The standard's name for this tag, if Passway knows it.
    public var name: String? { Tag.names[value] }

    static let names: [UInt32: String] = [
        0x4F: "Application Identifier (AID) – card",
        0x50: "Application Label",
        0x57: "Track 2 Equivalent Data",
        0x5A: "Application PAN",
        0x61: "Application Template / Directory Entry",
        0x6F: "File Control Information (FCI) Template",
        0x70: "READ RECORD Response Message Template",
        0x77: "Response Message Template Format 2",
        0x80: "Response Message Template Format 1",
        0x82: "Application Interchange Profile",
        0x84: "Dedicated File (DF) Name",
        0x87: "Application Priority Indicator",
        0x8A: "Authorisation Response Code",
        0x8C: "CDOL1",
        0x8D: "CDOL2",
        0x8E: "CVM List",
        0x91: "Issuer Authentication Data",
        0x94: "Application File Locator (AFL)",
        0x95: "Terminal Verification Results",
        0x9A: "Transaction Date",
        0x9C: "Transaction Type",
        0xA5: "FCI Proprietary Template",
        0x5F20: "Cardholder Name",
        0x5F24: "Application Expiration Date",
        0x5F25: "Application Effective Date",
        0x5F28: "Issuer Country Code",
        0x5F2A: "Transaction Currency Code",
        0x5F2D: "Language Preference",
        0x5F34: "PAN Sequence Number",
        0x9F02: "Amount, Authorised (Numeric)",
        0x9F03: "Amount, Other (Numeric)",
        0x9F06: "Application Identifier (AID) – terminal",
        0x9F07: "Application Usage Control",
        0x9F08: "Application Version Number",
        0x9F09: "Application Version Number (terminal)",
        0x9F0D: "Issuer Action Code – Default",
        0x9F0E: "Issuer Action Code – Denial",
        0x9F0F: "Issuer Action Code – Online",
        0x9F10: "Issuer Application Data",
        0x9F19: "Token Requestor ID",
        0x9F1A: "Terminal Country Code",
        0x9F1E: "Interface Device (IFD) Serial Number",
        0x9F21: "Transaction Time",
        0x9F24: "Payment Account Reference (PAR)",
        0x9F26: "Application Cryptogram",
        0x9F27: "Cryptogram Information Data",
        0x9F33: "Terminal Capabilities",
        0x9F34: "Cardholder Verification Method (CVM) Results",
        0x9F35: "Terminal Type",
        0x9F36: "Application Transaction Counter (ATC)",
        0x9F37: "Unpredictable Number",
        0x9F38: "Processing Options Data Object List (PDOL)",
        0x9F41: "Transaction Sequence Counter",
        0x9F4E: "Merchant Name and Location",
        0x9F53: "Transaction Category Code",
        0x9F66: "Terminal Transaction Qualifiers (TTQ)",
        0x9F6C: "Card Transaction Qualifiers (CTQ)",
        0x9F6E: "Form Factor Indicator",
        0xBF0C: "FCI Issuer Discretionary Data",
    ]
}

extension BERTLV {
    /// An indented tree, one object per line: tag, name, length and value.
    public static func prettyPrint(_ objects: [TLV], indent: Int = 0) -> String {
        var lines: [String] = []
        for object in objects {
            let pad = String(repeating: "  ", count: indent)
            let name = object.tag.name.map { " \($0)" } ?? ""
            switch object.value {
            case .primitive(let bytes):
                lines.append("\(pad)\(object.tag.hex)\(name) [\(bytes.count)]: \(Hex.encode(bytes))")
            case .constructed(let children):
                lines.append("\(pad)\(object.tag.hex)\(name) [\(object.valueBytes.count)]")
                let inner = prettyPrint(children, indent: indent + 1)
                if !inner.isEmpty { lines.append(inner) }
            }
        }
        return lines.joined(separator: "\n")
    }
}
