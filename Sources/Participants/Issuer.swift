import Foundation

/// An issuer (a bank) onboarded to the network: its card ranges, the token ranges the
/// token service issues from for it, the wallets it has enabled and its host's address.
public struct Issuer: Codable, Sendable, Equatable {
    /// Its JSON, as the API takes (`POST /v1/issuers`) and shows it.
    public enum CodingKeys: String, CodingKey, CaseIterable { case id, name, country, currency, cardRanges, tokenRanges, enabledWallets, hostURL }

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
    /// Base URL of the issuer host's JSON API (ID&V, activation codes, notifications).
    public var hostURL: String

    public init(id: String, name: String, country: String, currency: String, cardRanges: [String],
                tokenRanges: [String], enabledWallets: [String], hostURL: String) {
        self.id = id; self.name = name; self.country = country; self.currency = currency
        self.cardRanges = cardRanges; self.tokenRanges = tokenRanges
        self.enabledWallets = enabledWallets; self.hostURL = hostURL
    }

    /// `enabledWallets` may be left out (or null): none yet.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(String.self, forKey: .id), name: try c.decode(String.self, forKey: .name),
                  country: try c.decode(String.self, forKey: .country), currency: try c.decode(String.self, forKey: .currency),
                  cardRanges: try c.decode([String].self, forKey: .cardRanges), tokenRanges: try c.decode([String].self, forKey: .tokenRanges),
                  enabledWallets: try c.decodeIfPresent([String].self, forKey: .enabledWallets) ?? [], hostURL: try c.decode(String.self, forKey: .hostURL))
    }

    public func owns(cardNumber digits: String) -> Bool { cardRanges.contains { digits.hasPrefix($0) } }
    public func ownsToken(_ digits: String) -> Bool { tokenRanges.contains { digits.hasPrefix($0) } }
}
