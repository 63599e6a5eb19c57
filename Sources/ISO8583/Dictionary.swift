import EMV

/// The message as a flat dictionary in the shape pyiso8583 decodes to: `"t"` for the
/// MTI, `"p"` and `"1"` for the bitmaps as upper-case hex, field numbers as string keys,
/// text fields as text and binary fields as upper-case hex. Tools and tests that speak
/// to pyiso8583 go through this one representation.
extension Message {
    public var pyiso8583Dictionary: [String: String] {
        var dict: [String: String] = ["t": mti]
        let map = bitmap
        dict["p"] = Hex.encode(map[0..<8])
        if map.count == 16 { dict["1"] = Hex.encode(map[8..<16]) }
        for f in presentFields {
            let spec = MessageSpec.passway1987[f]
            guard let bytes = self[f] else { continue }
            dict[String(f)] = spec?.type == .binary ? Hex.encode(bytes) : (string(f) ?? "")
        }
        return dict
    }

    /// Builds a message from that dictionary. `"p"`, `"1"` and an empty `"h"` are
    /// ignored (the bitmaps follow from the fields); any other key must be a field of
    /// the spec. Values are checked when the message is packed.
    public init(pyiso8583Dictionary dict: [String: String], spec: MessageSpec = .passway1987) throws(DictionaryError) {
        guard let mti = dict["t"] else { throw .missingMTI }
        self.init(mti: mti)
        for (key, value) in dict {
            switch key {
            case "t", "p", "1": continue
            case "h" where value.isEmpty: continue
            default:
                guard let field = Int(key), let fieldSpec = spec[field] else { throw .unknownKey(key) }
                if fieldSpec.type == .binary {
                    do { self[field] = try Hex.decode(value) } catch { throw .binaryNotHex(field: field) }
                } else {
                    self[field] = Array(value.utf8)
                }
            }
        }
    }
}

public enum DictionaryError: Error, Equatable, CustomStringConvertible {
    case missingMTI
    case unknownKey(String)
    case binaryNotHex(field: Int)

    public var description: String {
        switch self {
        case .missingMTI: "no \"t\" (MTI) in the message"
        case .unknownKey(let k): "\"\(k)\" is not a field of the spec (use \"t\" and field numbers 2–128)"
        case .binaryNotHex(let f): "field \(f) is binary and must be given as hex"
        }
    }
}
