import EMV
import ISO8583
import Logging

/// The bundled issuer host's ISO 8583 side: the network's 0100/0200 (card number in 2,
/// card expiry in 14, the billing amount in 6 and 51 when the transaction currency was
/// not the card's) are decided by the bank whose range holds the card; 0400/0420 release
/// that bank's hold; 0800 is answered. The listener that calls `handle` is in
/// `IssuerHostServer`.
public struct IssuerHostHandler: Sendable {
    let registry: BankRegistry
    let logger: Logger

    public init(registry: BankRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    /// The answer to one message from the network; nil for what needs none.
    public func handle(_ m: Message) async -> Message? {
        // A repeat (0101, 0401, 0421) is decided as the message it repeats: the reference is the same.
        switch MessageType.original(of: m.mti) {
        case "0800":
            return IssuerMessages.answer(to: m, .approved)
        case "0100", "0200":
            let request: CardAuthorization
            switch IssuerMessages.authorization(m) {
            case .failure(let problem):
                logger.notice("issuer host: format error", metadata: ["field": "\(problem.field)", "reason": "\(problem.reason)"])
                return IssuerMessages.answer(to: m, .formatError)
            case .success(let r): request = r
            }
            do {
                guard let bank = try await registry.bank(forCard: request.pan) else {
                    logger.notice("issuer host: no bank issues the card", metadata: ["card": "\(PAN.mask(request.pan))"])
                    return IssuerMessages.answer(to: m, .invalidCardNumber)
                }
                let decision = try await bank.authorize(request)
                if decision.reason == Bank.inconsistentAccount {
                    logger.critical("ALARM issuer host: an account's stored amounts are out of range; its authorizations are refused",
                                    metadata: ["bank": "\(bank.id)", "card": "\(PAN.mask(request.pan))"])
                }
                // An approval at debug (the bank's holds record each), anything else at info:
                // a line per approval cost a tenth of the platform's CPU at full load.
                logger.log(level: decision.responseCode.isApproval ? .debug : .info, "issuer host: authorization", metadata: [
                    "bank": "\(bank.id)", "card": "\(PAN.mask(request.pan))", "amount": "\(request.amountMinor)", "rc": "\(decision.responseCode)",
                    "reason": "\(decision.reason)",
                ])
                return IssuerMessages.answer(to: m, decision.responseCode, approval: decision.approvalCode)
            } catch {
                logger.error("issuer host: authorization failed", metadata: ["error": "\(error)"])
                return IssuerMessages.answer(to: m, .systemMalfunction)
            }
        case "0120", "0220":
            // The network's advice of its stand-in approval: applied once, however often it comes.
            guard case .success(let advice) = IssuerMessages.authorization(m), let approval = m.string(38), m.string(39) == "00" else {
                logger.notice("issuer host: advice without the fields of an approval")
                return IssuerMessages.answer(to: m, .formatError)
            }
            do {
                guard let bank = try await registry.bank(forCard: advice.pan), let applied = try await bank.applyAdvice(advice, approvalCode: approval) else {
                    return IssuerMessages.answer(to: m, .invalidCardNumber)
                }
                logger.info("issuer host: stand-in advice", metadata: ["bank": "\(bank.id)", "card": "\(PAN.mask(advice.pan))",
                                                                      "amount": "\(advice.amountMinor)", "held": "\(applied)"])
                return IssuerMessages.answer(to: m, .approved)
            } catch {
                logger.error("issuer host: advice failed", metadata: ["error": "\(error)"])
                return IssuerMessages.answer(to: m, .systemMalfunction)
            }
        case "0400", "0420":
            guard let reference = IssuerMessages.reversedReference(m), let pan = m.string(2) else {
                logger.notice("issuer host: reversal without original data elements")
                return IssuerMessages.answer(to: m, .formatError)
            }
            do {
                guard let bank = try await registry.bank(forCard: pan) else { return IssuerMessages.answer(to: m, .invalidCardNumber) }
                // Idempotent: what was released stays released; answered 00 either way.
                let released = try await bank.reverse(reference: reference, card: pan)
                logger.info("issuer host: reversal", metadata: ["bank": "\(bank.id)", "card": "\(PAN.mask(pan))", "released": "\(released)"])
                return IssuerMessages.answer(to: m, .approved)
            } catch let error as IssuerHostError {
                if case .inconsistent = error { logger.critical("ALARM issuer host: \(error)") } else { logger.error("issuer host: reversal failed", metadata: ["error": "\(error)"]) }
                return IssuerMessages.answer(to: m, .systemMalfunction)
            } catch {
                logger.error("issuer host: reversal failed", metadata: ["error": "\(error)"])
                return IssuerMessages.answer(to: m, .systemMalfunction)
            }
        default:
            guard MessageType.isRequest(m.mti) else { return nil }
            return IssuerMessages.answer(to: m, .formatError)
        }
    }

    /// What the network hears when the bank has more in flight than it takes.
    public static func overloadedAnswer(to m: Message) -> Message? {
        MessageType.isRequest(m.mti) ? IssuerMessages.answer(to: m, .systemMalfunction) : nil
    }
}

/// The bank's reading of the network's messages.
public enum IssuerMessages {
    /// The issuer's reference for an authorization: acquirer, terminal, STAN, transmission time.
    public static func reference(_ m: Message) -> String {
        "\(m.string(32) ?? "")/\(m.string(41) ?? "")/\(m.string(11) ?? "")/\(m.string(7) ?? "")"
    }

    /// The authorization the bank decides, or the field that makes it undecidable.
    public static func authorization(_ m: Message) -> Result<CardAuthorization, FieldProblem> {
        for f in [2, 3, 4, 7, 11, 14, 49] where m[f] == nil { return .failure(FieldProblem(field: f, reason: "mandatory field missing")) }
        let billed = m[6] != nil
        guard let amountText = m.string(billed ? 6 : 4), let amount = Int64(amountText) else {
            return .failure(FieldProblem(field: billed ? 6 : 4, reason: "amount: 12 digits"))
        }
        let currency = billed ? m.string(51) : m.string(49)
        guard let currency, Currency.numeric(currency) != nil else {
            return .failure(FieldProblem(field: billed ? 51 : 49, reason: "unknown currency"))
        }
        guard let pan = m.string(2), let expiry = m.string(14), let processingCode = m.string(3) else {
            return .failure(FieldProblem(field: 2, reason: "mandatory field missing"))
        }
        return .success(CardAuthorization(reference: reference(m), pan: pan, expiry: expiry, amountMinor: amount,
                                          transactionType: String(processingCode.prefix(2)), currency: currency))
    }

    /// The issuer's reference of the authorization a reversal (0400/0420) names in field 90:
    /// original STAN and transmission time, with this message's acquirer and terminal.
    public static func reversedReference(_ m: Message) -> String? {
        guard let original = m.string(90).flatMap(OriginalDataElements.init(field90:)) else { return nil }
        return "\(m.string(32) ?? "")/\(m.string(41) ?? "")/\(original.stan)/\(original.transmission)"
    }

    public struct FieldProblem: Error, Sendable, Equatable {
        public var field: Int
        public var reason: String
    }

    /// The answer: the request's matching fields, 38 when approved, 39.
    public static func answer(to m: Message, _ code: ResponseCode, approval: String? = nil) -> Message {
        var answer = m.answer(code, echoing: [2, 3, 4, 6, 7, 10, 11, 12, 13, 32, 37, 41, 42, 49, 51, 70, 90])
        if let approval { answer.set(38, approval) }
        return answer
    }
}
