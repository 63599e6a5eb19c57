import Foundation

/// EMVCo QR codes for payment systems (EMV QRCPS), merchant-presented mode: the payload a
/// merchant shows and a wallet reads. Data objects are `ID (2 digits) · length (2 digits)
/// · value`, lengths counted in characters (Unicode scalars, as cemacqr and Python count
/// them: a letter with a combining accent is two); templates hold data objects in the same
/// form; the payload starts with the payload format indicator (`00`, "01") and ends with
/// the CRC (`63`, four upper-case hex digits: CRC-16/CCITT-FALSE, polynomial 0x1021,
/// initial 0xFFFF, over the UTF-8 bytes of everything before it, `6304` included).
/// Proven against `cemacqr` (PyPI) in `QROracleTests`, both ways.
public struct QRDataObject: Sendable, Equatable, Codable {
    public var tag: String
    public var value: String

    public init(tag: String, value: String) { self.tag = tag; self.value = value }

    /// `ID || length || value`.
    public var text: String { tag + Self.twoDigits(value.unicodeScalars.count) + value }

    static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

public enum QRError: Error, Equatable, CustomStringConvertible {
    /// Not TLV as QRCPS defines it, at this character offset.
    case syntax(String, offset: Int)
    case crcMismatch(stated: String, computed: String)
    case missing(tag: String, what: String)
    case invalid(tag: String, reason: String)

    public var description: String {
        switch self {
        case .syntax(let why, let offset): "not an EMV QR payload: \(why) at character \(offset)"
        case .crcMismatch(let stated, let computed): "CRC \(stated) does not match the payload's (\(computed)): the code is damaged or altered"
        case .missing(let tag, let what): "ID \(tag) (\(what)) is missing"
        case .invalid(let tag, let reason): "ID \(tag): \(reason)"
        }
    }
}

public enum EMVQR {
    /// The largest payload read (QR version 40 holds 4,296 alphanumeric characters).
    public static let maxLength = 4_296

    /// The data objects of `text`, in order. Each value's length is counted in characters.
    public static func parse(_ text: String) throws(QRError) -> [QRDataObject] {
        let characters = Array(text.unicodeScalars)
        func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(scalars)) }
        guard characters.count <= maxLength else { throw .syntax("longer than \(maxLength) characters", offset: maxLength) }
        var objects: [QRDataObject] = []
        var at = 0
        while at < characters.count {
            guard at + 4 <= characters.count else { throw .syntax("an ID and a length need four characters", offset: at) }
            let tag = string(characters[at..<(at + 2)]), lengthText = string(characters[(at + 2)..<(at + 4)])
            guard tag.allSatisfy(\.isASCIIDigit) else { throw .syntax("ID \(tag.debugDescription) is not two digits", offset: at) }
            guard lengthText.allSatisfy(\.isASCIIDigit), let length = Int(lengthText) else {
                throw .syntax("length \(lengthText.debugDescription) is not two digits", offset: at + 2)
            }
            guard at + 4 + length <= characters.count else { throw .syntax("ID \(tag) says \(length) characters, fewer remain", offset: at + 4) }
            objects.append(QRDataObject(tag: tag, value: string(characters[(at + 4)..<(at + 4 + length)])))
            at += 4 + length
        }
        return objects
    }

    public static func encode(_ objects: [QRDataObject]) -> String { objects.map(\.text).joined() }

    /// CRC-16/CCITT-FALSE of `bytes`.
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    static func hex4(_ value: UInt16) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(value >> 12)], digits[Int((value >> 8) & 0xF)], digits[Int((value >> 4) & 0xF)], digits[Int(value & 0xF)]])
    }

    /// `body` with `6304` and its CRC appended.
    public static func withCRC(_ body: String) -> String {
        let covered = body + "6304"
        return covered + hex4(crc16(covered.utf8))
    }
}

