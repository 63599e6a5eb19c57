import Foundation

/// An issuer (a bank) onboarded to the network: its card ranges, the token ranges the
/// token service issues from for it, the wallets it has enabled and its host's address.
public struct Issuer: Codable, Sendable, Equatable {
    /// Its JSON, as the API takes (`POST /v1/issuers`) and shows it.
    public enum CodingKeys: String, CodingKey, CaseIterable { case id, name, country, currency, cardRanges, tokenRanges, enabledWallets, hostURL, hostKey }

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
    }

    /// Everything but `hostKey`, which is a secret.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(name, forKey: .name); try c.encode(country, forKey: .country)
        try c.encode(currency, forKey: .currency); try c.encode(cardRanges, forKey: .cardRanges); try c.encode(tokenRanges, forKey: .tokenRanges)
        try c.encode(enabledWallets, forKey: .enabledWallets); try c.encode(hostURL, forKey: .hostURL)
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
