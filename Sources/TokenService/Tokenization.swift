import APIContract
import Crypto
import EMV
import Foundation
import IssuerContract
import Participants
import Vault

/// A card becomes a token (DESIGN.md "Data flow: adding a card", steps 3 to 5): the
/// issuer decides ID&V, and on green (or a correct one-time code on yellow) the token is
/// created and its profile and first keys are sealed to the device.
extension TokenService {
    /// What the wallet provider asks for once the card is eligible: a token for this card
    /// on this device. The card number, expiry and security code are checked for form
    /// by the caller.
    public struct TokenRequest: Sendable {
        public var pan: PAN
        /// YYMM.
        public var expiry: String
        public var cvv2: String?
        /// The wallet's risk assessment, 0 to 99.
        public var riskScore: Int
        public var issuer: Issuer
        public var wallet: Wallet
        public var device: DeviceBinding
        /// The terms the cardholder accepted, when the card's product has terms.
        public var termsAcceptance: TermsAcceptance?
        /// The cardholder's language, for the bank's one-time code message.
        public var language: String?

        public init(pan: PAN, expiry: String, cvv2: String?, riskScore: Int, issuer: Issuer, wallet: Wallet, device: DeviceBinding,
                    termsAcceptance: TermsAcceptance? = nil, language: String? = nil) {
            self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.riskScore = riskScore
            self.issuer = issuer; self.wallet = wallet; self.device = device; self.termsAcceptance = termsAcceptance; self.language = language
        }
    }

    public enum TokenRequestOutcome: Sendable {
        case approved(Token, SealedProvisioning)
        case pendingVerification(PendingVerification, VerificationMethod)
        case declined(reason: String)
    }

    /// ID&V with the issuer, then a token (green) or a one-time code sent through the
    /// issuer (yellow), or a decline (red).
    public func requestToken(_ request: TokenRequest) async throws -> TokenRequestOutcome {
        let decision: IDVDecision
        let host = try await hostEndpoint(request.issuer)
        do {
            decision = try await issuerHost.authorize(IDVRequest(pan: request.pan.digits, expiry: request.expiry, cvv2: request.cvv2,
                                                                 walletID: request.wallet.id, tokenRequestorID: request.wallet.tokenRequestorID,
                                                                 deviceKind: request.device.kind, deviceModel: request.device.modelID,
                                                                 country: request.device.country, riskScore: request.riskScore),
                                                      at: host)
        } catch let error as ServiceError {
            throw error
        } catch {
            throw ServiceError.issuerUnavailable("\(error)")
        }
        let card = try await vaultCard(for: request.pan, expiry: request.expiry, issuer: request.issuer)
        switch decision.decision {
        case .red:
            return .declined(reason: decision.reason ?? "the issuer declined")
        case .green:
            let (token, sealed) = try await createToken(card: card, issuer: request.issuer, wallet: request.wallet, device: request.device,
                                                        actor: Participant.wallet(request.wallet.id).actor, reason: "ID&V green",
                                                        terms: request.termsAcceptance)
            return .approved(token, sealed)
        case .yellow:
            guard let method = decision.methods.first else {
                return .declined(reason: "the issuer asked for verification but offered no way to reach the cardholder")
            }
            // Kept so that the verification can create the token; no token exists yet.
            try await store.saveCard(card)
            readCache.clear()
            let code = String(format: "%06d", Int.random(in: 0...999_999))
            let pendingID = "ver_" + SecureRandom.alphanumeric(20)
            let pending = PendingVerification(id: pendingID, walletID: request.wallet.id, deviceID: request.device.id, cardID: card.id,
                                              issuerID: request.issuer.id, codeHash: Self.codeHash(pendingID, code), method: method.id,
                                              attemptsLeft: Self.codeAttempts, expiresAt: now().addingTimeInterval(Self.codeLifetime / .seconds(1)),
                                              state: .pending, tokenID: nil, termsAcceptance: request.termsAcceptance)
            try await store.savePendingVerification(pending)
            do {
                try await issuerHost.deliverActivationCode(ActivationCodeDelivery(pan: request.pan.digits, methodID: method.id, code: code,
                                                                                  walletName: request.wallet.name, expiresAt: pending.expiresAt,
                                                                                  language: request.language),
                                                           at: host)
            } catch {
                throw ServiceError.issuerUnavailable("the activation code could not be delivered: \(error)")
            }
            return .pendingVerification(pending, method)
        }
    }

