import ISO8583
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// An ISO 8583 listener: many connections, several messages in flight on each, answers
/// written as they are ready (in any order; the peer matches them by `matchKey`).
///
/// Bounded everywhere: at most `maxConnections` connections (more are closed at once),
/// at most `maxInFlight` messages being worked on across all of them (more are answered
/// at once by `overloaded`, typically 96), idle connections closed after
/// `idleTimeout`, half-sent frames after `frameTimeout`. A peer that does not read its
/// answers is not buffered for: once 64 KiB of answers wait for it, nothing more is read
/// from it, and if it has not caught up within `writeTimeout` it is cut off.
///
/// A `Service`: bound by `start`, it runs in a `ServiceGroup` until a graceful shutdown
/// (SIGTERM), when it stops accepting, answers every message already being worked on
/// (those that arrive meanwhile get `overloaded`'s answer), closes each connection once
/// its answers have left, and returns; a connection still owed answers after
/// `drainTimeout` is closed anyway.
public final class ISO8583Server: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var name: String
        public var maxConnections: Int
        public var maxInFlight: Int
        public var idleTimeout: Duration
        public var frameTimeout: Duration
        public var drainTimeout: Duration
        /// How long a peer may leave more than `writeBufferHigh` bytes of answers unread.
        public var writeTimeout: Duration
        /// Answers waiting for a peer above which it is not read from (and its clock runs).
        public var writeBufferHigh: Int
        /// The socket's send buffer, when set (the kernel's own otherwise).
        public var sendBufferBytes: Int?
        /// TLS on every connection, when set (`TLSFiles`): a peer that does not complete
        /// the handshake is closed before anything is read from it.
        public var tls: NIOSSLContext?

        public init(host: String = "127.0.0.1", port: Int, name: String, maxConnections: Int = 1024, maxInFlight: Int = 8192,
                    idleTimeout: Duration = .seconds(300), frameTimeout: Duration = .seconds(10), drainTimeout: Duration = .seconds(30),
                    writeTimeout: Duration = .seconds(10), writeBufferHigh: Int = 64 * 1024, sendBufferBytes: Int? = nil) {
            self.host = host; self.port = port; self.name = name; self.maxConnections = maxConnections
            self.maxInFlight = maxInFlight; self.idleTimeout = idleTimeout; self.frameTimeout = frameTimeout
            self.drainTimeout = drainTimeout; self.writeTimeout = writeTimeout; self.writeBufferHigh = writeBufferHigh
            self.sendBufferBytes = sendBufferBytes
        }
    }

    /// Works out the answer to one request (nil: no answer).
    public typealias Handler = @Sendable (Message) async -> Message?

    /// What a connection's own state is made of: `open` makes it when a connection is
    /// accepted (with the peer's address), `closed` is told when the connection goes.
    /// The network keeps there which acquirer a connection signed on as.
    public struct Sessions<Session: Sendable>: Sendable {
        public var open: @Sendable (_ peer: String) -> Session
        public var closed: @Sendable (Session) -> Void
        public init(open: @escaping @Sendable (_ peer: String) -> Session, closed: @escaping @Sendable (Session) -> Void) {
            self.open = open; self.closed = closed
        }
    }

    /// A request as it arrived: the bytes it was decoded from (without the length
    /// header: what a MAC is computed over) and its connection's session.
    public struct Received<Session: Sendable>: Sendable {
        public let frame: [UInt8]
        public let session: Session
    }

    public let configuration: Configuration
    let channel: any Channel
    let counters: Counters
    let quiescing: ServerQuiescingHelper
    let logger: Logger

    final class Counters: Sendable {
        let connections = Atomic<Int>(0)
        let inFlight = Atomic<Int>(0)
    }

    public var port: Int { channel.localAddress?.port ?? configuration.port }
    public var connectionCount: Int { counters.connections.load(ordering: .relaxed) }
    /// Messages being worked on across all connections.
    public var inFlightCount: Int { counters.inFlight.load(ordering: .relaxed) }

    init(configuration: Configuration, channel: any Channel, counters: Counters, quiescing: ServerQuiescingHelper, logger: Logger) {
        self.configuration = configuration; self.channel = channel; self.counters = counters; self.quiescing = quiescing; self.logger = logger
    }

    /// Binds the listener; connections are taken at once, before `run`.
    public static func start(_ configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
                             overloaded: @escaping @Sendable (Message) -> Message?, handler: @escaping Handler) async throws -> ISO8583Server {
        try await start(configuration, group: group, logger: logger, sessions: Sessions(open: { _ in () }, closed: { _ in }), keepsFrames: false,
                        overloaded: overloaded, handler: { message, _ in await handler(message) })
    }

    /// Binds the listener, each connection with a session of its own that the handler
    /// gets with every request, beside the request's bytes as received.
    public static func start<Session: Sendable>(_ configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                                                logger: Logger, sessions: Sessions<Session>,
                                                overloaded: @escaping @Sendable (Message) -> Message?,
                                                handler: @escaping @Sendable (Message, Received<Session>) async -> Message?) async throws -> ISO8583Server {
        try await start(configuration, group: group, logger: logger, sessions: sessions, keepsFrames: true, overloaded: overloaded, handler: handler)
    }

    static func start<Session: Sendable>(_ configuration: Configuration, group: any EventLoopGroup, logger: Logger, sessions: Sessions<Session>,
                                         keepsFrames: Bool, overloaded: @escaping @Sendable (Message) -> Message?,
                                         handler: @escaping @Sendable (Message, Received<Session>) async -> Message?) async throws -> ISO8583Server {
        let counters = Counters()
        let codec = ISO8583Codec()
        let quiescing = ServerQuiescingHelper(group: group)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel)) }
            }
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: configuration.writeBufferHigh / 2, high: configuration.writeBufferHigh))
            .childChannelInitializer { channel in
                let (_, now) = counters.connections.wrappingAdd(1, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in counters.connections.wrappingSubtract(1, ordering: .relaxed) }
                guard now <= configuration.maxConnections else {
                    logger.warning("connection refused: too many connections", metadata: ["listener": "\(configuration.name)", "max": "\(configuration.maxConnections)"])
                    return channel.close()
                }
                let session = sessions.open(channel.remoteAddress?.description ?? "?")
                channel.closeFuture.whenComplete { _ in sessions.closed(session) }
                return channel.eventLoop.makeCompletedFuture {
                    if let bytes = configuration.sendBufferBytes { try channel.syncOptions?.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(bytes)) }
                    if let tls = configuration.tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: TimeAmount(configuration.idleTimeout)),
                        FramingHandler(frameTimeout: TimeAmount(configuration.frameTimeout), logger: logger),
                        RequestHandler(codec: codec, counters: counters, maxInFlight: configuration.maxInFlight, drainTimeout: configuration.drainTimeout,
                                       writeTimeout: configuration.writeTimeout, logger: logger, writer: CoalescedWriter(channel), session: session,
                                       keepsFrames: keepsFrames, overloaded: overloaded, handler: handler),
                    ])
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        return ISO8583Server(configuration: configuration, channel: channel, counters: counters, quiescing: quiescing, logger: logger)
    }

    /// Serves until the service group shuts down gracefully, then drains (`shutdown`).
    /// Cancelled instead, it stops accepting at once.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            await close()
            return
        }
        await shutdown()
    }

    /// Stops accepting, answers what is in flight, and returns once every connection is
    /// closed (at most `drainTimeout` after the last answer it waits for).
    public func shutdown() async {
        logger.info("listener draining", metadata: ["listener": "\(configuration.name)", "in_flight": "\(inFlightCount)"])
        let done = channel.eventLoop.makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: done)
        try? await done.futureResult.get()
        logger.info("listener stopped", metadata: ["listener": "\(configuration.name)"])
    }

    /// Stops accepting and closes the listening socket. Connections already open finish.
    public func close() async {
        try? await channel.close()
    }
}

