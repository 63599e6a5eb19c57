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
    func askIssuer(_ request: AuthorizationRequest, issuer: Issuer, token: TokenAuthorization) async -> Decision {
        let masked = token.routing.maskedToken
        func network(_ decline: NetworkDecline) -> Decision {
            Decision(outcome: .declinedByNetwork(decline), token: token, issuerID: issuer.id, maskedNumber: masked)
        }
        var toIssuer = Self.issuerMessage(request, token: token)

        // Step 5: the cardholder is billed in the issuer's currency.
        guard let billingCurrency = Currency.alpha(issuer.currency) else { return network(.billingCurrencyUnknown(issuer.currency)) }
        var conversion: BillingConversion?
        if request.currency != billingCurrency {
            do {
                let rate = try rates.rate(from: request.currency, to: billingCurrency)
                let billed = try ExchangeRates.convert(request.amountMinor, from: request.currency, to: billingCurrency, at: rate)
                conversion = BillingConversion(amountMinor: billed, rate: rate, currency: billingCurrency)
            } catch {
                return network(.conversion(error))
            }
        }
        conversion?.write(to: &toIssuer)

        let fromIssuer: Message
        do {
            fromIssuer = try await links.send(toIssuer, to: issuer)
        } catch {
            logger.warning("issuer did not answer", metadata: ["issuer": "\(issuer.id)", "error": "\(error)"])
            // Sent and perhaps decided: the journal entry queues a reversal (`runOnce`).
            var decision = Decision(outcome: .issuerUnavailable(error), token: token, conversion: conversion, issuerID: issuer.id, maskedNumber: masked)
            decision.sentToIssuer = toIssuer
            return decision
        }
        let code = fromIssuer.responseCode ?? .systemMalfunction
        return Decision(outcome: .decidedByIssuer(code, approvalCode: code.isApproval ? fromIssuer.string(38) : nil), token: token,
                        conversion: conversion, issuerID: issuer.id, maskedNumber: masked)
    }

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
