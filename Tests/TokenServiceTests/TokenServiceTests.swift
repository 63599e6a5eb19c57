import APIContract
import Crypto
import EMV
import Foundation
import Participants
import Simulators
import Testing
import TestSupport
@testable import TokenService
import Vault

/// The token service without HTTP: a real SQLite store in a temporary file, and an
/// issuer host that always answers green (`SQLiteRooms`).
@Suite struct TokenServiceTests {
    @Test func renewalKeepsTheTokenAndDetokenizesToTheNewCard() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let service = f.rooms.tokens
        let old = cardNumber("220070", seed: 5), new = cardNumber("220070", seed: 6)
        var (phone, enrolled) = try await f.rooms.enroll(old)
        guard case .approved(let token, let sealed) = enrolled else { Issue.record("not approved"); return }
        let received = try phone.receive(sealed)
        #expect(try await service.detokenize(token).pan.digits == old)
        // The network finds the token by its number's fingerprint, never by the number.
        #expect(try await service.token(number: PAN(received.tokenNumber))?.id == token.id)
        _ = try await service.renewCard(issuerID: "bank", pan: old, newPAN: new, newExpiry: "3112")
        let after = try await service.token(id: token.id, for: .wallet("wallet-1"))
        #expect(try service.tokenNumber(after).digits == received.tokenNumber)
        #expect(try await service.detokenize(after).pan.digits == new)
        #expect(received.keys.count == TokenService.keyBatchSize)
    }

    /// The issuer's last stopping answer for a card reaches the network's routing at once
    /// (the cache emptied), is forgotten when recorded as nil, and a renewal forgets it too.
    @Test func theCardsIssuerStatusIsSeenAtOnceAndARenewalForgetsIt() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let service = f.rooms.tokens
        let pan = cardNumber("220070", seed: 8)
        var (phone, enrolled) = try await f.rooms.enroll(pan)
        guard case .approved(_, let sealed) = enrolled else { Issue.record("not approved"); return }
        let number = try PAN(try phone.receive(sealed).tokenNumber)
        let before = try #require(try await service.routing(forToken: number))
        #expect(before.issuerStatus == nil && !before.cardID.isEmpty)
        let lost = CardIssuerStatus(responseCode: "41", at: Date(timeIntervalSince1970: 1_790_000_000))
        try await service.recordIssuerStatus(cardID: before.cardID, lost)
        #expect(try await service.routing(forToken: number)?.issuerStatus == lost)
        try await service.recordIssuerStatus(cardID: before.cardID, nil)
        #expect(try await service.routing(forToken: number)?.issuerStatus == nil)
        try await service.recordIssuerStatus(cardID: before.cardID, lost)
        _ = try await service.renewCard(issuerID: "bank", pan: pan, newPAN: cardNumber("220070", seed: 9), newExpiry: "3112")
        #expect(try await service.routing(forToken: number)?.issuerStatus == nil, "a renewed card starts afresh")
    }

    /// The read cache never keeps a record read before a change that emptied it: the
    /// authorization that read an active token just before a suspension committed must not
    /// put it back for the next ones (with SQLite the cache lives up to a minute).
    @Test func aRecordReadBeforeAChangeIsNotCachedAfterIt() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        guard case .approved(let token, _) = try await f.rooms.enroll(cardNumber("220070", seed: 7)).outcome else {
            Issue.record("not approved"); return
        }
        let cache = ReadCache(maxAge: .seconds(60))
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
        let a = try await ServiceRooms.open(s.store, master: master)
        let b = try await ServiceRooms.open(try await s.openAnother(), master: master, onboard: false)
        var (phone, outcome) = try await a.enroll(cardNumber("220070", seed: 9))
        guard case .approved(let token, _) = outcome else { Issue.record("not approved"); return }
        let sealed = try await withThrowingTaskGroup(of: SealedProvisioning.self) { group in
            for i in 0..<6 { group.addTask { try await (i % 2 == 0 ? a : b).wallets.replenish(tokenID: token.id, walletID: ServiceRooms.walletID) } }
            return try await group.reduce(into: [SealedProvisioning]()) { $0.append($1) }
        }
        // The device keeps what each provisioning gave it: six ranges of ten, none shared.
        for s in sealed { _ = try phone.receive(s) }
        let atcs = try #require(phone.tokens.first { $0.tokenID == token.id }).keys.map(\.atc)
        #expect(Set(atcs).count == 6 * TokenService.keyBatchSize, "no ATC handed out twice")
        #expect(try await a.tokens.token(id: token.id, for: .wallet(ServiceRooms.walletID)).nextATC == UInt16(1 + 7 * TokenService.keyBatchSize))
    }

    /// A bulk batch shares one ephemeral key (one key agreement), yet each provisioning
    /// opens on its own, under a key of its own: one cannot be opened as another.
    @Test func aBatchSealedUnderOneEphemeralKeyOpensOneByOne() throws {
        var phone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: "RU")
        let devicePublic = try P256.KeyAgreement.PublicKey(x963Representation: try #require(Data(base64Encoded: try phone.publicKey)))
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

    /// Who may lift which suspension, as one table.
    @Test func liftRule() {
        let table: [(Actor.Kind, Set<Suspension.Kind>)] = [
            (.wallet, [.cardholder]), (.issuer, [.cardholder, .lostDevice, .issuer]), (.network, [.network]), (.acquirer, []),
        ]
        for (who, liftable) in table {
            #expect(Suspension.Kind.liftable(by: who) == liftable, "\(who)")
            #expect(!Suspension.Kind.liftable(by: who).contains(.market), "a market's suspension is lifted with the market only")
        }
    }

    /// A token stored before suspensions were kept apart reads as one suspension of the
    /// kind its maker and reason say.
    @Test func aTokenFromBeforeKeepsItsSuspensionAsOneOfItsKind() throws {
        func stored(_ kind: String, _ reason: String) -> Data {
            Data(#"{"id":"tok_1","numberFingerprint":"f","sealedNumber":"AA==","maskedNumber":"220171******0017","expiry":"2911","cardID":"c","issuerID":"bank","walletID":"w","tokenRequestorID":"40010075001","deviceID":"d","country":"RU","par":"P","status":"suspended","suspendedBy":{"kind":"\#(kind)","id":"x"},"suspensionReason":"\#(reason)","nextATC":11,"createdAt":0,"updatedAt":0}"#.utf8)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        for (kind, reason, expected) in [("network", "market suspended: sanctions", Suspension.Kind.market), ("network", "audit", .network),
                                         ("issuer", "fraud", .issuer), ("wallet", "device reported lost", .lostDevice), ("wallet", "paused", .cardholder)] {
            let token = try decoder.decode(Token.self, from: stored(kind, reason))
            #expect(token.suspensions.map(\.kind) == [expected], "\(kind) \(reason)")
            #expect(token.suspensions.first?.reason == reason)
        }
    }
}
