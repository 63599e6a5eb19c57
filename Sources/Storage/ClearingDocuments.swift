import Clearing
import Foundation
import SQLiteSupport

/// Clearing's documents written by hand, as `JSONEncoder` with sorted keys would, where a
/// file's presentments made `JSONEncoder` the largest cost: each cleared presentment (both
/// stores keep it), and the file's result, a record per presentment (100,000 in a large
/// file), kept in the store (dates in milliseconds) and answered to the acquirer (ISO 8601,
/// as the API's encoder writes them). `DocumentWriterTests` reads each against Foundation.
public enum ClearingDocuments {
    /// A cleared presentment as `SQLiteStore.doc(p)` would write it (the same keys, sorted):
    /// written for every presentment of a file. A dispute's parts, rare, by `JSONEncoder`.
    public static func presentment(_ p: ClearedPresentment) throws -> String {
        var w = DocumentWriter(capacity: 768)
        w.field("acquirerID", p.acquirerID)
        w.field("acquirerReference", p.acquirerReference)
        w.field("amountMinor", p.amountMinor)
        w.field("authorization", p.authorization)
        w.field("authorizedAt", milliseconds: p.authorizedAt)
        w.field("authorizedMinor", p.authorizedMinor)
        w.field("billingAmountMinor", p.billingAmountMinor)
        w.field("billingCurrency", p.billingCurrency)
        w.field("chargeback", json: try p.chargeback.map { try SQLiteStore.doc($0) })
        w.field("clearedAt", milliseconds: p.clearedAt)
        w.field("conversionRate", p.conversionRate)
        w.field("currency", p.currency)
        w.field("fileID", p.fileID)
        w.field("id", p.id)
        w.field("issuerID", p.issuerID)
        w.field("localTime", p.localTime)
        w.field("maskedToken", p.maskedToken)
        w.field("mcc", p.mcc)
        w.field("messageNumber", p.messageNumber)
        w.field("pricing", json: p.pricing.map(pricing))
        w.field("processingCode", p.processingCode)
        w.field("secondPresentment", json: try p.secondPresentment.map { try SQLiteStore.doc($0) })
        w.field("state", p.state?.rawValue)
        w.field("tokenID", p.tokenID)
        return w.finish()
    }

    static func pricing(_ p: Pricing) -> String {
        var w = DocumentWriter(capacity: 256)
        w.field("acquirerSchemeFeeMinor", p.acquirerSchemeFeeMinor)
        w.field("interchangeBasisPoints", p.interchangeBasisPoints)
        w.field("interchangeMinor", p.interchangeMinor)
        w.field("issuerAmountMinor", p.issuerAmountMinor)
        w.field("issuerCurrency", p.issuerCurrency)
        w.field("issuerInterchangeMinor", p.issuerInterchangeMinor)
        w.field("issuerSchemeFeeMinor", p.issuerSchemeFeeMinor)
        return w.finish()
    }

    public enum Dates: Sendable { case milliseconds, iso8601 }

    public static func result(_ r: ClearingFileResult, dates: Dates) -> String {
        var results = "["
        results.reserveCapacity(r.results.count * 240)
        for (i, one) in r.results.enumerated() {
            if i > 0 { results += "," }
            results += result(one)
        }
        results += "]"
        var w = DocumentWriter(capacity: results.utf8.count + 400)
        w.field("acquirerID", r.acquirerID)
        w.field("blocked", r.blocked)
        w.field("characterSet", r.characterSet)
        w.field("cleared", r.cleared)
        w.field("fileID", r.fileID)
        switch dates {
        case .milliseconds: w.field("receivedAt", milliseconds: r.receivedAt)
        case .iso8601: w.field("receivedAt", r.receivedAt.formatted(.iso8601))
        }
        w.field("rejectFileID", r.rejectFileID)
        w.field("rejected", r.rejected)
        w.field("results", json: results)
        return w.finish()
    }

    static func result(_ p: PresentmentResult) -> String {
        var w = DocumentWriter(capacity: 240)
        w.field("acquirerReference", p.acquirerReference)
        w.field("amountMinor", p.amountMinor)
        w.field("authorization", p.authorization)
        w.field("currency", p.currency)
        w.field("maskedToken", p.maskedToken)
        w.field("messageNumber", p.messageNumber)
        w.field("outcome", p.outcome.rawValue)
        w.field("partial", p.partial)
        w.field("presentmentID", p.presentmentID)
        w.field("reject", json: p.reject.map { reject in
            var r = DocumentWriter(capacity: 96)
            r.field("detail", reject.detail)
            r.field("element", reject.element)
            r.field("reason", reject.reason.rawValue)
            return r.finish()
        })
        return w.finish()
    }
}