    /// The verification a wallet started, or not found (the same answer for "absent" and
    /// "another wallet's").
    public func pendingVerification(id: String, walletID: String) async throws -> PendingVerification {
        guard let pending = try await store.pendingVerification(id: id), pending.walletID == walletID else {
            throw ServiceError.notFound("verification \(id)")
        }
        return pending
    }

    /// The cardholder typed the code the bank sent: on the right one, the token is
    /// created on `device` (the one the verification was started on).
    public func verify(verificationID: String, walletID: String, code: String, device: DeviceBinding) async throws -> (Token, SealedProvisioning) {
        var pending = try await pendingVerification(id: verificationID, walletID: walletID)
        guard device.id == pending.deviceID else { throw ServiceError.notFound("verification \(verificationID)") }
        switch pending.state {
        case .approved: throw ServiceError.conflict("this verification already succeeded")
        case .failed, .expired: throw ServiceError.verificationFailed(reason: "this verification has ended; add the card again", attemptsLeft: 0)
        case .pending: break
        }
        let read = pending
        if now() > pending.expiresAt {
            pending.state = .expired
            _ = try await store.replacePendingVerification(pending, before: read)
            throw ServiceError.verificationFailed(reason: "the code has expired; add the card again", attemptsLeft: 0)
        }
        // Every attempt is a conditional write on the attempts left as read, so requests at
        // once (on any node) can neither guess more than the attempts nor both succeed.
        guard SecureRandom.constantTimeEquals(Self.codeHash(pending.id, code), pending.codeHash) else {
            pending.attemptsLeft -= 1
            if pending.attemptsLeft <= 0 { pending.state = .failed }
            guard try await store.replacePendingVerification(pending, before: read) else {
                return try await verify(verificationID: verificationID, walletID: walletID, code: code, device: device)
            }
            throw ServiceError.verificationFailed(reason: pending.attemptsLeft > 0 ? "wrong code" : "wrong code; no attempts left",
                                                  attemptsLeft: pending.attemptsLeft)
        }
        pending.state = .approved
        guard try await store.replacePendingVerification(pending, before: read) else {
            return try await verify(verificationID: verificationID, walletID: walletID, code: code, device: device)
        }
        do {
            return try await completeVerification(pending, device: device)
        } catch {
            // The token was not made: the verification may be completed again.
            var reopened = pending
            reopened.state = .pending
            _ = try? await store.replacePendingVerification(reopened, before: pending)
            throw error
        }
    }

    func completeVerification(_ verified: PendingVerification, device: DeviceBinding) async throws -> (Token, SealedProvisioning) {
        var pending = verified
        guard let card = try await store.card(id: pending.cardID), let issuer = try await participants.issuer(id: pending.issuerID),
              let wallet = try await participants.wallet(id: pending.walletID) else {
            throw ServiceError.notFound("card for verification \(pending.id)")
        }
        let (token, sealed) = try await createToken(card: card, issuer: issuer, wallet: wallet, device: device,
                                                    actor: Participant.wallet(wallet.id).actor, reason: "ID&V yellow",
                                                    terms: pending.termsAcceptance)
        pending.tokenID = token.id
        try await store.savePendingVerification(pending)
        return (token, sealed)
    }

    static func codeHash(_ id: String, _ code: String) -> String { Hex.encode(Array(SHA256.hash(data: Array("\(id):\(code)".utf8)))) }

    func vaultCard(for pan: PAN, expiry: String, issuer: Issuer) async throws -> VaultCard {
        let fingerprint = vault.fingerprint(pan)
        return vaultCard(for: pan, fingerprint: fingerprint, expiry: expiry, issuer: issuer, existing: try await store.card(fingerprint: fingerprint))
    }

    /// The vault's card for `pan` (`existing`, with the new expiry), or a new one sealed here.
    func vaultCard(for pan: PAN, fingerprint: String, expiry: String, issuer: Issuer, existing: VaultCard?) -> VaultCard {
        if var existing {
            existing.expiry = expiry
            return existing
        }
        let id = "card_" + SecureRandom.alphanumeric(20)
        return VaultCard(id: id, issuerID: issuer.id, fingerprint: fingerprint, sealedPAN: vault.seal(pan, context: id),
                         maskedPAN: pan.masked, expiry: expiry, par: Self.newPAR())
    }

