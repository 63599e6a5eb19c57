import EMV
import Foundation
import GRDB
import ISO8583

/// What the network asks the bank to decide (decoded from an 0100 or 0200, already
/// detokenized and converted into the card's billing currency).
public struct AuthorizationRequest: Sendable, Equatable {
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
    public var responseCode: String
    /// Field 38 when approved.
    public var approvalCode: String?
    public var reason: String
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

extension IssuerDatabase {
    static func registerAuthorizationMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2: authorizations") { db in
            try db.execute(sql: """
                CREATE TABLE holds (reference TEXT PRIMARY KEY, account_id TEXT NOT NULL, amount INTEGER NOT NULL,
                                    type TEXT NOT NULL, state TEXT NOT NULL, at REAL NOT NULL);
                CREATE INDEX holds_account ON holds(account_id, state, at);
                CREATE TABLE decisions (reference TEXT PRIMARY KEY, doc TEXT NOT NULL);
                CREATE TABLE ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, reference TEXT NOT NULL,
                                     entry TEXT NOT NULL, amount INTEGER NOT NULL, at REAL NOT NULL);
                """)
        }
    }
}

extension Bank {
    /// Cash a card may draw per day, in minor units, unless its daily limit is lower.
    public static let dailyCashShare = 2 // half of the daily limit

    /// Decides an authorization and, when approved, places the hold, in one transaction.
    /// Declines change nothing; a repeated reference gets the first answer back.
    public func authorize(_ request: AuthorizationRequest) async throws -> AuthorizationDecision {
        guard let pan = try? PAN(request.pan) else {
            return AuthorizationDecision(responseCode: "14", approvalCode: nil, reason: "not a card number")
        }
        guard request.amountMinor > 0 else { return AuthorizationDecision(responseCode: "13", approvalCode: nil, reason: "invalid amount") }
        let fingerprint = vault.fingerprint(pan)
        let at = now()
        let dayStart = Calendar(identifier: .gregorian).startOfDay(for: at).timeIntervalSince1970
        return try await database.groupCommit.write { db in
            if let previous = try String.fetchOne(db, sql: "SELECT doc FROM decisions WHERE reference = ?", arguments: [request.reference]) {
                return try IssuerDatabase.decode(AuthorizationDecision.self, previous)
            }
            guard let doc = try String.fetchOne(db, sql: "SELECT doc FROM accounts WHERE fingerprint = ?", arguments: [fingerprint]) else {
                // Not this bank's card: nothing to remember (the card's own bank may be asked next).
                return AuthorizationDecision(responseCode: "14", approvalCode: nil, reason: "no such card at this bank")
            }
            let decision = try Self.decide(db, request, account: try IssuerDatabase.decode(Account.self, doc), at: at, dayStart: dayStart)
            try db.execute(sql: "INSERT INTO decisions (reference, doc) VALUES (?, ?)", arguments: [request.reference, try IssuerDatabase.doc(decision)])
            return decision
        }
    }

    private static func decide(_ db: Database, _ r: AuthorizationRequest, account: Account, at: Date, dayStart: Double) throws -> AuthorizationDecision {
        func decline(_ code: String, _ reason: String) -> AuthorizationDecision { AuthorizationDecision(responseCode: code, approvalCode: nil, reason: reason) }
        switch account.status {
        case .active: break
        case .lost: return decline("41", "card reported lost")
        case .stolen: return decline("43", "card reported stolen")
        case .blocked: return decline("62", "card blocked")
        }
        guard r.expiry == account.expiry else { return decline("54", "expiry date does not match the card") }
        if let currency = r.currency, Currency.alpha(account.currency)?.numeric != currency {
            return decline("57", "amount not in the account's currency \(account.currency)")
        }
        guard ["00", "01"].contains(r.transactionType) else { return decline("57", "transaction type \(r.transactionType) not permitted") }
        let held = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ? AND state = 'held'", arguments: [account.id]) ?? 0
        let today = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ? AND state = 'held' AND at >= ?",
                                       arguments: [account.id, dayStart]) ?? 0
        let cashToday = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ? AND state = 'held' AND type = '01' AND at >= ?",
                                           arguments: [account.id, dayStart]) ?? 0
        let available = account.balanceMinor + account.creditLimitMinor - held
        guard r.amountMinor <= available else { return decline("51", "insufficient funds") }
        guard today + r.amountMinor <= account.dailyLimitMinor else { return decline("61", "exceeds the daily limit") }
        if r.transactionType == "01", cashToday + r.amountMinor > account.dailyLimitMinor / Int64(dailyCashShare) {
            return decline("61", "exceeds the daily cash limit")
        }
        try db.execute(sql: "INSERT INTO holds (reference, account_id, amount, type, state, at) VALUES (?, ?, ?, ?, 'held', ?)",
                       arguments: [r.reference, account.id, r.amountMinor, r.transactionType, at.timeIntervalSince1970])
        try db.execute(sql: "INSERT INTO ledger (account_id, reference, entry, amount, at) VALUES (?, ?, 'hold', ?, ?)",
                       arguments: [account.id, r.reference, -r.amountMinor, at.timeIntervalSince1970])
        let approval = String(format: "%06d", Int.random(in: 0...999_999))
        return AuthorizationDecision(responseCode: "00", approvalCode: approval, reason: "approved")
    }

    /// A reversal (0400) releases the hold of an approved authorization. Reversing twice,
    /// or reversing what was never held, changes nothing and says so.
    @discardableResult
    public func reverse(reference: String) async throws -> Bool {
        let at = now().timeIntervalSince1970
        return try await database.pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT account_id, amount FROM holds WHERE reference = ? AND state = 'held'", arguments: [reference]) else {
                return false
            }
            let account: String = row["account_id"], amount: Int64 = row["amount"]
            try db.execute(sql: "UPDATE holds SET state = 'released' WHERE reference = ?", arguments: [reference])
            try db.execute(sql: "INSERT INTO ledger (account_id, reference, entry, amount, at) VALUES (?, ?, 'release', ?, ?)",
                           arguments: [account, reference, amount, at])
            // The invariant, checked where it is written: a released hold nets to zero.
            let net = try Int64.fetchOne(db, sql: "SELECT SUM(amount) FROM ledger WHERE reference = ?", arguments: [reference]) ?? 0
            precondition(net == 0, "ledger for \(reference) does not balance after release")
            return true
        }
    }

    /// Balance, credit line and what is held, for the bank's operator and for tests.
    public func availableMinor(pan: String) async throws -> Int64? {
        guard let p = try? PAN(pan), let account = try await database.account(fingerprint: vault.fingerprint(p)) else { return nil }
        let held = try await database.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ? AND state = 'held'", arguments: [account.id]) ?? 0
        }
        return account.balanceMinor + account.creditLimitMinor - held
    }

    /// What an account can still spend: balance and credit line less what is held.
    public func availableMinor(_ account: Account) async throws -> Int64 {
        let held = try await database.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ? AND state = 'held'", arguments: [account.id]) ?? 0
        }
        return account.balanceMinor + account.creditLimitMinor - held
    }

    /// Every reference whose ledger entries do not match its hold: empty when the books balance.
    public func unbalancedReferences() async throws -> [String] {
        try await database.pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT h.reference FROM holds h JOIN ledger l ON l.reference = h.reference
                GROUP BY h.reference, h.state, h.amount
                HAVING (h.state = 'held' AND SUM(l.amount) != -h.amount) OR (h.state = 'released' AND SUM(l.amount) != 0)
                """)
        }
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
