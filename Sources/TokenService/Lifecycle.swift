import EMV
import Foundation
import IssuerContract
import Participants

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

    public func tokens(for participant: Participant, deviceID: String? = nil) async throws -> [Token] {
        switch participant {
        case .network: try await store.tokens(TokenQuery(deviceID: deviceID))
        case .issuer(let id): try await store.tokens(TokenQuery(issuerID: id, deviceID: deviceID))
        case .wallet(let id): try await store.tokens(TokenQuery(walletID: id, deviceID: deviceID))
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

    /// Who may lift whose suspension. A cardholder (through the wallet) resumes only what
    /// the cardholder suspended; the issuer also what the cardholder suspended; the
    /// network only its own (market) suspensions. Nobody lifts the issuer's suspension
    /// but the issuer.
    public static func mayResume(_ who: Actor.Kind, suspendedBy: Actor.Kind) -> Bool {
        switch (who, suspendedBy) {
        case (.wallet, .wallet): true
        case (.issuer, .wallet), (.issuer, .issuer): true
        case (.network, .network): true
        default: false
        }
    }

    public func change(tokenID: String, action: LifecycleAction, by participant: Participant, reason: String?) async throws -> Token {
        try await retryingOnConflict { try await self.changeOnce(tokenID: tokenID, action: action, by: participant, reason: reason) }
    }

    func changeOnce(tokenID: String, action: LifecycleAction, by participant: Participant, reason: String?) async throws -> Token {
        var token = try await token(id: tokenID, for: participant)
        let before = token
        if let reason, reason.count > 200 { throw ServiceError.invalid(field: "reason", reason: "at most 200 characters") }
        let actor = participant.actor
        let from = token.status
        switch (action, token.status) {
        case (_, .deleted):
            throw ServiceError.conflict("token is deleted; nothing can change it")
        case (.suspend, .suspended):
            throw ServiceError.conflict("token is already suspended (by \(token.suspendedBy?.kind.rawValue ?? "?"))")
        case (.suspend, .active):
            token.status = .suspended
            token.suspendedBy = actor
            token.suspensionReason = reason ?? "suspended by \(actor.kind.rawValue)"
        case (.resume, .active):
            throw ServiceError.conflict("token is already active")
        case (.resume, .suspended):
            let by = token.suspendedBy?.kind ?? .network
            guard Self.mayResume(actor.kind, suspendedBy: by) else {
                throw ServiceError.conflict("token was suspended by the \(by.rawValue); the \(actor.kind.rawValue) cannot resume it")
            }
            token.status = .active
            token.suspendedBy = nil
            token.suspensionReason = nil
        case (.delete, _):
            token.status = .deleted
        }
        token.updatedAt = Self.version(now(), after: before.updatedAt)
        try await store.updateTokens([TokenChange(before: before, after: token)],
                                     audit: [AuditEvent(tokenID: token.id, at: token.updatedAt, actor: actor, event: action.event,
                                                        from: from, to: token.status, reason: reason)])
        readCache.clear()
        await notify(token, action.notification)
        return token
    }

    /// Every active token on a device suspended at once, in one transaction, in `actor`'s
    /// name (the wallet's, when its cardholder reports the device lost, so that the
    /// cardholder or the issuer can resume them).
    public func suspendTokens(onDevice deviceID: String, by actor: Actor, reason: String) async throws -> [Token] {
        try await retryingOnConflict {
            let at = now()
            let changes = try await store.tokens(TokenQuery(deviceID: deviceID, status: .active)).map { token in
                Self.suspension(of: token, by: actor, reason: reason, at: at)
            }
            return try await apply(changes, event: .suspended)
        }
    }

    /// Moves a market through planned → pilot → live → suspended. Suspending it suspends
    /// its active tokens in the network's name; lifting the suspension resumes exactly
    /// those.
    public func setMarketState(country: String, state: Market.State, reason: String?) async throws -> Market {
        try await retryingOnConflict {
            let (previous, market) = try await participants.marketChange(country: country, to: state, reason: reason)
            let at = now()
            let network = Participant.network.actor
            if state == .suspended && previous != .suspended {
                let changes = try await store.tokens(TokenQuery(country: country, status: .active)).map { token in
                    Self.suspension(of: token, by: network, reason: Self.marketSuspension + (reason ?? ""), at: at)
                }
                _ = try await apply(changes, event: .suspended, then: { try await self.participants.saveMarket(market) })
            } else if previous == .suspended && state != .suspended {
                let changes = try await store.tokens(TokenQuery(country: country, status: .suspended))
                    .filter { $0.suspendedBy?.kind == .network && $0.suspensionReason?.hasPrefix(Self.marketSuspension) == true }
                    .map { token in
                        var after = token
                        after.status = .active
                        after.suspendedBy = nil
                        after.suspensionReason = nil
                        after.updatedAt = Self.version(at, after: token.updatedAt)
                        return (TokenChange(before: token, after: after),
                                AuditEvent(tokenID: token.id, at: at, actor: network, event: .resume, from: .suspended, to: .active,
                                           reason: "market \(state.rawValue)"))
                    }
                _ = try await apply(changes, event: .resumed, then: { try await self.participants.saveMarket(market) })
            } else {
                try await participants.saveMarket(market)
            }
            return market
        }
    }

    /// The suspension reason that marks a token suspended with its market.
    static let marketSuspension = "market suspended: "

    static func suspension(of token: Token, by actor: Actor, reason: String, at: Date) -> (TokenChange, AuditEvent) {
        var after = token
        after.status = .suspended
        after.suspendedBy = actor
        after.suspensionReason = reason
        after.updatedAt = version(at, after: token.updatedAt)
        return (TokenChange(before: token, after: after),
                AuditEvent(tokenID: token.id, at: at, actor: actor, event: .suspend, from: .active, to: .suspended, reason: reason))
    }

    /// Writes the changes with their audit in one transaction, runs `then`, empties the
    /// read cache and tells the issuers.
    private func apply(_ changes: [(TokenChange, AuditEvent)], event: TokenNotification.Event,
                       then: () async throws -> Void = {}) async throws -> [Token] {
        if !changes.isEmpty { try await store.updateTokens(changes.map(\.0), audit: changes.map(\.1)) }
        try await then()
        readCache.clear()
        let changed = changes.map(\.0.after)
        for token in changed { await notify(token, event) }
        return changed
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
