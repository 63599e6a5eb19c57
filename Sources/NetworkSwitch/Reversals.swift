import EMV
import Foundation
import ISO8583
import Participants
import TokenService

/// Every way the switch can answer a reversal, and who decided it.
enum ReversalOutcome: Sendable {
    /// The network never saw the original (25).
    case originalNotFound
    /// The reversal's token is not the original's, or is no token at all (25).
    case cardMismatch
    /// The original was not approved: there is no hold to release (00).
    case nothingToReverse(JournalEntry)
    /// The issuer's answer to the reversal, sent on with the card number.
    case reversedAtIssuer(ResponseCode, TokenRouting, reason: String)
    /// The issuer's host could not be reached, or did not answer: the reversal (`message`,
    /// card number included) is queued for it with the journal entry, and the acquirer
    /// hears 00. Also what a reversal of an authorization answered 91 gets.
    case queuedForIssuer(TokenRouting, message: Message, issuerID: String, reason: String)
    /// The journal could not be read (96).
    case malfunction(String)

    var responseCode: ResponseCode {
        switch self {
        case .originalNotFound, .cardMismatch: .originalNotFound
        case .nothingToReverse: .approved
        case .reversedAtIssuer(let code, _, _): code
        case .queuedForIssuer: .approved
        case .malfunction: .systemMalfunction
        }
    }

    var decidedBy: Decider {
        switch self {
        case .originalNotFound, .cardMismatch, .nothingToReverse, .malfunction, .queuedForIssuer: .network
        case .reversedAtIssuer: .issuer
        }
    }

    var reason: String {
        switch self {
        case .originalNotFound: "original not found"
        case .cardMismatch: "the reversal's card does not match the original"
        case .nothingToReverse: "original was not approved: nothing to reverse"
        case .reversedAtIssuer(let code, _, let reason): code.isApproval ? reason : "issuer refused the reversal"
        case .queuedForIssuer(_, _, _, let reason): reason
        case .malfunction(let what): what
        }
    }

    /// What the journal says of the token and card.
    var routing: (maskedToken: String?, tokenID: String?, issuerID: String?, maskedPAN: String?) {
        switch self {
        case .nothingToReverse(let e): (e.maskedToken, e.tokenID, e.issuerID, e.maskedPAN)
        case .reversedAtIssuer(_, let r, _), .queuedForIssuer(let r, _, _, _): (r.maskedToken, r.tokenID, r.issuerID, r.maskedPAN)
        case .originalNotFound, .cardMismatch, .malfunction: (nil, nil, nil, nil)
        }
    }
}

extension AuthorizationPipeline {
    /// An acquirer's 0400/0420: the original (found in the journal by field 90 with this
    /// acquirer and terminal) is reversed at the issuer, which releases its hold. A
    /// reversal is idempotent at the issuer, so a repeated one is simply sent again.
    ///
    /// The reversal's own key is claimed first, as an authorization's is: a repeat gets the
    /// first answer, and a message whose key is already taken (by an authorization or
    /// another reversal) is refused with 94 and changes nothing.
    func reverse(_ request: ReversalRequest) async -> Message {
        let digest = tokens.digest((try? codec.pack(request.message)) ?? [], purpose: "authorization")
        do {
            switch try await journal.claim(request.key, requestDigest: digest, at: now()) {
            case .claimed:
                break
            case .answered(let entry):
                return try original(entry, for: request.message, digest: digest)
            case .pending(let pendingDigest):
                if pendingDigest == digest, let entry = try await awaitAnswer(request.key) {
                    return try original(entry, for: request.message, digest: digest)
                }
                logger.notice("same key as a message in progress", metadata: ["key": "\(request.key)"])
                return Self.answer(to: request.message, .duplicateTransmission)
            }
        } catch {
            logger.error("journal unavailable", metadata: ["key": "\(request.key)", "error": "\(error)"])
            return Self.answer(to: request.message, .systemMalfunction)
        }
        let outcome = await decideReversal(request)
        var answer = Self.answer(to: request.message, outcome.responseCode)
        answer[90] = request.message[90]
        var stored = answer
        stored[2] = nil
        let routing = outcome.routing
        var entry = JournalEntry(
            key: request.key.description, requestDigest: digest,
            mti: request.message.mti, maskedToken: routing.maskedToken ?? PAN.mask(request.number.digits), tokenID: routing.tokenID,
            issuerID: routing.issuerID, maskedPAN: routing.maskedPAN, processingCode: request.processingCode, amountMinor: request.amountMinor,
            currency: request.currency.numeric, billingAmountMinor: nil, billingCurrency: nil, responseCode: outcome.responseCode, approvalCode: nil,
            decidedBy: outcome.decidedBy, reason: outcome.reason + " (original \(request.original))", answer: Data((try? codec.pack(stored)) ?? []),
            at: now())
        entry.original = request.original.description
        var owing: OwedMessage?
        if case .queuedForIssuer(let routing, let message, let issuerID, let reason) = outcome {
            do {
                owing = forwarder.owed(try forwarder.seal(message, id: OwedMessage.reversalID(request.original)), issuerID: issuerID,
                                       maskedPAN: routing.maskedPAN, reason: reason)
            } catch {
                logger.error("reversal could not be sealed: answering 96", metadata: ["key": "\(request.key)", "error": "\(error)"])
                answer.set(39, ResponseCode.systemMalfunction.rawValue)
                return answer
            }
        }
        do {
            try await journal.complete(entry, owing: owing)
            if let owing {
                logger.notice("reversal queued for the issuer", metadata: ["key": "\(request.key)", "issuer": "\(owing.issuerID)", "reason": "\(owing.reason)"])
                forwarder.wake()
            }
        } catch {
            logger.error("journal write failed: answering 96", metadata: ["key": "\(request.key)", "error": "\(error)"])
            answer.set(39, ResponseCode.systemMalfunction.rawValue)
        }
        logger.info("reversal", metadata: ["key": "\(request.key)", "original": "\(request.original)", "rc": "\(entry.responseCode)",
                                           "reason": "\(entry.reason)"])
        return answer
    }

