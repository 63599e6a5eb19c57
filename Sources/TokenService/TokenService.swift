import Crypto
import EMV
import Foundation
import Synchronization
import Vault

/// The token service provider: the vault, ID&V with the issuer, token creation and
/// provisioning, and the token lifecycle. It knows nothing of HTTP; `PasswayServer`
/// calls it with an authenticated `Participant` and maps its errors to problems.
public final class TokenService: Sendable {
    public let store: any TokenStore
    let vault: CardVault
    let issuerHost: any IssuerHostClient
    let now: @Sendable () -> Date
    let openedMasterKeys = Mutex<[String: TDESKey]>([:])
    /// Each token's card master key (EMV Option A from the issuer master key and the
    /// token number), derived on first use: neither input changes for a token id. Kept in
    /// this process's memory like the issuer master keys it comes from; bounded.
    let cardMasterKeys = Mutex<[String: TDESKey]>([:])
    static let cardMasterKeysCapacity = 20_000
    /// Tokens and cards as the authorization path last read them: emptied by every change
    /// made through this service, and never older than `readCache.maxAge` (a change made
    /// through another node is seen within that bound).
    let readCache: ReadCache

    /// Keys delivered per provisioning or replenishment.
    public static let keyBatchSize = 10
    /// One-time codes: lifetime and attempts.
    public static let codeLifetime: TimeInterval = 600
    public static let codeAttempts = 3
    /// Token validity from issuance.
    public static let tokenLifetimeYears = 3

    /// `readCacheMaxAge`: how old a cached token or card may be on the authorization path.
    /// With several nodes on one database it bounds how late a change made through another
    /// node is seen (1 s, the stated bound); with SQLite every change goes through this
    /// process and empties the cache, so the age only bounds memory of rarely used records.
    public init(store: any TokenStore, vault: CardVault, issuerHost: any IssuerHostClient, readCacheMaxAge: TimeInterval = 1,
                now: @escaping @Sendable () -> Date = Date.init) {
        self.readCache = ReadCache(maxAge: readCacheMaxAge)
        self.store = store
        self.vault = vault
        self.issuerHost = issuerHost
        self.now = now
    }

    /// Opens the vault with the store's data key, creating and storing one on first use.
    public static func openVault(master: MasterKey, store: any TokenStore) async throws -> CardVault {
        if let wrapped = try await store.wrappedDataKey() {
            return try CardVault(master: master, wrappedDataKey: wrapped)
        }
        let vault = try CardVault(master: master, wrappedDataKey: nil)
        do {
            try await store.saveWrappedDataKey(vault.wrappedDataKey)
        } catch StoreError.duplicate {
            // Another node created the data key a moment ago: use that one.
            guard let wrapped = try await store.wrappedDataKey() else { throw StoreError.notFound("data key") }
            return try CardVault(master: master, wrappedDataKey: wrapped)
        }
        return vault
    }

    /// Loads the default markets and device catalog where the store has none.
    public func seedDefaults() async throws {
        if try await store.markets().isEmpty { for m in Defaults.markets { try await store.saveMarket(m) } }
        if try await store.deviceModels().isEmpty { for d in Defaults.deviceModels { try await store.saveDeviceModel(d) } }
    }

    // MARK: Credentials

    /// A new API key for a participant; only its hash is stored. The key is shown once.
    public func issueCredential(for participant: Participant) async throws -> String {
        let key = "pwk_" + randomAlphanumeric(40)
        try await store.saveCredential(hash: Self.credentialHash(key), participant: participant)
        return key
    }

    public func authenticate(apiKey: String) async throws -> Participant? {
        try await store.participant(credentialHash: Self.credentialHash(apiKey))
    }

    static func credentialHash(_ key: String) -> String { Hex.encode(Array(SHA256.hash(data: Array(key.utf8)))) }

    // MARK: Participants (network operator)

    /// Onboards an issuer: checks its ranges and creates its issuer master key for the
    /// token ranges (TDES, kept sealed in the vault).
    public func onboardIssuer(_ issuer: Issuer) async throws {
        try Validate.identifier(issuer.id, field: "id")
        try Validate.nonEmpty(issuer.name, field: "name", max: 100)
        try Validate.country(issuer.country, field: "country")
        try Validate.currency(issuer.currency, field: "currency")
        guard !issuer.cardRanges.isEmpty else { throw TokenServiceError.invalid(field: "cardRanges", reason: "at least one BIN") }
        guard !issuer.tokenRanges.isEmpty else { throw TokenServiceError.invalid(field: "tokenRanges", reason: "at least one token BIN") }
        for r in issuer.cardRanges { try Validate.bin(r, field: "cardRanges") }
        for r in issuer.tokenRanges { try Validate.bin(r, field: "tokenRanges") }
        guard (issuer.hostURL.hasPrefix("http://") || issuer.hostURL.hasPrefix("https://")), issuer.hostURL.count <= 300,
              !issuer.hostURL.contains(where: \.isWhitespace) else {
            throw TokenServiceError.invalid(field: "hostURL", reason: "an http:// or https:// URL without spaces, at most 300 characters")
        }
        // The network tells a token from a card by its range: they must never overlap.
        for t in issuer.tokenRanges where issuer.cardRanges.contains(where: { $0.hasPrefix(t) || t.hasPrefix($0) }) {
            throw TokenServiceError.invalid(field: "tokenRanges", reason: "token range \(t) overlaps one of the card ranges")
        }
        if try await store.issuer(id: issuer.id) != nil { throw TokenServiceError.conflict("issuer \(issuer.id) is already onboarded") }
        for other in try await store.issuers() {
            for r in issuer.cardRanges + issuer.tokenRanges
            where (other.cardRanges + other.tokenRanges).contains(where: { $0.hasPrefix(r) || r.hasPrefix($0) }) {
                throw TokenServiceError.conflict("range \(r) overlaps a range of issuer \(other.id)")
            }
        }
        for wallet in issuer.enabledWallets where try await store.wallet(id: wallet) == nil {
            throw TokenServiceError.notFound("wallet \(wallet) (in enabledWallets)")
        }
        var imk = [UInt8](repeating: 0, count: 16)
        for i in imk.indices { imk[i] = UInt8.random(in: 0...255) }
        let sealed = vault.sealSecret(adjustingOddParity(imk), context: "imk/\(issuer.id)")
        try await store.saveIssuer(issuer, sealedMasterKey: sealed)
    }

