import APIContract
import Crypto
import EMV
import Foundation
import Participants
import Vault

/// A card an issuer pushed from its own app ("Add to wallet"), waiting for the wallet to
/// redeem it on the cardholder's device. The receipt the issuer got is a bearer secret:
/// only its SHA-256 is kept.
public struct PushReceipt: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case issued, redeemed }
    /// SHA-256 of the receipt (hex).
    public var id: String
    public var issuerID: String
    public var walletID: String
    public var cardID: String
    public var maskedPAN: String
    /// The card product covering the card, when the issuer has one for it.
    public var cardProfileID: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var state: State
    public var deviceID: String?
    public var tokenID: String?
    public var redeemedAt: Date?
}

/// Push provisioning (the issuer's app adds the card; the bank has authenticated its
/// cardholder): the issuer seals the card to the token service's HPKE key and gets a
/// receipt, valid for `pushReceiptLifetime` and good once; the wallet redeems it on a
/// device, and the token is made on the green path, bound to that device.
extension TokenService {
    public static let pushReceiptLifetime: TimeInterval = 600
    static let pushKeyName = "push-provisioning/p256"

    /// The token service's push-provisioning key pair: made once (by whichever node asks
    /// first), kept sealed by the vault, opened once per process.
    func pushPrivateKey() async throws -> P256.KeyAgreement.PrivateKey {
        if let key = openedPushKey.withLock({ $0 }) { return key }
        var sealed = try await store.sealedSecret(name: Self.pushKeyName)
        if sealed == nil {
            let fresh = vault.sealSecret(Array(P256.KeyAgreement.PrivateKey().rawRepresentation), context: Self.pushKeyName)
            sealed = try await store.saveSecretIfAbsent(name: Self.pushKeyName, sealed: fresh) ? fresh : try await store.sealedSecret(name: Self.pushKeyName)
        }
        guard let sealed else { throw ServiceError.notFound("push-provisioning key") }
        let key = try P256.KeyAgreement.PrivateKey(rawRepresentation: try vault.openSecret(sealed, context: Self.pushKeyName))
        openedPushKey.withLock { $0 = key }
        return key
    }

    public func pushKey() async throws -> PushKeyView {
        let key = try await pushPrivateKey().publicKey
        return PushKeyView(keyID: PushCard.keyID(key), publicKey: key.x963Representation.base64EncodedString())
    }

    /// Opens the sealed card, checks it is the issuer's and its wallet is enabled, keeps
    /// the card in the vault and a receipt for it. Returns the receipt (shown once).
    public func issuePushReceipt(issuer: Issuer, wallet: Wallet, request: PushReceiptRequest) async throws -> PushReceiptView {
        let key = try await pushPrivateKey()
        guard request.keyID.uppercased() == PushCard.keyID(key.publicKey) else {
            throw ServiceError.invalid(field: "keyID", reason: "not the token service's key: fetch it again (GET /v1/push-provisioning/key)")
        }
        guard let encapsulated = Data(base64Encoded: request.encapsulatedKey), encapsulated.count == 65 else {
            throw ServiceError.invalid(field: "encapsulatedKey", reason: "base64 of 65 bytes (a P-256 point, X9.63 uncompressed)")
        }
        guard let ciphertext = Data(base64Encoded: request.ciphertext), (16...4096).contains(ciphertext.count) else {
            throw ServiceError.invalid(field: "ciphertext", reason: "base64 of 16 to 4096 bytes")
        }
        let opened: Data
        do {
            var recipient = try HPKE.Recipient(privateKey: key, ciphersuite: PushCard.ciphersuite, info: PushCard.info, encapsulatedKey: encapsulated)
            opened = try recipient.open(ciphertext, authenticating: PushCard.associatedData(issuerID: issuer.id, walletID: wallet.id))
        } catch {
            throw ServiceError.invalid(field: "ciphertext", reason: "does not open with the token service's key for this issuer and wallet "
                                       + "(altered, or sealed for another key, issuer or wallet)")
        }
        guard let card = try? JSONDecoder().decode(PushCard.self, from: opened) else {
            throw ServiceError.invalid(field: "ciphertext", reason: "the sealed card is not the JSON object {pan, expiry}")
        }
        let pan: PAN
        do { pan = try PAN(card.pan) } catch { throw ServiceError.invalid(field: "pan", reason: "\(error)") }
        guard issuer.owns(cardNumber: pan.digits) else { throw ServiceError.invalid(field: "pan", reason: "not in \(issuer.id)'s card ranges") }
        let expiry = try Validate.expiry(card.expiry, now: now())
        guard issuer.enabledWallets.contains(wallet.id) else {
            throw ServiceError.ineligible(code: "wallet_not_enabled", reason: "\(issuer.name) has not enabled \(wallet.name)")
        }
        let vaultCard = try await vaultCard(for: pan, expiry: expiry, issuer: issuer)
        try await store.saveCard(vaultCard)
        readCache.clear()
        let receipt = "pr_" + SecureRandom.alphanumeric(32)
        let at = now()
        let record = PushReceipt(id: Self.receiptID(receipt), issuerID: issuer.id, walletID: wallet.id, cardID: vaultCard.id, maskedPAN: pan.masked,
                                 cardProfileID: issuer.cardProfile(forCard: pan.digits)?.id, createdAt: at, expiresAt: at.addingTimeInterval(Self.pushReceiptLifetime), state: .issued)
        try await store.savePushReceipt(record)
        return PushReceiptView(receipt: receipt, walletID: wallet.id, maskedPAN: pan.masked, expiresAt: record.expiresAt)
    }

