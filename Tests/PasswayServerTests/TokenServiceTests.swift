import Crypto
import EMV
import Foundation
import Storage
import Testing
@testable import TokenService
import Vault
import Wallet

/// The token service without HTTP: a real SQLite store in a temporary file, and an
/// issuer host that always answers green.
@Suite struct TokenServiceTests {
    struct GreenIssuer: IssuerHostClient {
        func authorize(_ request: IDVRequest, issuer: Issuer) async throws -> IDVDecision { IDVDecision(decision: .green) }
        func deliverActivationCode(_ delivery: ActivationCodeDelivery, issuer: Issuer) async throws {}
        func notifyTokenUpdated(_ n: TokenNotification, issuer: Issuer) async throws {}
    }

    func makeService() async throws -> (TokenService, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ts-\(UUID().uuidString).sqlite").path
        let store = try SQLiteStore(path: path)
        let vault = try await TokenService.openVault(master: MasterKey.generate(), store: store)
        let service = TokenService(store: store, vault: vault, issuerHost: GreenIssuer())
        try await service.seedDefaults()
        try await service.createWallet(Wallet(id: "wallet-1", name: "W", tokenRequestorID: "40010075001"))
        try await service.onboardIssuer(Issuer(id: "bank", name: "Bank", country: "RU", currency: "RUB", cardRanges: ["220070"],
                                               tokenRanges: ["22017199"], enabledWallets: ["wallet-1"], hostURL: "http://127.0.0.1:1"))
        return (service, path)
    }