    public func updateIssuerWallets(issuerID: String, enabledWallets: [String]) async throws -> Issuer {
        guard var issuer = try await store.issuer(id: issuerID) else { throw TokenServiceError.notFound("issuer \(issuerID)") }
        for wallet in enabledWallets where try await store.wallet(id: wallet) == nil {
            throw TokenServiceError.notFound("wallet \(wallet) (in enabledWallets)")
        }
        issuer.enabledWallets = enabledWallets
        try await store.saveIssuer(issuer, sealedMasterKey: nil)
        return issuer
    }

    public func createWallet(_ wallet: Wallet) async throws {
        try Validate.identifier(wallet.id, field: "id")
        try Validate.nonEmpty(wallet.name, field: "name", max: 100)
        guard wallet.tokenRequestorID.count == 11, wallet.tokenRequestorID.allSatisfy(\.isASCIIDigit) else {
            throw TokenServiceError.invalid(field: "tokenRequestorID", reason: "must be 11 digits (EMVCo token requestor ID)")
        }
        if try await store.wallet(id: wallet.id) != nil { throw TokenServiceError.conflict("wallet \(wallet.id) exists") }
        if try await store.wallets().contains(where: { $0.tokenRequestorID == wallet.tokenRequestorID }) {
            throw TokenServiceError.conflict("token requestor ID \(wallet.tokenRequestorID) is taken")
        }
        try await store.saveWallet(wallet)
    }

    /// Moves a market through planned → pilot → live → suspended. Suspending it
    /// suspends its active tokens in the network's name; lifting the suspension
    /// resumes exactly those.
    public func setMarketState(country: String, state: Market.State, reason: String?) async throws -> Market {
        try await retryingOnConflict { try await self.setMarketStateOnce(country: country, state: state, reason: reason) }
    }

    func setMarketStateOnce(country: String, state: Market.State, reason: String?) async throws -> Market {
        guard var market = try await store.market(country: country) else { throw TokenServiceError.notFound("market \(country)") }
        if state == .suspended, (reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw TokenServiceError.invalid(field: "reason", reason: "a suspension needs a reason that cardholders will be told")
        }
        let previous = market.state
        market.state = state
        market.reason = state == .suspended ? reason : nil
        let at = now()
        let network = Participant.network.actor
        var changed: [TokenChange] = []
        var events: [AuditEvent] = []
        if state == .suspended && previous != .suspended {
            for var token in try await store.tokens(TokenQuery(country: country, status: .active)) {
                let before = token
                token.status = .suspended
                token.suspendedBy = network
                token.suspensionReason = "market suspended: \(reason ?? "")"
                token.updatedAt = Self.version(at, after: before.updatedAt)
                changed.append(TokenChange(before: before, after: token))
                events.append(AuditEvent(tokenID: token.id, at: at, actor: network, event: "suspend", from: .active, to: .suspended, reason: token.suspensionReason))
            }
        } else if previous == .suspended && state != .suspended {
            for var token in try await store.tokens(TokenQuery(country: country, status: .suspended))
            where token.suspendedBy?.kind == .network && token.suspensionReason?.hasPrefix("market suspended") == true {
                let before = token
                token.status = .active
                token.suspendedBy = nil
                token.suspensionReason = nil
                token.updatedAt = Self.version(at, after: before.updatedAt)
                changed.append(TokenChange(before: before, after: token))
                events.append(AuditEvent(tokenID: token.id, at: at, actor: network, event: "resume", from: .suspended, to: .active, reason: "market \(state.rawValue)"))
            }
        }
        if !changed.isEmpty { try await store.updateTokens(changed, audit: events) }
        try await store.saveMarket(market)
        readCache.clear()
        for token in changed.map(\.after) { await notify(token, event: token.status == .active ? "resumed" : "suspended") }
        return market
    }

    // MARK: Devices (wallet provider)

    public func registerDevice(walletID: String, modelID: String, osVersion: String, country: String, publicKey: String) async throws -> Device {
        guard let model = try await store.deviceModel(id: modelID) else {
            throw TokenServiceError.notFound("device model \(modelID) (see GET /v1/device-models)")
        }
        guard model.nfc else { throw TokenServiceError.ineligible(code: "device_not_supported", reason: "\(model.manufacturer) \(model.model) has no NFC") }
        guard osVersion.split(separator: ".").allSatisfy({ Int($0) != nil }), !osVersion.isEmpty else {
            throw TokenServiceError.invalid(field: "osVersion", reason: "dotted numbers, like 14 or 4.2.1")
        }
        guard model.supports(osVersion: osVersion) else {
            throw TokenServiceError.ineligible(code: "device_not_supported", reason: "\(model.model) needs OS \(model.minimumOS) or later")
        }
        try Validate.country(country, field: "country")
        guard model.markets.contains(country) else {
            throw TokenServiceError.ineligible(code: "device_not_supported", reason: "\(model.model) is not supported in \(country)")
        }
        guard let keyBytes = Data(base64Encoded: publicKey), (try? P256.KeyAgreement.PublicKey(x963Representation: keyBytes)) != nil else {
            throw TokenServiceError.invalid(field: "publicKey", reason: "must be a P-256 public key, X9.63 uncompressed, base64")
        }
        let device = Device(id: "dev_" + randomAlphanumeric(20), walletID: walletID, modelID: modelID, kind: model.kind,
                            osVersion: osVersion, country: country, publicKey: publicKey, lost: false, registeredAt: now())
        try await store.saveDevice(device)
        return device
    }

    public func device(id: String, for participant: Participant) async throws -> Device {
        guard let device = try await store.device(id: id), participant == .network || participant == .wallet(device.walletID) else {
            throw TokenServiceError.notFound("device \(id)")
        }
        return device
    }

