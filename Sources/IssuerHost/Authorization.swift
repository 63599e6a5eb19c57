import EMV
import Foundation
import ISO8583

/// What the network asks the bank to decide (decoded from an 0100 or 0200, already
/// detokenized and converted into the card's billing currency).
public struct CardAuthorization: Sendable, Equatable {
    /// The network's reference for this authorization (acquirer, terminal, STAN, time):
    /// the same reference gets the same answer and never a second hold.
    public var reference: String
    public var pan: String
    /// YYMM from field 14.
    public var expiry: String
    /// In minor units of the card's billing currency.
    public var amountMinor: Int64
    /// ISO 8583 processing code type (field 3, first two digits): 00 goods, 01 cash.
    public var transactionType: String
    /// ISO 4217 numeric code of `amountMinor`; when given, it must be the account's currency.
    public var currency: String?

    public init(reference: String, pan: String, expiry: String, amountMinor: Int64, transactionType: String, currency: String? = nil) {
        self.reference = reference; self.pan = pan; self.expiry = expiry; self.amountMinor = amountMinor; self.transactionType = transactionType
        self.currency = currency
    }
}

public struct AuthorizationDecision: Codable, Sendable, Equatable {
    /// ISO 8583:1987 field 39.
    public var responseCode: ResponseCode
    /// Field 38 when approved.
    public var approvalCode: String?
    public var reason: String

    public init(responseCode: ResponseCode, approvalCode: String?, reason: String) {
        self.responseCode = responseCode; self.approvalCode = approvalCode; self.reason = reason
    }

    /// What an authorization gets when its reversal reached the bank first (the network
    /// gave up on it and reversed it before the bank saw it): declined, nothing held.
    public static let reversedBeforeItArrived = AuthorizationDecision(responseCode: .doNotHonour, approvalCode: nil,
                                                                      reason: "reversed before it arrived")
}

/// A hold on an account's available funds, and its fate.
public struct Hold: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case held, released }
    public var reference: String
    public var accountID: String
    public var amountMinor: Int64
    public var transactionType: String
    public var state: State
    public var at: Date
}

extension Bank {
    /// Cash a card may draw per day, in minor units, unless its daily limit is lower.
    public static let dailyCashShare = 2 // half of the daily limit

    /// Decides an authorization and, when approved, places the hold, in one transaction.
    /// Declines change nothing; a repeated reference gets the first answer back.
    public func authorize(_ request: CardAuthorization) async throws -> AuthorizationDecision {
        guard let pan = try? PAN(request.pan), issues(pan.digits) else {
            return AuthorizationDecision(responseCode: .invalidCardNumber, approvalCode: nil, reason: "not a card of this bank")
        }
        guard request.amountMinor > 0 else { return AuthorizationDecision(responseCode: .invalidAmount, approvalCode: nil, reason: "invalid amount") }
        let fingerprint = vault.fingerprint(pan)
        let at = now()
        let dayStart = Calendar(identifier: .gregorian).startOfDay(for: at)
        let decision = try await database.authorize(reference: request.reference, fingerprint: fingerprint, since: dayStart) { account, totals in
            Self.decide(request, account: account, totals: totals, at: at)
        }
        // In the bank's range but no account: nothing remembered.
        return decision ?? AuthorizationDecision(responseCode: .invalidCardNumber, approvalCode: nil, reason: "no such card at this bank")
    }

    static func decide(_ r: CardAuthorization, account: Account, totals: HeldTotals, at: Date) -> (AuthorizationDecision, NewHold?) {
        func decline(_ code: ResponseCode, _ reason: String) -> (AuthorizationDecision, NewHold?) {
            (AuthorizationDecision(responseCode: code, approvalCode: nil, reason: reason), nil)
        }
        switch account.status {
        case .active: break
        case .lost: return decline(.lostCard, "card reported lost")
        case .stolen: return decline(.stolenCard, "card reported stolen")
        case .blocked: return decline(.restrictedCard, "card blocked")
        }
        // A row that `openAccount` would not have written (an old or edited database):
        // refused, and the handler raises the alarm; never arithmetic that could trap.
        guard account.amountsInRange, let funds = Minor.sum(account.balanceMinor, account.creditLimitMinor),
              let available = Minor.difference(funds, totals.held), let heldToday = Minor.sum(totals.heldToday, r.amountMinor),
              let cashToday = Minor.sum(totals.cashToday, r.amountMinor) else {
            return decline(.systemMalfunction, Self.inconsistentAccount)
        }
        guard r.expiry == account.expiry else { return decline(.expiredCard, "expiry date does not match the card") }
        if let currency = r.currency, Currency.alpha(account.currency)?.numeric != currency {
            return decline(.transactionNotPermittedToCardholder, "amount not in the account's currency \(account.currency)")
        }
        guard ["00", "01"].contains(r.transactionType) else { return decline(.transactionNotPermittedToCardholder, "transaction type \(r.transactionType) not permitted") }
        guard r.amountMinor <= available else { return decline(.insufficientFunds, "insufficient funds") }
        guard heldToday <= account.dailyLimitMinor else { return decline(.exceedsAmountLimit, "exceeds the daily limit") }
        if r.transactionType == "01", cashToday > account.dailyLimitMinor / Int64(dailyCashShare) {
            return decline(.exceedsAmountLimit, "exceeds the daily cash limit")
        }
        let approval = String(format: "%06d", Int.random(in: 0...999_999))
        return (AuthorizationDecision(responseCode: .approved, approvalCode: approval, reason: "approved"),
                NewHold(amountMinor: r.amountMinor, transactionType: r.transactionType, at: at))
    }

