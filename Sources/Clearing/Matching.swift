import Foundation
import NetworkSwitch

/// An approved authorization as the network's journal has it, with what clearing needs
/// to know of it: whether it was reversed and whether a presentment cleared it already.
public struct ClearableAuthorization: Sendable, Equatable {
    /// The journal's key: acquirer (32) / terminal (41) / STAN (11) / transmission time (7);
    /// also the issuer's reference for its hold.
    public var key: String
    public var mti: String
    public var tokenID: String
    public var maskedToken: String?
    public var issuerID: String
    public var processingCode: String
    public var amountMinor: Int64
    /// ISO 4217 numeric.
    public var currency: String
    /// What the issuer was asked for in its own currency, and at which rate (field 10).
    public var billingAmountMinor: Int64?
    public var billingCurrency: String?
    public var approvalCode: String
    public var at: Date
    /// An acquirer's reversal of it was answered 00.
    public var reversed: Bool
    /// The presentment that cleared it, when one did.
    public var clearedBy: String?
    /// Field 10 of the authorization, when its amount was converted for the issuer.
    public var conversionRate: String?

    public init(key: String, mti: String, tokenID: String, maskedToken: String?, issuerID: String, processingCode: String,
                amountMinor: Int64, currency: String, billingAmountMinor: Int64?, billingCurrency: String?, approvalCode: String,
                at: Date, reversed: Bool, clearedBy: String?, conversionRate: String? = nil) {
        self.key = key; self.mti = mti; self.tokenID = tokenID; self.maskedToken = maskedToken; self.issuerID = issuerID
        self.processingCode = processingCode; self.amountMinor = amountMinor; self.currency = currency
        self.billingAmountMinor = billingAmountMinor; self.billingCurrency = billingCurrency; self.approvalCode = approvalCode
        self.at = at; self.reversed = reversed; self.clearedBy = clearedBy; self.conversionRate = conversionRate
    }

    /// An approved authorization (0100) or ATM withdrawal (0200) of the journal with its
    /// token, issuer and approval code; nil for anything else.
    public init?(_ e: JournalEntry, reversed: Bool, clearedBy: String?) {
        guard e.responseCode.isApproval else { return nil }
        self.init(approved: e.key, mti: e.mti, tokenID: e.tokenID, maskedToken: e.maskedToken, issuerID: e.issuerID, processingCode: e.processingCode,
                  amountMinor: e.amountMinor, currency: e.currency, billingAmountMinor: e.billingAmountMinor, billingCurrency: e.billingCurrency,
                  approvalCode: e.approvalCode, at: e.at, conversionRate: e.conversionRate, reversed: reversed, clearedBy: clearedBy)
    }

    /// The same from the fields of an approved journal entry (as a store reads them without
    /// the whole entry): an 0100 or 0200 with its token, issuer and approval code; nil for
    /// anything else.
    public init?(approved key: String, mti: String, tokenID: String?, maskedToken: String?, issuerID: String?, processingCode: String,
                 amountMinor: Int64, currency: String, billingAmountMinor: Int64?, billingCurrency: String?, approvalCode: String?, at: Date,
                 conversionRate: String?, reversed: Bool, clearedBy: String?) {
        guard mti == "0100" || mti == "0200", let tokenID, let issuerID, let approvalCode else { return nil }
        self.init(key: key, mti: mti, tokenID: tokenID, maskedToken: maskedToken, issuerID: issuerID, processingCode: processingCode,
                  amountMinor: amountMinor, currency: currency, billingAmountMinor: billingAmountMinor, billingCurrency: billingCurrency,
                  approvalCode: approvalCode, at: at, reversed: reversed, clearedBy: clearedBy, conversionRate: conversionRate)
    }

    /// The acquiring institution: the key's first part.
    public var acquirerInstitution: Substring { key.split(separator: "/", maxSplits: 1).first ?? "" }
}

/// The network's rules for matching a presentment to its authorization.
public struct ClearingRules: Sendable, Equatable {
    /// A presentment must arrive within this long of its authorization: the bundled bank's
    /// hold lifetime (7 days), after which the hold has lapsed.
    public var presentmentWindow: TimeInterval
    /// Merchant categories whose presentment may exceed the authorized amount (a tip, a
    /// hotel's or car rental's final bill), by at most this many percent.
    public var overPresentmentPercent: [String: Int]

