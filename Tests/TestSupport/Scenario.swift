import APIContract
import Foundation
import Simulators

/// A network with one wallet and one Russian bank whose cardholder has a card: the
/// starting point of the enrollment and network tests, set up entirely over the HTTP
/// APIs of a platform in this process (`PlatformHarness`) or in another (`ServeProcess`).
public struct RussianBankScenario: Sendable {
    /// The Passway API and the issuer host's JSON API.
    public let api: String
    public let issuerHostURL: String
    public let walletKey: String
    public let issuerKey: String
    public let bankID: String
    /// The bank's own API key at its host (accounts, rules, outbox).
    public let bankKey: String
    /// The bank's token service key (the issuer's `hostKey`).
    public let hostKey: String
    public let issuerID: String
    public let pan: String
    public let expiryPrinted = "12/29"

    public struct SetupFailed: Error, CustomStringConvertible {
        public let description: String
    }

    public static func make(_ harness: PlatformHarness, suffix: String = "", cardPrefix: String = "220070", tokenPrefix: String = "22017199",
                            seed: Int = 1, issuerFields: [String: String] = [:]) async throws -> RussianBankScenario {
        try await make(api: harness.info.apiURL, issuerHost: try harness.issuerHostURL, operatorKey: harness.info.operatorKey,
                       issuerHostOperatorKey: harness.info.issuerHostOperatorKey ?? "", suffix: suffix, cardPrefix: cardPrefix, tokenPrefix: tokenPrefix,
                       seed: seed, issuerFields: issuerFields)
    }

    public static func make(api: String, issuerHost: String, operatorKey op: String, issuerHostOperatorKey: String, suffix: String = "",
                            cardPrefix: String = "220070",
                            tokenPrefix: String = "22017199", seed: Int = 1, issuerFields: [String: String] = [:]) async throws -> RussianBankScenario {
        func call(_ url: String, key: String?, _ json: [String: Any], _ what: String) async throws -> PlatformHarness.Answer {
            let answer = try await PlatformHarness.call("POST", url, key: key, json: json, raw: nil, headers: [:])
            guard answer.status == 201 else { throw SetupFailed(description: "\(what): \(answer.status) \(answer.json)") }
            return answer
        }
        let walletID = "passway-pay" + suffix
        let wallet = try await call(api + "/v1/wallets", key: op, [
            "id": walletID, "name": "Passway Pay", "tokenRequestorID": String(40_010_075_001 + (suffix.isEmpty ? 0 : 7)),
        ], "wallet")
        let bankID = "bank-moskva" + suffix
        let bank = try await call(issuerHost + "/banks", key: issuerHostOperatorKey, ["id": bankID, "cardRanges": [cardPrefix]], "bank")
        guard let bankKey = bank.string("apiKey"), let hostKey = bank.string("tokenServiceKey") else { throw SetupFailed(description: "bank: \(bank.json)") }
        let pan = cardNumber(cardPrefix, seed: seed)
        _ = try await call(issuerHost + "/banks/\(bankID)/accounts", key: bankKey, [
            "pan": pan, "expiry": "2912", "cvv2": "123", "holderName": "IVAN PETROV", "phone": "+79161234567",
            "currency": "RUB", "balanceMinor": 5_000_000,
        ], "account")
        let issuerID = "moskva-bank" + suffix
        // Extra fields of the issuer (its cryptogram profile, say) as given.
        let issuer = try await call(api + "/v1/issuers", key: op, [
            "id": issuerID, "name": "Moskva Bank", "country": "RU", "currency": "RUB",
            "cardRanges": [cardPrefix], "tokenRanges": [tokenPrefix], "enabledWallets": [walletID],
            "hostURL": issuerHost + "/banks/\(bankID)", "hostKey": hostKey,
        ].merging(issuerFields) { _, extra in extra }, "issuer")
        guard let walletKey = wallet.string("apiKey"), let issuerKey = issuer.string("apiKey") else { throw SetupFailed(description: "no API key") }
        return RussianBankScenario(api: api, issuerHostURL: issuerHost, walletKey: walletKey, issuerKey: issuerKey, bankID: bankID,
                                   bankKey: bankKey, hostKey: hostKey, issuerID: issuerID, pan: pan)
    }

    /// Registers a device over the API and returns its wallet-side state.
    public func register(model: String, os: String) async throws -> DeviceWallet {
        var device = DeviceWallet(modelID: model, osVersion: os, country: "RU")
        let answer = try await PlatformHarness.call("POST", api + "/v1/devices", key: walletKey, json: [
            "modelID": model, "osVersion": os, "country": "RU", "publicKey": try device.publicKey,
        ], raw: nil, headers: [:])
        guard answer.status == 201 else { throw SetupFailed(description: "device: \(answer.status) \(answer.json)") }
        device.deviceID = answer.string("id")
        return device
    }

    public func enroll(_ device: DeviceWallet, pan: String? = nil, cvv2: String = "123") async throws -> PlatformHarness.Answer {
        try await PlatformHarness.call("POST", api + "/v1/enrollments", key: walletKey, json: [
            "deviceID": device.deviceID ?? "", "pan": pan ?? self.pan, "expiry": expiryPrinted, "cvv2": cvv2,
        ], raw: nil, headers: [:])
    }

    public func sealed(_ answer: PlatformHarness.Answer) throws -> SealedProvisioning {
        let data = try JSONSerialization.data(withJSONObject: answer.object["provisioning"] ?? [:])
        return try JSONDecoder().decode(SealedProvisioning.self, from: data)
    }

    /// A phone registered and the card on it, approved at once: the device's state.
    public func phoneWithCard() async throws -> (phone: DeviceWallet, tokenID: String) {
        var phone = try await register(model: "samsung-galaxy-s24", os: "14")
        let enrolled = try await enroll(phone)
        guard enrolled.string("status") == "approved" else { throw SetupFailed(description: "enrollment: \(enrolled.json)") }
        let token = try phone.receive(try sealed(enrolled))
        return (phone, token.tokenID)
    }

    /// What the bank says the card can still spend.
    public func available() async throws -> Int64? {
        let accounts = try await bankCall("GET", "/accounts")
        return (accounts.array.first?["availableMinor"] as? NSNumber)?.int64Value
    }

    /// The code the bank put in its outbox most recently.
    public func lastCode() async throws -> String? {
        try await bankCall("GET", "/outbox").array.last?["code"] as? String
    }

    /// A call to the bank's own API at its host (`/banks/{bank}` + `path`) with its key.
    public func bankCall(_ method: String, _ path: String, json: [String: Any]? = nil) async throws -> PlatformHarness.Answer {
        try await PlatformHarness.call(method, issuerHostURL + "/banks/\(bankID)" + path, key: bankKey, json: json, raw: nil, headers: [:])
    }
}
