import Foundation

/// Input checks shared by the services (participants, token service, wallet provider): each failure names the
/// field and says what would be accepted.
public enum Validate {
    public static func identifier(_ value: String, field: String) throws {
        guard (2...40).contains(value.count), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }),
              value.first?.isLetter == true else {
            throw ServiceError.invalid(field: field, reason: "2 to 40 letters, digits, '-' or '_', starting with a letter")
        }
    }

    /// An issuer host's signing key: 64 hex digits (32 bytes), as the host made it.
    public static func hostKey(_ value: String?) throws {
        guard let value, value.utf8.count == 64, value.allSatisfy(\.isHexDigit) else {
            throw ServiceError.invalid(field: "hostKey", reason: "the token service key the issuer host made for this bank: 64 hex digits")
        }
    }

    public static func nonEmpty(_ value: String, field: String, max: Int) throws {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, value.count <= max else { throw ServiceError.invalid(field: field, reason: "1 to \(max) characters") }
    }

    public static func country(_ value: String, field: String) throws {
        guard value.count == 2, value.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw ServiceError.invalid(field: field, reason: "ISO 3166-1 alpha-2, like RU")
        }
    }

    public static func currency(_ value: String, field: String) throws {
        guard value.count == 3, value.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw ServiceError.invalid(field: field, reason: "ISO 4217 alpha-3, like RUB")
        }
    }

    public static func bin(_ value: String, field: String) throws {
        guard (6...11).contains(value.count), value.allSatisfy(\.isASCIIDigit) else {
            throw ServiceError.invalid(field: field, reason: "each range is a prefix of 6 to 11 digits")
        }
    }

    /// MMYY as printed on a card, or YYMM as EMV writes it, given as "MM/YY" or "YYMM";
    /// returns YYMM. A card that expired before this month is refused.
    public static func expiry(_ value: String, now: Date) throws -> String {
        let yymm: String
        if value.count == 5, value.dropFirst(2).first == "/" {
            yymm = String(value.suffix(2)) + String(value.prefix(2))
        } else {
            yymm = value
        }
        guard yymm.count == 4, yymm.allSatisfy(\.isASCIIDigit), let month = Int(yymm.suffix(2)), (1...12).contains(month), let expires = Int(yymm) else {
            throw ServiceError.invalid(field: "expiry", reason: "MM/YY (as printed) or YYMM")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let c = calendar.dateComponents([.year, .month], from: now)
        let current = ((c.year ?? 0) % 100) * 100 + (c.month ?? 0)
        guard expires >= current else { throw ServiceError.ineligible(code: "card_expired", reason: "the card expired in \(yymm.suffix(2))/\(yymm.prefix(2))") }
        return yymm
    }
}

extension Character {
    /// 0 to 9, and nothing else that Unicode calls a number.
    public var isASCIIDigit: Bool { isASCII && isNumber }
}
