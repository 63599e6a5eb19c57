import EMV
import Foundation
import IssuerContract
import Participants
import Vault

/// What a token goes through after it is made: read by those allowed to see it;
/// suspended, resumed and deleted by rules of who may lift whose suspension; suspended
/// all at once when its device is lost or its market is suspended; kept across card
/// renewals. Every step is audited and told to the issuer.
extension TokenService {
    public func token(id: String, for participant: Participant) async throws -> Token {
        guard let token = try await store.token(id: id), Self.canSee(participant, token) else {
            // The same answer for "absent" and "not yours": no probing of other participants' tokens.
            throw ServiceError.notFound("token \(id)")
        }
        return token
    }

    /// The tokens `participant` may see (a wallet's, an issuer's; every one for the
    /// network), of one device if asked: all of them in the order they were made, or a page
    /// (`after` an id, at most `limit`) in id order.
    public func tokens(for participant: Participant, deviceID: String? = nil, after: String? = nil, limit: Int? = nil) async throws -> [Token] {
        switch participant {
        case .network: try await store.tokens(TokenQuery(deviceID: deviceID, after: after, limit: limit))
        case .issuer(let id): try await store.tokens(TokenQuery(issuerID: id, deviceID: deviceID, after: after, limit: limit))
        case .wallet(let id): try await store.tokens(TokenQuery(walletID: id, deviceID: deviceID, after: after, limit: limit))
        case .acquirer: []
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
        case .acquirer: false
        }
    }

    public enum LifecycleAction: String, Sendable, CaseIterable {
        case suspend, resume, delete

        var event: TokenEvent {
            switch self {
            case .suspend: .suspend
            case .resume: .resume
            case .delete: .delete
            }
        }

        var notification: TokenNotification.Event {
            switch self {
            case .suspend: .suspended
            case .resume: .resumed
            case .delete: .deleted
            }
        }
    }

    public func change(tokenID: String, action: LifecycleAction, by participant: Participant, reason: String?) async throws -> Token {
        try await retryingOnConflict { try await self.changeOnce(tokenID: tokenID, action: action, by: participant, reason: reason) }
    }

    /// A participant suspends (a suspension of its own kind is added beside any others),
    /// resumes (its own suspension, or else the others it may lift; the token is active
    /// only when none remains) or deletes a token.
    func changeOnce(tokenID: String, action: LifecycleAction, by participant: Participant, reason: String?) async throws -> Token {
        var token = try await token(id: tokenID, for: participant)
        let before = token
        if let reason, reason.count > 200 { throw ServiceError.invalid(field: "reason", reason: "at most 200 characters") }
        let actor = participant.actor
        let at = Self.version(now(), after: before.updatedAt)
        switch (action, token.status) {
        case (_, .deleted):
            throw ServiceError.conflict("token is deleted; nothing can change it")
        case (.suspend, _):
            guard let kind = Suspension.Kind.asked(by: actor.kind) else { throw ServiceError.forbidden("an acquirer does not suspend tokens") }
            if token.suspensions.contains(where: { $0.kind == kind }) {
                throw ServiceError.conflict("token is already suspended by the \(kind.rawValue)")
            }
            token.suspensions.append(Suspension(kind: kind, actor: actor, reason: reason ?? "suspended by \(actor.kind.rawValue)", at: at))
        case (.resume, .active):
            throw ServiceError.conflict("token is already active")
        case (.resume, _):
            let liftable = Suspension.Kind.liftable(by: actor.kind)
            guard token.suspensions.contains(where: { liftable.contains($0.kind) }) else {
                let holding = token.suspensions.map(\.kind.rawValue).joined(separator: ", ")
                throw ServiceError.conflict("token is suspended by: \(holding); the \(actor.kind.rawValue) cannot lift that")
            }
            // Its own suspension when it has one; otherwise the others it may lift.
            if let own = Suspension.Kind.asked(by: actor.kind), token.suspensions.contains(where: { $0.kind == own }) {
                token.suspensions.removeAll { $0.kind == own }
            } else {
                token.suspensions.removeAll { liftable.contains($0.kind) }
            }
        case (.delete, _):
            token.status = .deleted
        }
        token.settle()
        token.updatedAt = at
        let change = TokenChange(before: before, after: token)
        try await store.updateTokens([change],
                                     audit: [AuditEvent(tokenID: token.id, at: at, actor: actor, event: action.event,
                                                        from: before.status, to: token.status, reason: reason)],
                                     notices: try await notices([change], action.notification, at: at))
        readCache.clear()
        noticeWritten.signal()
        return token
    }

    /// The reason a lost device's tokens carry.
    static let lostDeviceReason = "device reported lost"

