import EMV
import Foundation
import ISO8583
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// An ISO 8583 client of one endpoint, multiplexed: a few connections, any number of
/// messages in flight on each, answers matched by `Message.matchKey`, and a time limit
/// per message. The network uses it towards each issuer host; the terminals towards
/// the network.
public final class ISO8583Client: Sendable {
    public let host: String
    public let port: Int
    public let timeout: Duration
    /// How long a TCP connect may take: at most a second by default (a peer that does not
    /// accept within it is treated as down), never more than `timeout`.
    public let connectTimeout: Duration
    let group: any EventLoopGroup
    let logger: Logger
    let codec = ISO8583Codec()
    let slots: [Slot]
    let next = Atomic<Int>(0)
    /// How this client proves who it is; nil: it does not.
    public let signOn: SignOn?
    /// TLS towards the listener, when set: its certificate must chain to the context's
    /// trusted roots and name `host`.
    let tls: NIOSSLContext?
    /// After a connection attempt fails, a slot waits this long before the next (doubling
    /// from the lower bound to the upper after each failure in a row); a send meanwhile
    /// fails at once. Nil: every send that finds no connection tries to make one.
    public let reconnect: ClosedRange<Duration>?

    /// What an operator sees of the client: connections up, and when it is backing off,
    /// since when, why, and when it tries again.
    public struct LinkState: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var connected: Int
        public var slots: Int
        /// Failed connection attempts in a row (0 when the last one succeeded).
        public var failures: Int
        public var lastError: String?
        public var downSince: Date?
        public var nextAttempt: Date?
    }

    /// A participant's proof of who it is at the other's port: every new connection is
    /// signed on first (0800, field 70 `001`, field 32 the institution code, MAC'd), every
    /// request carries a MAC (field 64, or 128 with a secondary bitmap) under `key`, and
    /// every answer's MAC is checked: an answer whose MAC does not verify, or an approval
    /// without one, is refused (`unauthentic`). A decline without a MAC is taken: a
    /// listener cannot MAC what it answers before it knows the sender (a format error,
    /// a refused sign-on), and a forged decline gains an attacker nothing.
    public struct SignOn: Sendable {
        /// Field 32: the acquiring (or forwarding) institution's code.
        public var institutionID: String
        public var key: MACKey
        public init(institutionID: String, key: MACKey) { self.institutionID = institutionID; self.key = key }
    }

    public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not sent: no connection could be made.
        case unavailable(String)
        /// Sent (or being written), and the connection closed before its answer: the peer
        /// may have read it and acted on it.
        case lost(String)
        case timedOut(after: Duration)
        case encoding(String)
        /// The answer's MAC did not verify (or an approval came without one).
        case unauthentic(String)
        /// The listener did not take the sign-on: its response code.
        case signOnRefused(String)

        public var description: String {
            switch self {
            case .unauthentic(let why): "answer refused: \(why)"
            case .signOnRefused(let code): "sign-on refused with response code \(code)"
            case .unavailable(let why): "not connected: \(why)"
            case .lost(let why): "sent, no answer: \(why)"
            case .timedOut(let limit): "no answer within \(Int((limit / .milliseconds(1)).rounded())) ms"
            case .encoding(let why): "message could not be encoded: \(why)"
            }
        }
    }

    public init(host: String, port: Int, connections: Int = 2, timeout: Duration = .seconds(5),
                connectTimeout: Duration = .seconds(1),
                signOn: SignOn? = nil, tls: NIOSSLContext? = nil, reconnect: ClosedRange<Duration>? = nil,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.host = host; self.port = port; self.timeout = timeout; self.connectTimeout = min(max(connectTimeout, .milliseconds(50)), timeout)
        self.group = group; self.logger = logger; self.signOn = signOn; self.tls = tls
        self.reconnect = reconnect
        self.slots = (0..<max(1, connections)).map { _ in Slot() }
    }

    /// One connection slot: its live connection, or the attempt to make one (shared by
    /// every sender that needs it meanwhile, so that a slot never opens two).
    final class Slot: Sendable {
        struct State {
            var connection: Connection?
            var connecting: Task<Connection, any Error>?
            /// Failed attempts in a row, the last one's error, since when, and the next try.
            var failures = 0
            var lastError: String?
            var downSince: Date?
            var retryAt: ContinuousClock.Instant?
            var retryDate: Date?
        }
        let state = Mutex(State())
    }

    /// The client's connections as an operator sees them.
    public var state: LinkState {
        let states = slots.map { $0.state.withLock { $0 } }
        let worst = states.max { $0.failures < $1.failures }
        return LinkState(host: host, port: port, connected: states.filter { $0.connection?.channel.isActive == true }.count, slots: slots.count,
                         failures: worst?.failures ?? 0, lastError: worst?.lastError, downSince: states.compactMap(\.downSince).min(),
                         nextAttempt: worst?.retryDate)
    }

    /// A connection and the requests waiting for answers on it.
    struct Connection: Sendable {
        let channel: any Channel
        let pending: Pending
        /// Requests leave through it, flushed once per event-loop pass.
        let writer: CoalescedWriter
    }

    /// Requests waiting for their answers on one connection, by match key, each with the
    /// time it gives up. One repeating sweep per connection fails the late ones, instead of
    /// a timer scheduled and cancelled on the event loop for every request (two hand-offs
    /// to the loop's thread per message, from the task that sends it).
    final class Pending: Sendable {
        struct Waiting {
            let promise: EventLoopPromise<Message>
            let deadline: NIODeadline
        }
        let waiting = Mutex<[String: Waiting]>([:])

        func add(_ key: String, _ promise: EventLoopPromise<Message>, deadline: NIODeadline) -> Bool {
            waiting.withLock { w in
                guard w[key] == nil else { return false }
                w[key] = Waiting(promise: promise, deadline: deadline)
                return true
            }
        }
        func take(_ key: String) -> EventLoopPromise<Message>? { waiting.withLock { $0.removeValue(forKey: key)?.promise } }
        /// Removes and returns the requests whose time is up.
        func expired(at now: NIODeadline) -> [EventLoopPromise<Message>] {
            waiting.withLock { w in
                var late: [EventLoopPromise<Message>] = []
                for (key, entry) in w where entry.deadline <= now {
                    late.append(entry.promise)
                    w[key] = nil
                }
                return late
            }
        }
        func failAll(_ error: ClientError) {
            let all = waiting.withLock { w in defer { w = [:] }; return w.values.map(\.promise) }
            for p in all { p.fail(error) }
        }
    }

    /// How often a connection looks for requests past their time: a tenth of the limit,
    /// between 10 and 250 ms. A request gives up within that much after its limit.
    var sweepInterval: TimeAmount {
        .nanoseconds(min(max(TimeAmount(timeout).nanoseconds / 10, 10_000_000), 250_000_000))
    }

    /// Sends a request and waits for its answer, at most `timeout`.
    public func send(_ message: Message) async throws(ClientError) -> Message {
        let (index, _) = next.wrappingAdd(1, ordering: .relaxed)
        let slot = slots[index % slots.count]
        let connection = try await connection(slot)
        return try await send(message, on: connection)
    }

    /// The bytes of a request as they leave: MAC'd when the client signs on.
    func bytes(of message: Message) throws(ClientError) -> [UInt8] {
        do {
            if let signOn { return try MessageAuthentication.seal(message, key: signOn.key, codec: codec).bytes }
            return try codec.pack(message)
        } catch { throw .encoding("\(error)") }
    }

    func send(_ message: Message, on connection: Connection) async throws(ClientError) -> Message {
        let bytes = try bytes(of: message)
        let channel = connection.channel, pending = connection.pending
        let key = message.matchKey
        let promise = channel.eventLoop.makePromise(of: Message.self)
        guard pending.add(key, promise, deadline: .now() + TimeAmount(timeout)) else {
            promise.fail(ClientError.unavailable("a message with key \(key) is already waiting for its answer"))
            throw .unavailable("a message with key \(key) is already waiting for its answer")
        }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            pending.take(key)?.fail(ClientError.lost("write failed: \(error)"))
        }
        connection.writer.write(ByteBuffer(bytes: bytes), promise: written)
        do {
            return try await promise.futureResult.get()
        } catch let error as ClientError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    func connection(_ slot: Slot) async throws(ClientError) -> Connection {
        enum Lookup { case ready(Connection), wait(Task<Connection, any Error>) }
        enum Found { case lookup(Lookup), backingOff(String) }
        let found = slot.state.withLock { state -> Found in
            if let c = state.connection, c.channel.isActive { return .lookup(.ready(c)) }
            if let attempt = state.connecting { return .lookup(.wait(attempt)) }
            if let retryAt = state.retryAt, ContinuousClock.now < retryAt {
                let wait = ContinuousClock.now.duration(to: retryAt)
                let ms = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
                return .backingOff("\(host):\(port) down (\(state.lastError ?? "no connection")); next attempt in \(ms) ms")
            }
            let attempt = Task { try await self.connect(slot) }
            state.connecting = attempt
            return .lookup(.wait(attempt))
        }
        let lookup: Lookup
        switch found {
        case .lookup(let l): lookup = l
        case .backingOff(let why): throw .unavailable(why)
        }
        switch lookup {
        case .ready(let c):
            return c
        case .wait(let attempt):
            do { return try await attempt.value } catch let error as ClientError { throw error } catch { throw .unavailable("\(error)") }
        }
    }

    private func connect(_ slot: Slot) async throws -> Connection {
        let pending = Pending(), codec = codec, logger = logger, key = signOn?.key, tls = tls, host = host
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // A host name for SNI and verification; an IP address is verified as such.
                        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : host))
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        FramingHandler(frameTimeout: .seconds(30), logger: logger),
                        AnswerHandler(codec: codec, pending: pending, key: key, logger: logger),
                    ])
                }
            }
        do {
            let channel = try await bootstrap.connect(host: host, port: port).get()
            let limit = timeout
            let sweep = channel.eventLoop.scheduleRepeatedTask(initialDelay: sweepInterval, delay: sweepInterval) { _ in
                for late in pending.expired(at: .now()) { late.fail(ClientError.timedOut(after: limit)) }
            }
            channel.closeFuture.whenComplete { _ in sweep.cancel() }
            let connection = Connection(channel: channel, pending: pending, writer: CoalescedWriter(channel))
            if let signOn {
                // Nothing else goes on the connection before its sign-on is answered 00.
                do {
                    let answer = try await send(Self.signOnMessage(signOn.institutionID), on: connection)
                    guard answer.responseCode == .approved else { throw ClientError.signOnRefused(answer.string(39) ?? "none") }
                } catch {
                    try? await channel.close()
                    throw error
                }
            }
            slot.state.withLock { s in
                if s.failures > 0 { logger.notice("reconnected", metadata: ["peer": "\(host):\(port)", "after": "\(s.failures) failed attempts"]) }
                s.connection = connection; s.connecting = nil; s.failures = 0; s.lastError = nil; s.downSince = nil; s.retryAt = nil
                s.retryDate = nil
            }
            return connection
        } catch let error as ClientError {
            failed(slot, "\(error)")
            throw error
        } catch {
            failed(slot, "\(error)")
            throw ClientError.unavailable("\(host):\(port): \(error)")
        }
    }

    /// A connection attempt failed: the slot backs off (when the client does).
    private func failed(_ slot: Slot, _ error: String) {
        slot.state.withLock { s in
            s.connecting = nil
            s.failures += 1
            s.lastError = error
            if s.downSince == nil { s.downSince = Date() }
            if let reconnect {
                var wait = reconnect.lowerBound
                for _ in 1..<min(s.failures, 30) where wait < reconnect.upperBound { wait = wait * 2 }
                wait = min(wait, reconnect.upperBound)
                s.retryAt = .now + wait
                s.retryDate = Date().addingTimeInterval(Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18)
            }
        }
    }

    /// An 0800 sign-on (field 70 `001`) of the institution, with a fresh STAN and the
    /// transmission time.
    public static func signOnMessage(_ institutionID: String, at date: Date = Date()) -> Message {
        var message = Message(mti: "0800")
        message.set(7, transmissionTime(date))
        message.set(11, String(format: "%06d", Int.random(in: 1...999_999)))
        message.set(32, institutionID)
        message.set(70, "001")
        return message
    }

    /// Field 7's MMDDhhmmss in UTC.
    static func transmissionTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.month, .day, .hour, .minute, .second], from: date)
        return String(format: "%02d%02d%02d%02d%02d", c.month ?? 1, c.day ?? 1, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    public func close() async {
        for slot in slots {
            let connection = slot.state.withLock { s in defer { s.connection = nil }; return s.connection }
            try? await connection?.channel.close()
            connection?.pending.failAll(.lost("client closed"))
        }
    }
}

