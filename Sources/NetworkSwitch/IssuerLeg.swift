import EMV
import Foundation
import ISO8583
import Participants
import TokenService

/// Steps 5 and 6 of a tap: the token replaced by the card number, the amount converted
/// into the cardholder's billing currency, the issuer asked over ISO 8583 and its
/// answer taken; and the network's own reversal when the issuer answers too late.
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
        var toIssuer = Message(mti: request.message.mti)
        for f in Self.forwardedFields where request.message[f] != nil { toIssuer[f] = request.message[f] }
        toIssuer.set(2, token.routing.pan.digits)
        toIssuer.set(14, token.routing.cardExpiry)

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
            // Sent and perhaps decided: whatever the issuer held is released.
            switch error {
            case .timedOut, .unauthentic: reverseLate(toIssuer, issuer: issuer)
            case .unavailable: break
            }
            return Decision(outcome: .issuerUnavailable(error), token: token, conversion: conversion, issuerID: issuer.id, maskedNumber: masked)
        }
        let code = fromIssuer.responseCode ?? .systemMalfunction
        return Decision(outcome: .decidedByIssuer(code, approvalCode: code.isApproval ? fromIssuer.string(38) : nil), token: token,
                        conversion: conversion, issuerID: issuer.id, maskedNumber: masked)
    }

    /// The issuer did not answer in time and the acquirer was told 91: should the issuer
    /// have approved after all, its hold is released by a reversal the network sends on
    /// its own (one attempt; store-and-forward of reversals is not built yet).
    func reverseLate(_ authorization: Message, issuer: Issuer) {
        var reversal = Message(mti: "0400")
        for f in [2, 3, 4, 7, 11, 14, 32, 37, 41, 42, 49] where authorization[f] != nil { reversal[f] = authorization[f] }
        reversal.set(90, OriginalDataElements(mti: authorization.mti, stan: authorization.string(11) ?? "", transmission: authorization.string(7) ?? "",
                                              acquirer: authorization.string(32) ?? "").field90)
        let links = links, logger = logger
        Task {
            do {
                let answer = try await links.send(reversal, to: issuer)
                logger.info("timeout reversal sent", metadata: ["issuer": "\(issuer.id)", "rc": "\(answer.string(39) ?? "-")"])
            } catch {
                logger.warning("timeout reversal not delivered", metadata: ["issuer": "\(issuer.id)", "error": "\(error)"])
            }
        }
    }
}
