import APIContract
import Crypto
import EMV
import Foundation
import Participants
import Simulators
import Synchronization
import Testing
import TestSupport
@testable import TokenService

/// A push receipt's lifetime on the token service's own clock: good until its expiry,
/// refused after it (and nothing made), and good once when two redemptions race.
@Suite struct PushReceiptTests {
    final class Clock: Sendable {
        let now = Mutex(Date())
        func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    func receipt(_ rooms: ServiceRooms, pan: String) async throws -> String {
        let key = try await rooms.tokens.pushKey()
        let publicKey = try P256.KeyAgreement.PublicKey(x963Representation: try #require(Data(base64Encoded: key.publicKey)))
        let request = try PushCard(pan: pan, expiry: "12/29").sealed(to: publicKey, issuerID: ServiceRooms.issuerID, walletID: ServiceRooms.walletID)
        let issuer = try #require(try await rooms.participants.issuer(id: ServiceRooms.issuerID))
        let wallet = try #require(try await rooms.participants.wallet(id: ServiceRooms.walletID))
        return try await rooms.tokens.issuePushReceipt(issuer: issuer, wallet: wallet, request: request).receipt
    }

    @Test func aReceiptIsGoodForTenMinutesAndNotAfter() async throws {
        let clock = Clock()
        let sqlite = try await SQLiteRooms.make(now: { clock.now.withLock { $0 } })
        defer { sqlite.remove() }
        let rooms = sqlite.rooms
        let phone = try await rooms.phone()
        let deviceID = try #require(phone.deviceID)

        let late = try await receipt(rooms, pan: cardNumber("220070", seed: 31))
        clock.advance(TokenService.pushReceiptLifetime + 1)
        await #expect(throws: ServiceError.ineligible(code: "receipt_expired", reason: "this push receipt expired; the bank's app can push the card again")) {
            try await rooms.wallets.redeemPushReceipt(walletID: ServiceRooms.walletID, receipt: late, deviceID: deviceID)
        }
        #expect(try await rooms.store.tokens(TokenQuery(deviceID: deviceID)).isEmpty, "nothing was made")

        let onTime = try await receipt(rooms, pan: cardNumber("220070", seed: 32))
        clock.advance(TokenService.pushReceiptLifetime - 1)
        let (token, _) = try await rooms.wallets.redeemPushReceipt(walletID: ServiceRooms.walletID, receipt: onTime, deviceID: deviceID)
        #expect(token.deviceID == deviceID && token.status == .active)
    }

    @Test func twoRedemptionsAtOnceMakeOneToken() async throws {
        let sqlite = try await SQLiteRooms.make()
        defer { sqlite.remove() }
        let rooms = sqlite.rooms
        let phone = try await rooms.phone(), watch = try await rooms.phone()
        let pushed = try await receipt(rooms, pan: cardNumber("220070", seed: 33))
        let results = await withTaskGroup(of: Bool.self) { group in
            for device in [phone.deviceID, watch.deviceID].compactMap({ $0 }) {
                group.addTask { (try? await rooms.wallets.redeemPushReceipt(walletID: ServiceRooms.walletID, receipt: pushed, deviceID: device)) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        #expect(try await rooms.store.tokens(TokenQuery()).count == 1)
    }
}
