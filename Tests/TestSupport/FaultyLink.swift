import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A TCP relay between the network and an issuer host that misbehaves on the
/// authorizations (0100/0200) passing through it, as an issuer link does on a bad day;
/// everything else (sign-on, echo, reversals) is relayed untouched, frame by frame (two
/// length bytes, DESIGN.md "The wire"), MACs and all.
public final class FaultyLink: Sendable {
    public enum Fault: Sendable, Equatable {
        /// Relays everything.
        case none
        /// The issuer decides; its answer is held this long before it is relayed.
        case late(Duration)
        /// The issuer decides; the connection to the network is then closed, unanswered.
        case dropAfterRead
        /// The issuer never sees it, and nothing is answered.
        case silent
        /// The issuer decides; the network gets bytes that are no ISO 8583 answer.
        case garbage
    }

    /// What every connection through the relay reads: the fault, where to relay, counts.
    final class State: Sendable {
        let fault: Mutex<Fault>
        let upstream = Mutex<(host: String, port: Int)?>(nil)
        let relayedAuthorizations = Atomic<Int>(0)
        init(_ fault: Fault) { self.fault = Mutex(fault) }
    }

    public let port: Int
    let channel: any Channel
    let state: State

    private init(port: Int, channel: any Channel, state: State) { self.port = port; self.channel = channel; self.state = state }

    /// Listens on an ephemeral loopback port; relays to the issuer host once `relay(to:)` names it.
    public static func start(_ fault: Fault = .none) async throws -> FaultyLink {
        let state = State(fault)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RelayHandler(state: state)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FaultyLink(port: server.localAddress?.port ?? 0, channel: server, state: state)
    }

    /// Authorizations the issuer was sent through this relay.
    public var relayedAuthorizations: Int { state.relayedAuthorizations.load(ordering: .relaxed) }
    public func relay(to host: String, port: Int) { state.upstream.withLock { $0 = (host, port) } }
    public func set(_ fault: Fault) { state.fault.withLock { $0 = fault } }
    public func close() async { try? await channel.close() }
}

/// One network connection: frames read from it are relayed to a connection of its own to
/// the issuer host, and the issuer's frames back, as the fault says.
final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let state: FaultyLink.State
    var buffer = ByteBuffer()
    var upstream: EventLoopFuture<any Channel>?

    init(state: FaultyLink.State) { self.state = state }

    func channelActive(context: ChannelHandlerContext) {
        guard let address = state.upstream.withLock({ $0 }) else { context.close(promise: nil); return }
        let downstream = context.channel
        let loop = context.eventLoop
        upstream = ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AnswerHandler(downstream: downstream)) }
            }
            .connect(host: address.host, port: address.port)
        upstream?.whenFailure { _ in downstream.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.whenSuccess { $0.close(promise: nil) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while let frame = buffer.readFrame() { handle(frame, context: context) }
    }

    func handle(_ frame: ByteBuffer, context: ChannelHandlerContext) {
        let mti = frame.getString(at: frame.readerIndex + 2, length: 4) ?? ""
        let isAuthorization = mti == "0100" || mti == "0200"
        let fault = isAuthorization ? state.fault.withLock { $0 } : .none
        if fault == .silent { return }
        if isAuthorization { state.relayedAuthorizations.wrappingAdd(1, ordering: .relaxed) }
        guard let upstream else { return }
        upstream.whenSuccess { channel in
            if fault != .none, let answers = try? channel.pipeline.syncOperations.handler(type: AnswerHandler.self) {
                answers.nextAnswerFault = fault
            }
            channel.writeAndFlush(frame, promise: nil)
        }
    }
}

/// The issuer host's side: its answers go back to the network, the next one as the
/// fault of the authorization it answers says.
final class AnswerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let downstream: any Channel
    var buffer = ByteBuffer()
    /// Faults of authorizations sent and not yet answered, oldest first.
    var faults: [FaultyLink.Fault] = []
    var nextAnswerFault: FaultyLink.Fault {
        get { faults.first ?? .none }
        set { faults.append(newValue) }
    }

    init(downstream: any Channel) { self.downstream = downstream }

    func channelInactive(context: ChannelHandlerContext) {
        downstream.close(promise: nil)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while let frame = buffer.readFrame() {
            let mti = frame.getString(at: frame.readerIndex + 2, length: 4) ?? ""
            let fault: FaultyLink.Fault = (mti == "0110" || mti == "0210") && !faults.isEmpty ? faults.removeFirst() : .none
            switch fault {
            case .none, .silent:
                downstream.writeAndFlush(frame, promise: nil)
            case .late(let delay):
                let downstream = downstream
                let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
                context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { downstream.writeAndFlush(frame, promise: nil) }
            case .dropAfterRead:
                downstream.close(promise: nil)
            case .garbage:
                var junk = ByteBuffer()
                let bytes = Array("0110 this is not an answer \u{1}\u{2}\u{3}".utf8)
                junk.writeInteger(UInt16(bytes.count))
                junk.writeBytes(bytes)
                downstream.writeAndFlush(junk, promise: nil)
            }
        }
    }
}

extension ByteBuffer {
    /// The next whole frame (two length bytes and the message, as relayed), or nil until
    /// one has arrived.
    mutating func readFrame() -> ByteBuffer? {
        guard let length = getInteger(at: readerIndex, as: UInt16.self), readableBytes >= 2 + Int(length) else { return nil }
        return readSlice(length: 2 + Int(length))
    }
}