    /// A reversal (0400) releases the hold of an approved authorization. Reversing twice,
    /// or reversing what was never held, changes nothing and says so.
    @discardableResult
    public func reverse(reference: String) async throws -> Bool {
        try await database.release(reference: reference, accountID: nil, at: now())
    }

    /// A reversal from the network: it releases the hold of `reference` only when that
    /// hold is on the account of the card it carries (a reversal naming another card's
    /// authorization releases nothing). A reversal of an authorization the bank has not
    /// seen yet is remembered: that authorization, when it arrives, is declined
    /// (`reversedBeforeItArrived`) and holds nothing.
    public func reverse(reference: String, card: String) async throws -> Bool {
        guard let pan = try? PAN(card), let account = try await database.account(fingerprint: vault.fingerprint(pan)) else { return false }
        return try await database.release(reference: reference, accountID: account.id, at: now())
    }

    /// How long a hold of goods or services stays when no clearing comes for it, unless
    /// the host is told otherwise.
    public static let defaultHoldLifetime: Duration = .seconds(7 * 86_400)

    /// Releases the holds placed more than `lifetime` ago that nothing cleared or
    /// reversed (cash is final and stays): each with a ledger entry `expiry`. The
    /// references released.
    @discardableResult
    public func expireHolds(lifetime: Duration = Bank.defaultHoldLifetime) async throws -> [String] {
        let at = now()
        return try await database.expireHolds(placedBefore: at.addingTimeInterval(-Double(lifetime.components.seconds)), at: at)
    }

    /// Balance, credit line and what is held, for the bank's operator and for tests.
    public func availableMinor(pan: String) async throws -> Int64? {
        guard let p = try? PAN(pan), let account = try await database.account(fingerprint: vault.fingerprint(p)) else { return nil }
        return try await availableMinor(account)
    }

    /// What an account can still spend: balance and credit line less what is held; nil
    /// when the stored amounts do not add up.
    public func availableMinor(_ account: Account) async throws -> Int64? {
        guard account.amountsInRange, let funds = Minor.sum(account.balanceMinor, account.creditLimitMinor) else { return nil }
        return Minor.difference(funds, try await database.heldMinor(accountID: account.id))
    }

    /// The reason given when an account's stored amounts are out of range.
    public static let inconsistentAccount = "inconsistent account: stored amounts out of range"

    /// Every reference whose ledger entries do not match its hold: empty when the books balance.
    public func unbalancedReferences() async throws -> [String] {
        try await database.unbalancedReferences()
    }

    /// The network's advice of a stand-in approval (0120): the hold placed once, whatever
    /// the account's funds, unless the bank approved the reference itself or it was
    /// reversed before. Nil when the card is not this bank's or has no account.
    public func applyAdvice(_ request: CardAuthorization, approvalCode: String) async throws -> Bool? {
        guard let pan = try? PAN(request.pan), issues(pan.digits), request.amountMinor > 0 else { return nil }
        let decision = AuthorizationDecision(responseCode: .approved, approvalCode: approvalCode, reason: "approved by the network in stand-in")
        return try await database.applyAdvice(reference: request.reference, fingerprint: vault.fingerprint(pan),
                                              hold: NewHold(amountMinor: request.amountMinor, transactionType: request.transactionType, at: now()),
                                              decision: decision)
    }

    /// The bank's holds, by reference (acquirer/terminal/STAN/transmission time), a page at a time.
    public func holds(after: String?, limit: Int) async throws -> [Hold] {
        try await database.holds(after: after, limit: limit)
    }

    /// Sets a card's status (the bank's operator: lost, stolen, blocked, active).
    public func setStatus(pan: String, _ status: Account.Status) async throws {
        guard let p = try? PAN(pan), var account = try await database.account(fingerprint: vault.fingerprint(p)) else {
            throw IssuerHostError.notFound("card")
        }
        account.status = status
        try await database.replaceAccount(account)
    }
}
