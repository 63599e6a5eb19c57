import Foundation
import Participants
import Simulators
import Testing
import TestSupport
@testable import TokenService
import WalletProvider

/// What a market's suspension covers, swept in batches: the tokens on devices in the
/// market and the tokens of the cards its issuers issued, wherever the device is; nothing
/// else. Authorizations and enrollments are refused from the moment the market is saved;
/// lifting it restores exactly the tokens it suspended.
@Suite struct MarketSuspensionTests {
    @Test func aMarketsSuspensionCoversItsDevicesAndItsIssuersCardsAndLiftsExactlyThose() async throws {
        // Pages of 7: the sweep crosses many batch boundaries.
        let sqlite = try await SQLiteRooms.make(marketBatch: 7)
        defer { sqlite.remove() }
        let rooms = sqlite.rooms
        // A Kazakh bank beside the Russian one ("bank", RU).
        let kz = Issuer(id: "kz-bank", name: "Almaty Bank", country: "KZ", currency: "KZT", cardRanges: ["440043"], tokenRanges: ["45004399"],
                        enabledWallets: [ServiceRooms.walletID], hostURL: "http://127.0.0.1:1", hostKey: String(repeating: "AB", count: 32))
        try await rooms.participants.onboardIssuer(kz)
        try await rooms.tokens.prepareIssuer(kz)
        let moscowPhone = try #require(try await rooms.phone(country: "RU").deviceID)
        let almatyPhone = try #require(try await rooms.phone(country: "KZ").deviceID)
        func provision(_ issuer: String, _ prefix: String, _ device: String, _ count: Int, seed: Int) async throws -> [String] {
            let cards = (0..<count).map { TokenService.BulkCard(pan: cardNumber(prefix, seed: seed + $0), expiry: "12/29") }
            return try await rooms.wallets.bulkProvision(issuerID: issuer, walletID: ServiceRooms.walletID, deviceID: device, cards: cards, keys: 1).map(\.tokenID)
        }
        let inMoscow = try await provision("bank", "220070", moscowPhone, 30, seed: 100)          // covered: device in RU
        let russianCardsInAlmaty = try await provision("bank", "220070", almatyPhone, 9, seed: 200) // covered: issued in RU
        let kazakhCards = try await provision("kz-bank", "440043", almatyPhone, 11, seed: 300)      // not covered
        let covered = Set(inMoscow + russianCardsInAlmaty)
        // One covered token already held by the issuer: it keeps that suspension after the lift.
        _ = try await rooms.tokens.change(tokenID: inMoscow[3], action: .suspend, by: .issuer("bank"), reason: "fraud review")
        let untouchedBefore = try await rooms.store.tokens(TokenQuery(issuerID: "kz-bank"))
        let noticesBefore = try await rooms.store.queuedNotices(issuerID: "bank", limit: 1000).count

        let suspended = try await rooms.tokens.setMarketState(country: "RU", state: .suspended, reason: "sanctions drill")
        let suspension = try #require(suspended.sweep)
        #expect(suspension.kind == .suspend && suspension.isRunning && suspension.tokens == 0)
        // Saved before any token is touched: the market declines at once.
        #expect(try await rooms.store.tokens(TokenQuery(issuerID: "bank")).allSatisfy { !$0.suspensions.contains { $0.kind == .market } })
        #expect(try await rooms.tokens.suspendedMarket(of: try #require(try await rooms.store.token(id: inMoscow[0]))) == "RU")
        let swept = try #require(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a"))
        #expect(swept.id == suspension.id && !swept.isRunning && swept.tokens == covered.count)
        let stored = try #require(try await rooms.participants.market(country: "RU")?.sweep)
        #expect(stored.id == swept.id && stored.tokens == swept.tokens && stored.after == swept.after && !stored.isRunning)
        #expect(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a") == nil, "nothing left to sweep")
        for token in try await rooms.store.tokens(TokenQuery()) {
            #expect(token.suspensions.contains { $0.kind == .market } == covered.contains(token.id), "\(token.id)")
        }
        #expect(try await rooms.store.tokens(TokenQuery(issuerID: "kz-bank")) == untouchedBefore, "the Kazakh bank's tokens are not touched")
        // A notice for each token whose status changed: all but the one its issuer had suspended already.
        #expect(try await rooms.store.queuedNotices(issuerID: "bank", limit: 1000).count == noticesBefore + covered.count - 1)
        // Declined at once by the market, whatever the token row says; the Kazakh card is not.
        let russianInAlmaty = try #require(try await rooms.store.token(id: russianCardsInAlmaty[0]))
        #expect(try await rooms.tokens.suspendedMarket(of: russianInAlmaty) == "RU")
        #expect(try await rooms.tokens.suspendedMarket(of: try #require(try await rooms.store.token(id: kazakhCards[0]))) == nil)
        // A Russian card onto a Kazakh phone is refused too.
        await #expect(throws: ServiceError.self) {
            _ = try await rooms.wallets.enroll(walletID: ServiceRooms.walletID, .init(deviceID: almatyPhone, pan: cardNumber("220070", seed: 999),
                                                                                     expiry: "12/29", cvv2: "123", riskScore: 0))
        }