    /// EMVCo Payment Account Reference: a 4-character BIN controller identifier and 25
    /// characters unique to the account.
    static func newPAR() -> String { "PW01" + SecureRandom.alphanumeric(25, uppercase: true) }

    func createToken(card: VaultCard, issuer: Issuer, wallet: Wallet, device: DeviceBinding,
                     actor: Actor, reason: String, terms: TermsAcceptance?) async throws -> (Token, SealedProvisioning) {
        let imk = try await issuerMasterKey(issuer.id, profile: issuer.profile, creating: true)
        let at = now()
        let reason = terms.map { reason + "; terms \($0.profileID) \($0.version) accepted on \($0.deviceID)" } ?? reason
        for _ in 0..<20 {
            var (token, number) = try draftToken(card: card, issuer: issuer, wallet: wallet, device: device, keys: Self.keyBatchSize, at: at)
            token.termsAcceptance = terms
            do {
                try await store.createToken(token, card: card, audit:
                    AuditEvent(tokenID: token.id, at: at, actor: actor, event: .create, from: nil, to: .active, reason: reason),
                                            notice: notice(token, .created, maskedPAN: card.maskedPAN, at: at))
            } catch StoreError.duplicate {
                continue // token number taken: draw another
            }
            let sealed = try SealedProvisioning.seal(Self.payload(token: token, number: number, imk: imk, firstATC: 1, count: Self.keyBatchSize),
                                                     to: device.publicKey)
            noticeWritten.signal()
            return (token, sealed)
        }
        throw ServiceError.conflict("token range of \(issuer.id) is exhausted")
    }

    /// A new active token for `card` on `device`, not yet stored: a random Luhn-valid
    /// number from one of the issuer's token ranges, sealed and fingerprinted, with
    /// `keys` single-use keys to be delivered.
    func draftToken(card: VaultCard, issuer: Issuer, wallet: Wallet, device: DeviceBinding, keys: Int, at: Date) throws -> (token: Token, number: PAN) {
        guard var digits = issuer.tokenRanges.randomElement() else { throw ServiceError.conflict("issuer \(issuer.id) has no token range") }
        while digits.count < 15 { digits.append(Character(String(Int.random(in: 0...9)))) }
        guard let check = Luhn.checkDigit(for: digits) else { throw ServiceError.conflict("token range of \(issuer.id) is not numeric") }
        digits.append(check)
        let number = try PAN(digits)
        let id = "tok_" + SecureRandom.alphanumeric(20)
        var token = Token(id: id, numberFingerprint: vault.fingerprint(number), sealedNumber: vault.seal(number, context: id),
                          maskedNumber: number.masked, expiry: Self.tokenExpiry(from: at), cardID: card.id, issuerID: issuer.id,
                          walletID: wallet.id, tokenRequestorID: wallet.tokenRequestorID, deviceID: device.id, country: device.country,
                          par: card.par, status: .active, suspendedBy: nil, suspensionReason: nil,
                          nextATC: UInt16(keys + 1), createdAt: at, updatedAt: at)
        token.delivered(from: 1, at: at)
        token.profile = issuer.profile
        return (token, number)
    }

    /// The token's profile and `count` single-use keys from `firstATC`.
    static func payload(token: Token, number: PAN, imk: IssuerMasterKey, firstATC: UInt16, count: Int) throws -> ProvisioningPayload {
        let keys = try LimitedUseKeys.derive(issuerMasterKey: imk, tokenNumber: number.digits, firstATC: firstATC, count: count)
        return ProvisioningPayload(tokenID: token.id, tokenNumber: number.digits, expiry: token.expiry, panSequenceNumber: "00",
                                   par: token.par, tokenRequestorID: token.tokenRequestorID, keys: keys,
                                   cryptogramProfile: token.profile == .tdes ? nil : token.profile.rawValue)
    }

    /// YYMM, `tokenLifetimeYears` from `date` (UTC).
    static func tokenExpiry(from date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let c = calendar.dateComponents([.year, .month], from: date)
        return String(format: "%02d%02d", ((c.year ?? 2000) + tokenLifetimeYears) % 100, c.month ?? 1)
    }
}
