import EMV
import ISO8583

/// The bank's side of ISO 8583: an 0100 or 0200 from the network, as the network
/// forwards it (card number in 2, card expiry in 14, the billing amount in 6 and 51 when
/// the transaction currency was not the card's), decided by `Bank.authorize`.
public enum IssuerMessages {
    /// The issuer's reference for an authorization: acquirer, terminal, STAN, transmission time.
    public static func reference(_ m: Message) -> String {
        "\(m.string(32) ?? "")/\(m.string(41) ?? "")/\(m.string(11) ?? "")/\(m.string(7) ?? "")"
    }

    /// The request the bank decides, or the field that makes it undecidable.
    public static func request(_ m: Message) -> Result<AuthorizationRequest, FieldProblem> {
        for f in [2, 3, 4, 7, 11, 14, 49] where m[f] == nil { return .failure(FieldProblem(field: f, reason: "mandatory field missing")) }
        let billed = m[6] != nil
        guard let amountText = m.string(billed ? 6 : 4), let amount = Int64(amountText) else {
            return .failure(FieldProblem(field: billed ? 6 : 4, reason: "amount: 12 digits"))
        }
        let currency = billed ? m.string(51) : m.string(49)
        guard let currency, Currency.numeric(currency) != nil else {
            return .failure(FieldProblem(field: billed ? 51 : 49, reason: "unknown currency"))
        }
        return .success(AuthorizationRequest(reference: reference(m), pan: m.string(2)!, expiry: m.string(14)!, amountMinor: amount,
                                             transactionType: String(m.string(3)!.prefix(2)), currency: currency))
    }

    /// The issuer's reference of the authorization a reversal (0400/0420) names in field 90:
    /// original STAN and transmission time, with this message's acquirer and terminal.
    public static func reversedReference(_ m: Message) -> String? {
        guard let f90 = m.string(90), f90.count == 42, f90.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let d = Array(f90)
        return "\(m.string(32) ?? "")/\(m.string(41) ?? "")/\(String(d[4..<10]))/\(String(d[10..<20]))"
    }

    public struct FieldProblem: Error, Sendable, Equatable {
        public var field: Int
        public var reason: String
    }

    /// The answer: the request's matching fields, 38 when approved, 39.
    public static func answer(to m: Message, code: String, approval: String? = nil) -> Message {
        var answer = m.answer(code: code, echoing: [2, 3, 4, 6, 7, 10, 11, 12, 13, 32, 37, 41, 42, 49, 51, 70, 90])
        if let approval { answer.set(38, approval) }
        return answer
    }
}

extension Bank {
    /// Whether this bank holds the card (by its fingerprint under this bank's key).
    public func holdsCard(_ digits: String) async throws -> Bool {
        guard let pan = try? PAN(digits) else { return false }
        return try await database.account(fingerprint: vault.fingerprint(pan)) != nil
    }
}
