import Foundation

/// An issuer (a bank) onboarded to the network: its card ranges, the token ranges the
/// token service issues from for it, the wallets it has enabled and its host's address.
public struct Issuer: Codable, Sendable, Equatable {
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

    public func owns(cardNumber digits: String) -> Bool { cardRanges.contains { digits.hasPrefix($0) } }
    public func ownsToken(_ digits: String) -> Bool { tokenRanges.contains { digits.hasPrefix($0) } }
}

/// A wallet as a token requestor (EMVCo Payment Tokenisation Framework): its 11-digit
/// token requestor ID is carried with every token it holds.
public struct Wallet: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var tokenRequestorID: String

    public init(id: String, name: String, tokenRequestorID: String) {
        self.id = id; self.name = name; self.tokenRequestorID = tokenRequestorID
    }
}

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

    public init(country: String, name: String, currency: String, languages: [String], state: State, reason: String? = nil) {
        self.country = country; self.name = name; self.currency = currency
        self.languages = languages; self.state = state; self.reason = reason
    }

    /// Pilot markets take enrollments as live ones do; planned and suspended ones do not.
    public var acceptsEnrollments: Bool { state == .live || state == .pilot }
}

/// A phone or watch model the wallet supports.
public struct DeviceModel: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case phone, watch }

    public var id: String
    public var manufacturer: String
    public var model: String
    public var kind: Kind
    public var nfc: Bool
    /// Lowest OS version (dotted numbers) that runs the wallet.
    public var minimumOS: String
    /// Countries it is sold and supported in.
    public var markets: [String]

    public init(id: String, manufacturer: String, model: String, kind: Kind, nfc: Bool, minimumOS: String, markets: [String]) {
        self.id = id; self.manufacturer = manufacturer; self.model = model; self.kind = kind
        self.nfc = nfc; self.minimumOS = minimumOS; self.markets = markets
    }

    public func supports(osVersion: String) -> Bool { compareVersions(osVersion, minimumOS) >= 0 }
}

/// -1, 0, 1 comparing dotted version numbers numerically ("10.2" > "9.9").
public func compareVersions(_ a: String, _ b: String) -> Int {
    let x = a.split(separator: ".").map { Int($0) ?? 0 }, y = b.split(separator: ".").map { Int($0) ?? 0 }
    for i in 0..<max(x.count, y.count) {
        let l = i < x.count ? x[i] : 0, r = i < y.count ? y[i] : 0
        if l != r { return l < r ? -1 : 1 }
    }
    return 0
}

/// Who is calling the API, as its credential says.
public enum Participant: Sendable, Equatable, Hashable {
    case network
    case issuer(String)
    case wallet(String)

    public var actor: Actor {
        switch self {
        case .network: Actor(kind: .network, id: "network")
        case .issuer(let id): Actor(kind: .issuer, id: id)
        case .wallet(let id): Actor(kind: .wallet, id: id)
        }
    }
}

/// Who did something to a token, for lifecycle rules and the audit trail.
public struct Actor: Codable, Sendable, Equatable, Hashable {
    public enum Kind: String, Codable, Sendable { case wallet, issuer, network, system }
    public var kind: Kind
    public var id: String
    public init(kind: Kind, id: String) { self.kind = kind; self.id = id }
}