    /// The cardholder lost the device: every token on it is suspended at once, in one
    /// transaction, in the wallet's name (so the cardholder or issuer can resume).
    public func reportLost(deviceID: String, walletID: String) async throws -> [Token] {
        try await retryingOnConflict { try await self.reportLostOnce(deviceID: deviceID, walletID: walletID) }
    }

    func reportLostOnce(deviceID: String, walletID: String) async throws -> [Token] {
        var device = try await device(id: deviceID, for: .wallet(walletID))
        device.lost = true
        try await store.saveDevice(device)
        let at = now()
        let actor = Participant.wallet(walletID).actor
        var changed: [TokenChange] = []
        var events: [AuditEvent] = []
        for var token in try await store.tokens(TokenQuery(deviceID: deviceID, status: .active)) {
            let before = token
            token.status = .suspended
            token.suspendedBy = actor
            token.suspensionReason = "device reported lost"
            token.updatedAt = Self.version(at, after: before.updatedAt)
            changed.append(TokenChange(before: before, after: token))
            events.append(AuditEvent(tokenID: token.id, at: at, actor: actor, event: "suspend", from: .active, to: .suspended, reason: "device reported lost"))
        }
        if !changed.isEmpty { try await store.updateTokens(changed, audit: events) }
        readCache.clear()
        for token in changed.map(\.after) { await notify(token, event: "suspended") }
        return changed.map(\.after)
    }

    // MARK: Enrollment

    public struct EnrollmentRequest: Sendable {
        public var deviceID: String
        public var pan: String
        public var expiry: String
        public var cvv2: String?
        public var riskScore: Int
        public init(deviceID: String, pan: String, expiry: String, cvv2: String?, riskScore: Int) {
            self.deviceID = deviceID; self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.riskScore = riskScore
        }
    }

    public enum EnrollmentOutcome: Sendable {
        case approved(Token, SealedProvisioning)
        case pendingVerification(PendingVerification, VerificationMethod)
        case declined(reason: String)
    }

    /// Adds a card to a device: eligibility, ID&V with the issuer, then a token (green)
    /// or a one-time code sent through the issuer (yellow), or a decline (red).
    public func enroll(walletID: String, _ request: EnrollmentRequest) async throws -> EnrollmentOutcome {
        let pan: PAN
        do { pan = try PAN(request.pan) } catch { throw TokenServiceError.ineligible(code: "invalid_card_number", reason: "\(error)") }
        let expiry = try Validate.expiry(request.expiry, now: now())
        if let cvv2 = request.cvv2, !(cvv2.count == 3 && cvv2.allSatisfy(\.isASCIIDigit)) {
            throw TokenServiceError.invalid(field: "cvv2", reason: "three digits")
        }
        guard (0...99).contains(request.riskScore) else { throw TokenServiceError.invalid(field: "riskScore", reason: "0 to 99") }
        let device = try await device(id: request.deviceID, for: .wallet(walletID))
        guard !device.lost else { throw TokenServiceError.ineligible(code: "device_lost", reason: "the device was reported lost") }
        guard let wallet = try await store.wallet(id: walletID) else { throw TokenServiceError.notFound("wallet \(walletID)") }
        guard let issuer = try await store.issuers().first(where: { $0.owns(cardNumber: pan.digits) }) else {
            throw TokenServiceError.ineligible(code: "card_range_not_supported", reason: "cards starting \(pan.bin) are not from an onboarded issuer")
        }
        guard issuer.enabledWallets.contains(walletID) else {
            throw TokenServiceError.ineligible(code: "wallet_not_enabled", reason: "\(issuer.name) has not enabled \(wallet.name)")
        }
        guard let market = try await store.market(country: device.country) else {
            throw TokenServiceError.ineligible(code: "market_not_live", reason: "Passway does not operate in \(device.country)")
        }
        guard market.acceptsEnrollments else {
            let why = market.state == .suspended ? "suspended: \(market.reason ?? "")" : "not live yet (\(market.state.rawValue))"
            throw TokenServiceError.ineligible(code: market.state == .suspended ? "market_suspended" : "market_not_live",
                                               reason: "\(market.name) is \(why)")
        }
        guard let model = try await store.deviceModel(id: device.modelID), model.markets.contains(device.country) else {
            throw TokenServiceError.ineligible(code: "device_not_supported", reason: "device model \(device.modelID) is not supported in \(device.country)")
        }
        let decision: IDVDecision
        do {
            decision = try await issuerHost.authorize(IDVRequest(pan: pan.digits, expiry: expiry, cvv2: request.cvv2, walletID: walletID,
                                                                 tokenRequestorID: wallet.tokenRequestorID, deviceKind: model.kind.rawValue,
                                                                 deviceModel: model.id, country: device.country, riskScore: request.riskScore),
                                                      issuer: issuer)
        } catch let error as TokenServiceError {
            throw error
        } catch {
            throw TokenServiceError.issuerUnavailable("\(error)")
        }
        let card = try await vaultCard(for: pan, expiry: expiry, issuer: issuer)
        switch decision.decision {
        case .red:
            return .declined(reason: decision.reason ?? "the issuer declined")
        case .green:
            let (token, sealed) = try await createToken(card: card.card, issuer: issuer, wallet: wallet, device: device,
                                                        actor: Participant.wallet(walletID).actor, path: "green")
            return .approved(token, sealed)
        case .yellow:
            guard let method = decision.methods.first else {
                return .declined(reason: "the issuer asked for verification but offered no way to reach the cardholder")
            }
            // Kept so that the verification can create the token; no token exists yet.
            try await store.saveCard(card.card)
            readCache.clear()
            let code = String(format: "%06d", Int.random(in: 0...999_999))
            let pendingID = "ver_" + randomAlphanumeric(20)
            let pending = PendingVerification(id: pendingID, walletID: walletID, deviceID: device.id, cardID: card.card.id,
                                              issuerID: issuer.id, codeHash: Self.codeHash(pendingID, code), method: method.id,
                                              attemptsLeft: Self.codeAttempts, expiresAt: now().addingTimeInterval(Self.codeLifetime),
                                              state: .pending, tokenID: nil)
            try await store.savePendingVerification(pending)
            do {
                try await issuerHost.deliverActivationCode(ActivationCodeDelivery(pan: pan.digits, methodID: method.id, code: code,
                                                                                  walletName: wallet.name, expiresAt: pending.expiresAt),
                                                           issuer: issuer)
            } catch {
                throw TokenServiceError.issuerUnavailable("the activation code could not be delivered: \(error)")
            }
            return .pendingVerification(pending, method)
        }
    }

