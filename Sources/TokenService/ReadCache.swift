import Foundation
import Synchronization

/// A bounded, short-lived cache of the records every authorization reads (token by
/// number fingerprint, card by id). Entries live at most `maxAge`; the whole cache is
/// emptied when this process changes a token or card (after the change committed); at
/// most `capacity` entries.
///
/// A record read before a change and put after the change emptied the cache would be
/// stale: each emptying starts a new generation, and a record is only kept when no
/// emptying happened between its read and its `put`.
final class ReadCache: Sendable {
    let maxAgeSeconds: TimeInterval
    static let capacity = 20_000
    private struct State {
        var generation = 0
        var tokens: [String: (Token, Date)] = [:]
        var cards: [String: (VaultCard, Date)] = [:]
        var markets: (MarketStates, Date)?
    }

    /// The suspended markets and each issuer's country, as the authorization path checks them.
    struct MarketStates: Sendable {
        var suspended: Set<String>
        var issuerCountry: [String: String]
    }

    func markets(now: Date) -> MarketStates? {
        state.withLock { s in
            guard let (markets, at) = s.markets, now.timeIntervalSince(at) < maxAgeSeconds else { return nil }
            return markets
        }
    }

    func put(_ markets: MarketStates, now: Date, readIn generation: Int) {
        state.withLock { s in
            guard s.generation == generation else { return }
            s.markets = (markets, now)
        }
    }
    private let state = Mutex(State())

    init(maxAge: Duration) { self.maxAgeSeconds = maxAge / .seconds(1) }

    /// Taken before reading from the store; passed to `put`.
    var generation: Int { state.withLock { $0.generation } }

    func token(_ fingerprint: String, now: Date) -> Token? {
        state.withLock { s in
            guard let (token, at) = s.tokens[fingerprint], now.timeIntervalSince(at) < maxAgeSeconds else { return nil }
            return token
        }
    }

    func card(_ id: String, now: Date) -> VaultCard? {
        state.withLock { s in
            guard let (card, at) = s.cards[id], now.timeIntervalSince(at) < maxAgeSeconds else { return nil }
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
            s.markets = nil
        }
    }
}