    func decideReversal(_ request: ReversalRequest) async -> ReversalOutcome {
        let original = request.original
        let entry: JournalEntry
        do {
            var found = try await journal.entry(original)
            if found == nil, try await journal.isPending(original) {
                // The original is still being decided (here or on another node): its answer
                // says what to reverse. An acquirer that timed out first reverses at once.
                logger.notice("reversal of an authorization in progress: waiting for its answer", metadata: ["original": "\(original)"])
                found = try await awaitAnswer(original)
                if found == nil {
                    // Never answered (its node died): the issuer releases a hold if it placed one.
                    return await reverseAtIssuer(request, expectedTokenID: nil, issuerID: nil, reason: "original never answered: reversed at the issuer")
                }
            }
            guard let found else { return .originalNotFound }
            entry = found
        } catch {
            return .malfunction("journal unavailable")
        }
        // Answered 91 after the issuer was sent it: the issuer may hold the amount, and the
        // network owes it this reversal (queued already when the network gave up; the same
        // id, so once).
        if entry.decidedBy == .timeout, let issuerID = entry.issuerID {
            return await reverseAtIssuer(request, expectedTokenID: entry.tokenID, issuerID: issuerID,
                                         reason: "original answered 91: reversal queued for the issuer", queueOnly: true)
        }
        // Approved in stand-in: the issuer hears of it by the advice queued for it, and of the
        // reversal after it, through the same queue (in order).
        if entry.decidedBy == .standIn, entry.responseCode.isApproval, let issuerID = entry.issuerID {
            return await reverseAtIssuer(request, expectedTokenID: entry.tokenID, issuerID: issuerID,
                                         reason: "stand-in approval reversed: queued for the issuer after its advice", queueOnly: true)
        }
        guard entry.responseCode.isApproval, entry.decidedBy == .issuer, let issuerID = entry.issuerID else {
            return .nothingToReverse(entry)
        }
        return await reverseAtIssuer(request, expectedTokenID: entry.tokenID, issuerID: issuerID, reason: "reversed")
    }

    /// Sends the reversal on to the issuer of the reversal's token (the original's, when
    /// known: `expectedTokenID`), with the card number in place of the token.
    /// When the issuer cannot take it now (or `queueOnly`), it is queued for the issuer.
    func reverseAtIssuer(_ request: ReversalRequest, expectedTokenID: String?, issuerID: String?, reason: String,
                         queueOnly: Bool = false) async -> ReversalOutcome {
        guard let routing = try? await tokens.routing(forToken: request.number), expectedTokenID == nil || routing.tokenID == expectedTokenID,
              let issuer = try? await directory.issuer(id: issuerID ?? routing.issuerID) else {
            return .cardMismatch
        }
        var toIssuer = Message(mti: request.message.mti)
        for f in [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 90] where request.message[f] != nil { toIssuer[f] = request.message[f] }
        toIssuer.set(2, routing.pan.digits)
        toIssuer.set(14, routing.cardExpiry)
        var queued = toIssuer
        queued.mti = "0420"
        if queueOnly { return .queuedForIssuer(routing, message: queued, issuerID: issuer.id, reason: reason) }
        do {
            let answer = try await links.send(toIssuer, to: issuer)
            let code = answer.responseCode ?? .systemMalfunction
            // An issuer that could not process it now gets it again from the queue.
            guard code != .issuerUnavailable && code != .systemMalfunction else {
                return .queuedForIssuer(routing, message: queued, issuerID: issuer.id, reason: "the issuer answered \(code.rawValue): reversal queued for it")
            }
            return .reversedAtIssuer(code, routing, reason: reason)
        } catch {
            logger.warning("issuer did not take a reversal: queued for it", metadata: ["key": "\(request.key)", "error": "\(error)"])
            return .queuedForIssuer(routing, message: queued, issuerID: issuer.id, reason: "\(error): reversal queued for the issuer")
        }
    }
}