    /// The cardholder types the code the bank sent.
    public func verify(verificationID: String, walletID: String, code: String) async throws -> (Token, SealedProvisioning) {
        guard var pending = try await store.pendingVerification(id: verificationID), pending.walletID == walletID else {
            throw TokenServiceError.notFound("verification \(verificationID)")
        }
        switch pending.state {
        case .approved: throw TokenServiceError.conflict("this verification already succeeded")
        case .failed, .expired: throw TokenServiceError.verificationFailed(reason: "this verification has ended; add the card again", attemptsLeft: 0)
        case .pending: break
        }
        let read = pending
        if now() > pending.expiresAt {
            pending.state = .expired
            _ = try await store.replacePendingVerification(pending, before: read)
            throw TokenServiceError.verificationFailed(reason: "the code has expired; add the card again", attemptsLeft: 0)
        }
        // Every attempt is a conditional write on the attempts left as read, so requests at
        // once (on any node) can neither guess more than the attempts nor both succeed.
        guard constantTimeEquals(Self.codeHash(pending.id, code), pending.codeHash) else {
            pending.attemptsLeft -= 1
            if pending.attemptsLeft <= 0 { pending.state = .failed }
            guard try await store.replacePendingVerification(pending, before: read) else {
                return try await verify(verificationID: verificationID, walletID: walletID, code: code)
            }
            throw TokenServiceError.verificationFailed(reason: pending.attemptsLeft > 0 ? "wrong code" : "wrong code; no attempts left",
                                                       attemptsLeft: pending.attemptsLeft)
        }
        pending.state = .approved
        guard try await store.replacePendingVerification(pending, before: read) else {
            return try await verify(verificationID: verificationID, walletID: walletID, code: code)
        }
        do {
            return try await completeVerification(pending, walletID: walletID)
        } catch {
            // The token was not made: the verification may be completed again.
            var reopened = pending
            reopened.state = .pending
            _ = try? await store.replacePendingVerification(reopened, before: pending)
            throw error
        }
    }

    func completeVerification(_ verified: PendingVerification, walletID: String) async throws -> (Token, SealedProvisioning) {
        var pending = verified
        let verificationID = pending.id
        guard let card = try await store.card(id: pending.cardID), let issuer = try await store.issuer(id: pending.issuerID),
              let wallet = try await store.wallet(id: walletID) else {
            throw TokenServiceError.notFound("card for verification \(verificationID)")
        }
        let device = try await device(id: pending.deviceID, for: .wallet(walletID))
        guard !device.lost else { throw TokenServiceError.ineligible(code: "device_lost", reason: "the device was reported lost") }
        let (token, sealed) = try await createToken(card: card, issuer: issuer, wallet: wallet, device: device,
                                                    actor: Participant.wallet(walletID).actor, path: "yellow")
        pending.tokenID = token.id
        try await store.savePendingVerification(pending)
        return (token, sealed)
    }

    /// A token's next `updatedAt`: now, but always later than the one it replaces, since
    /// it is the version that conditional updates compare.
    static func version(_ now: Date, after previous: Date) -> Date {
        let next = previous.storeMilliseconds + 1
        return now.storeMilliseconds >= next ? now : Date(timeIntervalSince1970: Double(next) / 1000)
    }

