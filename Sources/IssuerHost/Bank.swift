import EMV
import Foundation
import IssuerContract
import Vault

/// One bank of the bundled issuer host, the bank a small issuer can go live with: its
/// cardholders' accounts and the card ranges it issues from; it decides ID&V for its
/// cards, delivers activation codes into its outbox, records token notifications, and
/// decides authorizations (`Authorization.swift`).
public final class Bank: Sendable {
    public let id: String
    /// The BINs (6 to 11 digits) its cards start with: set when the bank is created.
    public let cardRanges: [String]
    let database: any BankStore
    let vault: CardVault
    let now: @Sendable () -> Date

    /// Opens the bank stored in `database`, whose card ranges are stored there too.
    public init(id: String, database: any BankStore, master: MasterKey, now: @escaping @Sendable () -> Date = Date.init) async throws {
        self.id = id
        self.database = database
        self.now = now
        if let wrapped = try await database.wrappedDataKey() {
            vault = try CardVault(master: master, wrappedDataKey: wrapped)
        } else {
            let fresh = try CardVault(master: master, wrappedDataKey: nil)
            do {
                try await database.saveWrappedDataKey(fresh.wrappedDataKey)
                vault = fresh
            } catch IssuerHostError.conflict {
                // Another node opened this bank a moment ago: use its key.
                guard let wrapped = try await database.wrappedDataKey() else { throw IssuerHostError.notFound("the bank's data key") }
                vault = try CardVault(master: master, wrappedDataKey: wrapped)
            }
        }
        if let ranges = try await database.cardRanges() {
            cardRanges = ranges
        } else {
            // A bank made before banks had ranges: the BINs of the cards it holds.
            let ranges = Array(Set(try await database.accounts().map { String($0.maskedPAN.prefix(6)) })).sorted()
            try await database.saveCardRanges(ranges)
            cardRanges = ranges
        }
    }

    /// Whether the card number is in one of the bank's ranges.
    public func issues(_ digits: String) -> Bool { cardRanges.contains { digits.hasPrefix($0) } }

    /// Every account, for the bank's operator: card numbers masked, what is available.
    public func accounts() async throws -> [AccountView] {
        var views: [AccountView] = []
        for account in try await database.accounts() { views.append(AccountView(account, availableMinor: try await availableMinor(account))) }
        return views
    }

    /// An account as its operator sees it.
    public func view(_ account: Account) async throws -> AccountView {
        AccountView(account, availableMinor: try await availableMinor(account))
    }

    /// What the bank sent its cardholders (one-time codes among them), opened.
    public func outbox() async throws -> [OutboxMessage] {
        try await database.outbox().map { stored in
            guard let sealed = stored.sealed else { return stored }
            var message = stored
            let opened = try JSONDecoder().decode(SealedOutboxText.self, from: Data(try vault.openSecret(sealed, context: Self.outboxContext(id))))
            message.text = opened.text
            message.code = opened.code
            message.sealed = nil
            return message
        }
    }

    struct SealedOutboxText: Codable { var text: String; var code: String? }
    static func outboxContext(_ bank: String) -> String { "outbox/\(bank)" }

    /// The token notifications the token service sent.
    public func notifications() async throws -> [ReceivedNotification] { try await database.notifications() }

    /// Opens an account for a card. Returns it with the card number masked.
    public func openAccount(_ new: NewAccount) async throws -> Account {
        let account = try makeAccount(new)
        try await database.insertAccount(account)
        return account
    }

    /// Opens many accounts in one transaction: all or none.
    public func openAccounts(_ new: [NewAccount]) async throws -> [Account] {
        guard (1...250).contains(new.count) else { throw IssuerHostError.invalid("accounts: 1 to 250 (a body is at most 64 KiB)") }
        let accounts = try new.map(makeAccount)
        try await database.insertAccounts(accounts)
        return accounts
    }

