/// ISO/IEC 7816-4 application protocol data units in their short form, the commands
/// a contactless terminal sends to a card (or a phone's HCE applet) and its answers.
public struct CommandAPDU: Sendable, Equatable, CustomStringConvertible {
    public var cla: UInt8
    public var ins: UInt8
    public var p1: UInt8
    public var p2: UInt8
    public var data: [UInt8]
    /// Expected response length; 0 in Le means 256 in the short form.
    public var le: UInt8?

    public init(cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8] = [], le: UInt8? = nil) {
        self.cla = cla; self.ins = ins; self.p1 = p1; self.p2 = p2; self.data = data; self.le = le
    }

    /// Cases 1 to 4 (ISO/IEC 7816-3 §12.1.3), short length fields only.
    public var bytes: [UInt8] {
        precondition(data.count <= 255, "short APDU data is at most 255 bytes")
        var out = [cla, ins, p1, p2]
        if !data.isEmpty { out.append(UInt8(data.count)); out += data }
        if let le { out.append(le) }
        return out
    }

    public init(bytes: [UInt8]) throws(APDUError) {
        guard bytes.count >= 4 else { throw .tooShort(bytes.count) }
        cla = bytes[0]; ins = bytes[1]; p1 = bytes[2]; p2 = bytes[3]
        let body = bytes.count - 4
        switch body {
        case 0:
            data = []; le = nil
        case 1:
            data = []; le = bytes[4]
        default:
            let lc = Int(bytes[4])
            guard lc > 0 else { throw .extendedLengthUnsupported }
            if body == 1 + lc { data = Array(bytes[5...]); le = nil }
            else if body == 2 + lc { data = Array(bytes[5..<5 + lc]); le = bytes[5 + lc] }
            else { throw .lengthMismatch(lc: lc, bodyBytes: body) }
        }
    }

    public var description: String { "C-APDU \(Hex.encode(bytes))" }

    // The commands of an EMV contactless transaction (EMV Book 1 §11, Book 3 §6.5).

    /// SELECT by name: the PPSE ("2PAY.SYS.DDF01") or an AID.
    public static func select(name: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: name, le: 0x00)
    }

    public static let ppseName: [UInt8] = Array("2PAY.SYS.DDF01".utf8)

    /// GET PROCESSING OPTIONS with the PDOL data in tag 83.
    public static func getProcessingOptions(pdolData: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0xA8, p1: 0x00, p2: 0x00, data: BERTLV.encode(TLV(Tag(0x83), pdolData)), le: 0x00)
    }

    /// READ RECORD `record` of short file identifier `sfi`.
    public static func readRecord(_ record: UInt8, sfi: UInt8) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xB2, p1: record, p2: (sfi << 3) | 0x04, le: 0x00)
    }
}

public struct ResponseAPDU: Sendable, Equatable, CustomStringConvertible {
    public var data: [UInt8]
    public var status: StatusWord

    public init(data: [UInt8] = [], status: StatusWord) {
        self.data = data
        self.status = status
    }

    public var bytes: [UInt8] { data + [UInt8(status.rawValue >> 8), UInt8(status.rawValue & 0xFF)] }

    public init(bytes: [UInt8]) throws(APDUError) {
        guard bytes.count >= 2 else { throw .tooShort(bytes.count) }
        data = Array(bytes.dropLast(2))
        status = StatusWord(rawValue: UInt16(bytes[bytes.count - 2]) << 8 | UInt16(bytes[bytes.count - 1]))
    }

    public var description: String { "R-APDU \(Hex.encode(data)) \(status)" }
}

/// SW1-SW2 (ISO/IEC 7816-4 §5.6).
public struct StatusWord: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let success = StatusWord(rawValue: 0x9000)
    public static let wrongLength = StatusWord(rawValue: 0x6700)
    public static let conditionsNotSatisfied = StatusWord(rawValue: 0x6985)
    public static let fileNotFound = StatusWord(rawValue: 0x6A82)
    public static let recordNotFound = StatusWord(rawValue: 0x6A83)
    public static let incorrectP1P2 = StatusWord(rawValue: 0x6A86)
    public static let insNotSupported = StatusWord(rawValue: 0x6D00)
    public static let claNotSupported = StatusWord(rawValue: 0x6E00)

    public var description: String { Hex.encode([UInt8(rawValue >> 8), UInt8(rawValue & 0xFF)]) }
}

public enum APDUError: Error, Equatable, CustomStringConvertible {
    case tooShort(Int)
    case lengthMismatch(lc: Int, bodyBytes: Int)
    case extendedLengthUnsupported

    public var description: String {
        switch self {
        case .tooShort(let n): "APDU of \(n) bytes is too short"
        case .lengthMismatch(let lc, let body): "Lc says \(lc) data bytes but \(body) bytes follow the header"
        case .extendedLengthUnsupported: "extended-length APDUs are not supported"
        }
    }
}
