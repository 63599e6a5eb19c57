/// What a new Passway network starts with: the markets of the rollout and a device
/// catalog of current phones and watches. Operators move markets through the API
/// (`PUT /v1/markets/{country}`); the catalog has no write endpoint yet.
public enum Defaults {
    public static let markets: [Market] = [
        Market(country: "RU", name: "Russia", currency: "RUB", languages: ["ru"], state: .live),
        Market(country: "CN", name: "China", currency: "CNY", languages: ["zh"], state: .live),
        Market(country: "BY", name: "Belarus", currency: "BYN", languages: ["be", "ru"], state: .pilot),
        Market(country: "KZ", name: "Kazakhstan", currency: "KZT", languages: ["kk", "ru"], state: .pilot),
        Market(country: "AM", name: "Armenia", currency: "AMD", languages: ["hy"], state: .planned),
        Market(country: "PL", name: "Poland", currency: "PLN", languages: ["pl"], state: .planned),
        Market(country: "CZ", name: "Czechia", currency: "CZK", languages: ["cs"], state: .planned),
        Market(country: "SK", name: "Slovakia", currency: "EUR", languages: ["sk"], state: .planned),
        Market(country: "HU", name: "Hungary", currency: "HUF", languages: ["hu"], state: .planned),
        Market(country: "RO", name: "Romania", currency: "RON", languages: ["ro"], state: .planned),
        Market(country: "BG", name: "Bulgaria", currency: "BGN", languages: ["bg"], state: .planned),
        Market(country: "RS", name: "Serbia", currency: "RSD", languages: ["sr"], state: .planned),
    ]

    static let rollout = ["RU", "CN", "BY", "KZ", "AM", "PL", "CZ", "SK", "HU", "RO", "BG", "RS"]
    static let eastAsia = ["CN", "RU", "KZ"]

    public static let deviceModels: [DeviceModel] = [
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
