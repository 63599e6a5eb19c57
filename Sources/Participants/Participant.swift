/// Who is calling, as its credential says: the network's operator, an issuer (a bank),
/// a wallet (a token requestor) or an acquirer. Every API key belongs to one.
public enum Participant: Sendable, Equatable, Hashable {
    case network
    case issuer(String)
    case wallet(String)
    case acquirer(String)

    public var actor: Actor {
        switch self {
        case .network: Actor(kind: .network, id: "network")
        case .issuer(let id): Actor(kind: .issuer, id: id)
        case .wallet(let id): Actor(kind: .wallet, id: id)
        case .acquirer(let id): Actor(kind: .acquirer, id: id)
        }
    }

    /// The participant an actor stands for (nil for the platform's own `system` actor).
    public init?(_ actor: Actor) {
        switch actor.kind {
        case .network: self = .network
        case .issuer: self = .issuer(actor.id)
        case .wallet: self = .wallet(actor.id)
        case .acquirer: self = .acquirer(actor.id)
        case .system: return nil
        }
    }
}

/// Who did something to a token, for lifecycle rules and the audit trail.
public struct Actor: Codable, Sendable, Equatable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case wallet, issuer, network, acquirer, system }
    public var kind: Kind
    public var id: String
    public init(kind: Kind, id: String) { self.kind = kind; self.id = id }
}
