import Foundation
import IssuerContract

/// A device registered with the wallet provider: a phone or watch of one wallet, where
/// it is used, and the public key its tokens' keys are sealed to.
public struct Device: Codable, Sendable, Equatable {
    public var id: String
    public var walletID: String
    public var modelID: String
    public var kind: DeviceKind
    public var osVersion: String
    /// The country the device is used in (ISO 3166-1 alpha-2).
    public var country: String
    /// The device's P-256 public key, X9.63 uncompressed, base64.
    public var publicKey: String
    public var lost: Bool
    public var registeredAt: Date

    public init(id: String, walletID: String, modelID: String, kind: DeviceKind, osVersion: String, country: String, publicKey: String,
                lost: Bool, registeredAt: Date) {
        self.id = id; self.walletID = walletID; self.modelID = modelID; self.kind = kind; self.osVersion = osVersion
        self.country = country; self.publicKey = publicKey; self.lost = lost; self.registeredAt = registeredAt
    }
}

/// The wallet provider's storage seam: devices and the device catalog. SQLite and
/// PostgreSQL implement it (`Storage`).
public protocol WalletStore: Sendable {
    /// Inserts or replaces (by id).
    func saveDevice(_ device: Device) async throws
    func device(id: String) async throws -> Device?
    func saveDeviceModel(_ model: DeviceModel) async throws
    func deviceModel(id: String) async throws -> DeviceModel?
    func deviceModels() async throws -> [DeviceModel]
}
