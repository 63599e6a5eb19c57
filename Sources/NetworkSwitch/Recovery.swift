import EMV
import Foundation
import ISO8583

extension AuthorizationPipeline {
    /// Settles the claims a process left unanswered when it died between its claim and its
    /// answer (here, or on another node sharing the database): each claimed before
    /// `olderThan` ago is journaled as answered, 91 when its issuer may have been asked (and
    /// the reversal the claim kept is queued for the issuer in the same transaction), 96
    /// when the issuer was not asked. A retransmission then gets that answer instead of 94,
    /// and whatever the issuer held is released. A claim its own process answers meanwhile
    /// stays as that process journaled it. Returns the number of claims settled.
    @discardableResult
    public func recoverUnanswered(olderThan age: Duration, limit: Int = 1_000) async throws -> Int {
        let claims = try await journal.unanswered(claimedBefore: now().addingTimeInterval(-age.seconds), limit: limit)
        var settled = 0
        for claim in claims {
            var owing: OwedMessage?
            var reversal: Message?
            if let lost = claim.ifLost {
                do {
                    let message = try codec.unpack(try tokens.open(lost.sealed, context: lost.id))
                    reversal = message
                    owing = forwarder.owed((lost.id, lost.sealed), issuerID: lost.issuerID, maskedPAN: message.string(2).map { PAN.mask($0) },
                                           reason: "authorization never answered: its process stopped")
                } catch {
                    logger.critical("ALARM recovery: the reversal kept with a claim does not open", metadata: ["key": "\(claim.key)", "error": "\(error)"])
                    continue
                }
            }
            let original = reversal?.string(90).flatMap(OriginalDataElements.init(field90:))
            let entry = JournalEntry(
                key: claim.key, requestDigest: claim.requestDigest, mti: original?.mti ?? "", maskedToken: nil, tokenID: nil,
                issuerID: claim.ifLost?.issuerID, maskedPAN: owing?.maskedPAN, processingCode: reversal?.string(3) ?? "",
                amountMinor: reversal?.string(4).flatMap { Int64($0) } ?? 0, currency: reversal?.string(49) ?? "",
                billingAmountMinor: nil, billingCurrency: nil,
                responseCode: owing == nil ? .systemMalfunction : .issuerUnavailable, approvalCode: nil,
                decidedBy: owing == nil ? .network : .timeout,
                reason: owing == nil ? "never answered: its process stopped before asking the issuer"
                    : "never answered: its process stopped; reversal queued for the issuer",
                answer: Data(), at: now())
            do {
                try await journal.complete(entry, owing: owing)
                settled += 1
                logger.warning("recovery: an authorization its process never answered is settled", metadata: [
                    "key": "\(claim.key)", "rc": "\(entry.responseCode)", "reversal": "\(owing != nil)",
                ])
            } catch JournalError.alreadyAnswered {
                continue
            }
        }
        if settled > 0, claims.contains(where: { $0.ifLost != nil }) { forwarder.wake() }
        return settled
    }
}
