import EMV
import Foundation
import Vault

/// The bundled issuer host: the bank a small issuer can go live with. It decides ID&V
/// for its cards, delivers activation codes into its outbox, and records token
/// notifications. (Authorizations over ISO 8583 come with the network switch.)
public final class Bank: Sendable {
    public let database: any BankStore
    let vault: CardVault
    let now: @Sendable () -> Date

    public init(database: any BankStore, master: MasterKey, now: @escaping @Sendable () -> Date = Date.init) async throws {
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
    }

    public struct NewAccount: Codable, Sendable {
        public enum CodingKeys: String, CodingKey, CaseIterable {
            case pan, expiry, cvv2, holderName, phone, bankApp, currency, balanceMinor, creditLimitMinor, dailyLimitMinor
        }

        public var pan: String
        public var expiry: String
        public var cvv2: String?
        public var holderName: String
        public var phone: String?
        public var bankApp: Bool?
        public var currency: String
        public var balanceMinor: Int64?
        public var creditLimitMinor: Int64?
        public var dailyLimitMinor: Int64?

        public init(pan: String, expiry: String, cvv2: String? = nil, holderName: String, phone: String? = nil, bankApp: Bool? = nil,
                    currency: String, balanceMinor: Int64? = nil, creditLimitMinor: Int64? = nil, dailyLimitMinor: Int64? = nil) {
            self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.holderName = holderName; self.phone = phone
            self.bankApp = bankApp; self.currency = currency; self.balanceMinor = balanceMinor
            self.creditLimitMinor = creditLimitMinor; self.dailyLimitMinor = dailyLimitMinor
        }
    }

    /// Opens an account for a card. Returns it with the card number masked.
    public func openAccount(_ new: NewAccount) async throws -> Account {
        let account = try makeAccount(new)
        try await database.insertAccount(account)
        return account
    }

    /// Opens many accounts in one transaction: all or none.
    public func openAccounts(_ new: [NewAccount]) async throws -> [Account] {
        guard (1...1000).contains(new.count) else { throw IssuerHostError.invalid("accounts: 1 to 1000") }
        let accounts = try new.map(makeAccount)
        try await database.insertAccounts(accounts)
        return accounts
    }

    func makeAccount(_ new: NewAccount) throws -> Account {
        let pan: PAN
        do { pan = try PAN(new.pan) } catch { throw IssuerHostError.invalid("pan: \(error)") }
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
            if let value, value < 0 { throw IssuerHostError.invalid("\(name): not negative") }
        }
        let id = "acct_" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20))
        let account = Account(id: id, fingerprint: vault.fingerprint(pan), sealedPAN: vault.seal(pan, context: id), maskedPAN: pan.masked,
                              expiry: new.expiry, cvv2Hash: new.cvv2.map { vault.fingerprint(secret: pan.digits + $0, purpose: "cvv2") },
                              holderName: new.holderName, phone: new.phone, bankApp: new.bankApp ?? false, currency: new.currency,
                              balanceMinor: new.balanceMinor ?? 0, creditLimitMinor: new.creditLimitMinor ?? 0,
                              dailyLimitMinor: new.dailyLimitMinor ?? 10_000_000, status: .active)
        return account
    }

    /// EMVCo "authorize service": green, yellow (with the ways to reach the holder) or red.
    public func authorizeService(_ request: AuthorizeServiceRequest) async throws -> AuthorizeServiceResponse {
        func red(_ reason: String) -> AuthorizeServiceResponse { AuthorizeServiceResponse(decision: "red", methods: [], reason: reason) }
        guard let pan = try? PAN(request.pan), let account = try await database.account(fingerprint: vault.fingerprint(pan)) else {
            return red("card unknown to the issuer")
        }
        guard account.status == .active else { return red("card is \(account.status.rawValue)") }
        guard request.expiry == account.expiry else { return red("expiry date does not match") }
        if let cvv2 = request.cvv2, let expected = account.cvv2Hash, vault.fingerprint(secret: pan.digits + cvv2, purpose: "cvv2") != expected {
            return red("security code does not match")
        }
        let rules = try await database.rules()
        if request.riskScore > rules.declineRiskAbove { return red("risk too high") }
        var methods: [AuthorizeServiceResponse.Method] = []
        if let phone = account.phone { methods.append(.init(id: "sms-1", channel: "sms", destination: maskPhone(phone))) }
        if account.bankApp { methods.append(.init(id: "app-1", channel: "app", destination: "bank app")) }
        if rules.requireKnownPhone && account.phone == nil { return red("no phone number on file") }
        let stepUp = request.riskScore > rules.stepUpRiskAbove || rules.stepUpDeviceKinds.contains(request.deviceKind)
        if stepUp {
            guard !methods.isEmpty else { return red("verification needed but no way to reach the cardholder") }
            return AuthorizeServiceResponse(decision: "yellow", methods: methods, reason: nil)
        }
        return AuthorizeServiceResponse(decision: "green", methods: [], reason: nil)
    }

    /// "Deliver activation code": into the outbox, by the chosen channel.
    public func deliverCode(_ request: DeliverCodeRequest) async throws {
        guard let pan = try? PAN(request.pan), let account = try await database.account(fingerprint: vault.fingerprint(pan)) else {
            throw IssuerHostError.notFound("card")
        }
        let (channel, destination): (String, String)
        switch request.methodID {
        case "sms-1" where account.phone != nil: (channel, destination) = ("sms", maskPhone(account.phone!))
        case "app-1" where account.bankApp: (channel, destination) = ("app", "bank app")
        default: throw IssuerHostError.invalid("methodID: \(request.methodID) is not a way to reach this cardholder")
        }
        guard request.code.count == 6, request.code.allSatisfy(\.isNumber) else { throw IssuerHostError.invalid("code: six digits") }
        let text = "\(request.code) is your code to add card *\(pan.lastFour) to \(request.walletName). Do not share it."
        try await database.appendOutbox(OutboxMessage(id: 0, at: now(), channel: channel, destination: destination,
                                                      maskedPAN: account.maskedPAN, text: text, code: request.code))
    }

    public func tokenUpdated(_ n: TokenUpdatedNotification) async throws {
        try await database.appendNotification(ReceivedNotification(at: now(), tokenID: n.tokenID, maskedToken: n.maskedToken,
                                                                   maskedPAN: n.maskedPAN, event: n.event, status: n.status, reason: n.reason))
    }

    public func setRules(_ rules: IDVRules) async throws {
        guard (0...99).contains(rules.declineRiskAbove), (0...99).contains(rules.stepUpRiskAbove),
              rules.stepUpDeviceKinds.allSatisfy({ ["phone", "watch"].contains($0) }) else {
            throw IssuerHostError.invalid("rules: risk thresholds 0–99, device kinds phone or watch")
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

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .notFound(let what): "\(what) not found"
        case .conflict(let why): why
        }
    }
}
