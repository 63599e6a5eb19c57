import Crypto
import EMV
import Foundation
import Vault

/// The network's participants: who they are, what they may do, and their API keys. The
/// operator onboards issuers (with their card and token ranges), wallets (token
/// requestors) and acquirers; markets say where the network operates. Other rooms read
/// participants through this type, never through its store.
public final class ParticipantRegistry: Sendable {
    public let store: any ParticipantStore

    public init(store: any ParticipantStore) { self.store = store }

    /// Loads the markets of the rollout where the store has none.
    public func seedDefaults() async throws {
        if try await store.markets().isEmpty { for m in Market.rollout { try await store.saveMarket(m) } }
    }

    // MARK: Credentials

    /// A new API key for a participant; only its hash is stored. The key is shown once.
    public func issueCredential(for participant: Participant) async throws -> String {
        let key = "pwk_" + SecureRandom.alphanumeric(40)
        try await store.saveCredential(hash: Self.credentialHash(key), participant: participant)
        return key
    }

    public func authenticate(apiKey: String) async throws -> Participant? {
        try await store.participant(credentialHash: Self.credentialHash(apiKey))
    }

    /// Who holds the credential whose hash this is (a console session keeps the hash, not the key).
    public func authenticate(credentialHash hash: String) async throws -> Participant? {
        try await store.participant(credentialHash: hash)
    }

    public static func credentialHash(_ key: String) -> String { Hex.encode(Array(SHA256.hash(data: Array(key.utf8)))) }

    /// A credential as the operator sees it: never the key, only its id (the first 16
    /// hex digits of its SHA-256) and whose it is.
    public struct CredentialInfo: Codable, Sendable, Equatable {
        public var keyID: String
        public var kind: Actor.Kind
        public var participantID: String
    }

    /// The id the operator names a key by.
    public static func keyID(ofHash hash: String) -> String { String(hash.prefix(16)) }
    public static func keyID(of key: String) -> String { keyID(ofHash: credentialHash(key)) }

    /// A new key for a participant that exists, beside the keys it has (a rotation: the
    /// old key works until it is revoked).
    public func rotateCredential(for participant: Participant) async throws -> (key: String, info: CredentialInfo) {
        let exists: Bool = switch participant {
        case .network: true
        case .issuer(let id): try await store.issuer(id: id) != nil
        case .wallet(let id): try await store.wallet(id: id) != nil
        case .acquirer(let id): try await store.acquirer(id: id) != nil
        }
        guard exists else { throw ServiceError.notFound("\(participant.actor.kind.rawValue) \(participant.actor.id)") }
        let key = try await issueCredential(for: participant)
        return (key, CredentialInfo(keyID: Self.keyID(of: key), kind: participant.actor.kind, participantID: participant.actor.id))
    }

    /// Every credential, or those of one participant.
    public func credentials(of participant: Participant? = nil) async throws -> [CredentialInfo] {
        try await store.credentials().filter { participant == nil || $0.participant == participant }.map {
            CredentialInfo(keyID: Self.keyID(ofHash: $0.hash), kind: $0.participant.actor.kind, participantID: $0.participant.actor.id)
        }
    }

    /// Revokes the key with this id: refused at once, on every node (each request reads
    /// the credentials). The caller cannot revoke the key it is using.
    public func revokeCredential(keyID: String, callerKey: String) async throws {
        let keyID = keyID.uppercased()
        guard keyID.count == 16, keyID.allSatisfy(\.isHexDigit) else { throw ServiceError.invalid(field: "keyID", reason: "16 hex digits") }
        guard keyID != Self.keyID(of: callerKey) else { throw ServiceError.conflict("this is the key of this request: revoke it with another key") }
        let matching = try await store.credentials().filter { Self.keyID(ofHash: $0.hash) == keyID }
        guard let credential = matching.first, matching.count == 1 else { throw ServiceError.notFound("credential \(keyID)") }
        guard try await store.deleteCredential(hash: credential.hash) else { throw ServiceError.notFound("credential \(keyID)") }
    }

    // MARK: Issuers