    /// Runs `operation` again (from its reads) when another request changed what it read;
    /// a conflict that persists is a 409.
    func retryingOnConflict<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        for attempt in 0..<8 {
            do { return try await operation() } catch StoreError.conflict {
                readCache.clear()
                // Contenders spread out (random, growing) so that one of them wins each round.
                try await Task.sleep(for: .microseconds(Int.random(in: 0...(500 << attempt))))
            }
        }
        throw TokenServiceError.conflict("changed by another request at the same time; try again")
    }

    static func codeHash(_ id: String, _ code: String) -> String { Hex.encode(Array(SHA256.hash(data: Array("\(id):\(code)".utf8)))) }

    private func vaultCard(for pan: PAN, expiry: String, issuer: Issuer) async throws -> (card: VaultCard, isNew: Bool) {
        let fingerprint = vault.fingerprint(pan)
        return vaultCard(for: pan, fingerprint: fingerprint, expiry: expiry, issuer: issuer, existing: try await store.card(fingerprint: fingerprint))
    }

    /// The vault's card for `pan` (`existing`, with the new expiry), or a new one sealed here.
    private func vaultCard(for pan: PAN, fingerprint: String, expiry: String, issuer: Issuer, existing: VaultCard?) -> (card: VaultCard, isNew: Bool) {
        if var existing {
            existing.expiry = expiry
            return (existing, false)
        }
        let id = "card_" + randomAlphanumeric(20)
        return (VaultCard(id: id, issuerID: issuer.id, fingerprint: fingerprint, sealedPAN: vault.seal(pan, context: id),
                          maskedPAN: pan.masked, expiry: expiry, par: Self.newPAR()), true)
    }

    /// EMVCo Payment Account Reference: a 4-character BIN controller identifier and 25
    /// characters unique to the account.
    static func newPAR() -> String { "PW01" + randomAlphanumeric(25, uppercase: true) }

    private func createToken(card: VaultCard, issuer: Issuer, wallet: Wallet, device: Device,
                             actor: Actor, path: String) async throws -> (Token, SealedProvisioning) {
        let imk = try await issuerMasterKey(issuer.id)
        let at = now()
        for _ in 0..<20 {
            let (token, number) = try draftToken(card: card, issuer: issuer, wallet: wallet, device: device, keys: Self.keyBatchSize, at: at)
            do {
                try await store.createToken(token, card: card, audit:
                    AuditEvent(tokenID: token.id, at: at, actor: actor, event: "create", from: nil, to: .active, reason: "ID&V \(path)"))
            } catch StoreError.duplicate {
                continue // token number taken: draw another
            }
            let sealed = try seal(token: token, number: number, imk: imk, firstATC: 1, device: device)
            await notify(token, event: "created")
            return (token, sealed)
        }
        throw TokenServiceError.conflict("token range of \(issuer.id) is exhausted")
    }

    /// Bulk provisioning, for load tests and migrations: the network operator puts many
    /// cards of one issuer onto one device in one transaction, without ID&V (the operator
    /// vouches for them; each token's audit says so). `keys` single-use keys per token.
    public struct BulkCard: Sendable {
        public var pan: String
        /// MM/YY as printed.
        public var expiry: String
        public init(pan: String, expiry: String) { self.pan = pan; self.expiry = expiry }
    }

    public static let bulkLimit = 1000
    public static let bulkKeysLimit = 1000

    public func bulkProvision(issuerID: String, walletID: String, deviceID: String, cards: [BulkCard], keys: Int) async throws -> [SealedProvisioning] {
        guard (1...Self.bulkLimit).contains(cards.count) else { throw TokenServiceError.invalid(field: "cards", reason: "1 to \(Self.bulkLimit) cards") }
        guard (1...Self.bulkKeysLimit).contains(keys) else { throw TokenServiceError.invalid(field: "keysPerToken", reason: "1 to \(Self.bulkKeysLimit)") }
        guard let issuer = try await store.issuer(id: issuerID) else { throw TokenServiceError.notFound("issuer \(issuerID)") }
        guard let wallet = try await store.wallet(id: walletID) else { throw TokenServiceError.notFound("wallet \(walletID)") }
        guard issuer.enabledWallets.contains(walletID) else {
            throw TokenServiceError.ineligible(code: "wallet_not_enabled", reason: "\(issuer.name) has not enabled \(wallet.name)")
        }
        guard let device = try await store.device(id: deviceID), device.walletID == walletID, !device.lost else {
            throw TokenServiceError.notFound("device \(deviceID) of wallet \(walletID)")
        }
        let imk = try await issuerMasterKey(issuer.id)
        let at = now()
        var checked: [(pan: PAN, fingerprint: String, expiry: String)] = []
        var seen = Set<String>()
        for (i, bulk) in cards.enumerated() {
            let pan: PAN
            do { pan = try PAN(bulk.pan) } catch { throw TokenServiceError.invalid(field: "cards[\(i)].pan", reason: "\(error)") }
            guard issuer.owns(cardNumber: pan.digits) else {
                throw TokenServiceError.invalid(field: "cards[\(i)].pan", reason: "not in \(issuer.id)'s card ranges")
            }
            guard seen.insert(pan.digits).inserted else { throw TokenServiceError.invalid(field: "cards[\(i)].pan", reason: "listed twice") }
            checked.append((pan, vault.fingerprint(pan), try Validate.expiry(bulk.expiry, now: at)))
        }
        // The cards already in the vault, in one query for the batch.
        let known = try await store.cards(fingerprints: checked.map(\.fingerprint))
        let vaultCards = checked.map { card in
            vaultCard(for: card.pan, fingerprint: card.fingerprint, expiry: card.expiry, issuer: issuer, existing: known[card.fingerprint]).card
        }
        // Token numbers are drawn at random. When one is already taken the transaction
        // fails; the taken ones (and only those) are drawn again.
        var drawn = Set<String>()
        func draw(for card: VaultCard) throws -> (token: Token, card: VaultCard, audit: AuditEvent, number: PAN) {
            var draft: (token: Token, number: PAN)
            repeat {
                draft = try draftToken(card: card, issuer: issuer, wallet: wallet, device: device, keys: keys, at: at)
            } while !drawn.insert(draft.number.digits).inserted
            return (draft.token, card, AuditEvent(tokenID: draft.token.id, at: at, actor: Participant.network.actor, event: "create", from: nil,
                                                  to: .active, reason: "bulk provisioning by the network operator"), draft.number)
        }
        var drafts = try vaultCards.map(draw)
        for attempt in 1...10 {
            do {
                try await store.createTokens(drafts.map { ($0.token, $0.card, $0.audit) })
                break
            } catch StoreError.duplicate {
                if attempt == 10 { throw TokenServiceError.conflict("token range of \(issuer.id) is too full to draw \(cards.count) new numbers") }
                for i in drafts.indices where try await store.token(numberFingerprint: drafts[i].token.numberFingerprint) != nil {
                    drafts[i] = try draw(for: drafts[i].card)
                }
            }
        }
        // The keys and sealing are CPU work: split over the cores, one key agreement per part.
        let publicKey = try P256.KeyAgreement.PublicKey(x963Representation: Data(base64Encoded: device.publicKey)!)
        let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, drafts.count / 50))
        let size = (drafts.count + parts - 1) / parts
        let work = drafts.map { (token: $0.token, number: $0.number) }
        return try await withThrowingTaskGroup(of: (Int, [SealedProvisioning]).self) { group in
            for start in stride(from: 0, to: work.count, by: size) {
                let part = Array(work[start..<min(start + size, work.count)])
                group.addTask {
                    let payloads = try part.map { try Self.payload(token: $0.token, number: $0.number, imk: imk, firstATC: 1, count: keys) }
                    return (start, try SealedProvisioning.seal(payloads, to: publicKey))
                }
            }
            var sealed: [(Int, [SealedProvisioning])] = []
            for try await part in group { sealed.append(part) }
            return sealed.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    /// A new active token for `card` on `device`, not yet stored: a random Luhn-valid
    /// number from one of the issuer's token ranges, sealed and fingerprinted, with
    /// `keys` single-use keys to be delivered.
    private func draftToken(card: VaultCard, issuer: Issuer, wallet: Wallet, device: Device, keys: Int, at: Date) throws -> (token: Token, number: PAN) {
        var digits = issuer.tokenRanges.randomElement()!
        while digits.count < 15 { digits.append(Character(String(Int.random(in: 0...9)))) }
        digits.append(Luhn.checkDigit(for: digits)!)
        let number = try PAN(digits)
        let id = "tok_" + randomAlphanumeric(20)
        let token = Token(id: id, numberFingerprint: vault.fingerprint(number), sealedNumber: vault.seal(number, context: id),
                          maskedNumber: number.masked, expiry: Self.tokenExpiry(from: at), cardID: card.id, issuerID: issuer.id,
                          walletID: wallet.id, tokenRequestorID: wallet.tokenRequestorID, deviceID: device.id, country: device.country,
                          par: card.par, status: .active, suspendedBy: nil, suspensionReason: nil,
                          nextATC: UInt16(keys + 1), createdAt: at, updatedAt: at)
        return (token, number)
    }

    private func seal(token: Token, number: PAN, imk: TDESKey, firstATC: UInt16, count: Int = keyBatchSize, device: Device) throws -> SealedProvisioning {
        let publicKey = try P256.KeyAgreement.PublicKey(x963Representation: Data(base64Encoded: device.publicKey)!)
        return try SealedProvisioning.seal(Self.payload(token: token, number: number, imk: imk, firstATC: firstATC, count: count), to: publicKey)
    }

    /// The token's profile and `count` single-use keys from `firstATC`.
    static func payload(token: Token, number: PAN, imk: TDESKey, firstATC: UInt16, count: Int) throws -> ProvisioningPayload {
        let keys = try LimitedUseKeys.derive(issuerMasterKey: imk, tokenNumber: number.digits, firstATC: firstATC, count: count)
        return ProvisioningPayload(tokenID: token.id, tokenNumber: number.digits, expiry: token.expiry, panSequenceNumber: "00",
                                   par: token.par, tokenRequestorID: token.tokenRequestorID, keys: keys)
    }

    func issuerMasterKey(_ issuerID: String) async throws -> TDESKey {
        // Opened once per process: issuer master keys do not change once onboarded (no
        // rotation yet), and every authorization needs one, twice.
        if let key = openedMasterKeys.withLock({ $0[issuerID] }) { return key }
        let key = try await openIssuerMasterKey(issuerID)
        openedMasterKeys.withLock { $0[issuerID] = key }
        return key
    }

    private func openIssuerMasterKey(_ issuerID: String) async throws -> TDESKey {
        guard let sealed = try await store.sealedIssuerMasterKey(issuerID: issuerID) else {
            throw TokenServiceError.notFound("issuer master key of \(issuerID)")
        }
        return try TDESKey(try vault.openSecret(sealed, context: "imk/\(issuerID)"))
    }

    static func tokenExpiry(from date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month], from: date)
        return String(format: "%02d%02d", (c.year! + tokenLifetimeYears) % 100, c.month!)
    }

    /// The device asks for the next batch of single-use keys.
    public func replenish(tokenID: String, walletID: String) async throws -> SealedProvisioning {
        try await retryingOnConflict { try await self.replenishOnce(tokenID: tokenID, walletID: walletID) }
    }

    func replenishOnce(tokenID: String, walletID: String) async throws -> SealedProvisioning {
        var token = try await token(id: tokenID, for: .wallet(walletID))
        let before = token
        guard token.status == .active else { throw TokenServiceError.conflict("token is \(token.status.rawValue); keys are only given to active tokens") }
        let device = try await device(id: token.deviceID, for: .wallet(walletID))
        guard Int(token.nextATC) + Self.keyBatchSize <= Int(UInt16.max) else { throw TokenServiceError.conflict("the token's ATC range is used up") }
        let first = token.nextATC
        token.nextATC = first + UInt16(Self.keyBatchSize)
        token.updatedAt = Self.version(now(), after: before.updatedAt)
        // Conditional on the token as read: two replenishments at once never hand out one ATC range twice.
        try await store.updateTokens([TokenChange(before: before, after: token)], audit: [AuditEvent(tokenID: token.id, at: token.updatedAt, actor: Participant.wallet(walletID).actor,
                                                                 event: "replenish", from: nil, to: nil, reason: "keys for ATC \(first)…\(token.nextATC - 1)")])
        readCache.clear()
        return try seal(token: token, number: try tokenNumber(token), imk: try await issuerMasterKey(token.issuerID), firstATC: first, device: device)
    }

    // MARK: Tokens and their lifecycle

    public func token(id: String, for participant: Participant) async throws -> Token {
        guard let token = try await store.token(id: id), Self.canSee(participant, token) else {
            // The same answer for "absent" and "not yours": no probing of other participants' tokens.
            throw TokenServiceError.notFound("token \(id)")
        }
        return token
    }

    public func tokens(for participant: Participant, deviceID: String? = nil) async throws -> [Token] {
        switch participant {
        case .network: try await store.tokens(TokenQuery(deviceID: deviceID))
        case .issuer(let id): try await store.tokens(TokenQuery(issuerID: id, deviceID: deviceID))
        case .wallet(let id): try await store.tokens(TokenQuery(walletID: id, deviceID: deviceID))
        }
    }

    public func audit(tokenID: String, for participant: Participant) async throws -> [AuditEvent] {
        _ = try await token(id: tokenID, for: participant)
        return try await store.audit(tokenID: tokenID)
    }

    static func canSee(_ participant: Participant, _ token: Token) -> Bool {
        switch participant {
        case .network: true
        case .issuer(let id): token.issuerID == id
        case .wallet(let id): token.walletID == id
        }
    }

    public enum LifecycleAction: String, Sendable, CaseIterable { case suspend, resume, delete }

    /// Who may lift whose suspension. A cardholder (through the wallet) resumes only what
    /// the cardholder suspended; the issuer also what the cardholder suspended; the
    /// network only its own (market) suspensions. Nobody lifts the issuer's suspension
    /// but the issuer.
    public static func mayResume(_ who: Actor.Kind, suspendedBy: Actor.Kind) -> Bool {
        switch (who, suspendedBy) {
        case (.wallet, .wallet): true
        case (.issuer, .wallet), (.issuer, .issuer): true
        case (.network, .network): true
        default: false
        }
    }

    public func change(tokenID: String, action: LifecycleAction, by participant: Participant, reason: String?) async throws -> Token {
        try await retryingOnConflict { try await self.changeOnce(tokenID: tokenID, action: action, by: participant, reason: reason) }
    }

    func changeOnce(tokenID: String, action: LifecycleAction, by participant: Participant, reason: String?) async throws -> Token {
        var token = try await token(id: tokenID, for: participant)
        let before = token
        if let reason, reason.count > 200 { throw TokenServiceError.invalid(field: "reason", reason: "at most 200 characters") }
        let actor = participant.actor
        let from = token.status
        switch (action, token.status) {
        case (_, .deleted):
            throw TokenServiceError.conflict("token is deleted; nothing can change it")
        case (.suspend, .suspended):
            throw TokenServiceError.conflict("token is already suspended (by \(token.suspendedBy?.kind.rawValue ?? "?"))")
        case (.suspend, .active):
            token.status = .suspended
            token.suspendedBy = actor
            token.suspensionReason = reason ?? "suspended by \(actor.kind.rawValue)"
        case (.resume, .active):
            throw TokenServiceError.conflict("token is already active")
        case (.resume, .suspended):
            let by = token.suspendedBy?.kind ?? .network
            guard Self.mayResume(actor.kind, suspendedBy: by) else {
                throw TokenServiceError.conflict("token was suspended by the \(by.rawValue); the \(actor.kind.rawValue) cannot resume it")
            }
            if let device = try await store.device(id: token.deviceID), device.lost, actor.kind == .wallet {
                throw TokenServiceError.conflict("the device was reported lost; the issuer can resume its tokens")
            }
            token.status = .active
            token.suspendedBy = nil
            token.suspensionReason = nil
        case (.delete, _):
            token.status = .deleted
        }
        token.updatedAt = Self.version(now(), after: before.updatedAt)
        try await store.updateTokens([TokenChange(before: before, after: token)], audit: [AuditEvent(tokenID: token.id, at: token.updatedAt, actor: actor, event: action.rawValue,
                                                                 from: from, to: token.status, reason: reason)])
        readCache.clear()
        await notify(token, event: action.rawValue == "delete" ? "deleted" : action == .suspend ? "suspended" : "resumed")
        return token
    }

    /// The issuer renews a card: a new expiry, and perhaps a new number. The tokens keep
    /// their numbers; the vault now maps them to the new card data.
    public func renewCard(issuerID: String, pan: String, newPAN: String?, newExpiry: String) async throws -> (VaultCard, [Token]) {
        let current: PAN
        do { current = try PAN(pan) } catch { throw TokenServiceError.invalid(field: "pan", reason: "\(error)") }
        let expiry = try Validate.expiry(newExpiry, now: now())
        guard var card = try await store.card(fingerprint: vault.fingerprint(current)), card.issuerID == issuerID else {
            throw TokenServiceError.notFound("card \(current.masked)")
        }
        let previousFingerprint = card.fingerprint
        card.expiry = expiry
        if let newPAN {
            let replacement: PAN
            do { replacement = try PAN(newPAN) } catch { throw TokenServiceError.invalid(field: "newPan", reason: "\(error)") }
            guard let issuer = try await store.issuer(id: issuerID), issuer.owns(cardNumber: replacement.digits) else {
                throw TokenServiceError.invalid(field: "newPan", reason: "\(replacement.masked) is not in your card ranges")
            }
            if replacement != current, try await store.card(fingerprint: vault.fingerprint(replacement)) != nil {
                throw TokenServiceError.conflict("\(replacement.masked) is already another card in the vault")
            }
            card.fingerprint = vault.fingerprint(replacement)
            card.sealedPAN = vault.seal(replacement, context: card.id)
            card.maskedPAN = replacement.masked
        }
        let tokens = try await store.tokens(TokenQuery(cardID: card.id))
        let at = now()
        let actor = Participant.issuer(issuerID).actor
        let events = tokens.map { AuditEvent(tokenID: $0.id, at: at, actor: actor, event: "card_renewed", from: $0.status, to: $0.status,
                                             reason: newPAN == nil ? "new expiry \(expiry)" : "new card \(card.maskedPAN), expiry \(expiry)") }
        try await store.updateCard(card, previousFingerprint: previousFingerprint, audit: events)
        readCache.clear()
        return (card, tokens)
    }

    /// Forgets what the authorization path has cached: another node changed tokens,
    /// cards or issuers (PostgreSQL notifies; the cache's age bounds it otherwise).
    public func invalidateCaches() {
        readCache.clear()
    }

    /// The clear token number, for key derivation and the network's checks.
    public func tokenNumber(_ token: Token) throws -> PAN {
        try vault.open(token.sealedNumber, context: token.id)
    }

    /// The token a number names, found by its fingerprint. Served from a short-lived
    /// cache on the authorization path (see `ReadCache`).
    public func token(number: PAN) async throws -> Token? {
        let fingerprint = vault.fingerprint(number)
        if let token = readCache.token(fingerprint, now: now()) { return token }
        let generation = readCache.generation
        guard let token = try await store.token(numberFingerprint: fingerprint) else { return nil }
        readCache.put(token, now: now(), readIn: generation)
        return token
    }

    /// Verifies a token's ARQC (EMV Book 2 §8.1) under the session key of its ATC,
    /// re-derived here from the issuer master key: the keys never leave the token service.
    /// Only ATCs whose keys were delivered to the device can verify.
    public func verifyCryptogram(token: Token, atc: ApplicationTransactionCounter, data: [UInt8], arqc: [UInt8]) async throws -> Bool {
        var delivered = token.nextATC
        if atc.value >= delivered {
            let generation = readCache.generation
            guard let fresh = try await store.token(id: token.id) else { return false }
            // Keys replenished (perhaps through another node) since this token was cached.
            readCache.put(fresh, now: now(), readIn: generation)
            delivered = fresh.nextATC
        }
        guard atc.value >= 1, atc.value < delivered else { return false }
        let sk = try await sessionKey(token: token, atc: atc)
        return ApplicationCryptogram.verify(arqc, sessionKey: sk, data: data)
    }

    /// The ARPC (method 1) the network returns to the card with the issuer's answer.
    public func responseCryptogram(token: Token, atc: ApplicationTransactionCounter, arqc: [UInt8], responseCode: String) async throws -> [UInt8] {
        let sk = try await sessionKey(token: token, atc: atc)
        return try AuthorisationResponseCryptogram.method1(sessionKey: sk, arqc: arqc, responseCode: Array(responseCode.utf8.prefix(2)))
    }

    private func sessionKey(token: Token, atc: ApplicationTransactionCounter) async throws -> TDESKey {
        SessionKeyDerivation.commonSessionKey(master: try await cardMasterKey(token), atc: atc)
    }

    private func cardMasterKey(_ token: Token) async throws -> TDESKey {
        if let key = cardMasterKeys.withLock({ $0[token.id] }) { return key }
        let key = MasterKeyDerivation.derive(issuerMasterKey: try await issuerMasterKey(token.issuerID), pan: try tokenNumber(token))
        cardMasterKeys.withLock { keys in
            if keys.count >= Self.cardMasterKeysCapacity { keys.removeAll(keepingCapacity: true) }
            keys[token.id] = key
        }
        return key
    }

    /// The card number behind a token, for the network on its way to the issuer.
    public func detokenize(_ token: Token) async throws -> PAN {
        try await detokenizeCard(token).pan
    }

    /// The card behind a token: its number (to the issuer only) and the vault record
    /// (expiry, issuer, masked number).
    public func detokenizeCard(_ token: Token) async throws -> (pan: PAN, card: VaultCard) {
        let card: VaultCard
        if let cached = readCache.card(token.cardID, now: now()) { card = cached } else {
            let generation = readCache.generation
            guard let stored = try await store.card(id: token.cardID) else { throw TokenServiceError.notFound("card of token \(token.id)") }
            readCache.put(stored, now: now(), readIn: generation)
            card = stored
        }
        return (try vault.open(card.sealedPAN, context: card.id), card)
    }

    /// A keyed digest (HMAC under the vault's fingerprint key) of bytes that may hold
    /// card data, so that the network can compare messages without storing them.
    public func digest(_ bytes: [UInt8], purpose: String) -> String {
        vault.fingerprint(secret: Hex.encode(bytes), purpose: purpose)
    }

    public func issuers() async throws -> [Issuer] { try await store.issuers() }

    private func notify(_ token: Token, event: String) async {
        guard let issuer = try? await store.issuer(id: token.issuerID), let card = try? await store.card(id: token.cardID) else { return }
        // Best effort: a failed notification does not undo the change; the issuer can
        // always read the token's state and audit trail through the API.
        try? await issuerHost.notifyTokenUpdated(TokenNotification(tokenID: token.id, maskedToken: token.maskedNumber, maskedPAN: card.maskedPAN,
                                                                  event: event, status: token.status, reason: token.suspensionReason),
                                                issuer: issuer)
    }
}

