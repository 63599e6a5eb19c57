import Foundation
import PostgresNIO
import WalletProvider

extension PostgresStore: WalletStore {
    public func saveDevice(_ device: Device) async throws {
        try await run("""
            INSERT INTO devices (id, wallet_id, doc) VALUES (\(device.id), \(device.walletID), \(try Self.doc(device))::jsonb)
            ON CONFLICT (id) DO UPDATE SET wallet_id = EXCLUDED.wallet_id, doc = EXCLUDED.doc
            """)
    }

    public func device(id: String) async throws -> Device? { try await one(Device.self, "SELECT doc::text FROM devices WHERE id = \(id)") }

    public func saveDeviceModel(_ model: DeviceModel) async throws {
        try await run("""
            INSERT INTO device_models (id, doc) VALUES (\(model.id), \(try Self.doc(model))::jsonb) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc
            """)
    }
    public func deviceModel(id: String) async throws -> DeviceModel? { try await one(DeviceModel.self, "SELECT doc::text FROM device_models WHERE id = \(id)") }
    public func deviceModels() async throws -> [DeviceModel] { try await all(DeviceModel.self, "SELECT doc::text FROM device_models ORDER BY id") }
}