    public static let standard = ClearingRules(
        presentmentWindow: 7 * 86_400,
        overPresentmentPercent: ["5812": 20, "5813": 20, "5814": 20, "4121": 20, "7230": 20, "7011": 15, "7512": 15])

    public init(presentmentWindow: TimeInterval, overPresentmentPercent: [String: Int]) {
        self.presentmentWindow = presentmentWindow; self.overPresentmentPercent = overPresentmentPercent
    }

    /// The most a presentment of `authorized` in category `mcc` may be.
    public func ceiling(authorized: Int64, mcc: String) -> Int64 {
        guard let percent = overPresentmentPercent[mcc] else { return authorized }
        let (extra, overflow) = authorized.multipliedReportingOverflow(by: Int64(percent))
        guard !overflow else { return authorized }
        let (sum, overflowed) = authorized.addingReportingOverflow(extra / 100)
        return overflowed ? authorized : sum
    }

    /// The authorization `presentment` clears among `candidates` (the approvals of its
    /// token and approval code), or why none. `taken` are keys cleared earlier in the same
    /// file. A life cycle ID (DE 63) narrows them to the authorization it names (with DE 41,
    /// of that terminal); when several still fit, the oldest is cleared. When none fits, the
    /// reason is that of the candidate that came closest: an amount above the authorized
    /// before another currency, late, already cleared, single message, reversed.
    public func match(_ presentment: Presentment, candidates: [ClearableAuthorization], taken: Set<String>, at now: Date) -> Result<ClearableAuthorization, Reject> {
        var ours = candidates.filter { $0.acquirerInstitution == presentment.acquirerInstitution }.sorted { $0.at < $1.at }
        guard !ours.isEmpty else { return .failure(Reject(.noAuthorization, element: 38)) }
        if let id = presentment.lifeCycleID {
            // The journal's key is acquirer/terminal/STAN/transmission time.
            let stanAndTime = "/" + id.prefix(6) + "/" + id.dropFirst(6)
            ours = ours.filter { a in
                guard let terminal = presentment.terminal else { return a.key.hasSuffix(stanAndTime) }
                return a.key == a.acquirerInstitution + "/" + terminal + stanAndTime
            }
            guard !ours.isEmpty else {
                return .failure(Reject(.noAuthorization, element: 63, detail: "DE 63 names no approved authorization of this token, approval code and acquirer"))
            }
        }
        var best: Reject?
        func consider(_ r: Reject) {
            let order: [Reject.Reason] = [.amountAboveAuthorized, .currencyMismatch, .late, .alreadyCleared, .singleMessage, .reversed]
            if let b = best, (order.firstIndex(of: b.reason) ?? 0) <= (order.firstIndex(of: r.reason) ?? 0) { return }
            best = r
        }
        for a in ours {
            if a.reversed { consider(Reject(.reversed)); continue }
            if a.mti == "0200" { consider(Reject(.singleMessage)); continue }
            if a.clearedBy != nil || taken.contains(a.key) { consider(Reject(.alreadyCleared, detail: "the authorization is already cleared by \(a.clearedBy ?? "this file")")); continue }
            if now.timeIntervalSince(a.at) > presentmentWindow { consider(Reject(.late, detail: "presented \(Int(now.timeIntervalSince(a.at) / 86_400)) days after the authorization (at most \(Int(presentmentWindow / 86_400)))")); continue }
            if a.currency != presentment.currency.numeric { consider(Reject(.currencyMismatch, element: 49, detail: "DE 49 is \(presentment.currency.numeric), the authorization's \(a.currency)")); continue }
            let ceiling = ceiling(authorized: a.amountMinor, mcc: presentment.mcc)
            if presentment.amountMinor > ceiling {
                consider(Reject(.amountAboveAuthorized, element: 4, detail: "DE 4 is \(presentment.amountMinor), at most \(ceiling) for MCC \(presentment.mcc) (authorized \(a.amountMinor))"))
                continue
            }
            return .success(a)
        }
        return .failure(best ?? Reject(.noAuthorization, element: 38))
    }
}