fileprivate extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// A merchant-presented payload: what Passway writes for a merchant and reads in a wallet.
public struct MerchantQR: Sendable, Equatable, Codable {
    /// Passway's merchant account information template (ID 26): sub-ID 00 this globally
    /// unique identifier, 01 the acquirer's institution code (field 32), 02 the merchant
    /// (field 42), 03 the terminal (field 41).
    public static let passwayAccountTag = "26"
    public static let passwayGUID = "RU.PASSWAY"

    /// "11" a code shown for many payments, "12" one made for this payment.
    public var pointOfInitiation: String?
    /// Merchant account templates (IDs 26 to 51): each one's sub-IDs and values.
    public var merchantAccounts: [String: [String: String]]
    /// Payment networks' own merchant accounts (IDs 02 to 25): plain values.
    public var networkAccounts: [String: String] = [:]
    public var merchantCategoryCode: String
    /// ISO 4217 numeric.
    public var currency: String
    /// As written ("98.73"); nil when the consumer enters it.
    public var amount: String?
    /// ISO 3166-1 alpha-2.
    public var country: String
    public var merchantName: String
    public var merchantCity: String
    public var postalCode: String?
    /// The additional data field template (ID 62): 01 bill number, 05 reference label, 07 terminal label, …
    public var additionalData: [String: String]
    /// The payload's CRC as carried (checked when read).
    public var crc: String?

    public init(pointOfInitiation: String?, merchantAccounts: [String: [String: String]], merchantCategoryCode: String, currency: String,
                amount: String?, country: String, merchantName: String, merchantCity: String, postalCode: String? = nil,
                additionalData: [String: String] = [:]) {
        self.pointOfInitiation = pointOfInitiation; self.merchantAccounts = merchantAccounts; self.merchantCategoryCode = merchantCategoryCode
        self.currency = currency; self.amount = amount; self.country = country; self.merchantName = merchantName; self.merchantCity = merchantCity
        self.postalCode = postalCode; self.additionalData = additionalData; self.crc = nil
    }

    /// Reads a payload: well-formed, the format indicator first and "01", the CRC last
    /// and right, and every mandatory data object present and in its form.
    public init(payload: String) throws(QRError) {
        let text = payload.trimmingCharacters(in: .whitespacesAndNewlines)
        let objects = try EMVQR.parse(text)
        guard let first = objects.first, first.tag == "00" else { throw .missing(tag: "00", what: "payload format indicator, first") }
        guard first.value == "01" else { throw .invalid(tag: "00", reason: "payload format indicator \(first.value.debugDescription), expected \"01\"") }
        guard let last = objects.last, last.tag == "63", last.value.count == 4 else { throw .missing(tag: "63", what: "CRC, last, four hex digits") }
        let body = String(String.UnicodeScalarView(text.unicodeScalars.dropLast(4)))
        let computed = EMVQR.hex4(EMVQR.crc16(body.utf8))
        guard last.value.uppercased() == computed else { throw .crcMismatch(stated: last.value, computed: computed) }
        var seen: [String: String] = [:]
        var accounts: [String: [String: String]] = [:]
        var networks: [String: String] = [:]
        for object in objects.dropFirst().dropLast() {
            guard seen[object.tag] == nil else { throw .invalid(tag: object.tag, reason: "appears twice") }
            seen[object.tag] = object.value
            if let id = Int(object.tag), (26...51).contains(id) { accounts[object.tag] = try Self.template(object) }
            if let id = Int(object.tag), (2...25).contains(id) { networks[object.tag] = object.value }
        }
        func required(_ tag: String, _ what: String) throws(QRError) -> String {
            guard let value = seen[tag], !value.isEmpty else { throw .missing(tag: tag, what: what) }
            return value
        }
        guard !accounts.isEmpty || !networks.isEmpty else { throw .missing(tag: "02-51", what: "a merchant account information") }
        let mcc = try required("52", "merchant category code"), currency = try required("53", "transaction currency")
        guard mcc.count == 4, mcc.allSatisfy(\.isASCIIDigit) else { throw .invalid(tag: "52", reason: "four digits") }
        guard currency.count == 3, currency.allSatisfy(\.isASCIIDigit) else { throw .invalid(tag: "53", reason: "an ISO 4217 numeric code") }
        if let amount = seen["54"] {
            guard (1...13).contains(amount.count), amount.allSatisfy({ $0.isASCIIDigit || $0 == "." }), amount.filter({ $0 == "." }).count <= 1,
                  amount.first != "." else { throw .invalid(tag: "54", reason: "an amount like 98.73, at most 13 characters") }
        }
        let country = try required("58", "country code")
        guard country.count == 2, country.allSatisfy({ $0.isASCII && $0.isUppercase }) else { throw .invalid(tag: "58", reason: "ISO 3166-1 alpha-2") }
        if let poi = seen["01"], poi != "11", poi != "12" { throw .invalid(tag: "01", reason: "point of initiation 11 (static) or 12 (dynamic)") }
        self.init(pointOfInitiation: seen["01"], merchantAccounts: accounts, merchantCategoryCode: mcc, currency: currency, amount: seen["54"],
                  country: country, merchantName: try required("59", "merchant name"), merchantCity: try required("60", "merchant city"),
                  postalCode: seen["61"], additionalData: try seen["62"].map { value throws(QRError) in try Self.template(QRDataObject(tag: "62", value: value)) } ?? [:])
        networkAccounts = networks
        crc = last.value.uppercased()
    }

