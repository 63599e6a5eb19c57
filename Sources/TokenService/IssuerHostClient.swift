import IssuerContract
import Participants

/// The token service's calls to an issuer's host, in the wire types of `IssuerContract`
/// (JSON over HTTP in production: `PasswayServer` supplies that client).
public protocol IssuerHostClient: Sendable {
    func authorize(_ request: IDVRequest, issuer: Issuer) async throws -> IDVDecision
    func deliverActivationCode(_ delivery: ActivationCodeDelivery, issuer: Issuer) async throws
    func notifyTokenUpdated(_ notification: TokenNotification, issuer: Issuer) async throws
}
