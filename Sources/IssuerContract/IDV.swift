import Foundation

// The contract between a token service and an issuer host (DESIGN.md "The wire": TSP ↔
// issuer host), written once: the token service sends these and the bundled issuer host
// receives them, and a bank with its own host implements the same JSON.
//
//     POST {hostURL}/idv/authorize     IDVRequest → IDVDecision
//     POST {hostURL}/idv/deliver-code  ActivationCodeDelivery
//     POST {hostURL}/tokens/notify     TokenNotification
//     POST {hostURL}/tokens/notify-batch  TokenNotificationBatch (optional: 404 or 405 means one at a time)

/// The issuer host's paths, relative to the `hostURL` an issuer is onboarded with.
public enum IssuerHostPath {
    /// EMVCo "authorize service": may this card be tokenised onto this device?
    public static let authorizeService = "/idv/authorize"
    /// "Deliver activation code": the issuer sends a one-time code by its own channel.
    public static let deliverActivationCode = "/idv/deliver-code"
    /// "Notify token updated".
    public static let tokenNotification = "/tokens/notify"
    /// Several at once, in order, taken all or none. A host without it answers 404 (or
    /// 405), and the token service sends them one at a time.
    public static let tokenNotificationBatch = "/tokens/notify-batch"
}

/// The kind of device a token is bound to.
public enum DeviceKind: String, Codable, Sendable, CaseIterable { case phone, watch }

/// "Authorize service": may this card be tokenised onto this device?
public struct IDVRequest: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case pan, expiry, cvv2, walletID, tokenRequestorID, deviceKind, deviceModel, country, riskScore }

    /// The card number: the issuer is the one party the protocol sends it to.
    public var pan: String
    /// YYMM.
    public var expiry: String
    public var cvv2: String?
    public var walletID: String
    /// EMVCo token requestor ID, 11 digits.
    public var tokenRequestorID: String
    public var deviceKind: DeviceKind
    public var deviceModel: String
    /// ISO 3166-1 alpha-2: where the device is used.
    public var country: String
    /// The wallet's risk assessment, 0 (none) to 99.
    public var riskScore: Int

    public init(pan: String, expiry: String, cvv2: String?, walletID: String, tokenRequestorID: String,
                deviceKind: DeviceKind, deviceModel: String, country: String, riskScore: Int) {
        self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.walletID = walletID
        self.tokenRequestorID = tokenRequestorID; self.deviceKind = deviceKind; self.deviceModel = deviceModel
        self.country = country; self.riskScore = riskScore
    }
}

/// The issuer's answer to `IDVRequest`.
public struct IDVDecision: Codable, Sendable, Equatable {
    /// EMVCo's green (approve), yellow (step up with a one-time code) and red (decline) paths.
    public enum Path: String, Codable, Sendable { case green, yellow, red }
    public var decision: Path
    /// For yellow: how the issuer can reach the cardholder.
    public var methods: [VerificationMethod]
    public var reason: String?

    public init(decision: Path, methods: [VerificationMethod] = [], reason: String? = nil) {
        self.decision = decision; self.methods = methods; self.reason = reason
    }
}

/// A way the issuer can reach its cardholder with a one-time code.
public struct VerificationMethod: Codable, Sendable, Equatable {
    public enum Channel: String, Codable, Sendable { case sms, app }
    public var id: String
    public var channel: Channel
    /// Masked destination for the cardholder to recognise ("+7 *** ***-**-67").
    public var destination: String

    public init(id: String, channel: Channel, destination: String) {
        self.id = id; self.channel = channel; self.destination = destination
    }
}

/// "Deliver activation code": the issuer sends the code by its own channel.
public struct ActivationCodeDelivery: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case pan, methodID, code, walletName, expiresAt, language }

    public var pan: String
    /// One of the `VerificationMethod.id`s the issuer offered.
    public var methodID: String
    /// Six digits.
    public var code: String
    public var walletName: String
    public var expiresAt: Date
    /// The cardholder's language (ISO 639-1: `ru`, `zh`, `en`), for the message's text; the
    /// issuer's own choice when absent.
    public var language: String?

    public init(pan: String, methodID: String, code: String, walletName: String, expiresAt: Date, language: String? = nil) {
        self.pan = pan; self.methodID = methodID; self.code = code; self.walletName = walletName; self.expiresAt = expiresAt; self.language = language
    }
}

/// A token's state, as the token service tells the issuer.
public enum TokenStatus: String, Codable, Sendable, CaseIterable { case active, suspended, deleted }

/// "Notify token updated": what happened to one of the issuer's tokens.
///
/// Delivered at least once: the token service repeats it until the host answers 2xx, so
/// a host may receive one notification more than once and keeps the first (by `id`).
/// Up to `maxCount` notifications in the order written, for one issuer: the host takes all
/// of them (each kept once by its id) or none.
public struct TokenNotificationBatch: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case notifications }
    public static let maxCount = 64
    public var notifications: [TokenNotification]
    public init(notifications: [TokenNotification]) { self.notifications = notifications }
}

public struct TokenNotification: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case id, tokenID, maskedToken, maskedPAN, event, status, reason }
    public enum Event: String, Codable, Sendable, CaseIterable { case created, suspended, resumed, deleted }

    /// This notification's own id (`ntf_` and 24 letters and digits): the same in every repeat.
    public var id: String

    public var tokenID: String
    /// First six and last four of the token number.
    public var maskedToken: String
    /// First six and last four of the card number.
    public var maskedPAN: String
    public var event: Event
    public var status: TokenStatus
    public var reason: String?

    public init(id: String, tokenID: String, maskedToken: String, maskedPAN: String, event: Event, status: TokenStatus, reason: String?) {
        self.id = id; self.tokenID = tokenID; self.maskedToken = maskedToken; self.maskedPAN = maskedPAN; self.event = event
        self.status = status; self.reason = reason
    }
}
