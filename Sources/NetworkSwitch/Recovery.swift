import EMV
import Foundation
import ISO8583

extension AuthorizationPipeline {
    /// Settles the claims a process left unanswered when it died between its claim and its
    /// answer (here, or on another node sharing the database), each claimed before
    /// `olderThan` ago:
    ///
    /// - a claim that spent an ATC (its issuer may have been asked, and may hold the
    ///   amount) is journaled as answered `91`, and the reversal the claim kept is queued
    ///   for the issuer in the same transaction; a retransmission gets that `91`;
    /// - a claim that spent nothing (a decline before the issuer, or a reversal, which the
    ///   issuer takes any number of times) is forgotten: its retransmission, or the
    ///   acquirer's repeated reversal, is worked out anew.
    ///
    /// A claim its own process answers meanwhile stays as that process journaled it.
    /// Returns the number of claims settled.
    @discardableResult
    public func recoverUnanswered(olderThan age: Duration, limit: Int = 1_000) async throws -> Int {
        let claims = try await journal.unanswered(claimedBefore: now().addingTimeInterval(-age.seconds), limit: limit)
        var settled = 0
        for claim in claims {
            guard let lost = claim.ifLost else {
                if try await journal.forget(unanswered: claim.key) {
                    settled += 1
                    logger.warning("recovery: a claim its process never answered is forgotten (nothing was spent)", metadata: ["key": "\(claim.key)"])
                }
                continue
            }
            let reversal: Message
            do {
                reversal = try codec.unpack(try tokens.open(lost.sealed, context: lost.id))
            } catch {
                logger.critical("ALARM recovery: the reversal kept with a claim does not open", metadata: ["key": "\(claim.key)", "error": "\(error)"])
                continue
            }
            let owing = forwarder.owed((lost.id, lost.sealed), issuerID: lost.issuerID, maskedPAN: reversal.string(2).map { PAN.mask($0) },
                                       reason: "authorization never answered: its process stopped")
            let original = reversal.string(90).flatMap(OriginalDataElements.init(field90:))
            let entry = JournalEntry(
                key: claim.key, requestDigest: claim.requestDigest, mti: original?.mti ?? "", maskedToken: nil, tokenID: nil,
                issuerID: lost.issuerID, maskedPAN: owing.maskedPAN, processingCode: reversal.string(3) ?? "",
                amountMinor: reversal.string(4).flatMap { Int64($0) } ?? 0, currency: reversal.string(49) ?? "",
                billingAmountMinor: nil, billingCurrency: nil, responseCode: .issuerUnavailable, approvalCode: nil, decidedBy: .timeout,
                reason: "never answered: its process stopped; reversal queued for the issuer", answer: Data(), at: now())
            do {
                try await journal.complete(entry, owing: owing)
                settled += 1
                logger.warning("recovery: an authorization its process never answered is settled: 91, reversal queued", metadata: ["key": "\(claim.key)"])
                forwarder.wake()
            } catch JournalError.alreadyAnswered {
                continue
            }
        }
        return settled
    }
}
