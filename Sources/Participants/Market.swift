import Foundation

/// A country the network operates in, and where its rollout stands.
public struct Market: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable, CaseIterable {
        case planned, pilot, live, suspended
    }

    /// ISO 3166-1 alpha-2.
    public var country: String
    public var name: String
    /// ISO 4217 alpha-3.
    public var currency: String
    public var languages: [String]
    public var state: State
    /// Why it is suspended: said to every enrollment refused there.
    public var reason: String?
    /// The last sweep of the market's tokens that a change of state started: running, or
    /// how it finished.
    public var sweep: Sweep?

    /// A suspension or a lift carried to the market's tokens, a page at a time, after the
    /// market's state is saved (`TokenService.runMarketSweep`).
    public struct Sweep: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case suspend, resume }
        public var id: String
        public var kind: Kind
        public var startedAt: Date
        /// Nil while it runs.
        public var finishedAt: Date?
        /// Tokens it has suspended or resumed so far.
        public var tokens: Int
        /// The last token id it has done: it goes on after this one.
        public var after: String?

        public init(id: String, kind: Kind, startedAt: Date, finishedAt: Date? = nil, tokens: Int = 0, after: String? = nil) {
            self.id = id; self.kind = kind; self.startedAt = startedAt
            self.finishedAt = finishedAt; self.tokens = tokens; self.after = after
        }

        public var isRunning: Bool { finishedAt == nil }
    }

    public init(country: String, name: String, currency: String, languages: [String], state: State, reason: String? = nil) {
        self.country = country; self.name = name; self.currency = currency
        self.languages = languages; self.state = state; self.reason = reason
    }

    /// Pilot markets take enrollments as live ones do; planned and suspended ones do not.
    public var acceptsEnrollments: Bool { state == .live || state == .pilot }
}

extension Market {
    /// What a new Passway network starts with: the markets of the rollout. Operators move
    /// them through the API (`PUT /v1/markets/{country}`).
    public static let rollout: [Market] = [
        Market(country: "RU", name: "Russia", currency: "RUB", languages: ["ru"], state: .live),
        Market(country: "CN", name: "China", currency: "CNY", languages: ["zh"], state: .live),
        Market(country: "BY", name: "Belarus", currency: "BYN", languages: ["be", "ru"], state: .pilot),
        Market(country: "KZ", name: "Kazakhstan", currency: "KZT", languages: ["kk", "ru"], state: .pilot),
        Market(country: "AM", name: "Armenia", currency: "AMD", languages: ["hy"], state: .planned),
        Market(country: "PL", name: "Poland", currency: "PLN", languages: ["pl"], state: .planned),
        Market(country: "CZ", name: "Czechia", currency: "CZK", languages: ["cs"], state: .planned),
        Market(country: "SK", name: "Slovakia", currency: "EUR", languages: ["sk"], state: .planned),
        Market(country: "HU", name: "Hungary", currency: "HUF", languages: ["hu"], state: .planned),
        Market(country: "RO", name: "Romania", currency: "RON", languages: ["ro"], state: .planned),
        Market(country: "BG", name: "Bulgaria", currency: "BGN", languages: ["bg"], state: .planned),
        Market(country: "RS", name: "Serbia", currency: "RSD", languages: ["sr"], state: .planned),
    ]
}
