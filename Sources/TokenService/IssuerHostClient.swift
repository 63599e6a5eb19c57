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
}