/// Random letters and digits, each equally likely: bytes from the crypto library's
/// generator (one draw per id, not a system call per character as
/// `SystemRandomNumberGenerator` makes on Linux), those at or above the largest multiple
/// of the alphabet's size refused so that `byte % size` has no bias.
func randomAlphanumeric(_ count: Int, uppercase: Bool = false) -> String {
    let alphabet = Array((uppercase ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").utf8)
    let limit = 256 - 256 % alphabet.count
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count {
        // A quarter more than needed: refusals are under 4% of bytes for either alphabet.
        SymmetricKey(size: SymmetricKeySize(bitCount: (count - out.count + count / 4 + 1) * 8)).withUnsafeBytes { random in
            for byte in random where Int(byte) < limit && out.count < count { out.append(alphabet[Int(byte) % alphabet.count]) }
        }
    }
    return String(decoding: out, as: UTF8.self)
}

func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in x.indices { diff |= x[i] ^ y[i] }
    return diff == 0
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// A bounded, short-lived cache of the records every authorization reads (token by
/// number fingerprint, card by id). Entries live at most `maxAge`; the whole cache is
/// emptied when this process changes a token or card (after the change committed); at
/// most `capacity` entries.
///
/// A record read before a change and put after the change emptied the cache would be
/// stale: each emptying starts a new generation, and a record is only kept when no
/// emptying happened between its read and its `put`.
final class ReadCache: Sendable {
    let maxAge: TimeInterval
    static let capacity = 20_000
    private struct State {
        var generation = 0
        var tokens: [String: (Token, Date)] = [:]
        var cards: [String: (VaultCard, Date)] = [:]
    }
    private let state = Mutex(State())

    init(maxAge: TimeInterval) { self.maxAge = maxAge }

    /// Taken before reading from the store; passed to `put`.
    var generation: Int { state.withLock { $0.generation } }

    func token(_ fingerprint: String, now: Date) -> Token? {
        state.withLock { s in
            guard let (token, at) = s.tokens[fingerprint], now.timeIntervalSince(at) < maxAge else { return nil }
            return token
        }
    }

    func card(_ id: String, now: Date) -> VaultCard? {
        state.withLock { s in
            guard let (card, at) = s.cards[id], now.timeIntervalSince(at) < maxAge else { return nil }
            return card
        }
    }

    func put(_ token: Token, now: Date, readIn generation: Int) {
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.tokens.count >= Self.capacity { s.tokens.removeAll(keepingCapacity: true) }
            s.tokens[token.numberFingerprint] = (token, now)
        }
    }

    func put(_ card: VaultCard, now: Date, readIn generation: Int) {
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.cards.count >= Self.capacity { s.cards.removeAll(keepingCapacity: true) }
            s.cards[card.id] = (card, now)
        }
    }

    func clear() {
        state.withLock { s in
            s.generation += 1
            s.tokens = [:]
            s.cards = [:]
        }
    }
}
