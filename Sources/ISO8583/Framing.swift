/// The 2-byte big-endian length prefix that frames each ISO 8583 message on TCP.
public enum LengthPrefixFraming {
    public static let maxFrameLength = 0xFFFF

    public static func frame(_ payload: [UInt8]) throws(FramingError) -> [UInt8] {
        guard payload.count <= maxFrameLength else { throw .frameTooLong(payload.count, max: maxFrameLength) }
        return [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
    }
}

/// Reassembles frames from bytes as they arrive, in any split. Bounded: a declared
/// length above `maxFrameLength` is an error at once, before any of it is buffered.
/// A zero-length frame (some hosts send `00 00` to keep a line up) is skipped.
public struct LengthPrefixFrameDecoder: Sendable {
    public let maxFrameLength: Int
    private var buffer: [UInt8] = []
    private var start = 0

    public init(maxFrameLength: Int = LengthPrefixFraming.maxFrameLength) {
        precondition(maxFrameLength <= LengthPrefixFraming.maxFrameLength)
        self.maxFrameLength = maxFrameLength
    }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's payload, or nil when more bytes are needed.
    public mutating func next() throws(FramingError) -> [UInt8]? {
        while true {
            let available = buffer.count - start
            guard available >= 2 else { compact(); return nil }
            let length = Int(buffer[start]) << 8 | Int(buffer[start + 1])
            guard length <= maxFrameLength else { throw .frameTooLong(length, max: maxFrameLength) }
            if length == 0 { start += 2; continue }
            guard available >= 2 + length else { compact(); return nil }
            let payload = Array(buffer[(start + 2)..<(start + 2 + length)])
            start += 2 + length
            return payload
        }
    }

    /// Bytes received but not yet part of a whole frame.
    public var pendingByteCount: Int { buffer.count - start }

    private mutating func compact() {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}

public enum FramingError: Error, Equatable, CustomStringConvertible {
    case frameTooLong(Int, max: Int)

    public var description: String {
        switch self {
        case .frameTooLong(let n, let max): "frame length \(n) exceeds the maximum of \(max) bytes"
        }
    }
}