/// Decodes each frame, hands it to the handler off the event loop, and writes the
/// answer back whenever it is ready.
final class RequestHandler<Session: Sendable>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let codec: ISO8583Codec
    let counters: ISO8583Server.Counters
    let maxInFlight: Int
    let drainTimeout: Duration
    let writeTimeout: Duration
    /// While the peer leaves answers unread: the cut-off, unless it catches up first.
    /// Event loop only.
    var stalled: Scheduled<Void>?
    let logger: Logger
    let overloaded: @Sendable (Message) -> Message?
    let handler: @Sendable (Message, ISO8583Server.Received<Session>) async -> Message?
    let session: Session
    /// Whether the handler gets each request's bytes (a copy per message).
    let keepsFrames: Bool
    /// Requests of this connection still being worked on: an idle connection is one
    /// with nothing arriving and nothing owed.
    let owed = Owed()

    final class Owed: Sendable {
        let count = Atomic<Int>(0)
        /// The listener is shutting down: close once nothing is owed.
        let quiescing = Atomic<Bool>(false)
    }

    /// Answers leave through it, flushed once per event-loop pass.
    let writer: CoalescedWriter

    init(codec: ISO8583Codec, counters: ISO8583Server.Counters, maxInFlight: Int, drainTimeout: Duration, writeTimeout: Duration, logger: Logger,
         writer: CoalescedWriter, session: Session, keepsFrames: Bool, overloaded: @escaping @Sendable (Message) -> Message?,
         handler: @escaping @Sendable (Message, ISO8583Server.Received<Session>) async -> Message?) {
        self.session = session; self.keepsFrames = keepsFrames
        self.codec = codec; self.counters = counters; self.maxInFlight = maxInFlight; self.drainTimeout = drainTimeout
        self.writeTimeout = writeTimeout
        self.logger = logger; self.writer = writer
        self.overloaded = overloaded; self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let channel = context.channel
        let message: Message
        do {
            message = try frame.withUnsafeReadableBytes { raw in try self.codec.unpack(raw.assumingMemoryBound(to: UInt8.self)) }
        } catch {
            logger.notice("undecodable message", metadata: ["error": "\(error)", "peer": "\(channel.remoteAddress?.description ?? "?")"])
            // Answer what can be answered: a request MTI gets its response MTI with 30.
            if let answer = Self.formatErrorAnswer(frame) { write(answer, to: channel) }
            return
        }
        guard !owed.quiescing.load(ordering: .relaxed) else {
            // Shutting down: only what was already taken is worked on.
            if let answer = overloaded(message) { write(answer, to: channel) }
            return
        }
        let (_, inFlight) = counters.inFlight.wrappingAdd(1, ordering: .relaxed)
        guard inFlight <= maxInFlight else {
            counters.inFlight.wrappingSubtract(1, ordering: .relaxed)
            logger.warning("overloaded: answered at once", metadata: ["mti": "\(message.mti)", "in_flight": "\(inFlight - 1)"])
            if let answer = overloaded(message) { write(answer, to: channel) }
            return
        }
        let handler = handler, counters = counters, codec = codec, logger = logger, owed = owed, writer = writer
        let received = ISO8583Server.Received(frame: keepsFrames ? Array(frame.readableBytesView) : [], session: session)
        owed.count.wrappingAdd(1, ordering: .relaxed)
        Task {
            let answer = await handler(message, received)
            if let answer {
                do {
                    let bytes = try codec.pack(answer)
                    writer.write(ByteBuffer(bytes: bytes))
                } catch {
                    logger.error("answer could not be encoded", metadata: ["mti": "\(answer.mti)", "error": "\(error)"])
                }
            }
            // After the write is queued: a connection closed for shutdown closes behind it.
            counters.inFlight.wrappingSubtract(1, ordering: .relaxed)
            // Sequentially consistent with the shutdown's store-then-load below: one of the
            // two sees the other and closes the connection.
            let (_, left) = owed.count.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            if left == 0, owed.quiescing.load(ordering: .sequentiallyConsistent) { writer.closeWhenWritten() }
        }
    }


    func write(_ message: Message, to channel: any Channel) {
        guard let bytes = try? codec.pack(message) else { return }
        channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }

    /// For a frame that does not decode: when it starts with a request MTI (xx00, xx20),
    /// an answer with that MTI's response and 30 (format error), and nothing else.
    static func formatErrorAnswer(_ frame: ByteBuffer) -> Message? {
        guard let head = frame.getBytes(at: frame.readerIndex, length: 4) else { return nil }
        let mti = String(decoding: head, as: UTF8.self)
        guard MessageType.isRequest(mti) else { return nil }
        return Message(mti: mti).answer(.formatError, echoing: [])
    }

    /// Answers pile up for a peer that does not read them: stop reading its requests
    /// (TCP pushes back on it), and cut it off if it has not caught up by `writeTimeout`.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let channel = context.channel
        if channel.isWritable {
            stalled?.cancel()
            stalled = nil
            channel.setOption(.autoRead, value: true).whenComplete { _ in channel.read() }
        } else if stalled == nil {
            channel.setOption(.autoRead, value: false).whenComplete { _ in }
            let logger = logger, timeout = writeTimeout
            stalled = context.eventLoop.scheduleTask(in: TimeAmount(writeTimeout)) {
                guard channel.isActive, !channel.isWritable else { return }
                logger.warning("peer not reading its answers: cut off", metadata: ["peer": "\(channel.remoteAddress?.description ?? "?")",
                                                                                  "after": "\(timeout)"])
                channel.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("connection error: closing", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Nothing read for the idle timeout and no answer owed: the connection is closed.
    /// The listener shutting down: closed once its answers have left, or at `drainTimeout`.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            owed.quiescing.store(true, ordering: .sequentiallyConsistent)
            let channel = context.channel
            if owed.count.load(ordering: .sequentiallyConsistent) == 0 {
                writer.closeWhenWritten()
            } else {
                let logger = logger, owed = owed
                context.eventLoop.scheduleTask(in: TimeAmount(drainTimeout)) {
                    guard channel.isActive else { return }
                    logger.warning("connection closed with answers still owed", metadata: ["owed": "\(owed.count.load(ordering: .relaxed))"])
                    channel.close(promise: nil)
                }
            }
            return
        }
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            guard owed.count.load(ordering: .relaxed) == 0 else { return }
            logger.info("idle connection closed", metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "?")"])
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