    /// Onboards an issuer: its ranges must be well formed, its token ranges apart from its
    /// card ranges (the network tells a token from a card by its range) and every range
    /// apart from every other issuer's.
    public func onboardIssuer(_ issuer: Issuer) async throws {
        try Validate.identifier(issuer.id, field: "id")
        try Validate.nonEmpty(issuer.name, field: "name", max: 100)
        try Validate.country(issuer.country, field: "country")
        try Validate.currency(issuer.currency, field: "currency")
        guard !issuer.cardRanges.isEmpty else { throw ServiceError.invalid(field: "cardRanges", reason: "at least one BIN") }
        guard !issuer.tokenRanges.isEmpty else { throw ServiceError.invalid(field: "tokenRanges", reason: "at least one token BIN") }
        for r in issuer.cardRanges { try Validate.bin(r, field: "cardRanges") }
        for r in issuer.tokenRanges { try Validate.bin(r, field: "tokenRanges") }
        guard Issuer.acceptableHostURL(issuer.hostURL) else {
            throw ServiceError.invalid(field: "hostURL", reason: "an https:// URL (http:// only to a loopback address) without spaces, at most 300 characters")
        }
        try Validate.hostKey(issuer.hostKey)
        if let product = issuer.cardProduct, !Issuer.cardProducts.contains(product) {
            throw ServiceError.invalid(field: "cardProduct", reason: Issuer.cardProducts.joined(separator: ", "))
        }
        if let policy = issuer.cryptogramPolicy {
            guard CryptogramPolicy.atcWindowRange.contains(policy.atcWindow) else {
                throw ServiceError.invalid(field: "cryptogramPolicy.atcWindow", reason: "1 to 1000")
            }
            guard CryptogramPolicy.keyLifetimeRange.contains(policy.keyLifetimeDays) else {
                throw ServiceError.invalid(field: "cryptogramPolicy.keyLifetimeDays", reason: "1 to 365")
            }
        }
        guard issuer.cardProfiles == nil else {
            throw ServiceError.invalid(field: "cardProfiles", reason: "card profiles are set with PUT /v1/issuers/{issuerID}/card-profiles/{profileID}, once onboarded")
        }
        guard issuer.standIn == nil else {
            throw ServiceError.invalid(field: "standIn", reason: "stand-in rules are set with PUT /v1/issuers/{issuerID}/stand-in, once onboarded")
        }
        for t in issuer.tokenRanges where issuer.cardRanges.contains(where: { $0.hasPrefix(t) || t.hasPrefix($0) }) {
            throw ServiceError.invalid(field: "tokenRanges", reason: "token range \(t) overlaps one of the card ranges")
        }
        if try await store.issuer(id: issuer.id) != nil { throw ServiceError.conflict("issuer \(issuer.id) is already onboarded") }
        for other in try await store.issuers() {
            for r in issuer.cardRanges + issuer.tokenRanges
            where (other.cardRanges + other.tokenRanges).contains(where: { $0.hasPrefix(r) || r.hasPrefix($0) }) {
                throw ServiceError.conflict("range \(r) overlaps a range of issuer \(other.id)")
            }
        }
        try await requireWallets(issuer.enabledWallets)
        try await store.saveIssuer(issuer)
    }

    // MARK: Card profiles and assets

    /// Keeps an issuer's asset (card art or a terms text), checked for what its type says.
    public func saveAsset(issuerID: String, contentType: String, bytes: [UInt8], at: Date = Date()) async throws -> Asset {
        let asset = try Asset.make(issuerID: issuerID, contentType: contentType, bytes: bytes, at: at)
        try await store.saveAsset(asset)
        return asset
    }

    public func asset(id: String) async throws -> Asset? {
        guard id.count <= 40, id.hasPrefix("ast_") else { return nil }
        return try await store.asset(id: id)
    }

