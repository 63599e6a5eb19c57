import Crypto
import IssuerContract

/// The device a token is bound to, as the wallet provider vouches for it: the token
/// service seals keys to its public key and records where it is used. The wallet
/// provider owns devices; the token service sees only this.
public struct DeviceBinding: Sendable {
    public var id: String
    public var walletID: String
    public var kind: DeviceKind
    public var modelID: String
    /// ISO 3166-1 alpha-2: where the device is used (the token's market).
    public var country: String
    /// Provisioning is sealed to it (ECDH P-256).
    public var publicKey: P256.KeyAgreement.PublicKey

    public init(id: String, walletID: String, kind: DeviceKind, modelID: String, country: String, publicKey: P256.KeyAgreement.PublicKey) {
        self.id = id; self.walletID = walletID; self.kind = kind; self.modelID = modelID; self.country = country; self.publicKey = publicKey
    }
}
