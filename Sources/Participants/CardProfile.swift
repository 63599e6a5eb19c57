import Crypto
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A card product as a wallet shows it: which of the issuer's cards it covers, its card
/// art, the issuer's contact details and the terms and conditions the cardholder accepts
/// before a token is made. Kept in the issuer's record; art and terms texts are assets.
public struct CardProfile: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// Card number prefixes, each within one of the issuer's card ranges.
    public var cardRanges: [String]
    /// A PNG or SVG asset of the issuer's.
    public var artAssetID: String?
    public var contact: Contact
    public var terms: Terms?

    public struct Contact: Codable, Sendable, Equatable {
        public var phone: String?
        public var email: String?
        public var website: String?
        public init(phone: String? = nil, email: String? = nil, website: String? = nil) { self.phone = phone; self.email = email; self.website = website }
    }

    /// The terms in force: a version, and its text per language (ISO 639-1) as text assets.
    public struct Terms: Codable, Sendable, Equatable {
        public var version: String
        public var texts: [String: String]
        public init(version: String, texts: [String: String]) { self.version = version; self.texts = texts }
    }

    public init(id: String, name: String, cardRanges: [String], artAssetID: String? = nil, contact: Contact = Contact(), terms: Terms? = nil) {
        self.id = id; self.name = name; self.cardRanges = cardRanges; self.artAssetID = artAssetID; self.contact = contact; self.terms = terms
    }

    /// The language of a terms text a reader gets: the first of `preferred` the terms have,
    /// else `fallback` (the market's), else English, else the first in order.
    public func termsLanguage(preferred: [String], fallback: String?) -> String? {
        guard let terms else { return nil }
        for language in preferred + [fallback, "en"].compactMap({ $0 }) where terms.texts[language] != nil { return language }
        return terms.texts.keys.sorted().first
    }
}

extension Issuer {
    /// The profile covering a card: the one with the longest matching range.
    public func cardProfile(forCard digits: String) -> CardProfile? {
        (cardProfiles ?? []).compactMap { profile in
            profile.cardRanges.filter { digits.hasPrefix($0) }.map(\.count).max().map { (profile, $0) }
        }.max { $0.1 < $1.1 }?.0
    }
}

/// A file an issuer gives the platform for wallets to show: card art (PNG or SVG) or a
/// terms text (UTF-8). Its id is derived from its issuer, type and bytes, so an asset
/// never changes and is served with a year's cache.
public struct Asset: Sendable, Equatable {
    public var id: String
    public var issuerID: String
    public var contentType: String
    public var bytes: [UInt8]
    public var createdAt: Date

    public static let png = "image/png"
    public static let svg = "image/svg+xml"
    public static let text = "text/plain; charset=utf-8"
    public static let maxImageBytes = 256 * 1024
    public static let maxTextBytes = 64 * 1024
    public static let maxPixels = 4096

    public init(id: String, issuerID: String, contentType: String, bytes: [UInt8], createdAt: Date) {
        self.id = id; self.issuerID = issuerID; self.contentType = contentType; self.bytes = bytes; self.createdAt = createdAt
    }

    public var isImage: Bool { contentType == Self.png || contentType == Self.svg }

    /// Checks the bytes are what their type says, within the limits, and makes the asset.
    public static func make(issuerID: String, contentType declared: String, bytes: [UInt8], at: Date) throws -> Asset {
        let media = declared.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let type: String
        switch media {
        case "image/png": type = png
        case "image/svg+xml": type = svg
        case "text/plain": type = text
        default: throw ServiceError.invalid(field: "Content-Type", reason: "image/png, image/svg+xml or text/plain (UTF-8)")
        }
        let limit = type == text ? maxTextBytes : maxImageBytes
        guard !bytes.isEmpty, bytes.count <= limit else { throw ServiceError.invalid(field: "body", reason: "1 to \(limit) bytes for \(media)") }
        switch type {
        case png: try checkPNG(bytes)
        case svg: try checkSVG(bytes)
        default:
            guard String(validating: bytes, as: UTF8.self) != nil else { throw ServiceError.invalid(field: "body", reason: "a text must be UTF-8") }
        }
        let digest = SHA256.hash(data: Array("\(issuerID)\n\(type)\n".utf8) + bytes)
        return Asset(id: "ast_" + digest.prefix(16).map { String(format: "%02x", $0) }.joined(), issuerID: issuerID, contentType: type,
                     bytes: bytes, createdAt: at)
    }