/// Completes the waiting request that an answer matches; fails them all when the
/// connection goes.
final class AnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let codec: ISO8583Codec
    let pending: ISO8583Client.Pending
    /// When set, answers' MACs are checked under it and the peer's echoes answered MAC'd.
    let key: MACKey?
    let logger: Logger

    init(codec: ISO8583Codec, pending: ISO8583Client.Pending, key: MACKey?, logger: Logger) {
        self.codec = codec; self.pending = pending; self.key = key; self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let message: Message
        do {
            message = try frame.withUnsafeReadableBytes { raw in try codec.unpack(raw.assumingMemoryBound(to: UInt8.self)) }
        } catch {
            logger.notice("undecodable answer", metadata: ["error": "\(error)"])
            return
        }
        if message.mti == "0800" {
            // The peer's echo: answered, never with an echo.
            let answer = message.answer(.approved, echoing: [7, 11, 32, 70])
            let bytes = if let key { try? MessageAuthentication.seal(answer, key: key, codec: codec).bytes } else { try? codec.pack(answer) }
            if let bytes { context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil) }
            return
        }
        guard let promise = pending.take(message.matchKey) else {
            logger.info("late or unmatched answer dropped", metadata: ["mti": "\(message.mti)", "stan": "\(message.string(11) ?? "-")"])
            return
        }
        if let key {
            do {
                try MessageAuthentication.verify(frame: Array(frame.readableBytesView), message: message, key: key)
            } catch .missing where message.responseCode != .approved {
                // A decline the listener could not MAC: taken as it is.
            } catch {
                logger.warning("answer refused: \(error)", metadata: ["mti": "\(message.mti)", "stan": "\(message.string(11) ?? "-")"])
                promise.fail(ISO8583Client.ClientError.unauthentic("\(error)"))
                return
            }
        }
        promise.succeed(message)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending.failAll(.lost("connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
