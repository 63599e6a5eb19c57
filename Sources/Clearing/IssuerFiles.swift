import Foundation
import IPM

/// A clearing file for an issuer: the presentments of its cards cleared since its last
/// file. The rows are kept, the bytes are made when the file is read (they carry card
/// numbers, which are never stored in clear).
public struct IssuerFile: Codable, Sendable, Equatable {
    /// PDS 0105: `002`, the date, the issuer's first card range (zero-padded to 11), a sequence.
    public var id: String
    public var issuerID: String
    public var createdAt: Date
    public var presentments: Int

    public init(id: String, issuerID: String, createdAt: Date, presentments: Int) {
        self.id = id; self.issuerID = issuerID; self.createdAt = createdAt; self.presentments = presentments
    }

    /// The PDS that carries the authorization's reference (acquirer/terminal/STAN/time):
    /// the key of the issuer's hold.
    public static let referencePDS = 800
    /// The PDS that carries the presentment's id: a posting is made once per id.
    public static let presentmentPDS = 801

    /// The 1240 the issuer reads for `p`, with its card number: DE 4/49 as presented,
    /// DE 6/51 the amount in the issuer's currency when it differs.
    public static func record(_ p: ClearedPresentment, cardNumber: String) throws -> IPMMessage {
        var m = IPMMessage(mti: "1240")
        m[2] = cardNumber
        m[3] = p.processingCode
        m[4] = String(p.amountMinor).leftPadded(to: 12)
        m[49] = p.currency
        if let pricing = p.pricing, let billing = p.billingCurrency, billing != p.currency {
            m[6] = String(pricing.issuerAmountMinor).leftPadded(to: 12)
            m[51] = billing
        }
        m[12] = p.localTime
        m[24] = "200"
        m[26] = p.mcc
        if p.acquirerReference.utf8.count == 23, p.acquirerReference.utf8.allSatisfy({ (0x30...0x39).contains($0) }) { m[31] = p.acquirerReference }
        let institution = p.authorization.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        if (1...11).contains(institution.utf8.count), institution.utf8.allSatisfy({ (0x30...0x39).contains($0) }) { m[32] = institution }
        try m.setPDS([referencePDS: p.authorization, presentmentPDS: p.id])
        return m
    }
}
