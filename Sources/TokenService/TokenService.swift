import Crypto
import EMV
import Foundation
import IssuerContract
import Participants
import Synchronization
import Vault

/// The token service provider (TSP): the vault, ID&V with the issuer, token creation and
/// key delivery, the token lifecycle, and the one call per authorization the network
/// makes (`NetworkTokenService`). It knows nothing of HTTP or devices beyond their
/// `DeviceBinding`; its store is its own.
///
/// The operations live in files by flow: `Tokenization.swift` (a card becomes a token),
/// `KeyDelivery.swift` (single-use keys), `Lifecycle.swift` (suspend, resume, delete,
/// renew, markets) and `NetworkInterface.swift` (the network's checks).
public final class TokenService: Sendable {
    let store: any TokenStore
    let participants: ParticipantRegistry
    let vault: CardVault
    let issuerHost: any IssuerHostClient
    let now: @Sendable () -> Date
    let openedMasterKeys = Mutex<[String: IssuerMasterKey]>([:])
    let openedPushKey = Mutex<P256.KeyAgreement.PrivateKey?>(nil)
    /// Tokens changed per transaction when a market is suspended or lifted.
    let marketBatch: Int
    /// Each token's card master key (EMV Option A or C from the issuer master key of its
    /// profile and the token number), derived on first use: neither input changes for a
    /// token id. Kept in this process's memory like the issuer master keys it comes from;
    /// bounded.
    let cardMasterKeys = Mutex<[String: CardMasterKey]>([:])
    static let cardMasterKeysCapacity = 20_000
    /// Tokens and cards as the authorization path last read them: emptied by every change
    /// made through this service, and never older than `readCache.maxAge` (a change made
    /// through another node is seen within that bound).
    let readCache: ReadCache
    /// How token notifications to issuer hosts are retried (`IssuerNotifier`).
    let noticePolicy: RetryPolicy
    /// Signalled when a notice was written through this process: the notifier delivers it at once.
    let noticeWritten = Wakeup()

    /// Keys delivered per provisioning or replenishment.
    public static let keyBatchSize = 10
    /// One-time codes: lifetime and attempts.
    public static let codeLifetime: Duration = .seconds(600)
    public static let codeAttempts = 3
    /// Token validity from issuance.
    public static let tokenLifetimeYears = 3

    /// `readCacheMaxAge`: how old a cached token or card may be on the authorization path.
    /// With several nodes on one database it bounds how late a change made through another
    /// node is seen (1 s, the stated bound); with SQLite every change goes through this
    /// process and empties the cache, so the age only bounds memory of rarely used records.
    public init(store: any TokenStore, participants: ParticipantRegistry, vault: CardVault, issuerHost: any IssuerHostClient,
                readCacheMaxAge: Duration = .seconds(1), noticePolicy: RetryPolicy = .standard, marketBatch: Int = 2_000,
                now: @escaping @Sendable () -> Date = Date.init) {
        self.readCache = ReadCache(maxAge: readCacheMaxAge)
        self.marketBatch = max(marketBatch, 1)
        self.noticePolicy = noticePolicy
        self.store = store
        self.participants = participants
        self.vault = vault
        self.issuerHost = issuerHost
        self.now = now
    }

    /// Opens the vault with the store's data key, creating and storing one on first use.
    public static func openVault(master: MasterKey, store: any TokenStore) async throws -> CardVault {
        if let wrapped = try await store.wrappedDataKey() {
            return try CardVault(master: master, wrappedDataKey: wrapped, wrappedFingerprintKey: try await store.wrappedFingerprintKey())
        }
        let vault = try CardVault(master: master, wrappedDataKey: nil)
        do {
            try await store.saveWrappedDataKey(vault.wrappedDataKey)
        } catch StoreError.duplicate {
            // Another node created the data key a moment ago: use that one.
            guard let wrapped = try await store.wrappedDataKey() else { throw StoreError.notFound("data key") }
            return try CardVault(master: master, wrappedDataKey: wrapped, wrappedFingerprintKey: try await store.wrappedFingerprintKey())
        }
        return vault
    }

    /// A master key rotation without downtime: the vault's data key and fingerprint key,
    /// opened with `current`, are stored wrapped under `next`. Nothing sealed or
    /// fingerprinted changes, and running nodes keep the keys they hold; each opens the
    /// vault with `next` from its next start. Returns the new key's check value.
    public static func rotateMasterKey(store: any TokenStore, from current: MasterKey, to next: MasterKey) async throws -> String {
        guard let wrapped = try await store.wrappedDataKey() else { throw StoreError.notFound("data key: the vault was never opened") }
        let vault = try CardVault(master: current, wrappedDataKey: wrapped, wrappedFingerprintKey: try await store.wrappedFingerprintKey())
        let rewrapped = try vault.wrapped(under: next)
        guard try await store.replaceWrappedKeys(expected: wrapped, dataKey: rewrapped.dataKey, fingerprintKey: rewrapped.fingerprintKey) else {
            throw StoreError.conflict("the data key changed during the rotation; run it again")
        }
        return next.checkValue
    }

    // MARK: Issuer master keys

