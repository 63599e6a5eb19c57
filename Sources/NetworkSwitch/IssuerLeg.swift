import EMV
import Foundation
import ISO8583
import Participants
import TokenService

/// Steps 5 and 6 of a tap: the token replaced by the card number, the amount converted
/// into the cardholder's billing currency, the issuer asked over ISO 8583 and its
/// answer taken. When the issuer may have decided unheard, the reversal the network owes
/// it is queued with the journal entry (`StoreAndForward.swift`).
extension AuthorizationPipeline {
    /// Fields of the acquirer's request that travel on to the issuer (2 and 14 are replaced).
    /// Field 55 goes as it came, unknown tags included, in order (DESIGN.md "The wire").
    static let forwardedFields = [3, 4, 7, 11, 12, 13, 18, 22, 32, 37, 41, 42, 43, 49, 55]

    /// Asks the issuer about a token whose cryptogram verified and whose ATC is spent.
    /// `toIssuer` is `issuerMessage(request, token:)`, made before the claim.
    func askIssuer(_ request: AuthorizationRequest, issuer: Issuer, token: TokenAuthorization, toIssuer: Message) async -> Decision {
        let masked = token.routing.maskedToken
        func network(_ decline: NetworkDecline) -> Decision {
            Decision(outcome: .declinedByNetwork(decline), token: token, issuerID: issuer.id, maskedNumber: masked)
        }
        var toIssuer = toIssuer

        // Step 5: the cardholder is billed in the issuer's currency.
        guard let billingCurrency = Currency.alpha(issuer.currency) else { return network(.billingCurrencyUnknown(issuer.currency)) }
        var conversion: BillingConversion?
        if request.currency != billingCurrency {
            do {
                let rate = try rates.rate(from: request.currency, to: billingCurrency, at: now())
                let billed = try ExchangeRates.convert(request.amountMinor, from: request.currency, to: billingCurrency, at: rate)
                conversion = BillingConversion(amountMinor: billed, rate: rate, currency: billingCurrency)
            } catch {
                return network(.conversion(error))
            }
        }
        conversion?.write(to: &toIssuer)

        let fromIssuer: Message
        do {
            let started = ContinuousClock.now
            defer { metrics.issuerTook(started.duration(to: .now), issuer: issuer.id) }
            fromIssuer = try await links.send(toIssuer, to: issuer)
        } catch {
            logger.warning("issuer did not answer", metadata: ["issuer": "\(issuer.id)", "error": "\(error)"])
            // Sent and perhaps decided: the journal entry queues a reversal, or with a
            // stand-in approval an advice (`runOnce`).
            let outcome: AuthorizationOutcome = issuer.standIn.map {
                Self.standIn(request, rules: $0, card: token.routing.issuerStatus, conversion: conversion, because: error)
            }
                ?? .issuerUnavailable(error)
            var decision = Decision(outcome: outcome, token: token, conversion: conversion, issuerID: issuer.id, maskedNumber: masked)
            decision.sentToIssuer = toIssuer
            decision.standIn = issuer.standIn
            return decision
        }
        let code = fromIssuer.responseCode ?? .systemMalfunction
        await remember(code, for: token.routing)
        return Decision(outcome: .decidedByIssuer(code, approvalCode: code.isApproval ? fromIssuer.string(38) : nil), token: token,
                        conversion: conversion, issuerID: issuer.id, maskedNumber: masked)
    }

    /// The card's status as the network last knew it: an issuer's answer that stops the
    /// card is kept on the card (a write only when it changes), and forgotten when the
    /// issuer approves the card again. Not money: a failure to keep it is logged.
    func remember(_ code: ResponseCode, for routing: TokenRouting) async {
        let status: CardIssuerStatus?
        if CardIssuerStatus.stoppingCodes.contains(code.rawValue) {
            guard routing.issuerStatus?.responseCode != code.rawValue else { return }
            status = CardIssuerStatus(responseCode: code.rawValue, at: now())
        } else if code.isApproval && routing.issuerStatus != nil {
            status = nil
        } else {
            return
        }
        do { try await tokens.recordIssuerStatus(cardID: routing.cardID, status) } catch {
            logger.error("the card's status as the issuer answered could not be kept", metadata: [
                "card": "\(routing.maskedPAN)", "rc": "\(code.rawValue)", "error": "\(error)"])
        }
    }

    /// The network's decision on the issuer's behalf by its stand-in rules (the token and
    /// its cryptogram have verified; the daily allowance is taken with the journal entry).
    static func standIn(_ request: AuthorizationRequest, rules: StandInRules, card status: CardIssuerStatus?, conversion: BillingConversion?,
                        because error: IssuerLinkError) -> AuthorizationOutcome {
        func decline(_ code: ResponseCode, _ why: String) -> AuthorizationOutcome { .stoodIn(code, approvalCode: nil, reason: why, because: error) }
        if let status, let code = ResponseCode(rawValue: status.responseCode) {
            return decline(code, "the issuer's last answer for the card was \(status.responseCode)")
        }
        let type = String(request.processingCode.prefix(2))
        guard rules.processingCodes.contains(type) else { return decline(.transactionNotPermittedToCardholder, "processing code \(type) not stood in for") }
        let group = MerchantCategoryGroup.of(request.message.string(18))
        guard rules.merchantCategoryGroups.contains(group.rawValue) else {
            return decline(.transactionNotPermittedToCardholder, "merchant category group \(group.rawValue) not stood in for")
        }
        guard let limit = rules.perTransactionLimitMinor[request.currency.alpha] else {
            return decline(.transactionNotPermittedToCardholder, "currency \(request.currency.alpha) not stood in for")
        }
        guard request.amountMinor <= limit else { return decline(.exceedsAmountLimit, "over the stand-in limit of \(limit) \(request.currency.alpha)") }
        let billed = conversion?.amountMinor ?? request.amountMinor
        guard rules.dailyCountPerToken > 0 else { return decline(.exceedsFrequencyLimit, "no stand-in approvals allowed per day") }
        guard billed <= rules.dailyAmountPerTokenMinor else { return decline(.exceedsAmountLimit, "over the daily stand-in amount") }
        return .stoodIn(.approved, approvalCode: Self.standInApprovalCode(), reason: "approved", because: error)
    }

    /// The network's approval code for a stand-in approval: `S` and five digits.
    static func standInApprovalCode() -> String { "S" + String(format: "%05d", Int.random(in: 0..<100_000)) }

    /// The message the issuer is sent for a request: the acquirer's fields, with the card
    /// number and its expiry in place of the token's.
    static func issuerMessage(_ request: AuthorizationRequest, token: TokenAuthorization) -> Message {
        var toIssuer = Message(mti: request.message.mti)
        for f in Self.forwardedFields where request.message[f] != nil { toIssuer[f] = request.message[f] }
        toIssuer.set(2, token.routing.pan.digits)
        toIssuer.set(14, token.routing.cardExpiry)
        return toIssuer
    }
}