        // Asking again sweeps again and changes nothing more.
        let again = try #require(try await rooms.tokens.setMarketState(country: "RU", state: .suspended, reason: "sanctions drill").sweep)
        #expect(again.id != suspension.id)
        #expect(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a")?.tokens == 0)
        #expect(try await rooms.store.queuedNotices(issuerID: "bank", limit: 1000).count == noticesBefore + covered.count - 1)

        let lift = try #require(try await rooms.tokens.setMarketState(country: "RU", state: .live, reason: nil).sweep)
        #expect(lift.kind == .resume && lift.isRunning)
        #expect(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a")?.tokens == covered.count)
        for token in try await rooms.store.tokens(TokenQuery(issuerID: "bank")) {
            #expect(!token.suspensions.contains { $0.kind == .market })
            #expect(token.status == (token.id == inMoscow[3] ? .suspended : .active), "\(token.id)")
        }
        #expect(try await rooms.store.tokens(TokenQuery(issuerID: "kz-bank")) == untouchedBefore)
        #expect(try await rooms.tokens.suspendedMarket(of: russianInAlmaty) == nil)
    }

    /// A sweep is carried a page at a time, its progress kept with the market: a node that
    /// stops between pages leaves it to whichever node holds the market's lease next, which
    /// goes on from the last page; a lift that comes while the suspension's sweep runs
    /// replaces it, and its own sweep undoes exactly what the first one did.
    @Test func aSweepGoesOnFromItsLastPageAndALiftReplacesARunningOne() async throws {
        let sqlite = try await SQLiteRooms.make(marketBatch: 7)
        defer { sqlite.remove() }
        let rooms = sqlite.rooms
        let phone = try #require(try await rooms.phone(country: "RU").deviceID)
        let cards = (0..<40).map { TokenService.BulkCard(pan: cardNumber("220070", seed: 500 + $0), expiry: "12/29") }
        let ids = try await rooms.wallets.bulkProvision(issuerID: "bank", walletID: ServiceRooms.walletID, deviceID: phone, cards: cards, keys: 1)
            .map(\.tokenID).sorted()
        func marked() async throws -> [String] {
            try await rooms.store.tokens(TokenQuery(issuerID: "bank")).filter { $0.suspensions.contains { $0.kind == .market } }.map(\.id).sorted()
        }

        _ = try await rooms.tokens.setMarketState(country: "RU", state: .suspended, reason: "drill")
        // Another node holds the market: this one sweeps nothing.
        #expect(try await rooms.store.leaseMarket(country: "RU", node: "node-b", until: Date().addingTimeInterval(60), now: Date()))
        #expect(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a") == nil)
        #expect(try await marked().isEmpty)
        // node-b sweeps two pages and stops (a shutdown between pages).
        #expect(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-b", pages: 2) == nil)
        let halfway = try #require(try await rooms.participants.market(country: "RU")?.sweep)
        #expect(halfway.isRunning && halfway.tokens == 14 && halfway.after == ids[13])
        #expect(try await marked() == Array(ids.prefix(14)))
        // Its lease runs out; node-a goes on after the last page done.
        #expect(try await rooms.store.leaseMarket(country: "RU", node: "node-b", until: Date().addingTimeInterval(-1), now: Date()))
        #expect(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a", pages: 1) == nil)
        #expect(try await rooms.participants.market(country: "RU")?.sweep?.tokens == 21)
        #expect(try await marked() == Array(ids.prefix(21)))

        // The lift comes while the suspension's sweep runs: it replaces it.
        let lift = try #require(try await rooms.tokens.setMarketState(country: "RU", state: .live, reason: nil).sweep)
        let finished = try #require(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a"))
        #expect(finished.id == lift.id && finished.kind == .resume && finished.tokens == 21)
        #expect(try await marked().isEmpty)
        #expect(try await rooms.store.tokens(TokenQuery(issuerID: "bank")).allSatisfy { $0.status == .active })
        #expect(try await rooms.participants.market(country: "RU")?.state == .live)
    }

    @Test func aSweepStoppedByAShutdownSavesItsPageAndLetsItsLeaseGo() async throws {
        let sqlite = try await SQLiteRooms.make(marketBatch: 7)
        defer { sqlite.remove() }
        let rooms = sqlite.rooms
        let phone = try #require(try await rooms.phone(country: "RU").deviceID)
        let cards = (0..<20).map { TokenService.BulkCard(pan: cardNumber("220070", seed: 600 + $0), expiry: "12/29") }
        let ids = try await rooms.wallets.bulkProvision(issuerID: "bank", walletID: ServiceRooms.walletID, deviceID: phone, cards: cards, keys: 1)
            .map(\.tokenID).sorted()
        _ = try await rooms.tokens.setMarketState(country: "RU", state: .suspended, reason: "drill")
        // node-a is told to stop (a graceful shutdown) while it sweeps: it ends after its page.
        #expect(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-a", stop: { true }) == nil)
        let halfway = try #require(try await rooms.participants.market(country: "RU")?.sweep)
        #expect(halfway.isRunning && halfway.tokens == 7 && halfway.after == ids[6])
        // Its lease is let go: node-b takes the market over at once, not 60 s later.
        #expect(try await rooms.store.leaseMarket(country: "RU", node: "node-b", until: Date().addingTimeInterval(60), now: Date()))
        let finished = try #require(try await rooms.tokens.runMarketSweep(country: "RU", node: "node-b"))
        #expect(finished.tokens == 20 && !finished.isRunning)
    }
}