    /// Creates the issuer's master key for its token ranges in its profile (kept sealed)
    /// unless it has one, and keeps its host's signing key (`hostKey`) sealed: called when
    /// the issuer is onboarded, and again, harmlessly, at any time.
    public func prepareIssuer(_ issuer: Issuer) async throws {
        _ = try await issuerMasterKey(issuer.id, profile: issuer.profile, creating: true)
        if let hostKey = issuer.hostKey { try await setIssuerHostKey(issuerID: issuer.id, hex: hostKey) }
    }
    /// Replaces the key of the issuer's host (a rotation: the bank's host made a new one).
    public func setIssuerHostKey(issuerID: String, hex: String) async throws {
        try Validate.hostKey(hex)
        guard let key = RequestSignature.key(hex: hex) else { throw ServiceError.invalid(field: "hostKey", reason: "64 hex digits") }
        let sealed = key.withUnsafeBytes { vault.sealSecret(Array($0), context: Self.hostKeyContext(issuerID)) }
        try await store.saveIssuerHostKey(issuerID: issuerID, sealed: sealed)
    }

    /// Where and with which key to call the issuer's host. Read from the store on every
    /// call (ID&V and notifications are rare), so a rotation through any node holds at once.
    func hostEndpoint(_ issuer: Issuer) async throws -> IssuerHostEndpoint {
        guard let sealed = try await store.sealedIssuerHostKey(issuerID: issuer.id) else {
            throw ServiceError.issuerUnavailable("\(issuer.id) has no host key: the operator sets it with PUT /v1/issuers/\(issuer.id)/host-key")
        }
        let key = SymmetricKey(data: try vault.openSecret(sealed, context: Self.hostKeyContext(issuer.id)))
        return IssuerHostEndpoint(issuerID: issuer.id, url: issuer.hostURL, key: key)
    }

    static func hostKeyContext(_ issuerID: String) -> String { "ihk/\(issuerID)" }

    /// The issuer's master key of one profile: 16 random bytes, made when first needed and
    /// kept sealed. A TDES key is stored under the issuer's id (as before profiles), an SM4
    /// key under `id/sm4`, so each token finds the key of the profile it was made with.
    func issuerMasterKey(_ issuerID: String, profile: CryptogramProfile, creating: Bool = false) async throws -> IssuerMasterKey {
        let name = Self.masterKeyName(issuerID, profile)
        // Opened once per process: issuer master keys do not change once made (no rotation
        // yet), and every authorization needs one.
        if let key = openedMasterKeys.withLock({ $0[name] }) { return key }
        var sealed = try await store.sealedIssuerMasterKey(issuerID: name)
        if sealed == nil, creating {
            var imk = [UInt8](repeating: 0, count: 16)
            for i in imk.indices { imk[i] = UInt8.random(in: 0...255) }
            if profile == .tdes { imk = adjustingOddParity(imk) }
            let fresh = vault.sealSecret(imk, context: Self.masterKeyContext(name))
            // Two nodes may create one at once: the first stored is the key, for both.
            sealed = try await store.saveIssuerMasterKey(issuerID: name, sealed: fresh) ? fresh
                : try await store.sealedIssuerMasterKey(issuerID: name)
        }
        guard let sealed else { throw ServiceError.notFound("issuer master key of \(issuerID) (\(profile.rawValue))") }
        let key = try IssuerMasterKey(profile: profile, bytes: try vault.openSecret(sealed, context: Self.masterKeyContext(name)))
        openedMasterKeys.withLock { $0[name] = key }
        return key
    }

    static func masterKeyName(_ issuerID: String, _ profile: CryptogramProfile) -> String {
        profile == .tdes ? issuerID : issuerID + "/" + profile.rawValue
    }

    static func masterKeyContext(_ name: String) -> String { "imk/\(name)" }

    // MARK: Caches

    /// Forgets what the authorization path has cached: another node changed tokens,
    /// cards or issuers (PostgreSQL notifies; the cache's age bounds it otherwise).
    public func invalidateCaches() {
        readCache.clear()
    }

    /// The token a number names, found by its fingerprint. Served from a short-lived
    /// cache on the authorization path (see `ReadCache`).
    public func token(number: PAN) async throws -> Token? {
        let fingerprint = vault.fingerprint(number)
        if let token = readCache.token(fingerprint, now: now()) { return token }
        let generation = readCache.generation
        guard let token = try await store.token(numberFingerprint: fingerprint) else { return nil }
        readCache.put(token, now: now(), readIn: generation)
        return token
    }

    /// The clear token number, for key derivation and the device.
    public func tokenNumber(_ token: Token) throws -> PAN {
        try vault.open(token.sealedNumber, context: token.id)
    }

    /// The card behind a token: its number (for the issuer only) and the vault record
    /// (expiry, issuer, masked number).
    public func detokenize(_ token: Token) async throws -> (pan: PAN, card: VaultCard) {
        let card: VaultCard
        if let cached = readCache.card(token.cardID, now: now()) { card = cached } else {
            let generation = readCache.generation
            guard let stored = try await store.card(id: token.cardID) else { throw ServiceError.notFound("card of token \(token.id)") }
            readCache.put(stored, now: now(), readIn: generation)
            card = stored
        }
        return (try vault.open(card.sealedPAN, context: card.id), card)
    }

    // MARK: Shared by the flows

    /// A token's next `updatedAt`: now, but always later than the one it replaces, since
    /// it is the version that conditional updates compare.
    static func version(_ now: Date, after previous: Date) -> Date {
        let next = previous.storeMilliseconds + 1
        return now.storeMilliseconds >= next ? now : Date(timeIntervalSince1970: Double(next) / 1000)
    }

    /// Runs `operation` again (from its reads) when another request changed what it read;
    /// a conflict that persists is a 409.
    func retryingOnConflict<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        for attempt in 0..<8 {
            do { return try await operation() } catch StoreError.conflict {
                readCache.clear()
                // Contenders spread out (random, growing) so that one of them wins each round.
                try await Task.sleep(for: .microseconds(Int.random(in: 0...(500 << attempt))))
            }
        }
        throw ServiceError.conflict("changed by another request at the same time; try again")
    }
}