    static func template(_ object: QRDataObject) throws(QRError) -> [String: String] {
        let children: [QRDataObject]
        do { children = try EMVQR.parse(object.value) } catch {
            throw .invalid(tag: object.tag, reason: "a template whose data objects do not parse (\(error))")
        }
        var values: [String: String] = [:]
        for child in children {
            guard values[child.tag] == nil else { throw .invalid(tag: object.tag, reason: "sub-ID \(child.tag) appears twice") }
            values[child.tag] = child.value
        }
        return values
    }

    /// The payload, data objects in ascending ID order, the CRC last.
    public func payload() -> String {
        var objects = [QRDataObject(tag: "00", value: "01")]
        if let pointOfInitiation { objects.append(QRDataObject(tag: "01", value: pointOfInitiation)) }
        for (tag, value) in networkAccounts.sorted(by: { $0.key < $1.key }) { objects.append(QRDataObject(tag: tag, value: value)) }
        for (tag, fields) in merchantAccounts.sorted(by: { $0.key < $1.key }) {
            objects.append(QRDataObject(tag: tag, value: EMVQR.encode(fields.sorted { $0.key < $1.key }.map { QRDataObject(tag: $0.key, value: $0.value) })))
        }
        objects.append(QRDataObject(tag: "52", value: merchantCategoryCode))
        objects.append(QRDataObject(tag: "53", value: currency))
        if let amount { objects.append(QRDataObject(tag: "54", value: amount)) }
        objects.append(QRDataObject(tag: "58", value: country))
        objects.append(QRDataObject(tag: "59", value: merchantName))
        objects.append(QRDataObject(tag: "60", value: merchantCity))
        if let postalCode { objects.append(QRDataObject(tag: "61", value: postalCode)) }
        if !additionalData.isEmpty {
            objects.append(QRDataObject(tag: "62", value: EMVQR.encode(additionalData.sorted { $0.key < $1.key }.map { QRDataObject(tag: $0.key, value: $0.value) })))
        }
        return EMVQR.withCRC(EMVQR.encode(objects))
    }
}

extension EMVQR {
    /// A QR amount ("98.73", "98") in minor units of a currency with `exponent` (0 to 3)
    /// decimals: digits, at most one point with 1 to `exponent` digits after it, 13
    /// characters at most; nil otherwise.
    public static func minorUnits(_ amount: String, exponent: Int) -> Int64? {
        guard (0...3).contains(exponent), (1...13).contains(amount.count) else { return nil }
        let parts = amount.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }), !parts[0].isEmpty else { return nil }
        let decimals = parts.count == 2 ? String(parts[1]) : ""
        guard parts.count == 1 || (decimals.count >= 1 && decimals.count <= exponent) else { return nil }
        // At most 16 digits: always an Int64.
        return Int64(String(parts[0]) + decimals + String(repeating: "0", count: exponent - decimals.count))
    }
}