    /// Every token on a device (not deleted) suspended at once as a lost device's, in one
    /// transaction, in the wallet's name: the cardholder or the issuer lifts it; a market
    /// lifted meanwhile does not.
    public func suspendTokens(onLostDevice deviceID: String, by actor: Actor) async throws -> [Token] {
        try await retryingOnConflict {
            let at = now()
            let changes = try await store.tokens(TokenQuery(deviceID: deviceID)).compactMap { token in
                Self.adding(Suspension(kind: .lostDevice, actor: actor, reason: Self.lostDeviceReason, at: at), to: token, at: at)
            }
            return try await apply(changes, event: .suspended)
        }
    }

    /// Moves a market through planned → pilot → live → suspended.
    ///
    /// A suspension covers the market's tokens: those on devices in the market **and**
    /// those of cards of the issuers of the market's country, wherever the device is (a
    /// sanctions cut reaches the cards issued there). The market's state is saved first, so
    /// enrollments are refused and authorizations declined at once (`suspendedMarket(of:)`),
    /// with a sweep of its tokens to run (`Market.sweep`, carried out by
    /// `runMarketSweep`): a suspension's adds the network's suspension to each token, a
    /// lift's removes only that one. Asking for the state the market is in again starts a
    /// new sweep, unless one of that kind is still running; any other change of state
    /// replaces a running sweep, which stops at its next page.
    public func setMarketState(country: String, state: Market.State, reason: String?) async throws -> Market {
        let (previous, next) = try await participants.marketChange(country: country, to: state, reason: reason)
        var market = next
        let kind: Market.Sweep.Kind? = state == .suspended ? .suspend : (previous == .suspended || previous == state ? .resume : nil)
        if let kind {
            if let running = market.sweep, running.isRunning, running.kind == kind, previous == state {
                // The same change again while its sweep runs: that sweep goes on. Nothing is
                // saved unless the reason changed, and then the reason without the sweep, so
                // the sweep's progress is never written back stale.
                if try await participants.market(country: country)?.reason == market.reason { return market }
                try await participants.saveMarketKeepingSweep(market)
                readCache.clear()
                return market
            } else {
                market.sweep = Market.Sweep(id: "swp_" + SecureRandom.alphanumeric(20), kind: kind, startedAt: now())
            }
        }
        try await participants.saveMarket(market)
        readCache.clear()
        return market
    }

    /// Carries the market's running sweep to its end, a page of `marketBatch` tokens in id
    /// order at a time, each page's changes with their audit lines and the issuers' notices
    /// in one transaction, and the sweep's progress saved after it, while `node` holds the
    /// market's lease. A page another request changed meanwhile is read and done again; a
    /// page done twice (after a crash) changes nothing the second time. Stops early when the
    /// lease is another node's, or after `pages` pages (a node shutting down stops between
    /// pages). Returns the sweep it finished, if it finished one.
    @discardableResult
    public func runMarketSweep(country: String, node: String, pages: Int = .max,
                               stop: @Sendable () -> Bool = { false }) async throws -> Market.Sweep? {
        let network = Participant.network.actor
        let lease = { @Sendable (until: Date) async throws -> Bool in
            try await self.store.leaseMarket(country: country, node: node, until: until, now: self.now())
        }
        // Let go: the market's next sweep may start on any node at once.
        let release = { @Sendable () async in _ = try? await lease(self.now().addingTimeInterval(-1)) }
        for _ in 0..<max(pages, 0) {
            guard let market = try await participants.market(country: country) else { return nil }
            guard var sweep = market.sweep, sweep.isRunning else { return nil }
            guard try await lease(now().addingTimeInterval(Self.marketLease.seconds)) else { return nil }
            let issuerIDs = try await participants.issuers().filter { $0.country == country }.map(\.id).sorted()
            let covered = TokenQuery.Market(country: country, issuerIDs: issuerIDs)
            let suspension = Suspension(kind: .market, actor: network, reason: Self.marketSuspension + (market.reason ?? ""), at: now())
            let (read, changed) = try await retryingOnConflict { () -> (Int, Int) in
                let page = try await self.store.tokens(TokenQuery(market: covered, after: sweep.after, limit: self.marketBatch))
                let at = self.now()
                let changes = page.compactMap { token -> (TokenChange, AuditEvent)? in
                    switch sweep.kind {
                    case .suspend:
                        var stamped = suspension
                        stamped.at = at
                        return Self.adding(stamped, to: token, at: at)
                    case .resume:
                        guard token.status != .deleted, token.suspensions.contains(where: { $0.kind == .market }) else { return nil }
                        var after = token
                        after.suspensions.removeAll { $0.kind == .market }
                        after.settle()
                        after.updatedAt = Self.version(at, after: token.updatedAt)
                        return (TokenChange(before: token, after: after),
                                AuditEvent(tokenID: token.id, at: at, actor: network, event: .resume, from: token.status, to: after.status,
                                           reason: "market \(market.state.rawValue)"))
                    }
                }
                _ = try await self.apply(changes, event: sweep.kind == .suspend ? .suspended : .resumed)
                sweep.after = page.last?.id ?? sweep.after
                return (page.count, changes.count)
            }
            sweep.tokens += changed
            if read < marketBatch { sweep.finishedAt = now() }
            // Another change of state started another sweep: this one stops, that one runs.
            guard try await participants.updateMarketSweep(country: country, sweep) else { continue }
            if !sweep.isRunning {
                await release()
                return sweep
            }
            if stop() {
                // A shutdown, after the page saved: another node (or this one restarted)
                // goes on from `after` at once rather than after the lease.
                await release()
                return nil
            }
        }
        return nil
    }

