import APIContract
import Crypto
import EMV
import Foundation
import IssuerContract
import Participants
import TokenService
import Vault

/// The wallet provider: the devices of each wallet, the device catalog, whether a card
/// may go onto a device (eligibility), and enrollment, which hands an eligible card to
/// the token service. Lost devices are its to report; the token service suspends their
/// tokens.
public final class WalletProvider: Sendable {
    let store: any WalletStore
    let participants: ParticipantRegistry
    let tokens: TokenService
    let now: @Sendable () -> Date

    public init(store: any WalletStore, participants: ParticipantRegistry, tokens: TokenService, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.participants = participants
        self.tokens = tokens
        self.now = now
    }

    /// Loads the device catalog where the store has none.
    public func seedDefaults() async throws {
        if try await store.deviceModels().isEmpty { for d in DeviceModel.catalog { try await store.saveDeviceModel(d) } }
    }

    public func deviceModels() async throws -> [DeviceModel] { try await store.deviceModels() }

    /// The operator adds a model to the catalog or changes one. Devices already registered
    /// keep their registration; their next enrollment meets the model as it is now.
    public func saveDeviceModel(_ model: DeviceModel) async throws -> DeviceModel {
        func text(_ value: String, _ field: String, _ limit: Int) throws {
            guard !value.trimmingCharacters(in: .whitespaces).isEmpty, value.count <= limit, !value.contains(where: { $0.isNewline }) else {
                throw ServiceError.invalid(field: field, reason: "1 to \(limit) characters on one line")
            }
        }
        guard (1...64).contains(model.id.count), model.id.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw ServiceError.invalid(field: "modelID", reason: "1 to 64 lower-case letters, digits and hyphens")
        }
        try text(model.manufacturer, "manufacturer", 64)
        try text(model.model, "model", 64)
        guard !model.minimumOS.isEmpty, model.minimumOS.count <= 16, model.minimumOS.split(separator: ".", omittingEmptySubsequences: false)
            .allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(\.isASCIIDigit) }) else {
            throw ServiceError.invalid(field: "minimumOS", reason: "dotted numbers, like 14 or 4.2.1")
        }
        guard model.markets.count <= 250, Set(model.markets).count == model.markets.count else {
            throw ServiceError.invalid(field: "markets", reason: "at most 250 countries, each once")
        }
        for country in model.markets { try Validate.country(country, field: "markets") }
        try await store.saveDeviceModel(model)
        return model
    }

    // MARK: Devices

    public func registerDevice(walletID: String, modelID: String, osVersion: String, country: String, publicKey: String) async throws -> Device {
        guard let model = try await store.deviceModel(id: modelID) else {
            throw ServiceError.notFound("device model \(modelID) (see GET /v1/device-models)")
        }
        if let lacking = model.unmetRequirement {
            throw ServiceError.ineligible(code: "device_not_supported", reason: "\(model.manufacturer) \(model.model) \(lacking)")
        }
        guard osVersion.split(separator: ".").allSatisfy({ Int($0) != nil }), !osVersion.isEmpty else {
            throw ServiceError.invalid(field: "osVersion", reason: "dotted numbers, like 14 or 4.2.1")
        }
        guard model.supports(osVersion: osVersion) else {
            throw ServiceError.ineligible(code: "device_not_supported", reason: "\(model.model) needs OS \(model.minimumOS) or later")
        }
        try Validate.country(country, field: "country")
        guard model.markets.contains(country) else {
            throw ServiceError.ineligible(code: "device_not_supported", reason: "\(model.model) is not supported in \(country)")
        }
        guard Self.publicKey(publicKey) != nil else {
            throw ServiceError.invalid(field: "publicKey", reason: "must be a P-256 public key, X9.63 uncompressed, base64")
        }
        let device = Device(id: "dev_" + SecureRandom.alphanumeric(20), walletID: walletID, modelID: modelID, kind: model.kind,
                            osVersion: osVersion, country: country, publicKey: publicKey, lost: false, registeredAt: now())
        try await store.saveDevice(device)
        return device
    }

    /// A device its wallet (or the network) may see; not found otherwise.
    public func device(id: String, for participant: Participant) async throws -> Device {
        guard let device = try await store.device(id: id), participant == .network || participant == .wallet(device.walletID) else {
            throw ServiceError.notFound("device \(id)")
        }
        return device
    }

    /// What the token service binds a token to: a device of `walletID` not reported lost.
    public func binding(deviceID: String, walletID: String) async throws -> DeviceBinding {
        let device = try await device(id: deviceID, for: .wallet(walletID))
        guard !device.lost else { throw ServiceError.ineligible(code: "device_lost", reason: "the device was reported lost") }
        return try Self.binding(device)
    }

    static func binding(_ device: Device) throws -> DeviceBinding {
        // Checked at registration: a stored key that no longer parses is a broken record.
        guard let key = publicKey(device.publicKey) else { throw ServiceError.conflict("device \(device.id) has no usable public key") }
        return DeviceBinding(id: device.id, walletID: device.walletID, kind: device.kind, modelID: device.modelID, country: device.country,
                             publicKey: key)
    }

    static func publicKey(_ base64: String) -> P256.KeyAgreement.PublicKey? {
        Data(base64Encoded: base64).flatMap { try? P256.KeyAgreement.PublicKey(x963Representation: $0) }
    }

    /// The cardholder lost the device: it is marked lost, and every token on it is
    /// suspended at once, in the wallet's name (so the cardholder or issuer can resume).
    public func reportLost(deviceID: String, walletID: String) async throws -> [Token] {
        var device = try await device(id: deviceID, for: .wallet(walletID))
        device.lost = true
        try await store.saveDevice(device)
        return try await tokens.suspendTokens(onLostDevice: deviceID, by: Participant.wallet(walletID).actor)
    }

    // MARK: Enrollment

    public struct EnrollmentRequest: Sendable {
        public var deviceID: String
        public var pan: String
        /// MM/YY as printed, or YYMM.
        public var expiry: String
        public var cvv2: String?
        public var riskScore: Int
        /// The version of the card product's terms the cardholder accepted.
        public var acceptedTerms: String?
        /// The cardholder's language (`CardholderText.language`), for the bank's code message.
        public var language: String?
        public init(deviceID: String, pan: String, expiry: String, cvv2: String?, riskScore: Int, acceptedTerms: String? = nil, language: String? = nil) {
            self.deviceID = deviceID; self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.riskScore = riskScore; self.acceptedTerms = acceptedTerms
            self.language = language
        }
    }

    /// Adds a card to a device: the card's form, then eligibility (EMVCo: the card's BIN
    /// belongs to an onboarded issuer that has enabled this wallet, the device's market
    /// takes enrollments, its model is supported there), then the token service's ID&V.
    public func enroll(walletID: String, _ request: EnrollmentRequest) async throws -> TokenService.TokenRequestOutcome {
        let pan: PAN
        do { pan = try PAN(request.pan) } catch { throw ServiceError.ineligible(code: "invalid_card_number", reason: "\(error)") }
        let expiry = try Validate.expiry(request.expiry, now: now())
        if let cvv2 = request.cvv2, !(cvv2.count == 3 && cvv2.allSatisfy(\.isASCIIDigit)) {
            throw ServiceError.invalid(field: "cvv2", reason: "three digits")
        }
        guard (0...99).contains(request.riskScore) else { throw ServiceError.invalid(field: "riskScore", reason: "0 to 99") }
        let device = try await binding(deviceID: request.deviceID, walletID: walletID)
        guard let wallet = try await participants.wallet(id: walletID) else { throw ServiceError.notFound("wallet \(walletID)") }
        guard let issuer = try await participants.issuer(ofCard: pan.digits) else {
            throw ServiceError.ineligible(code: "card_range_not_supported", reason: "cards starting \(pan.bin) are not from an onboarded issuer")
        }
        try await checkEligibility(issuer: issuer, wallet: wallet, device: device)
        let terms = try acceptance(of: issuer.cardProfile(forCard: pan.digits), accepted: request.acceptedTerms, device: device)
        return try await tokens.requestToken(.init(pan: pan, expiry: expiry, cvv2: request.cvv2, riskScore: request.riskScore,
                                                   issuer: issuer, wallet: wallet, device: device, termsAcceptance: terms,
                                                   language: request.language))
    }

    /// The product of a card the wallet is about to add, with the languages of the market
    /// the device is in (else the issuer's): nil when the issuer has no product for it.
    public func cardProfile(walletID: String, pan digits: String, deviceID: String?) async throws -> (Issuer, CardProfile, [String])? {
        let pan: PAN
        do { pan = try PAN(digits) } catch { throw ServiceError.invalid(field: "pan", reason: "\(error)") }
        guard let issuer = try await participants.issuer(ofCard: pan.digits), issuer.enabledWallets.contains(walletID),
              let profile = issuer.cardProfile(forCard: pan.digits) else { return nil }
        return (issuer, profile, try await marketLanguages(walletID: walletID, deviceID: deviceID, otherwise: issuer.country))
    }

    /// What a push receipt is for, before the wallet redeems it.
    public func pushReceipt(walletID: String, receipt: String, deviceID: String?) async throws -> (PushReceipt, Issuer?, CardProfile?, [String]) {
        let record = try await tokens.pushReceipt(receipt, walletID: walletID)
        let issuer = try await participants.issuer(id: record.issuerID)
        let profile = record.cardProfileID.flatMap { id in issuer?.cardProfiles?.first { $0.id == id } }
        return (record, issuer, profile, try await marketLanguages(walletID: walletID, deviceID: deviceID, otherwise: issuer?.country ?? ""))
    }

    /// The language to tell a cardholder things in: `Accept-Language` among Russian,
    /// Chinese and English, else the language of the device's market, else English. A
    /// device that cannot be read counts as none.
    public func cardholderLanguage(walletID: String, deviceID: String?, acceptLanguage: String?) async -> String {
        let market = (try? await marketLanguages(walletID: walletID, deviceID: deviceID, otherwise: "")) ?? []
        return CardholderText.language(acceptLanguage: acceptLanguage, market: market)
    }

    /// The languages of the market the device is in, or of `country` without a device.
    func marketLanguages(walletID: String, deviceID: String?, otherwise country: String) async throws -> [String] {
        var country = country
        if let deviceID { country = try await device(id: deviceID, for: .wallet(walletID)).country }
        return try await participants.market(country: country)?.languages ?? []
    }

    /// A token is made only once the cardholder accepted the terms in force of the card's
    /// product, if it has any: their version, now, on this device.
    func acceptance(of profile: CardProfile?, accepted: String?, device: DeviceBinding) throws -> TermsAcceptance? {
        guard let profile, let terms = profile.terms else { return nil }
        guard accepted == terms.version else {
            throw ServiceError.ineligible(code: "terms_not_accepted", reason: "the cardholder must first accept the terms of \(profile.name), version \(terms.version) "
                                          + (accepted.map { "(accepted: \($0.prefix(32)))" } ?? "(none accepted)"))
        }
        return TermsAcceptance(profileID: profile.id, version: terms.version, at: now(), deviceID: device.id)
    }

    /// Whether a card of `issuer` may go into `wallet` on `device`: the issuer enabled the
    /// wallet, the device's market is live, its model is supported there and meets the
    /// catalog's requirements (which may have changed since it was registered).
    func checkEligibility(issuer: Issuer, wallet: Wallet, device: DeviceBinding) async throws {
        guard issuer.enabledWallets.contains(wallet.id) else {
            throw ServiceError.ineligible(code: "wallet_not_enabled", reason: "\(issuer.name) has not enabled \(wallet.name)")
        }
        guard let market = try await participants.market(country: device.country) else {
            throw ServiceError.ineligible(code: "market_not_live", reason: "Passway does not operate in \(device.country)")
        }
        guard market.acceptsEnrollments else {
            let why = market.state == .suspended ? "suspended: \(market.reason ?? "")" : "not live yet (\(market.state.rawValue))"
            throw ServiceError.ineligible(code: market.state == .suspended ? "market_suspended" : "market_not_live",
                                          reason: "\(market.name) is \(why)")
        }
        // A suspended market's cut reaches the cards issued there, wherever the device is.
        if issuer.country != device.country, let home = try await participants.market(country: issuer.country), home.state == .suspended {
            throw ServiceError.ineligible(code: "market_suspended", reason: "\(home.name), where the card was issued, is suspended: \(home.reason ?? "")")
        }
        guard let model = try await store.deviceModel(id: device.modelID), model.markets.contains(device.country) else {
            throw ServiceError.ineligible(code: "device_not_supported", reason: "device model \(device.modelID) is not supported in \(device.country)")
        }
        // The catalog may have changed since the device was registered.
        if let lacking = model.unmetRequirement {
            throw ServiceError.ineligible(code: "device_not_supported", reason: "\(model.manufacturer) \(model.model) \(lacking)")
        }
    }

    /// The wallet redeems a card its issuer pushed (a push receipt) on one of its devices:
    /// eligible as an enrollment would be, then the token on the green path.
    public func redeemPushReceipt(walletID: String, receipt: String, deviceID: String, acceptedTerms: String? = nil) async throws -> (Token, SealedProvisioning) {
        let device = try await binding(deviceID: deviceID, walletID: walletID)
        guard let wallet = try await participants.wallet(id: walletID) else { throw ServiceError.notFound("wallet \(walletID)") }
        let record = try await tokens.pushReceipt(receipt, walletID: walletID)
        guard let issuer = try await participants.issuer(id: record.issuerID) else { throw ServiceError.notFound("push receipt") }
        try await checkEligibility(issuer: issuer, wallet: wallet, device: device)
        let profile = record.cardProfileID.flatMap { id in issuer.cardProfiles?.first { $0.id == id } }
        let terms = try acceptance(of: profile, accepted: acceptedTerms, device: device)
        return try await tokens.redeemPushReceipt(receipt, wallet: wallet, device: device, terms: terms)
    }

    /// The cardholder typed the code the bank sent, on the device the card is being added to.
    public func verify(verificationID: String, walletID: String, code: String) async throws -> (Token, SealedProvisioning) {
        let pending = try await tokens.pendingVerification(id: verificationID, walletID: walletID)
        let device = try await binding(deviceID: pending.deviceID, walletID: walletID)
        return try await tokens.verify(verificationID: verificationID, walletID: walletID, code: code, device: device)
    }

    /// The next batch of single-use keys for a token of one of the wallet's devices.
    public func replenish(tokenID: String, walletID: String) async throws -> SealedProvisioning {
        let token = try await tokens.token(id: tokenID, for: .wallet(walletID))
        guard token.status == .active else { throw ServiceError.conflict("token is \(token.status.rawValue); keys are only given to active tokens") }
        let device = try Self.binding(try await device(id: token.deviceID, for: .wallet(walletID)))
        return try await tokens.replenish(tokenID: tokenID, walletID: walletID, device: device)
    }

    /// A cardholder's lifecycle request, through the wallet: as the token service's rules
    /// say, except that the tokens of a device reported lost are resumed by the issuer only.
    public func changeToken(tokenID: String, action: TokenService.LifecycleAction, walletID: String, reason: String?) async throws -> Token {
        if action == .resume {
            let token = try await tokens.token(id: tokenID, for: .wallet(walletID))
            if token.status == .suspended, let device = try await store.device(id: token.deviceID), device.lost {
                throw ServiceError.conflict("the device was reported lost; the issuer can resume its tokens")
            }
        }
        return try await tokens.change(tokenID: tokenID, action: action, by: .wallet(walletID), reason: reason)
    }

    /// Bulk provisioning onto one device (see `TokenService.bulkProvision`), by the network
    /// operator.
    public func bulkProvision(issuerID: String, walletID: String, deviceID: String, cards: [TokenService.BulkCard], keys: Int) async throws
        -> [SealedProvisioning] {
        guard let issuer = try await participants.issuer(id: issuerID) else { throw ServiceError.notFound("issuer \(issuerID)") }
        guard let wallet = try await participants.wallet(id: walletID) else { throw ServiceError.notFound("wallet \(walletID)") }
        guard let device = try await store.device(id: deviceID), device.walletID == walletID, !device.lost else {
            throw ServiceError.notFound("device \(deviceID) of wallet \(walletID)")
        }
        return try await tokens.bulkProvision(issuer: issuer, wallet: wallet, device: try Self.binding(device), cards: cards, keys: keys)
    }
}