    /// Sets (adds or replaces) one of an issuer's card profiles. Its ranges must be within
    /// the issuer's card ranges, its art an image of the issuer's and each terms text a
    /// text of the issuer's. When the terms' version changes, every wallet the issuer has
    /// enabled gets a `terms_changed` event, in the same transaction.
    public func setCardProfile(issuerID: String, _ profile: CardProfile, at: Date = Date()) async throws -> Issuer {
        guard var issuer = try await store.issuer(id: issuerID) else { throw ServiceError.notFound("issuer \(issuerID)") }
        try Validate.identifier(profile.id, field: "id")
        try Validate.nonEmpty(profile.name, field: "name", max: 100)
        guard (1...20).contains(profile.cardRanges.count) else { throw ServiceError.invalid(field: "cardRanges", reason: "1 to 20 BINs") }
        for range in profile.cardRanges {
            try Validate.bin(range, field: "cardRanges")
            guard issuer.owns(cardNumber: range) else { throw ServiceError.invalid(field: "cardRanges", reason: "\(range) is not within the issuer's card ranges") }
        }
        for other in issuer.cardProfiles ?? [] where other.id != profile.id {
            if let shared = profile.cardRanges.first(where: other.cardRanges.contains) {
                throw ServiceError.invalid(field: "cardRanges", reason: "\(shared) is already in card profile \(other.id)")
            }
        }
        if let art = profile.artAssetID {
            guard let asset = try await asset(id: art), asset.issuerID == issuerID, asset.isImage else {
                throw ServiceError.invalid(field: "artAssetID", reason: "not a PNG or SVG asset of \(issuerID)'s (POST /v1/assets)")
            }
        }
        try Self.checkContact(profile.contact)
        if let terms = profile.terms {
            guard (1...32).contains(terms.version.count), terms.version.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }) else {
                throw ServiceError.invalid(field: "terms.version", reason: "1 to 32 letters, digits, '-', '.' or '_'")
            }
            guard (1...10).contains(terms.texts.count) else { throw ServiceError.invalid(field: "terms.texts", reason: "1 to 10 languages") }
            for (language, id) in terms.texts {
                guard language.count == 2, language.allSatisfy({ $0.isASCII && $0.isLowercase }) else {
                    throw ServiceError.invalid(field: "terms.texts", reason: "languages as ISO 639-1 codes (ru, zh, en), not \(language.prefix(8).debugDescription)")
                }
                guard let asset = try await asset(id: id), asset.issuerID == issuerID, asset.contentType == Asset.text else {
                    throw ServiceError.invalid(field: "terms.texts.\(language)", reason: "not a text asset of \(issuerID)'s (POST /v1/assets)")
                }
            }
        }
        var profiles = issuer.cardProfiles ?? []
        let previous = profiles.first { $0.id == profile.id }
        profiles.removeAll { $0.id == profile.id }
        profiles.append(profile)
        profiles.sort { $0.id < $1.id }
        guard profiles.count <= 50 else { throw ServiceError.invalid(field: "id", reason: "at most 50 card profiles per issuer") }
        issuer.cardProfiles = profiles
        var events: [WalletEvent] = []
        if let terms = profile.terms, previous?.terms?.version != terms.version {
            events = issuer.enabledWallets.sorted().map {
                WalletEvent(walletID: $0, at: at, type: "terms_changed", issuerID: issuerID, profileID: profile.id, cardRanges: profile.cardRanges,
                            termsVersion: terms.version,
                            messages: Dictionary(uniqueKeysWithValues: CardholderText.languages.map { language in
                                (language, CardholderText.text("terms_changed", language, ["card": profile.name, "version": terms.version]) ?? "")
                            }))
            }
        }
        try await store.saveIssuer(issuer, walletEvents: events)
        return issuer
    }

    static func checkContact(_ contact: CardProfile.Contact) throws {
        if let phone = contact.phone {
            guard (4...20).contains(phone.count), phone.allSatisfy({ $0.isASCIIDigit || "+ -()".contains($0) }) else {
                throw ServiceError.invalid(field: "contact.phone", reason: "4 to 20 digits, spaces, '+', '-' or parentheses")
            }
        }
        if let email = contact.email {
            let parts = email.split(separator: "@", omittingEmptySubsequences: false)
            guard email.count <= 120, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !email.contains(where: \.isWhitespace) else {
                throw ServiceError.invalid(field: "contact.email", reason: "an address like cards@bank.example, at most 120 characters")
            }
        }
        if let website = contact.website {
            guard website.count <= 200, website.hasPrefix("https://"), URL(string: website)?.host != nil, !website.contains(where: \.isWhitespace) else {
                throw ServiceError.invalid(field: "contact.website", reason: "an https:// address, at most 200 characters")
            }
        }
    }

    public func walletEvents(walletID: String, after seq: Int64, limit: Int) async throws -> [WalletEvent] {
        try await store.walletEvents(walletID: walletID, after: max(seq, 0), limit: min(max(limit, 1), 1000))
    }

    public func updateIssuerWallets(issuerID: String, enabledWallets: [String]) async throws -> Issuer {
        guard var issuer = try await store.issuer(id: issuerID) else { throw ServiceError.notFound("issuer \(issuerID)") }
        try await requireWallets(enabledWallets)
        issuer.enabledWallets = enabledWallets
        try await store.saveIssuer(issuer)
        return issuer
    }

    /// Sets (or, with nil, removes) an issuer's stand-in rules, stamped with when and by whom.
    public func setStandIn(issuerID: String, _ rules: StandInRules?, by actor: String, at: Date = Date()) async throws -> Issuer {
        guard var issuer = try await store.issuer(id: issuerID) else { throw ServiceError.notFound("issuer \(issuerID)") }
        var stamped = try rules?.validated()
        stamped?.updatedAt = at
        stamped?.updatedBy = actor
        issuer.standIn = stamped
        try await store.saveIssuer(issuer)
        return issuer
    }

    private func requireWallets(_ ids: [String]) async throws {
        for wallet in ids where try await store.wallet(id: wallet) == nil {
            throw ServiceError.notFound("wallet \(wallet) (in enabledWallets)")
        }
    }

    public func issuer(id: String) async throws -> Issuer? { try await store.issuer(id: id) }
    public func issuers() async throws -> [Issuer] { try await store.issuers() }

    /// The issuer whose card ranges hold this card number.
    public func issuer(ofCard digits: String) async throws -> Issuer? {
        try await store.issuers().first { $0.owns(cardNumber: digits) }
    }

    // MARK: Wallets

    public func createWallet(_ wallet: Wallet) async throws {
        try Validate.identifier(wallet.id, field: "id")
        try Validate.nonEmpty(wallet.name, field: "name", max: 100)
        guard wallet.tokenRequestorID.count == 11, wallet.tokenRequestorID.allSatisfy(\.isASCIIDigit) else {
            throw ServiceError.invalid(field: "tokenRequestorID", reason: "must be 11 digits (EMVCo token requestor ID)")
        }
        if try await store.wallet(id: wallet.id) != nil { throw ServiceError.conflict("wallet \(wallet.id) exists") }
        if try await store.wallets().contains(where: { $0.tokenRequestorID == wallet.tokenRequestorID }) {
            throw ServiceError.conflict("token requestor ID \(wallet.tokenRequestorID) is taken")
        }
        try await store.saveWallet(wallet)
    }

    public func wallet(id: String) async throws -> Wallet? { try await store.wallet(id: id) }
    public func wallets() async throws -> [Wallet] { try await store.wallets() }

    // MARK: Acquirers

    /// Onboards an acquirer: its field 32 code must be 1 to 11 digits and no other
    /// acquirer's.
    public func onboardAcquirer(_ acquirer: Acquirer) async throws {
        try Validate.identifier(acquirer.id, field: "id")
        try Validate.nonEmpty(acquirer.name, field: "name", max: 100)
        try Validate.country(acquirer.country, field: "country")
        guard (1...11).contains(acquirer.institutionID.count), acquirer.institutionID.allSatisfy(\.isASCIIDigit) else {
            throw ServiceError.invalid(field: "institutionID", reason: "the acquiring institution code of field 32: 1 to 11 digits")
        }
        guard Acquirer.Limits.connectionsRange.contains(acquirer.limits.connections) else {
            throw ServiceError.invalid(field: "limits.connections", reason: "1 to \(Acquirer.Limits.connectionsRange.upperBound)")
        }
        guard Acquirer.Limits.inFlightRange.contains(acquirer.limits.inFlight) else {
            throw ServiceError.invalid(field: "limits.inFlight", reason: "1 to \(Acquirer.Limits.inFlightRange.upperBound)")
        }
        if try await store.acquirer(id: acquirer.id) != nil { throw ServiceError.conflict("acquirer \(acquirer.id) is already onboarded") }
        if try await store.acquirers().contains(where: { $0.institutionID == acquirer.institutionID }) {
            throw ServiceError.conflict("institution code \(acquirer.institutionID) belongs to another acquirer")
        }
        try await store.saveAcquirer(acquirer)
    }

    public func acquirers() async throws -> [Acquirer] { try await store.acquirers() }

    /// The acquirer whose field 32 code this is, if any.
    public func acquirer(institutionID: String) async throws -> Acquirer? {
        try await store.acquirers().first { $0.institutionID == institutionID }
    }

    // MARK: Markets

    public func markets() async throws -> [Market] { try await store.markets() }
    public func market(country: String) async throws -> Market? { try await store.market(country: country) }

    /// The market as it would be in `state`: checked (a suspension needs a reason that
    /// cardholders will be told), not yet saved. Returns it with the state it leaves.
    public func marketChange(country: String, to state: Market.State, reason: String?) async throws -> (previous: Market.State, next: Market) {
        guard var market = try await store.market(country: country) else { throw ServiceError.notFound("market \(country)") }
        if state == .suspended, (reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ServiceError.invalid(field: "reason", reason: "a suspension needs a reason that cardholders will be told")
        }
        let previous = market.state
        market.state = state
        market.reason = state == .suspended ? reason : nil
        return (previous, market)
    }

    public func saveMarket(_ market: Market) async throws { try await store.saveMarket(market) }
    public func updateMarketSweep(country: String, _ sweep: Market.Sweep) async throws -> Bool {
        try await store.updateMarketSweep(country: country, sweep)
    }
    public func saveMarketKeepingSweep(_ market: Market) async throws { try await store.saveMarketKeepingSweep(market) }
}