    /// A phone registered with `wallet-1` and the card enrolled on it (green path).
    func enroll(_ pan: String, with service: TokenService) async throws -> (phone: DeviceWallet, outcome: TokenService.EnrollmentOutcome) {
        var phone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: "RU")
        let device = try await service.registerDevice(walletID: "wallet-1", modelID: phone.modelID, osVersion: "14", country: "RU", publicKey: try phone.publicKey)
        phone.deviceID = device.id
        let outcome = try await service.enroll(walletID: "wallet-1", .init(deviceID: device.id, pan: pan, expiry: "12/29", cvv2: nil, riskScore: 0))
        return (phone, outcome)
    }

    @Test func renewalKeepsTheTokenAndDetokenizesToTheNewCard() async throws {
        let (service, path) = try await makeService()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let old = cardNumber("220070", seed: 5), new = cardNumber("220070", seed: 6)
        var (phone, enrolled) = try await enroll(old, with: service)
        guard case .approved(let token, let sealed) = enrolled else { Issue.record("not approved"); return }
        let received = try phone.receive(sealed)
        #expect(try await service.detokenize(token).digits == old)
        // The network finds the token by its number's fingerprint, never by the number.
        #expect(try await service.token(number: PAN(received.tokenNumber))?.id == token.id)
        _ = try await service.renewCard(issuerID: "bank", pan: old, newPAN: new, newExpiry: "3112")
        let after = try await service.token(id: token.id, for: .wallet("wallet-1"))
        #expect(try service.tokenNumber(after).digits == received.tokenNumber)
        #expect(try await service.detokenize(after).digits == new)
        #expect(received.keys.count == TokenService.keyBatchSize)
    }

    /// Ids and keys: the asked length, only letters and digits, and every symbol about
    /// equally often (a modulo bias would give the first symbols a quarter more).
    @Test(arguments: [false, true])
    func randomIdsAreUniformOverTheirAlphabet(uppercase: Bool) {
        let alphabet = Set(uppercase ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var counts: [Character: Int] = [:]
        for _ in 0..<10_000 {
            let id = randomAlphanumeric(20, uppercase: uppercase)
            #expect(id.count == 20)
            for c in id { counts[c, default: 0] += 1 }
        }
        #expect(Set(counts.keys) == alphabet)
        let expected = 200_000 / Double(alphabet.count)
        for (c, n) in counts { #expect(abs(Double(n) - expected) < expected * 0.15, "\(c): \(n), expected about \(Int(expected))") }
    }

    /// The read cache never keeps a record read before a change that emptied it: the
    /// authorization that read an active token just before a suspension committed must not
    /// put it back for the next ones (with SQLite the cache lives up to a minute).
    @Test func aRecordReadBeforeAChangeIsNotCachedAfterIt() async throws {
        let (service, path) = try await makeService()
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard case .approved(let token, _) = try await enroll(cardNumber("220070", seed: 7), with: service).outcome else {
            Issue.record("not approved"); return
        }
        let cache = ReadCache(maxAge: 60)
        let now = Date()
        let readBefore = cache.generation
        cache.clear()  // a change committed meanwhile
        cache.put(token, now: now, readIn: readBefore)
        #expect(cache.token(token.numberFingerprint, now: now) == nil, "read before the change: not kept")
        cache.put(token, now: now, readIn: cache.generation)
        #expect(cache.token(token.numberFingerprint, now: now) == token)
        #expect(cache.token(token.numberFingerprint, now: now + 59) == token)
        #expect(cache.token(token.numberFingerprint, now: now + 60) == nil, "never older than its age")
    }

    /// Two nodes replenishing one token at the same moment: each hands out its own ATC
    /// range (a conditional write on the token as read; the loser reads again).
    @Test(arguments: Backend.available)
    func replenishmentsAtOnceHandOutDisjointRanges(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let master = MasterKey.generate()
        let a = TokenService(store: s.store, vault: try await TokenService.openVault(master: master, store: s.store), issuerHost: GreenIssuer())
        try await a.seedDefaults()
        try await a.createWallet(Wallet(id: "wallet-1", name: "W", tokenRequestorID: "40010075001"))
        try await a.onboardIssuer(Issuer(id: "bank", name: "Bank", country: "RU", currency: "RUB", cardRanges: ["220070"],
                                         tokenRanges: ["22017199"], enabledWallets: ["wallet-1"], hostURL: "http://127.0.0.1:1"))
        let other = try await s.openAnother()
        let b = TokenService(store: other, vault: try await TokenService.openVault(master: master, store: other), issuerHost: GreenIssuer())
        var phone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: "RU")
        let device = try await a.registerDevice(walletID: "wallet-1", modelID: phone.modelID, osVersion: "14", country: "RU", publicKey: try phone.publicKey)
        phone.deviceID = device.id
        guard case .approved(let token, _) = try await a.enroll(walletID: "wallet-1", .init(deviceID: device.id, pan: cardNumber("220070", seed: 9),
                                                                                            expiry: "12/29", cvv2: nil, riskScore: 0)) else {
            Issue.record("not approved"); return
        }
        let sealed = try await withThrowingTaskGroup(of: SealedProvisioning.self) { group in
            for i in 0..<6 { group.addTask { try await (i % 2 == 0 ? a : b).replenish(tokenID: token.id, walletID: "wallet-1") } }
            return try await group.reduce(into: [SealedProvisioning]()) { $0.append($1) }
        }
        // The device keeps what each provisioning gave it: six ranges of ten, none shared.
        for s in sealed { _ = try phone.receive(s) }
        let atcs = try #require(phone.tokens.first { $0.tokenID == token.id }).keys.map(\.atc)
        #expect(Set(atcs).count == 6 * TokenService.keyBatchSize, "no ATC handed out twice")
        #expect(try await a.token(id: token.id, for: .wallet("wallet-1")).nextATC == UInt16(1 + 7 * TokenService.keyBatchSize))
    }

    /// A bulk batch shares one ephemeral key (one key agreement), yet each provisioning
    /// opens on its own, under a key of its own: one cannot be opened as another.
    @Test func aBatchSealedUnderOneEphemeralKeyOpensOneByOne() throws {
        var phone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: "RU")
        let devicePublic = try P256.KeyAgreement.PublicKey(x963Representation: Data(base64Encoded: try phone.publicKey)!)
        let payloads = (1...3).map { n in
            ProvisioningPayload(tokenID: "tok_\(n)", tokenNumber: cardNumber("22017199", seed: n), expiry: "2912", panSequenceNumber: "00",
                                par: String(repeating: "P", count: 29), tokenRequestorID: "40010075001",
                                keys: [.init(atc: 1, key: String(repeating: "0\(n)", count: 16))])
        }
        let sealed = try SealedProvisioning.seal(payloads, to: devicePublic)
        #expect(Set(sealed.map(\.ephemeralPublicKey)).count == 1)
        #expect(try sealed.map { try phone.receive($0).tokenNumber } == payloads.map(\.tokenNumber))
        var swapped = sealed[0]
        swapped.tokenID = sealed[1].tokenID
        #expect(throws: (any Error).self) { try phone.receive(swapped) }
        phone.tokens.removeAll()
        #expect(try phone.receive(all: sealed).map(\.tokenID) == ["tok_1", "tok_2", "tok_3"])
    }

    /// Who may resume whose suspension, as one table.
    @Test(arguments: [
        (Actor.Kind.wallet, Actor.Kind.wallet, true), (.wallet, .issuer, false), (.wallet, .network, false),
        (.issuer, .wallet, true), (.issuer, .issuer, true), (.issuer, .network, false),
        (.network, .wallet, false), (.network, .issuer, false), (.network, .network, true),
    ])
    func resumeRule(who: Actor.Kind, suspendedBy: Actor.Kind, allowed: Bool) {
        #expect(TokenService.mayResume(who, suspendedBy: suspendedBy) == allowed)
    }
}