    func makeAccount(_ new: NewAccount) throws -> Account {
        let pan: PAN
        do { pan = try PAN(new.pan) } catch { throw IssuerHostError.invalid("pan: \(error)") }
        guard issues(pan.digits) else {
            throw IssuerHostError.invalid("pan: \(pan.masked) is not in this bank's card ranges (\(cardRanges.joined(separator: ", ")))")
        }
        guard new.expiry.count == 4, new.expiry.allSatisfy(\.isNumber), let month = Int(new.expiry.suffix(2)), (1...12).contains(month) else {
            throw IssuerHostError.invalid("expiry: YYMM")
        }
        if let cvv2 = new.cvv2, !(cvv2.count == 3 && cvv2.allSatisfy(\.isNumber)) { throw IssuerHostError.invalid("cvv2: three digits") }
        if let phone = new.phone, !(phone.hasPrefix("+") && (8...16).contains(phone.count) && phone.dropFirst().allSatisfy(\.isNumber)) {
            throw IssuerHostError.invalid("phone: E.164, like +79161234567")
        }
        guard new.currency.count == 3, new.currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else { throw IssuerHostError.invalid("currency: ISO 4217 alpha-3") }
        guard !new.holderName.trimmingCharacters(in: .whitespaces).isEmpty, new.holderName.count <= 26 else {
            throw IssuerHostError.invalid("holderName: 1 to 26 characters, as embossed")
        }
        for (name, value) in [("balanceMinor", new.balanceMinor), ("creditLimitMinor", new.creditLimitMinor), ("dailyLimitMinor", new.dailyLimitMinor)] {
            if let value, !(0...Account.maxAmountMinor).contains(value) {
                throw IssuerHostError.invalid("\(name): 0 to \(Account.maxAmountMinor) minor units")
            }
        }
        let id = "acct_" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20))
        let account = Account(id: id, fingerprint: vault.fingerprint(pan), sealedPAN: vault.seal(pan, context: id), maskedPAN: pan.masked,
                              expiry: new.expiry, cvv2Hash: new.cvv2.map { vault.fingerprint(secret: pan.digits + $0, purpose: "cvv2") },
                              holderName: new.holderName, phone: new.phone, bankApp: new.bankApp ?? false, currency: new.currency,
                              balanceMinor: new.balanceMinor ?? 0, creditLimitMinor: new.creditLimitMinor ?? 0,
                              dailyLimitMinor: new.dailyLimitMinor ?? 10_000_000, status: .active)
        return account
    }

    /// What the wallet hears when the card's details do not verify, whichever detail it
    /// was (an unknown card, a wrong expiry, a wrong or missing CVV2, a lockout): one
    /// answer, byte for byte, so that ID&V tells nobody which detail was wrong.
    public static let notVerified = "the card could not be verified"

    /// EMVCo "authorize service": green, yellow (with the ways to reach the holder) or red.
    /// The card's details are checked first (expiry, and CVV2 whenever the bank has one on
    /// file), each failure counted against the card and the wallet; then the card's status
    /// and the rules.
    public func authorizeService(_ request: IDVRequest) async throws -> IDVDecision {
        func red(_ reason: String) -> IDVDecision { IDVDecision(decision: .red, methods: [], reason: reason) }
        let rules = try await database.rules()
        let at = now()
        let since = at.addingTimeInterval(-Double(max(rules.lockoutMinutes, 0)) * 60)
        let pan = try? PAN(request.pan)
        let cardSubject = pan.map { "card:" + vault.fingerprint($0) }
        let walletSubject = "wallet:" + request.walletID
        let failures = try await database.failures(subjects: [walletSubject] + (cardSubject.map { [$0] } ?? []), since: since)
        if failures[walletSubject, default: 0] >= rules.maxFailuresPerWallet { return red(Self.notVerified) }
        if let cardSubject, failures[cardSubject, default: 0] >= rules.maxFailuresPerCard { return red(Self.notVerified) }

        guard let pan, let cardSubject, let account = try await database.account(fingerprint: vault.fingerprint(pan)) else {
            try await database.recordFailure(subjects: [walletSubject], at: at)
            return red(Self.notVerified)
        }
        let cvv2Matches: Bool = switch (account.cvv2Hash, request.cvv2) {
        case (nil, _): true
        case (.some, nil): false
        case (.some(let expected), .some(let cvv2)): SecureRandom.constantTimeEquals(vault.fingerprint(secret: pan.digits + cvv2, purpose: "cvv2"), expected)
        }
        guard request.expiry == account.expiry, cvv2Matches else {
            try await database.recordFailure(subjects: [cardSubject, walletSubject], at: at)
            return red(Self.notVerified)
        }
        guard account.status == .active else { return red("card is \(account.status.rawValue)") }
        if request.riskScore > rules.declineRiskAbove { return red("risk too high") }
        var methods: [VerificationMethod] = []
        if let phone = account.phone { methods.append(.init(id: "sms-1", channel: .sms, destination: maskPhone(phone))) }
        if account.bankApp { methods.append(.init(id: "app-1", channel: .app, destination: "bank app")) }
        if rules.requireKnownPhone && account.phone == nil { return red("no phone number on file") }
        let stepUp = request.riskScore > rules.stepUpRiskAbove || rules.stepUpDeviceKinds.contains(request.deviceKind)
            || failures[cardSubject, default: 0] > 0
        if stepUp {
            guard !methods.isEmpty else { return red("verification needed but no way to reach the cardholder") }
            return IDVDecision(decision: .yellow, methods: methods, reason: nil)
        }
        return IDVDecision(decision: .green, methods: [], reason: nil)
    }

    /// The bank's one-time code message in the cardholder's language (Russian, Chinese or
    /// English; English for any other).
    static func codeMessage(code: String, lastFour: String, wallet: String, language: String?) -> String {
        switch language {
        case "ru": "\(code) — код для добавления карты *\(lastFour) в \(wallet). Никому его не сообщайте."
        case "zh": "\(code) 是将尾号 \(lastFour) 的卡添加到 \(wallet) 的验证码，请勿告诉他人。"
        default: "\(code) is your code to add card *\(lastFour) to \(wallet). Do not share it."
        }
    }

    /// "Deliver activation code": into the outbox, by the chosen channel.
    public func deliverCode(_ request: ActivationCodeDelivery) async throws {
        guard let pan = try? PAN(request.pan), let account = try await database.account(fingerprint: vault.fingerprint(pan)) else {
            throw IssuerHostError.notFound("card")
        }
        let (channel, destination): (VerificationMethod.Channel, String)
        switch request.methodID {
        case "sms-1" where account.phone != nil: (channel, destination) = (.sms, maskPhone(account.phone ?? ""))
        case "app-1" where account.bankApp: (channel, destination) = (.app, "bank app")
        default: throw IssuerHostError.invalid("methodID: \(request.methodID) is not a way to reach this cardholder")
        }
        guard request.code.count == 6, request.code.allSatisfy(\.isNumber) else { throw IssuerHostError.invalid("code: six digits") }
        let text = Self.codeMessage(code: request.code, lastFour: pan.lastFour, wallet: request.walletName, language: request.language)
        // The code is kept only sealed: the outbox stands for the SMS gateway, not a log.
        let sealed = vault.sealSecret(Array(try JSONEncoder().encode(SealedOutboxText(text: text, code: request.code))), context: Self.outboxContext(id))
        try await database.appendOutbox(OutboxMessage(id: 0, at: now(), channel: channel, destination: destination,
                                                      maskedPAN: account.maskedPAN, text: "", code: nil, sealed: sealed))
    }

    public func tokenUpdated(_ n: TokenNotification) async throws {
        try await database.appendNotifications([received(n, at: now())])
    }

    /// A batch, kept in one transaction (each once by its id).
    public func tokensUpdated(_ batch: TokenNotificationBatch) async throws {
        guard (1...TokenNotificationBatch.maxCount).contains(batch.notifications.count) else {
            throw IssuerHostError.invalid("notifications: 1 to \(TokenNotificationBatch.maxCount)")
        }
        let at = now()
        try await database.appendNotifications(batch.notifications.map { received($0, at: at) })
    }

    func received(_ n: TokenNotification, at: Date) -> ReceivedNotification {
        ReceivedNotification(id: n.id, at: at, tokenID: n.tokenID, maskedToken: n.maskedToken, maskedPAN: n.maskedPAN, event: n.event,
                             status: n.status, reason: n.reason)
    }

    public func setRules(_ rules: IDVRules) async throws {
        guard (0...99).contains(rules.declineRiskAbove), (0...99).contains(rules.stepUpRiskAbove) else {
            throw IssuerHostError.invalid("rules: risk thresholds 0–99")
        }
        guard (1...100).contains(rules.maxFailuresPerCard), (1...10_000).contains(rules.maxFailuresPerWallet), (1...10_080).contains(rules.lockoutMinutes) else {
            throw IssuerHostError.invalid("rules: maxFailuresPerCard 1–100, maxFailuresPerWallet 1–10000, lockoutMinutes 1–10080 (a week)")
        }
        try await database.saveRules(rules)
    }
}

/// "+79161234567" → "+7 *** ***-**-67".
func maskPhone(_ phone: String) -> String {
    guard phone.count > 4 else { return "***" }
    return String(phone.prefix(2)) + " *** ***-**-" + String(phone.suffix(2))
}

public enum IssuerHostError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case notFound(String)
    case conflict(String)
    /// No credential, a wrong one, or a signed request that does not verify.
    case unauthenticated(String)
    /// The bank's own records do not add up: that one transaction is refused, with an alarm.
    case inconsistent(String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .notFound(let what): "\(what) not found"
        case .conflict(let why): why
        case .unauthenticated(let why): why
        case .inconsistent(let why): why
        }
    }
}
