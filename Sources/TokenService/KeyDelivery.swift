import APIContract
import Crypto
import EMV
import Foundation
import Participants

/// Single-use keys to devices (DESIGN.md "adding a card", step 5): the next batch when a
/// device runs low, and bulk provisioning for load tests and migrations.
extension TokenService {
    /// The device asks for the next batch of single-use keys of one of its tokens.
    public func replenish(tokenID: String, walletID: String, device: DeviceBinding) async throws -> SealedProvisioning {
        try await retryingOnConflict { try await self.replenishOnce(tokenID: tokenID, walletID: walletID, device: device) }
    }

    func replenishOnce(tokenID: String, walletID: String, device: DeviceBinding) async throws -> SealedProvisioning {
        var token = try await token(id: tokenID, for: .wallet(walletID))
        let before = token
        guard token.status == .active else { throw ServiceError.conflict("token is \(token.status.rawValue); keys are only given to active tokens") }
        guard device.id == token.deviceID else { throw ServiceError.notFound("token \(tokenID)") }
        guard Int(token.nextATC) + Self.keyBatchSize <= Int(UInt16.max) else { throw ServiceError.conflict("the token's ATC range is used up") }
        let first = token.nextATC
        token.nextATC = first + UInt16(Self.keyBatchSize)
        token.updatedAt = Self.version(now(), after: before.updatedAt)
        token.delivered(from: first, at: token.updatedAt)
        // Conditional on the token as read: two replenishments at once never hand out one ATC range twice.
        try await store.updateTokens([TokenChange(before: before, after: token)],
                                     audit: [AuditEvent(tokenID: token.id, at: token.updatedAt, actor: Participant.wallet(walletID).actor,
                                                        event: .replenish, from: nil, to: nil, reason: "keys for ATC \(first)…\(token.nextATC - 1)")],
                                     notices: [])
        readCache.clear()
        let payload = try Self.payload(token: token, number: try tokenNumber(token), imk: try await issuerMasterKey(token.issuerID, profile: token.profile),
                                       firstATC: first, count: Self.keyBatchSize)
        return try SealedProvisioning.seal(payload, to: device.publicKey)
    }

    /// A card for bulk provisioning: number and expiry as printed (MM/YY).
    public struct BulkCard: Sendable {
        public var pan: String
        public var expiry: String
        public init(pan: String, expiry: String) { self.pan = pan; self.expiry = expiry }
    }

    public static let bulkLimit = 1000
    public static let bulkKeysLimit = 1000

    /// Bulk provisioning, for load tests and migrations: the network operator puts many
    /// cards of one issuer onto one device in one transaction, without ID&V (the operator
    /// vouches for them; each token's audit says so). `keys` single-use keys per token.
    public func bulkProvision(issuer: Issuer, wallet: Wallet, device: DeviceBinding, cards: [BulkCard], keys: Int) async throws -> [SealedProvisioning] {
        guard (1...Self.bulkLimit).contains(cards.count) else { throw ServiceError.invalid(field: "cards", reason: "1 to \(Self.bulkLimit) cards") }
        guard (1...Self.bulkKeysLimit).contains(keys) else { throw ServiceError.invalid(field: "keysPerToken", reason: "1 to \(Self.bulkKeysLimit)") }
        guard issuer.enabledWallets.contains(wallet.id) else {
            throw ServiceError.ineligible(code: "wallet_not_enabled", reason: "\(issuer.name) has not enabled \(wallet.name)")
        }
        let imk = try await issuerMasterKey(issuer.id, profile: issuer.profile, creating: true)
        let at = now()
        var checked: [(pan: PAN, fingerprint: String, expiry: String)] = []
        var seen = Set<String>()
        for (i, bulk) in cards.enumerated() {
            let pan: PAN
            do { pan = try PAN(bulk.pan) } catch { throw ServiceError.invalid(field: "cards[\(i)].pan", reason: "\(error)") }
            guard issuer.owns(cardNumber: pan.digits) else {
                throw ServiceError.invalid(field: "cards[\(i)].pan", reason: "not in \(issuer.id)'s card ranges")
            }
            guard seen.insert(pan.digits).inserted else { throw ServiceError.invalid(field: "cards[\(i)].pan", reason: "listed twice") }
            checked.append((pan, vault.fingerprint(pan), try Validate.expiry(bulk.expiry, now: at)))
        }
        // The cards already in the vault, in one query for the batch.
        let known = try await store.cards(fingerprints: checked.map(\.fingerprint))
        let vaultCards = checked.map { card in
            vaultCard(for: card.pan, fingerprint: card.fingerprint, expiry: card.expiry, issuer: issuer, existing: known[card.fingerprint])
        }
        // Token numbers are drawn at random. When one is already taken the transaction
        // fails; the taken ones (and only those) are drawn again.
        var drawn = Set<String>()
        func draw(for card: VaultCard) throws -> (token: Token, card: VaultCard, audit: AuditEvent, number: PAN) {
            var draft: (token: Token, number: PAN)
            repeat {
                draft = try draftToken(card: card, issuer: issuer, wallet: wallet, device: device, keys: keys, at: at)
            } while !drawn.insert(draft.number.digits).inserted
            return (draft.token, card, AuditEvent(tokenID: draft.token.id, at: at, actor: Participant.network.actor, event: .create, from: nil,
                                                  to: .active, reason: "bulk provisioning by the network operator"), draft.number)
        }
        var drafts = try vaultCards.map(draw)
        for attempt in 1...10 {
            do {
                try await store.createTokens(drafts.map { ($0.token, $0.card, $0.audit) })
                break
            } catch StoreError.duplicate {
                if attempt == 10 { throw ServiceError.conflict("token range of \(issuer.id) is too full to draw \(cards.count) new numbers") }
                for i in drafts.indices where try await store.token(numberFingerprint: drafts[i].token.numberFingerprint) != nil {
                    drafts[i] = try draw(for: drafts[i].card)
                }
            }
        }
        // The keys and sealing are CPU work: split over the cores, one key agreement per part.
        let publicKey = device.publicKey
        let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, drafts.count / 50))
        let size = (drafts.count + parts - 1) / parts
        let work = drafts.map { (token: $0.token, number: $0.number) }
        return try await withThrowingTaskGroup(of: (Int, [SealedProvisioning]).self) { group in
            for start in stride(from: 0, to: work.count, by: size) {
                let part = Array(work[start..<min(start + size, work.count)])
                group.addTask {
                    let payloads = try part.map { try Self.payload(token: $0.token, number: $0.number, imk: imk, firstATC: 1, count: keys) }
                    return (start, try SealedProvisioning.seal(payloads, to: publicKey))
                }
            }
            var sealed: [(Int, [SealedProvisioning])] = []
            for try await part in group { sealed.append(part) }
            return sealed.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }
}
