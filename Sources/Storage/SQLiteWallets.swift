import Foundation
import GRDB
import WalletProvider

extension SQLiteStore: WalletStore {
    public func saveDevice(_ device: Device) async throws {
        try await put("INSERT OR REPLACE INTO devices (id, wallet_id, doc) VALUES (?, ?, ?)", [device.id, device.walletID, try Self.doc(device)])
    }

    public func device(id: String) async throws -> Device? { try await one(Device.self, "SELECT doc FROM devices WHERE id = ?", [id]) }

    public func saveDeviceModel(_ model: DeviceModel) async throws { try await put("INSERT OR REPLACE INTO device_models (id, doc) VALUES (?, ?)", [model.id, try Self.doc(model)]) }
    public func deviceModel(id: String) async throws -> DeviceModel? { try await one(DeviceModel.self, "SELECT doc FROM device_models WHERE id = ?", [id]) }
    public func deviceModels() async throws -> [DeviceModel] { try await all(DeviceModel.self, "SELECT doc FROM device_models ORDER BY id") }
}