    /// The PNG signature and an IHDR of at most `maxPixels` a side.
    static func checkPNG(_ bytes: [UInt8]) throws {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 33, Array(bytes[0..<8]) == signature, Array(bytes[12..<16]) == Array("IHDR".utf8) else {
            throw ServiceError.invalid(field: "body", reason: "not a PNG (signature and IHDR)")
        }
        func be32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        let (width, height) = (be32(16), be32(20))
        guard (1...maxPixels).contains(width), (1...maxPixels).contains(height) else {
            throw ServiceError.invalid(field: "body", reason: "a PNG of 1 to \(maxPixels) pixels a side, not \(width)×\(height)")
        }
    }

    /// Well-formed XML whose root is `svg`, with nothing that runs or fetches: no script,
    /// foreignObject, iframe, object or embed, no event attributes, no reference outside
    /// the document, no DOCTYPE.
    static func checkSVG(_ bytes: [UInt8]) throws {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ServiceError.invalid(field: "body", reason: "an SVG must be UTF-8") }
        guard !text.contains("<!DOCTYPE"), !text.contains("<!ENTITY") else {
            throw ServiceError.invalid(field: "body", reason: "an SVG without DOCTYPE or entities")
        }
        let checker = SVGChecker()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        parser.delegate = checker
        guard parser.parse(), checker.root == "svg" else {
            throw ServiceError.invalid(field: "body", reason: checker.problem ?? "not a well-formed SVG document")
        }
        if let problem = checker.problem { throw ServiceError.invalid(field: "body", reason: problem) }
    }
}

private final class SVGChecker: NSObject, XMLParserDelegate {
    var root: String?
    var problem: String?
    static let forbidden: Set<String> = ["script", "foreignobject", "iframe", "object", "embed", "handler", "listener"]

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        let local = (name.split(separator: ":").last.map(String.init) ?? name).lowercased()
        if root == nil { root = local }
        if Self.forbidden.contains(local) { fail("an SVG without <\(local)>", parser) }
        for (key, value) in attributes {
            let attribute = (key.split(separator: ":").last.map(String.init) ?? key).lowercased()
            if attribute.hasPrefix("on") { fail("an SVG without event attributes (\(key))", parser) }
            if attribute == "href" || attribute == "src", !value.trimmingCharacters(in: .whitespaces).hasPrefix("#") {
                fail("an SVG that refers to nothing outside itself (\(key))", parser)
            }
            if value.lowercased().contains("url(") && !value.lowercased().contains("url(#") { fail("an SVG that refers to nothing outside itself (\(key))", parser) }
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if string.lowercased().contains("@import") { fail("an SVG that refers to nothing outside itself (@import)", parser) }
    }

    private func fail(_ why: String, _ parser: XMLParser) {
        if problem == nil { problem = why }
        parser.abortParsing()
    }
}

/// Something a wallet should know, kept in order per wallet until it reads it: the
/// terms of a card product changed.
public struct WalletEvent: Codable, Sendable, Equatable {
    /// Its place in the wallet's feed, given when stored.
    public var seq: Int64
    public var walletID: String
    public var at: Date
    public var type: String
    public var issuerID: String
    public var profileID: String
    public var cardRanges: [String]
    public var termsVersion: String?
    /// What to tell the cardholders, by language (ru, zh, en).
    public var messages: [String: String]?

    public init(seq: Int64 = 0, walletID: String, at: Date, type: String, issuerID: String, profileID: String, cardRanges: [String], termsVersion: String?,
                messages: [String: String]? = nil) {
        self.seq = seq; self.walletID = walletID; self.at = at; self.type = type; self.issuerID = issuerID; self.profileID = profileID
        self.cardRanges = cardRanges; self.termsVersion = termsVersion; self.messages = messages
    }
}
