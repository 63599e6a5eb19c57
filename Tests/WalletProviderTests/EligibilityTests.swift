import Foundation
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

    @Test func theOperatorsCatalogSaysWhichDevicesAreEligible() async throws {
        let f = try await SQLiteRooms.make()
        defer { f.remove() }
        let wallets = f.rooms.wallets
        let phone = try await f.rooms.phone()
        let key = try phone.publicKey
        func register(_ model: String) async throws -> String {
            try await wallets.registerDevice(walletID: ServiceRooms.walletID, modelID: model, osVersion: "15", country: "RU", publicKey: key).id
        }
        var model = DeviceModel(id: "acme-one", manufacturer: "Acme", model: "One", kind: .phone, nfc: true, keyStorage: .secureElement, biometric: true,
                                minimumOS: "15", markets: ["RU", "BY"])
        #expect(try await wallets.saveDeviceModel(model) == model)
        #expect(try await wallets.deviceModels().contains(model))
        let registered = try await register("acme-one")
        // Each requirement missing in turn: a new device of the model is refused, saying which.
        for (change, reason) in [({ (m: inout DeviceModel) in m.nfc = false }, "has no NFC"),
                                 ({ (m: inout DeviceModel) in m.keyStorage = .none }, "has neither a secure element nor a TEE for the token's keys"),
                                 ({ (m: inout DeviceModel) in m.biometric = false }, "has no biometric sensor")] {
            var lacking = model
            change(&lacking)
            _ = try await wallets.saveDeviceModel(lacking)
            await #expect(throws: ServiceError.ineligible(code: "device_not_supported", reason: "Acme One \(reason)")) { _ = try await register("acme-one") }
        }
        // The device registered before the change: its next enrollment meets the model as it is now.
        var onIt = phone
        onIt.deviceID = registered
        await #expect(throws: ServiceError.ineligible(code: "device_not_supported", reason: "Acme One has no biometric sensor")) {
            try await wallets.enroll(walletID: ServiceRooms.walletID, enrollment(onIt, pan: cardNumber("220070", seed: 9)))
        }
        model.keyStorage = .tee
        _ = try await wallets.saveDeviceModel(model)
        guard case .approved = try await wallets.enroll(walletID: ServiceRooms.walletID, enrollment(onIt, pan: cardNumber("220070", seed: 9))) else {
            Issue.record("not approved once the model meets the requirements again"); return
        }
        // Bad entries change nothing.
        for bad in [DeviceModel(id: "Bad Id", manufacturer: "A", model: "B", kind: .phone, nfc: true, minimumOS: "1", markets: []),
                    DeviceModel(id: "ok", manufacturer: " ", model: "B", kind: .phone, nfc: true, minimumOS: "1", markets: []),
                    DeviceModel(id: "ok", manufacturer: "A", model: "B", kind: .phone, nfc: true, minimumOS: "1..2", markets: []),
                    DeviceModel(id: "ok", manufacturer: "A", model: "B", kind: .phone, nfc: true, minimumOS: "1", markets: ["ru"]),
                    DeviceModel(id: "ok", manufacturer: "A", model: "B", kind: .phone, nfc: true, minimumOS: "1", markets: ["RU", "RU"])] {
            await #expect(throws: ServiceError.self) { _ = try await wallets.saveDeviceModel(bad) }
        }
        #expect(try await wallets.deviceModels().allSatisfy { $0.id != "ok" && $0.id != "Bad Id" })
    }

    @Test func aModelStoredBeforeTheRequirementsWereRecordedReadsAsTheCatalogs() throws {
        let legacy = #"{"id":"x","manufacturer":"A","model":"B","kind":"phone","nfc":true,"minimumOS":"14","markets":["RU"]}"#
        let model = try JSONDecoder().decode(DeviceModel.self, from: Data(legacy.utf8))
        #expect(model.keyStorage == .tee && model.biometric && model.unmetRequirement == nil)
        let written = try JSONDecoder().decode(DeviceModel.self, from: try JSONEncoder().encode(DeviceModel(id: "y", manufacturer: "A", model: "B", kind: .watch,
                                                                                                           nfc: true, keyStorage: .none, biometric: false, minimumOS: "1", markets: [])))
        #expect(written.keyStorage == .none && !written.biometric)
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
