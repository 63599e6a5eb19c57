import EMV
import Foundation

/// EMVCo QR codes for payment systems (EMV QRCPS), consumer-presented mode: the code a
/// device shows and a merchant's terminal reads. The payload is BER-TLV, base64 (RFC 4648,
/// with padding) in the QR code:
///
///     85  payload format indicator, "CPV01"
///     61  application template
///         4F    the AID
///         50    application label
///         57    track 2 equivalent data (the token, its expiry, the service code)
///         5F34  PAN sequence number
///         63    application specific transparent template: the cryptogram and the
///               data it covers (9F26, 9F27, 9F10, 9F36, 82, 9F37, 9F02, 9F03, 9F1A,
///               95, 5F2A, 9A, 9C)
///
/// Proven against `pyemv`'s TLV codec and Python's base64 in `QROracleTests`.
public struct ConsumerQR: Sendable, Equatable {
    public static let formatIndicator = Array("CPV01".utf8)
    public static let payloadFormatIndicator = Tag(0x85)
    public static let applicationTemplate = Tag(0x61)
    public static let transparentTemplate = Tag(0x63)
    /// The largest payload read, in characters (a QR code's binary capacity in base64).
    public static let maxLength = 3_900

    public var aid: [UInt8]
    public var label: String
    /// Track 2 equivalent data (tag 57).
    public var track2: [UInt8]
    public var panSequenceNumber: UInt8
    /// The cryptogram and the data it covers (template 63).
    public var cryptogramData: [TLV]

    public init(aid: [UInt8], label: String, track2: [UInt8], panSequenceNumber: UInt8 = 0, cryptogramData: [TLV]) {
        self.aid = aid; self.label = label; self.track2 = track2; self.panSequenceNumber = panSequenceNumber; self.cryptogramData = cryptogramData
    }

    /// Reads a payload: base64, BER-TLV, "CPV01" first, one application template with
    /// its AID, track 2 equivalent data and template 63.
    public init(payload: String) throws(QRError) {
        let text = payload.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count <= Self.maxLength else { throw .syntax("longer than \(Self.maxLength) characters", offset: Self.maxLength) }
        guard let data = Data(base64Encoded: text) else { throw .syntax("not base64", offset: 0) }
        let objects: [TLV]
        do { objects = try BERTLV.decode(Array(data)) } catch { throw .syntax("not BER-TLV (\(error))", offset: 0) }
        guard let first = objects.first, first.tag == Self.payloadFormatIndicator else { throw .missing(tag: "85", what: "payload format indicator, first") }
        guard first.valueBytes == Self.formatIndicator else { throw .invalid(tag: "85", reason: "payload format indicator, expected \"CPV01\"") }
        let templates = objects.filter { $0.tag == Self.applicationTemplate }
        guard let application = templates.first else { throw .missing(tag: "61", what: "application template") }
        guard templates.count == 1 else { throw .invalid(tag: "61", reason: "one application template, found \(templates.count)") }
        let children = application.children
        guard let aid = children.first(where: { $0.tag == .applicationIdentifierCard })?.valueBytes, (5...16).contains(aid.count) else {
            throw .missing(tag: "4F", what: "the AID, 5 to 16 bytes")
        }
        guard let track2 = children.first(where: { $0.tag == .track2EquivalentData })?.valueBytes, (8...19).contains(track2.count) else {
            throw .missing(tag: "57", what: "track 2 equivalent data")
        }
        guard let transparent = children.first(where: { $0.tag == Self.transparentTemplate }), !transparent.children.isEmpty else {
            throw .missing(tag: "63", what: "the cryptogram's template")
        }
        let psn = children.first { $0.tag == .panSequenceNumber }?.valueBytes
        guard psn == nil || psn?.count == 1 else { throw .invalid(tag: "5F34", reason: "one byte") }
        let label = children.first { $0.tag == .applicationLabel }.map { String(decoding: $0.valueBytes, as: UTF8.self) } ?? ""
        self.init(aid: aid, label: label, track2: track2, panSequenceNumber: psn?.first ?? 0, cryptogramData: transparent.children)
    }

    /// The BER-TLV, before base64.
    public var bytes: [UInt8] {
        BERTLV.encode([
            TLV(Self.payloadFormatIndicator, Self.formatIndicator),
            TLV(Self.applicationTemplate, children: [
                TLV(.applicationIdentifierCard, aid), TLV(.applicationLabel, Array(label.utf8)), TLV(.track2EquivalentData, track2),
                TLV(.panSequenceNumber, [panSequenceNumber]), TLV(Self.transparentTemplate, children: cryptogramData),
            ]),
        ])
    }

    /// The payload the device shows: base64 of `bytes`.
    public func payload() -> String { Data(bytes).base64EncodedString() }
}
