import ISO8583
import Logging
import NIOCore

/// ISO 8583 frames on TCP: each message prefixed by its length in two bytes, big-endian
/// (DESIGN.md "The wire"). Inbound, whole frames are passed on as they complete, however
/// the bytes were split; a frame that starts but does not complete within
/// `frameTimeout` closes the connection (a peer that stalls mid-message holds no
/// memory for long). A zero-length frame is a keep-alive and is skipped. Outbound,
/// each payload gets its prefix and is written whole, so an answer is never
/// interleaved inside another message's bytes.
final class FramingHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let frameTimeout: TimeAmount
    let logger: Logger
    private var buffer: ByteBuffer?
    private var deadline: Scheduled<Void>?

    init(frameTimeout: TimeAmount, logger: Logger) {
        self.frameTimeout = frameTimeout
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if var pending = buffer {
            pending.writeBuffer(&incoming)
            buffer = pending
        } else {
            buffer = incoming
        }
        while var current = buffer, let length = current.getInteger(at: current.readerIndex, as: UInt16.self),
              current.readableBytes >= 2 + Int(length) {
            current.moveReaderIndex(forwardBy: 2)
            guard let frame = current.readSlice(length: Int(length)) else { break }
            buffer = current.readableBytes == 0 ? nil : current
            if length > 0 { context.fireChannelRead(wrapInboundOut(frame)) }
        }
        if let pending = buffer, pending.readableBytes > 0 {
            if deadline == nil {
                let channel = context.channel, logger = logger, timeout = frameTimeout
                deadline = context.eventLoop.scheduleTask(in: timeout) {
                    logger.notice("frame not completed in time: closing", metadata: ["peer": "\(channel.remoteAddress?.description ?? "?")"])
                    channel.close(promise: nil)
                }
            }
        } else {
            buffer = nil
            deadline?.cancel()
            deadline = nil
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        guard payload.readableBytes <= Int(UInt16.max) else {
            promise?.fail(FramingError.frameTooLong(payload.readableBytes, max: Int(UInt16.max)))
            return
        }
        var framed = context.channel.allocator.buffer(capacity: payload.readableBytes + 2)
        framed.writeInteger(UInt16(payload.readableBytes))
        framed.writeImmutableBuffer(payload)
        context.write(wrapOutboundOut(framed), promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}

extension Message {
    /// How answers are matched to requests on one connection (DESIGN.md "The wire"):
    /// acquirer (32), terminal (41) and STAN (11), or acquirer, transmission time (7)
    /// and STAN where there is no terminal; within the message class (01 authorization,
    /// 02 financial, 04 reversal, 08 network management), so that a reversal and a late
    /// answer to the authorization it reverses are never taken for each other.
    public var matchKey: String {
        let group = mti.prefix(2)
        if let terminal = string(41) { return "\(group)|\(string(32) ?? "")|T\(terminal)|\(string(11) ?? "")" }
        return "\(group)|\(string(32) ?? "")|D\(string(7) ?? "")|\(string(11) ?? "")"
    }
}
