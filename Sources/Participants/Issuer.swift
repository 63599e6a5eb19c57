import EMV
import Foundation

/// An issuer (a bank) onboarded to the network: its card ranges, the token ranges the
/// token service issues from for it, the wallets it has enabled and its host's address.
public struct Issuer: Codable, Sendable, Equatable {
    /// Its JSON, as the API takes (`POST /v1/issuers`) and shows it.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, country, currency, cardRanges, tokenRanges, enabledWallets, hostURL, hostKey, cryptogramPolicy, standIn, cardProduct, cryptogramProfile, cardProfiles
    }

    public var id: String
    public var name: String
    /// ISO 3166-1 alpha-2.
    public var country: String
    /// ISO 4217 alpha-3: the cardholders' billing currency.
    public var currency: String
    /// Card number prefixes (BINs, 6 to 11 digits) of its cards.
    public var cardRanges: [String]
    /// Token number prefixes the token service issues from, for this issuer's cards.
    public var tokenRanges: [String]
    /// Wallet ids the issuer allows its cards into.
    public var enabledWallets: [String]
    /// Base URL of the issuer host's JSON API (ID&V, activation codes, notifications):
    /// `https://`, or `http://` to a loopback address only.
    public var hostURL: String
    /// The key that signs the token service's calls to the host and the host's answers
    /// (`RequestSignature`, 64 hex digits), as the bank's host made it. Taken when the
    /// issuer is onboarded and kept sealed by the token service; never written back (not
    /// in an answer, not in the participant's stored record).
    public var hostKey: String?
    /// How fresh a cryptogram must be; nil: `CryptogramPolicy.standard`.
    public var cryptogramPolicy: CryptogramPolicy?

    /// How the network decides for the issuer while its host is unavailable; nil: it
    /// does not (91).
    public var standIn: StandInRules?

    /// The policy in force.
    public var policy: CryptogramPolicy { cryptogramPolicy ?? .standard }
    /// The product of its cards, for interchange: `debit` (when left out), `credit` or `prepaid`.
    public var cardProduct: String?
    public static let cardProducts = ["debit", "credit", "prepaid"]
    /// The cipher of its tokens' cryptograms: TDES (when left out) or SM4 (PBOC 3.0). A
    /// token keeps the profile it was made with.
    public var cryptogramProfile: CryptogramProfile?
    public var profile: CryptogramProfile { cryptogramProfile ?? .tdes }
    /// Its card products as wallets show them (art, terms, contact), set with
    /// `PUT /v1/issuers/{issuerID}/card-profiles/{profileID}` once onboarded.
    public var cardProfiles: [CardProfile]?

    public init(id: String, name: String, country: String, currency: String, cardRanges: [String],
                tokenRanges: [String], enabledWallets: [String], hostURL: String, hostKey: String? = nil) {
        self.id = id; self.name = name; self.country = country; self.currency = currency
        self.cardRanges = cardRanges; self.tokenRanges = tokenRanges
        self.enabledWallets = enabledWallets; self.hostURL = hostURL; self.hostKey = hostKey
    }

    /// `enabledWallets` may be left out (or null): none yet.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(String.self, forKey: .id), name: try c.decode(String.self, forKey: .name),
                  country: try c.decode(String.self, forKey: .country), currency: try c.decode(String.self, forKey: .currency),
                  cardRanges: try c.decode([String].self, forKey: .cardRanges), tokenRanges: try c.decode([String].self, forKey: .tokenRanges),
                  enabledWallets: try c.decodeIfPresent([String].self, forKey: .enabledWallets) ?? [], hostURL: try c.decode(String.self, forKey: .hostURL),
                  hostKey: try c.decodeIfPresent(String.self, forKey: .hostKey))
        cryptogramPolicy = try c.decodeIfPresent(CryptogramPolicy.self, forKey: .cryptogramPolicy)
        standIn = try c.decodeIfPresent(StandInRules.self, forKey: .standIn)
        cardProduct = try c.decodeIfPresent(String.self, forKey: .cardProduct)
        cryptogramProfile = try c.decodeIfPresent(CryptogramProfile.self, forKey: .cryptogramProfile)
        cardProfiles = try c.decodeIfPresent([CardProfile].self, forKey: .cardProfiles)
    }

    /// Everything but `hostKey`, which is a secret.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(name, forKey: .name); try c.encode(country, forKey: .country)
        try c.encode(currency, forKey: .currency); try c.encode(cardRanges, forKey: .cardRanges); try c.encode(tokenRanges, forKey: .tokenRanges)
        try c.encode(enabledWallets, forKey: .enabledWallets); try c.encode(hostURL, forKey: .hostURL)
        try c.encodeIfPresent(cryptogramPolicy, forKey: .cryptogramPolicy)
        try c.encodeIfPresent(standIn, forKey: .standIn)
        try c.encodeIfPresent(cardProduct, forKey: .cardProduct)
        try c.encodeIfPresent(cryptogramProfile, forKey: .cryptogramProfile)
        try c.encodeIfPresent(cardProfiles, forKey: .cardProfiles)
    }

    /// Whether `url` is one the token service may call: `https://`, or `http://` to a
    /// loopback address (a bank's host on the same machine), without spaces.
    public static func acceptableHostURL(_ url: String) -> Bool {
        guard url.count <= 300, !url.contains(where: \.isWhitespace), let parsed = URL(string: url), let host = parsed.host else { return false }
        switch parsed.scheme?.lowercased() {
        case "https": return true
        case "http": return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
        default: return false
        }
    }

    public func owns(cardNumber digits: String) -> Bool { cardRanges.contains { digits.hasPrefix($0) } }
    public func ownsToken(_ digits: String) -> Bool { tokenRanges.contains { digits.hasPrefix($0) } }
}

/// An issuer's rules for the freshness of its tokens' cryptograms, beyond the ARQC itself.
public struct CryptogramPolicy: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case atcWindow, keyLifetimeDays }
    /// An ATC more than this below the highest the network accepted for the token is
    /// declined: a cryptogram held back and played later does not pay.
    public var atcWindow: Int
    /// Single-use keys delivered more than this long ago no longer pay.
    public var keyLifetimeDays: Int

    public init(atcWindow: Int = 20, keyLifetimeDays: Int = 30) { self.atcWindow = atcWindow; self.keyLifetimeDays = keyLifetimeDays }

    /// Both fields, and no other: a misspelt rule must not pass as the default.
    public init(from decoder: any Decoder) throws {
        try StrictFields.reject(decoder, allowing: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(atcWindow: try c.decode(Int.self, forKey: .atcWindow), keyLifetimeDays: try c.decode(Int.self, forKey: .keyLifetimeDays))
    }

    public static let standard = CryptogramPolicy()
    public static let atcWindowRange = 1...1000
    public static let keyLifetimeRange = 1...365
}

/// Rules whose misspelt field must not pass for an absent one: a decoder's unknown fields
/// are refused, naming the first.
public enum StrictFields {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public static func reject(_ decoder: any Decoder, allowing names: [String]) throws {
        let allowed = Set(names)
        if let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.first(where: { !allowed.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [unknown], debugDescription: "unknown field"))
        }
    }
}
