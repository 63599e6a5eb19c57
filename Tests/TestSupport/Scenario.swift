import APIContract
import Foundation
import Simulators

/// A network with one wallet and one Russian bank whose cardholder has a card: the
/// starting point of the enrollment tests, set up entirely over the HTTP APIs.
public struct RussianBankScenario: Sendable {
    public let harness: PlatformHarness
    public let walletKey: String
    public let issuerKey: String
    public let bankID: String
    public let issuerID: String
    public let pan: String
    public let expiryPrinted = "12/29"

    public static func make(_ harness: PlatformHarness, suffix: String = "", cardPrefix: String = "220070", tokenPrefix: String = "22017199",
                     seed: Int = 1) async throws -> RussianBankScenario {
        let op = harness.info.operatorKey
        let walletID = "passway-pay" + suffix
        let wallet = try await harness.api("POST", "/v1/wallets", key: op, json: [
            "id": walletID, "name": "Passway Pay", "tokenRequestorID": String(40_010_075_001 + (suffix.isEmpty ? 0 : 7)),
        ])
        precondition(wallet.status == 201, "wallet: \(wallet.json)")
        let bankID = "bank-moskva" + suffix
        let bank = try await harness.issuerHost("POST", "/banks", json: ["id": bankID, "cardRanges": [cardPrefix]])
        precondition(bank.status == 201, "bank: \(bank.json)")
        let pan = cardNumber(cardPrefix, seed: seed)
        let account = try await harness.issuerHost("POST", "/banks/\(bankID)/accounts", json: [
            "pan": pan, "expiry": "2912", "cvv2": "123", "holderName": "IVAN PETROV", "phone": "+79161234567",
            "currency": "RUB", "balanceMinor": 5_000_000,
        ])
        precondition(account.status == 201, "account: \(account.json)")
        let issuerID = "moskva-bank" + suffix
        let issuer = try await harness.api("POST", "/v1/issuers", key: op, json: [
            "id": issuerID, "name": "Moskva Bank", "country": "RU", "currency": "RUB",
            "cardRanges": [cardPrefix], "tokenRanges": [tokenPrefix], "enabledWallets": [walletID],
            "hostURL": try harness.issuerHostURL + "/banks/\(bankID)",
        ])
        precondition(issuer.status == 201, "issuer: \(issuer.json)")
        guard let walletKey = wallet.string("apiKey"), let issuerKey = issuer.string("apiKey") else { throw ScenarioError.noKey }
        return RussianBankScenario(harness: harness, walletKey: walletKey, issuerKey: issuerKey, bankID: bankID, issuerID: issuerID, pan: pan)
    }

    /// Registers a device over the API and returns its wallet-side state.
    public func register(model: String, os: String) async throws -> DeviceWallet {
        var device = DeviceWallet(modelID: model, osVersion: os, country: "RU")
        let answer = try await harness.api("POST", "/v1/devices", key: walletKey, json: [
            "modelID": model, "osVersion": os, "country": "RU", "publicKey": try device.publicKey,
        ])
        precondition(answer.status == 201, "device: \(answer.json)")
        device.deviceID = answer.string("id")
        return device
    }

    public func enroll(_ device: DeviceWallet, pan: String? = nil, cvv2: String = "123") async throws -> PlatformHarness.Answer {
        try await harness.api("POST", "/v1/enrollments", key: walletKey, json: [
            "deviceID": device.deviceID!, "pan": pan ?? self.pan, "expiry": expiryPrinted, "cvv2": cvv2,
        ])
    }

    public func sealed(_ answer: PlatformHarness.Answer) throws -> SealedProvisioning {
        let data = try JSONSerialization.data(withJSONObject: answer.object["provisioning"] ?? [:])
        return try JSONDecoder().decode(SealedProvisioning.self, from: data)
    }

    enum ScenarioError: Error { case noKey }

    /// The code the bank put in its outbox most recently.
    public func lastCode() async throws -> String? {
        try await harness.issuerHost("GET", "/banks/\(bankID)/outbox").array.last?["code"] as? String
    }
}
