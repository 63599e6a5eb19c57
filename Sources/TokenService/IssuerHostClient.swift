import Foundation

/// The token service's calls to an issuer's host (JSON over HTTP in production,
/// `PasswayServer` supplies that client): ID&V decisions, delivery of activation
/// codes, and notifications of token changes.
public protocol IssuerHostClient: Sendable {
    func authorize(_ request: IDVRequest, issuer: Issuer) async throws -> IDVDecision
    func deliverActivationCode(_ delivery: ActivationCodeDelivery, issuer: Issuer) async throws
    func notifyTokenUpdated(_ notification: TokenNotification, issuer: Issuer) async throws
}

/// "Authorize service": may this card be tokenised onto this device?
public struct IDVRequest: Codable, Sendable, Equatable {
    /// The card number: the issuer is the one party the protocol sends it to.
    public var pan: String
    public var expiry: String
    public var cvv2: String?
    public var walletID: String
    public var tokenRequestorID: String
    public var deviceKind: String
    public var deviceModel: String
    public var country: String
    /// The wallet's risk assessment, 0 (none) to 99.
    public var riskScore: Int

    public init(pan: String, expiry: String, cvv2: String?, walletID: String, tokenRequestorID: String,
                deviceKind: String, deviceModel: String, country: String, riskScore: Int) {
        self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.walletID = walletID
        self.tokenRequestorID = tokenRequestorID; self.deviceKind = deviceKind; self.deviceModel = deviceModel
        self.country = country; self.riskScore = riskScore
    }
}

public struct IDVDecision: Codable, Sendable, Equatable {
    /// EMVCo's green / yellow / red path.
    public enum Path: String, Codable, Sendable { case green, yellow, red }
    public var decision: Path
    /// For yellow: how the issuer can reach the cardholder.
    public var methods: [VerificationMethod]
    public var reason: String?

    public init(decision: Path, methods: [VerificationMethod] = [], reason: String? = nil) {
        self.decision = decision; self.methods = methods; self.reason = reason
    }
}

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
    public var pan: String
    public var methodID: String
    public var code: String
    public var walletName: String
    public var expiresAt: Date
}

/// "Notify token updated".
public struct TokenNotification: Codable, Sendable, Equatable {
    public var tokenID: String
    public var maskedToken: String
    public var maskedPAN: String
    public var event: String
    public var status: Token.Status
    public var reason: String?
}
