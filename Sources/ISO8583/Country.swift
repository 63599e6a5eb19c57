/// ISO 3166-1 countries of the markets Passway rolls out to and their neighbours: the
/// alpha-2 code a QR code carries (ID 58) and the numeric one of tag 9F1A and field 19.
public enum Country {
    public static func numeric(alpha2 code: String) -> UInt16? { byAlpha2[code.uppercased()] }

    static let byAlpha2: [String: UInt16] = [
        "RU": 643, "CN": 156, "BY": 112, "KZ": 398, "AM": 51, "PL": 616, "CZ": 203, "DE": 276, "FR": 250, "IT": 380, "ES": 724,
        "HU": 348, "RO": 642, "BG": 100, "RS": 688, "UZ": 860, "KG": 417, "TR": 792, "GE": 268, "AZ": 31, "US": 840, "GB": 826,
        "CH": 756, "AE": 784, "IN": 356, "TH": 764, "VN": 704, "JP": 392, "KR": 410, "KW": 414, "BH": 48, "JO": 400, "OM": 512,
        "TN": 788, "HK": 344, "SG": 702, "MN": 496, "TJ": 762, "TM": 795, "MD": 498, "LV": 428, "LT": 440, "EE": 233, "FI": 246,
    ]
}