    /// How long a node holds a market's sweep between pages before another may take it over.
    static let marketLease: Duration = .seconds(60)

    /// The suspended market a token is in, by its device's country or its issuer's: read
    /// from a cache that lives as long as the token cache (emptied by every change here,
    /// and by PostgreSQL's notice of another node's).
    func suspendedMarket(of token: Token) async throws -> String? {
        var markets = readCache.markets(now: now())
        if markets == nil {
            let generation = readCache.generation
            let read = ReadCache.MarketStates(
                suspended: Set(try await participants.markets().filter { $0.state == .suspended }.map(\.country)),
                issuerCountry: Dictionary(try await participants.issuers().map { ($0.id, $0.country) }) { first, _ in first })
            readCache.put(read, now: now(), readIn: generation)
            markets = read
        }
        guard let markets, !markets.suspended.isEmpty else { return nil }
        if markets.suspended.contains(token.country) { return token.country }
        if let issuerCountry = markets.issuerCountry[token.issuerID], markets.suspended.contains(issuerCountry) { return issuerCountry }
        return nil
    }

    /// The suspension reason that marks a token suspended with its market.
    static let marketSuspension = "market suspended: "

    /// The token with `suspension` added (nil when it is deleted or holds one of that kind).
    static func adding(_ suspension: Suspension, to token: Token, at: Date) -> (TokenChange, AuditEvent)? {
        guard token.status != .deleted, !token.suspensions.contains(where: { $0.kind == suspension.kind }) else { return nil }
        var after = token
        after.suspensions.append(suspension)
        after.settle()
        after.updatedAt = version(at, after: token.updatedAt)
        return (TokenChange(before: token, after: after),
                AuditEvent(tokenID: token.id, at: at, actor: suspension.actor, event: .suspend, from: token.status, to: after.status,
                           reason: suspension.reason))
    }

    /// Writes the changes with their audit and the issuers' notices in one transaction,
    /// runs `then` and empties the read cache.
    func apply(_ changes: [(TokenChange, AuditEvent)], event: TokenNotification.Event,
                       then: () async throws -> Void = {}) async throws -> [Token] {
        if !changes.isEmpty {
            try await store.updateTokens(changes.map(\.0), audit: changes.map(\.1), notices: try await notices(changes.map(\.0), event, at: now()))
        }
        try await then()
        readCache.clear()
        noticeWritten.signal()
        return changes.map(\.0.after)
    }

    /// The issuer renews a card: a new expiry, and perhaps a new number. The tokens keep
    /// their numbers; the vault now maps them to the new card data.
    public func renewCard(issuerID: String, pan: String, newPAN: String?, newExpiry: String) async throws -> (VaultCard, [Token]) {
        let current: PAN
        do { current = try PAN(pan) } catch { throw ServiceError.invalid(field: "pan", reason: "\(error)") }
        let expiry = try Validate.expiry(newExpiry, now: now())
        guard var card = try await store.card(fingerprint: vault.fingerprint(current)), card.issuerID == issuerID else {
            throw ServiceError.notFound("card \(current.masked)")
        }
        let previousFingerprint = card.fingerprint
        card.expiry = expiry
        // A renewed card is a new card to the stand-in: what stopped the old one is the issuer's past.
        card.issuerStatus = nil
        if let newPAN {
            let replacement: PAN
            do { replacement = try PAN(newPAN) } catch { throw ServiceError.invalid(field: "newPan", reason: "\(error)") }
            guard let issuer = try await participants.issuer(id: issuerID), issuer.owns(cardNumber: replacement.digits) else {
                throw ServiceError.invalid(field: "newPan", reason: "\(replacement.masked) is not in your card ranges")
            }
            if replacement != current, try await store.card(fingerprint: vault.fingerprint(replacement)) != nil {
                throw ServiceError.conflict("\(replacement.masked) is already another card in the vault")
            }
            card.fingerprint = vault.fingerprint(replacement)
            card.sealedPAN = vault.seal(replacement, context: card.id)
            card.maskedPAN = replacement.masked
        }
        let tokens = try await store.tokens(TokenQuery(cardID: card.id))
        let at = now()
        let actor = Participant.issuer(issuerID).actor
        let events = tokens.map { AuditEvent(tokenID: $0.id, at: at, actor: actor, event: .cardRenewed, from: $0.status, to: $0.status,
                                             reason: newPAN == nil ? "new expiry \(expiry)" : "new card \(card.maskedPAN), expiry \(expiry)") }
        try await store.updateCard(card, previousFingerprint: previousFingerprint, audit: events)
        readCache.clear()
        return (card, tokens)
    }
}
