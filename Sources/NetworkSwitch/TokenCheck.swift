import EMV
import ISO8583
import TokenService

/// Step 4 of DESIGN.md "a tap": the network sees a token in field 2 and checks it with
/// the token service before the issuer hears anything: the token is active, the
/// expiry matches, the domain controls allow this entry mode, the chip data agrees with
/// the message, the ARQC verifies under the session key of its ATC, and that ATC has
/// not been used before. What passes goes on to be detokenized and routed to the issuer.
public struct TokenCheck: Sendable {
    let tokens: TokenService

    public init(tokens: TokenService) { self.tokens = tokens }

    public struct Passed: Sendable {
        public let token: Token
        public let atc: ApplicationTransactionCounter
        public let arqc: [UInt8]
    }

    /// POS entry mode (field 22, first two digits): 07 contactless chip; 81 in-app (with
    /// a cryptogram, which is checked like any other).
    public static let allowedEntryModes: Set<String> = ["07", "81"]

    /// The Passway CDOL1, in the order the card MACs it (DESIGN.md "Cryptography").
    static let cdol1: [Tag] = [.amountAuthorised, .amountOther, .terminalCountryCode, .terminalVerificationResults,
                               .transactionCurrencyCode, .transactionDate, .transactionType, .unpredictableNumber,
                               .applicationInterchangeProfile, .applicationTransactionCounter]

    /// Every check but the last: the ATC is not marked used here. The network spends it
    /// in the same write as its journal claim (`AuthorizationJournal.claim(…spendingATC:…)`),
    /// and only for a cryptogram that verified, so noise cannot burn a card's counters.
    public func verify(_ message: Message) async throws -> Result<Passed, TokenDecline> {
        guard let field2 = message.string(2), let tokenNumber = try? PAN(unchecked: field2) else {
            return .failure(.format(field: 2, reason: "no token number"))
        }
        guard let entry = message.string(22), entry.count == 3 else { return .failure(.format(field: 22, reason: "POS entry mode missing")) }
        guard let expiry = message.string(14) else { return .failure(.format(field: 14, reason: "expiry date missing")) }
        guard let amount = message.string(4) else { return .failure(.format(field: 4, reason: "amount missing")) }
        guard let currency = message.string(49) else { return .failure(.format(field: 49, reason: "currency missing")) }

        guard let token = try await tokens.token(number: tokenNumber) else { return .failure(.unknownToken) }
        guard token.status == .active else { return .failure(.tokenNotActive(status: token.status.rawValue)) }
        guard expiry == token.expiry else { return .failure(.expiryMismatch) }
        guard Self.allowedEntryModes.contains(String(entry.prefix(2))) else { return .failure(.domainControl(entryMode: entry)) }

        let icc: [TLV]
        do {
            guard let parsed = try message.iccData() else { return .failure(.format(field: 55, reason: "no chip data for a chip entry mode")) }
            icc = parsed
        } catch {
            return .failure(.format(field: 55, reason: "\(error)"))
        }
        var data: [UInt8] = []
        for tag in Self.cdol1 {
            guard let value = icc.value(tag) else { return .failure(.format(field: 55, reason: "tag \(tag.hex) missing")) }
            data += value
        }
        guard let arqc = icc.value(.applicationCryptogram), arqc.count == 8 else { return .failure(.format(field: 55, reason: "9F26 missing")) }
        let atcBytes = icc.value(.applicationTransactionCounter)!
        guard atcBytes.count == 2 else { return .failure(.format(field: 55, reason: "9F36 must be 2 bytes")) }
        let atc = ApplicationTransactionCounter(UInt16(atcBytes[0]) << 8 | UInt16(atcBytes[1]))

        // The chip signed what the message says, or the message was changed on the way.
        guard amount.count == 12, icc.value(.amountAuthorised) == (try? Hex.decode(amount)) else {
            return .failure(.chipDataMismatch("9F02 differs from field 4"))
        }
        guard icc.value(.transactionCurrencyCode) == (try? Hex.decode("0" + currency)) else {
            return .failure(.chipDataMismatch("5F2A differs from field 49"))
        }
        if let pan5A = icc.value(.pan), Hex.encode(pan5A).trimmingCharacters(in: ["F"]) != tokenNumber.digits {
            return .failure(.chipDataMismatch("5A differs from field 2"))
        }

        guard try await tokens.verifyCryptogram(token: token, atc: atc, data: data, arqc: arqc) else { return .failure(.cryptogramInvalid) }
        return .success(Passed(token: token, atc: atc, arqc: arqc))
    }
}
