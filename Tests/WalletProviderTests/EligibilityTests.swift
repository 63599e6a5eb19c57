import IssuerContract
import Participants
import Simulators
import Testing
import TestSupport
import TokenService
import WalletProvider

/// The wallet provider without HTTP: which cards may go onto which devices, and what a
/// lost device means for its tokens.
@Suite struct EligibilityTests {
    func enrollment(_ phone: DeviceWallet, pan: String) -> WalletProvider.EnrollmentRequest {
        .init(deviceID: phone.deviceID ?? "", pan: pan, expiry: "12/29", cvv2: nil, riskScore: 0)
    }

    @Test func aCardGoesOnlyWhereItsIssuerMarketAndDeviceAllow() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let wallets = f.rooms.wallets
        let phone = try await f.rooms.phone()
        // A range no issuer has.
        await #expect(throws: ServiceError.ineligible(code: "card_range_not_supported", reason: "cards starting 990000 are not from an onboarded issuer")) {
            try await wallets.enroll(walletID: ServiceRooms.walletID, enrollment(phone, pan: cardNumber("990000", seed: 1)))
        }
        // A wallet the issuer has not enabled.
        try await f.rooms.participants.createWallet(Wallet(id: "other-wallet", name: "Other", tokenRequestorID: "40010075002"))
        var otherPhone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: "RU")
        otherPhone.deviceID = try await wallets.registerDevice(walletID: "other-wallet", modelID: otherPhone.modelID, osVersion: "14",
                                                               country: "RU", publicKey: try otherPhone.publicKey).id
        await #expect(throws: ServiceError.ineligible(code: "wallet_not_enabled", reason: "Bank has not enabled Other")) {
            try await wallets.enroll(walletID: "other-wallet", enrollment(otherPhone, pan: cardNumber("220070", seed: 2)))
        }
        // A device of another wallet is not found.
        await #expect(throws: ServiceError.notFound("device \(phone.deviceID ?? "")")) {
            try await wallets.enroll(walletID: "other-wallet", enrollment(phone, pan: cardNumber("220070", seed: 2)))
        }
        // A suspended market takes no enrollments.
        _ = try await f.rooms.tokens.setMarketState(country: "RU", state: .suspended, reason: "sanctions")
        await #expect(throws: ServiceError.ineligible(code: "market_suspended", reason: "Russia is suspended: sanctions")) {
            try await wallets.enroll(walletID: ServiceRooms.walletID, enrollment(phone, pan: cardNumber("220070", seed: 3)))
        }
        _ = try await f.rooms.tokens.setMarketState(country: "RU", state: .live, reason: nil)
        guard case .approved = try await wallets.enroll(walletID: ServiceRooms.walletID, enrollment(phone, pan: cardNumber("220070", seed: 3))) else {
            Issue.record("not approved once the market is live again"); return
        }
        // A watch without NFC never registers.
        await #expect(throws: ServiceError.ineligible(code: "device_not_supported", reason: "Honor Watch 4 has no NFC")) {
            try await wallets.registerDevice(walletID: ServiceRooms.walletID, modelID: "honor-watch-4", osVersion: "1.0", country: "RU",
                                             publicKey: try phone.publicKey)
        }
    }

    @Test func aLostDevicesTokensAreSuspendedAndOnlyTheIssuerResumesThem() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let (phone, outcome) = try await f.rooms.enroll(cardNumber("220070", seed: 4))
        guard case .approved(let token, _) = outcome, let deviceID = phone.deviceID else { Issue.record("not approved"); return }
        let suspended = try await f.rooms.wallets.reportLost(deviceID: deviceID, walletID: ServiceRooms.walletID)
        #expect(suspended.map(\.id) == [token.id])
        #expect(suspended.first?.suspendedBy == Participant.wallet(ServiceRooms.walletID).actor)
        await #expect(throws: ServiceError.conflict("the device was reported lost; the issuer can resume its tokens")) {
            try await f.rooms.wallets.changeToken(tokenID: token.id, action: .resume, walletID: ServiceRooms.walletID, reason: nil)
        }
        await #expect(throws: ServiceError.ineligible(code: "device_lost", reason: "the device was reported lost")) {
            try await f.rooms.wallets.enroll(walletID: ServiceRooms.walletID, enrollment(phone, pan: cardNumber("220070", seed: 5)))
        }
        let resumed = try await f.rooms.tokens.change(tokenID: token.id, action: .resume, by: .issuer(ServiceRooms.issuerID), reason: "found it")
        #expect(resumed.status == .active)
    }
}
