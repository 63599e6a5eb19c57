import Foundation

/// A cardholder account at the bundled bank: one card, its balance or credit line,
/// and how the bank can reach its holder.
public struct Account: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case active, blocked, lost, stolen }

    public var id: String
    /// HMAC fingerprint of the card number (the number itself is sealed).
    public var fingerprint: String
    public var sealedPAN: Data
    public var maskedPAN: String
    /// YYMM.
    public var expiry: String
    /// Keyed hash of card number and CVV2.
    public var cvv2Hash: String?
    public var holderName: String
    /// E.164, for one-time codes by SMS; nil when the bank has no number on file.
    public var phone: String?
    /// Whether the holder uses the bank's app (codes can go there).
    public var bankApp: Bool
    /// ISO 4217 alpha-3 and the amounts in its minor units.
    public var currency: String
    public var balanceMinor: Int64
    public var creditLimitMinor: Int64
    public var dailyLimitMinor: Int64
    public var status: Status
}

/// The bank's ID&V policy, set by its operator: how much wallet-assessed risk passes,
/// which device kinds need a one-time code, and whether a known phone number is required.
public struct IDVRules: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case declineRiskAbove, stepUpRiskAbove, stepUpDeviceKinds, requireKnownPhone }

    /// Risk score (0–99) above which the bank declines.
    public var declineRiskAbove: Int
    /// Risk score above which the bank asks for a one-time code.
    public var stepUpRiskAbove: Int
    /// Device kinds ("phone", "watch") that always need a one-time code.
    public var stepUpDeviceKinds: [String]
    /// Whether a card can only be added when the bank knows the holder's phone number.
    public var requireKnownPhone: Bool

    public init(declineRiskAbove: Int = 80, stepUpRiskAbove: Int = 40, stepUpDeviceKinds: [String] = ["watch"], requireKnownPhone: Bool = false) {
        self.declineRiskAbove = declineRiskAbove; self.stepUpRiskAbove = stepUpRiskAbove
        self.stepUpDeviceKinds = stepUpDeviceKinds; self.requireKnownPhone = requireKnownPhone
    }

    public static let standard = IDVRules()
}

/// A message the bank sent to a cardholder (SMS or app push), kept in its outbox.
public struct OutboxMessage: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var channel: String
    /// Masked: the outbox is read by people.
    public var destination: String
    public var maskedPAN: String
    public var text: String
    /// The one-time code itself, so that a test (or a person at the demo) can type it.
    public var code: String?
}

/// A token notification from the token service, as the bank received it.
public struct ReceivedNotification: Codable, Sendable, Equatable {
    public var at: Date
    public var tokenID: String
    public var maskedToken: String
    public var maskedPAN: String
    public var event: String
    public var status: String
    public var reason: String?
}

// The JSON contract with the token service (DESIGN.md "The wire": TSP ↔ issuer host).

public struct AuthorizeServiceRequest: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case pan, expiry, cvv2, walletID, tokenRequestorID, deviceKind, deviceModel, country, riskScore }

    public var pan: String
    public var expiry: String
    public var cvv2: String?
    public var walletID: String
    public var tokenRequestorID: String
    public var deviceKind: String
    public var deviceModel: String
    public var country: String
    public var riskScore: Int
}

public struct AuthorizeServiceResponse: Codable, Sendable, Equatable {
    public struct Method: Codable, Sendable, Equatable {
        public var id: String
        public var channel: String
        public var destination: String
    }
    public var decision: String
    public var methods: [Method]
    public var reason: String?
}

public struct DeliverCodeRequest: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case pan, methodID, code, walletName, expiresAt }

    public var pan: String
    public var methodID: String
    public var code: String
    public var walletName: String
    public var expiresAt: Date
}

public struct TokenUpdatedNotification: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case tokenID, maskedToken, maskedPAN, event, status, reason }

    public var tokenID: String
    public var maskedToken: String
    public var maskedPAN: String
    public var event: String
    public var status: String
    public var reason: String?
}
