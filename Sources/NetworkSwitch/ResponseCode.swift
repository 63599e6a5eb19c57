/// ISO 8583:1987 field 39 response codes the switch produces.
public enum ResponseCode: String, Sendable, Equatable {
    case approved = "00"
    case doNotHonour = "05"
    case invalidCardNumber = "14"
    /// A reversal whose original the network never saw.
    case originalNotFound = "25"
    case formatError = "30"
    case insufficientFunds = "51"
    case expiredCard = "54"
    case transactionNotPermitted = "57"
    case issuerUnavailable = "91"
    case duplicateTransmission = "94"
    case systemMalfunction = "96"
}

/// Why the network declined a tokenised authorization without asking the issuer. One
/// table maps each to its response code; the reason goes to the journal and the log.
public enum TokenDecline: Error, Sendable, Equatable {
    /// A mandatory field is missing or malformed (the field is named).
    case format(field: Int, reason: String)
    /// No token has this number.
    case unknownToken
    case tokenNotActive(status: String)
    case expiryMismatch
    /// Entry mode not allowed for tokens: only contactless chip and in-app with a cryptogram.
    case domainControl(entryMode: String)
    /// Field 55 does not agree with the message (amount, currency, token).
    case chipDataMismatch(String)
    case cryptogramInvalid
    case atcReplayed(UInt16)

    public var responseCode: ResponseCode {
        switch self {
        case .format: .formatError
        case .unknownToken: .invalidCardNumber
        case .tokenNotActive: .doNotHonour
        case .expiryMismatch: .expiredCard
        case .domainControl: .transactionNotPermitted
        case .chipDataMismatch, .cryptogramInvalid, .atcReplayed: .doNotHonour
        }
    }
}
