import Crypto
import IssuerContract
import Participants

/// Where the token service calls an issuer's host, and the key that signs the calls and
/// authenticates the answers (`RequestSignature`).
public struct IssuerHostEndpoint: Sendable {
    public let issuerID: String
    public let url: String
    public let key: SymmetricKey

    public init(issuerID: String, url: String, key: SymmetricKey) { self.issuerID = issuerID; self.url = url; self.key = key }
}

/// The token service's calls to an issuer's host, in the wire types of `IssuerContract`
/// (signed JSON over HTTP in production: `PasswayServer` supplies that client).
public protocol IssuerHostClient: Sendable {
    func authorize(_ request: IDVRequest, at host: IssuerHostEndpoint) async throws -> IDVDecision
    func deliverActivationCode(_ delivery: ActivationCodeDelivery, at host: IssuerHostEndpoint) async throws
    func notifyTokenUpdated(_ notification: TokenNotification, at host: IssuerHostEndpoint) async throws
    /// Several notifications of one issuer, in order: how many the host took (the first
    /// ones) and, when it stopped short, why. By default one call each.
    func notifyTokensUpdated(_ notifications: [TokenNotification], at host: IssuerHostEndpoint) async -> NotificationOutcome
}

/// What became of notifications sent in order: the first `taken` were taken; `failure`
/// is why the next one was not, when one was not.
public struct NotificationOutcome: Sendable {
    public var taken: Int
    public var failure: (any Error)?
    public init(taken: Int, failure: (any Error)?) { self.taken = taken; self.failure = failure }
}

extension IssuerHostClient {
    public func notifyTokensUpdated(_ notifications: [TokenNotification], at host: IssuerHostEndpoint) async -> NotificationOutcome {
        await Self.oneAtATime(notifications) { try await notifyTokenUpdated($0, at: host) }
    }

    /// `send` for each in order, stopping at the first failure.
    public static func oneAtATime(_ notifications: [TokenNotification],
                                  _ send: (TokenNotification) async throws -> Void) async -> NotificationOutcome {
        for (index, notification) in notifications.enumerated() {
            do { try await send(notification) } catch { return NotificationOutcome(taken: index, failure: error) }
        }
        return NotificationOutcome(taken: notifications.count, failure: nil)
    }
}
