import Foundation
import Participants
import Testing
import TestSupport

/// The participants' rules, without HTTP: what onboarding refuses, and API keys.
@Suite struct ParticipantRegistryTests {
    static let hostKey = String(repeating: "AB", count: 32)

    func issuer(_ id: String, cards: [String], tokens: [String], hostURL: String = "http://127.0.0.1:1", hostKey: String? = hostKey) -> Issuer {
        Issuer(id: id, name: "Bank \(id)", country: "RU", currency: "RUB", cardRanges: cards, tokenRanges: tokens,
               enabledWallets: [ServiceRooms.walletID], hostURL: hostURL, hostKey: hostKey)
    }

    /// The token service calls an issuer's host only over TLS, or in the clear to this
    /// machine, and only with the key the host made: without one the issuer is refused.
    @Test func anIssuersHostIsReachedOverTLSOrLoopbackWithItsKey() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let registry = f.rooms.participants
        for url in ["http://bank.example:8090/banks/x", "http://10.0.0.5/banks/x", "ftp://127.0.0.1/x", "https://"] {
            await #expect(throws: ServiceError.self, "\(url)") { try await registry.onboardIssuer(issuer("far", cards: ["550000"], tokens: ["55100000"], hostURL: url)) }
        }
        for key in [nil, "", "AB", String(repeating: "G", count: 64), String(repeating: "AB", count: 33)] as [String?] {
            await #expect(throws: ServiceError.invalid(field: "hostKey", reason: "the token service key the issuer host made for this bank: 64 hex digits")) {
                try await registry.onboardIssuer(issuer("keyless", cards: ["550000"], tokens: ["55100000"], hostKey: key))
            }
        }
        #expect(try await registry.issuers().map(\.id) == ["bank"])
        for (n, url) in ["https://bank.example/banks/x", "http://127.0.0.1:8090/banks/x", "http://localhost:8090/banks/x", "http://[::1]:8090/b"].enumerated() {
            try await registry.onboardIssuer(issuer("near\(n)", cards: ["55000\(n)"], tokens: ["5510000\(n)"], hostURL: url))
        }
        // The key is not part of the issuer as stored or shown.
        #expect(try await registry.issuer(id: "near0")?.hostKey == nil)
        let shown = String(decoding: try JSONEncoder().encode(issuer("shown", cards: ["660000"], tokens: ["66100000"])), as: UTF8.self)
        #expect(!shown.contains("hostKey") && !shown.contains(Self.hostKey))
    }

    @Test func rangesNeverOverlapWithinOrAcrossIssuers() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let registry = f.rooms.participants
        // The fixture's issuer has cards 220070 and tokens 22017199.
        await #expect(throws: ServiceError.conflict("range 2200701 overlaps a range of issuer bank")) {
            try await registry.onboardIssuer(issuer("other", cards: ["2200701"], tokens: ["33000000"]))
        }
        await #expect(throws: ServiceError.invalid(field: "tokenRanges", reason: "token range 44000000 overlaps one of the card ranges")) {
            try await registry.onboardIssuer(issuer("mixed", cards: ["440000"], tokens: ["44000000"]))
        }
        await #expect(throws: ServiceError.conflict("issuer bank is already onboarded")) {
            try await registry.onboardIssuer(issuer("bank", cards: ["550000"], tokens: ["55100000"]))
        }
        try await registry.onboardIssuer(issuer("second", cards: ["550000"], tokens: ["55100000"]))
        #expect(try await registry.issuer(ofCard: "5500001234567890")?.id == "second")
        #expect(try await registry.issuer(ofCard: "9900001234567890") == nil)
    }

    @Test func anAcquirersInstitutionCodeIsItsOwn() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let registry = f.rooms.participants
        try await registry.onboardAcquirer(Acquirer(id: "sber-acq", name: "Acquirer", country: "RU", institutionID: "25000001"))
        await #expect(throws: ServiceError.conflict("institution code 25000001 belongs to another acquirer")) {
            try await registry.onboardAcquirer(Acquirer(id: "other-acq", name: "Other", country: "RU", institutionID: "25000001"))
        }
        await #expect(throws: ServiceError.invalid(field: "institutionID", reason: "the acquiring institution code of field 32: 1 to 11 digits")) {
            try await registry.onboardAcquirer(Acquirer(id: "bad-acq", name: "Bad", country: "RU", institutionID: "123456789012"))
        }
        #expect(try await registry.acquirers().map(\.id) == ["sber-acq"])
    }

    @Test func anAPIKeyNamesItsParticipantAndNoOther() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let registry = f.rooms.participants
        for participant in [Participant.network, .issuer("bank"), .wallet("wallet-1"), .acquirer("sber-acq")] {
            let key = try await registry.issueCredential(for: participant)
            #expect(key.hasPrefix("pwk_") && key.count == 44)
            #expect(try await registry.authenticate(apiKey: key) == participant)
        }
        #expect(try await registry.authenticate(apiKey: "pwk_" + String(repeating: "x", count: 40)) == nil)
    }

    @Test func aSuspensionNeedsAReason() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        await #expect(throws: ServiceError.invalid(field: "reason", reason: "a suspension needs a reason that cardholders will be told")) {
            try await f.rooms.participants.marketChange(country: "RU", to: .suspended, reason: "  ")
        }
        let (previous, next) = try await f.rooms.participants.marketChange(country: "RU", to: .suspended, reason: "sanctions")
        #expect(previous == .live && next.state == .suspended && next.reason == "sanctions")
        #expect(try await f.rooms.participants.market(country: "RU")?.state == .live, "checked, not saved")
    }
}