    /// The receipt's record for `wallet`: not found alike when absent and when another
    /// wallet's.
    public func pushReceipt(_ receipt: String, walletID: String) async throws -> PushReceipt {
        guard receipt.count <= 64, let record = try await store.pushReceipt(id: Self.receiptID(receipt)), record.walletID == walletID else {
            throw ServiceError.notFound("push receipt")
        }
        return record
    }

    /// The wallet redeems a receipt on `device`: once, before it expires; the token is
    /// made there on the green path. A redemption that fails to make the token leaves the
    /// receipt good.
    public func redeemPushReceipt(_ receipt: String, wallet: Wallet, device: DeviceBinding, terms: TermsAcceptance?) async throws -> (Token, SealedProvisioning) {
        let read = try await pushReceipt(receipt, walletID: wallet.id)
        guard read.state == .issued else {
            throw ServiceError.ineligible(code: "receipt_used", reason: "this push receipt was redeemed already; the bank's app can push the card again")
        }
        guard now() <= read.expiresAt else {
            throw ServiceError.ineligible(code: "receipt_expired", reason: "this push receipt expired; the bank's app can push the card again")
        }
        guard let card = try await store.card(id: read.cardID), let issuer = try await participants.issuer(id: read.issuerID) else {
            throw ServiceError.notFound("push receipt")
        }
        var redeemed = read
        redeemed.state = .redeemed
        redeemed.deviceID = device.id
        redeemed.redeemedAt = now()
        // Conditional on the receipt as read: two redemptions at once (on any node) make one token.
        guard try await store.replacePushReceipt(redeemed, before: read) else {
            throw ServiceError.ineligible(code: "receipt_used", reason: "this push receipt was redeemed already; the bank's app can push the card again")
        }
        do {
            let (token, sealed) = try await createToken(card: card, issuer: issuer, wallet: wallet, device: device,
                                                        actor: Participant.issuer(issuer.id).actor, reason: "push provisioning from \(issuer.id)'s app",
                                                        terms: terms)
            var done = redeemed
            done.tokenID = token.id
            _ = try? await store.replacePushReceipt(done, before: redeemed)
            return (token, sealed)
        } catch {
            _ = try? await store.replacePushReceipt(read, before: redeemed)
            throw error
        }
    }

    static func receiptID(_ receipt: String) -> String { Hex.encode(Array(SHA256.hash(data: Array(receipt.utf8)))) }
}
