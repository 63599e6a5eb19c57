import IssuerContract

/// A phone or watch model the wallet supports.
public struct DeviceModel: Codable, Sendable, Equatable {
    /// Phone or watch: the kind the issuer's ID&V rules look at.
    public typealias Kind = DeviceKind

    public var id: String
    public var manufacturer: String
    public var model: String
    public var kind: Kind
    public var nfc: Bool
    /// Where the device keeps the token's keys: a secure element, a trusted execution
    /// environment, or neither.
    public var keyStorage: KeyStorage
    /// A fingerprint or face sensor, for the cardholder's verification on the device.
    public var biometric: Bool
    /// Lowest OS version (dotted numbers) that runs the wallet.
    public var minimumOS: String
    /// Countries it is sold and supported in.
    public var markets: [String]

    public enum KeyStorage: String, Codable, Sendable, CaseIterable {
        case secureElement = "secure-element", tee, none
    }

    public init(id: String, manufacturer: String, model: String, kind: Kind, nfc: Bool, keyStorage: KeyStorage = .tee, biometric: Bool = true,
                minimumOS: String, markets: [String]) {
        self.id = id; self.manufacturer = manufacturer; self.model = model; self.kind = kind
        self.nfc = nfc; self.keyStorage = keyStorage; self.biometric = biometric; self.minimumOS = minimumOS; self.markets = markets
    }

    enum CodingKeys: String, CodingKey { case id, manufacturer, model, kind, nfc, keyStorage, biometric, minimumOS, markets }

    /// Models stored before the key storage and the sensor were recorded were the seed
    /// catalog's, which all keep keys in a TEE and have a sensor: read as such.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        manufacturer = try c.decode(String.self, forKey: .manufacturer)
        model = try c.decode(String.self, forKey: .model)
        kind = try c.decode(Kind.self, forKey: .kind)
        nfc = try c.decode(Bool.self, forKey: .nfc)
        keyStorage = try c.decodeIfPresent(KeyStorage.self, forKey: .keyStorage) ?? .tee
        biometric = try c.decodeIfPresent(Bool.self, forKey: .biometric) ?? true
        minimumOS = try c.decode(String.self, forKey: .minimumOS)
        markets = try c.decode([String].self, forKey: .markets)
    }

    public func supports(osVersion: String) -> Bool { compareVersions(osVersion, minimumOS) >= 0 }

    /// What the wallet requires of a device (EMVCo: a device the token can live on): NFC
    /// for the tap, a secure element or a TEE for the keys, a biometric sensor for the
    /// cardholder's verification. Nil when it meets them; otherwise what it lacks.
    public var unmetRequirement: String? {
        if !nfc { return "has no NFC" }
        if keyStorage == .none { return "has neither a secure element nor a TEE for the token's keys" }
        if !biometric { return "has no biometric sensor" }
        return nil
    }
}

/// -1, 0, 1 comparing dotted version numbers numerically ("10.2" > "9.9").
public func compareVersions(_ a: String, _ b: String) -> Int {
    let x = a.split(separator: ".").map { Int($0) ?? 0 }, y = b.split(separator: ".").map { Int($0) ?? 0 }
    for i in 0..<max(x.count, y.count) {
        let l = i < x.count ? x[i] : 0, r = i < y.count ? y[i] : 0
        if l != r { return l < r ? -1 : 1 }
    }
    return 0
}

extension DeviceModel {
    /// What a new Passway network starts with: a catalog of current phones and watches
    /// (no write endpoint yet).
    static let rollout = ["RU", "CN", "BY", "KZ", "AM", "PL", "CZ", "SK", "HU", "RO", "BG", "RS"]
    static let eastAsia = ["CN", "RU", "KZ"]

    public static let catalog: [DeviceModel] = [
        DeviceModel(id: "samsung-galaxy-s24", manufacturer: "Samsung", model: "Galaxy S24", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "samsung-galaxy-a55", manufacturer: "Samsung", model: "Galaxy A55", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "samsung-galaxy-z-flip6", manufacturer: "Samsung", model: "Galaxy Z Flip6", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "xiaomi-14", manufacturer: "Xiaomi", model: "Xiaomi 14", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "xiaomi-redmi-note-13-pro", manufacturer: "Xiaomi", model: "Redmi Note 13 Pro", kind: .phone, nfc: true, minimumOS: "13", markets: rollout),
        DeviceModel(id: "huawei-pura-70", manufacturer: "Huawei", model: "Pura 70", kind: .phone, nfc: true, minimumOS: "4.2", markets: eastAsia),
        DeviceModel(id: "huawei-mate-60", manufacturer: "Huawei", model: "Mate 60", kind: .phone, nfc: true, minimumOS: "4.0", markets: eastAsia),
        DeviceModel(id: "honor-magic6", manufacturer: "Honor", model: "Magic6", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "oppo-find-x7", manufacturer: "OPPO", model: "Find X7", kind: .phone, nfc: true, minimumOS: "14", markets: eastAsia),
        DeviceModel(id: "vivo-x100", manufacturer: "vivo", model: "X100", kind: .phone, nfc: true, minimumOS: "14", markets: eastAsia),
        DeviceModel(id: "google-pixel-8", manufacturer: "Google", model: "Pixel 8", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "realme-12-pro", manufacturer: "realme", model: "12 Pro", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "tecno-camon-30", manufacturer: "TECNO", model: "CAMON 30", kind: .phone, nfc: true, minimumOS: "14", markets: rollout),
        DeviceModel(id: "samsung-galaxy-watch7", manufacturer: "Samsung", model: "Galaxy Watch7", kind: .watch, nfc: true, minimumOS: "5", markets: rollout),
        DeviceModel(id: "huawei-watch-gt4", manufacturer: "Huawei", model: "Watch GT 4", kind: .watch, nfc: true, minimumOS: "4.0", markets: eastAsia),
        DeviceModel(id: "huawei-watch-4-pro", manufacturer: "Huawei", model: "Watch 4 Pro", kind: .watch, nfc: true, minimumOS: "4.0", markets: eastAsia),
        DeviceModel(id: "xiaomi-watch-s3", manufacturer: "Xiaomi", model: "Watch S3", kind: .watch, nfc: true, minimumOS: "1.0", markets: rollout),
        DeviceModel(id: "amazfit-balance", manufacturer: "Amazfit", model: "Balance", kind: .watch, nfc: true, minimumOS: "3.0", markets: rollout),
        DeviceModel(id: "google-pixel-watch-2", manufacturer: "Google", model: "Pixel Watch 2", kind: .watch, nfc: true, minimumOS: "4", markets: rollout),
        DeviceModel(id: "honor-watch-4", manufacturer: "Honor", model: "Watch 4", kind: .watch, nfc: false, minimumOS: "1.0", markets: rollout),
    ]
}
