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

        _ = try await rooms.tokens.setMarketState(country: "RU", state: .suspended, reason: "sanctions drill")
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
        _ = try await rooms.tokens.setMarketState(country: "RU", state: .suspended, reason: "sanctions drill")
        #expect(try await rooms.store.queuedNotices(issuerID: "bank", limit: 1000).count == noticesBefore + covered.count - 1)

        _ = try await rooms.tokens.setMarketState(country: "RU", state: .live, reason: nil)
        for token in try await rooms.store.tokens(TokenQuery(issuerID: "bank")) {
            #expect(!token.suspensions.contains { $0.kind == .market })
            #expect(token.status == (token.id == inMoscow[3] ? .suspended : .active), "\(token.id)")
        }
        #expect(try await rooms.store.tokens(TokenQuery(issuerID: "kz-bank")) == untouchedBefore)
        #expect(try await rooms.tokens.suspendedMarket(of: russianInAlmaty) == nil)
    }
}
