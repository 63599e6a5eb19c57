import EMV

/// ISO 8583:1987 message authentication: the MAC of a message travels in its last field,
/// field 64 ("Message Authentication Code") when only the primary bitmap is present, or
/// field 128 when the secondary bitmap is (a reversal with field 90, a network management
/// message with field 70). It is computed over the message as sent, from the first byte
/// of the MTI up to the MAC field itself, with the bitmap already saying that the MAC
/// field is present. Both MAC fields are fixed 8-byte binary, and the MAC field is the
/// highest field of its bitmap, so the MAC input is every byte of the message but the
/// last 8.
public enum MessageAuthentication {
    /// What is wrong with a message's MAC.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The MAC field for the message's bitmap (64 or 128) is absent.
        case missing(field: Int)
        /// Field 64 is present beside a secondary bitmap: it is not where the MAC goes.
        case misplaced
        /// The MAC does not verify under the key.
        case mismatch(field: Int)

        public var description: String {
            switch self {
            case .missing(let field): "no MAC in field \(field)"
            case .misplaced: "field 64 present with a secondary bitmap (the MAC goes in field 128)"
            case .mismatch(let field): "the MAC in field \(field) does not verify"
            }
        }
    }

    /// The message with its MAC in field 64 or 128, and its bytes as they go on the wire.
    public static func seal(_ message: Message, key: MACKey, codec: ISO8583Codec) throws(EncodeError) -> (message: Message, bytes: [UInt8]) {
        var sealed = message
        let field = sealed.macField
        if field == 128 { sealed[64] = nil }
        sealed[field] = [UInt8](repeating: 0, count: 8)
        var bytes = try codec.pack(sealed)
        let mac = key.mac(Array(bytes[..<(bytes.count - 8)]))
        bytes.replaceSubrange((bytes.count - 8)..., with: mac)
        sealed[field] = mac
        return (sealed, bytes)
    }

    /// Checks the MAC of a received message: `frame` is its bytes as received (without the
    /// length header), `message` what they decoded to.
    public static func verify(frame: [UInt8], message: Message, key: MACKey) throws(Failure) {
        let field = message.hasSecondaryBitmap ? 128 : 64
        if field == 128, message[64] != nil { throw .misplaced }
        guard let mac = message[field], mac.count == 8, frame.count > 8 else { throw .missing(field: field) }
        let expected = key.mac(Array(frame[..<(frame.count - 8)]))
        guard constantTimeEqual(expected, Array(frame[(frame.count - 8)...])), constantTimeEqual(expected, mac) else {
            throw .mismatch(field: field)
        }
    }
}

extension Message {
    /// Where this message's MAC goes when it is sealed: field 128 when it needs the
    /// secondary bitmap for any other field (65 to 127), field 64 otherwise.
    public var macField: Int {
        for f in 65...127 where self[f] != nil { return 128 }
        return 64
    }
}
