import NIOCore
import Synchronization

/// Writes to one channel from any thread, flushed once per pass of its event loop:
/// answers that become ready together (a group commit resumes many at once) leave in one
/// system call instead of one each.
///
/// Both the write and the decision to flush happen on the channel's event loop, so a
/// write queued behind a pending flush is either flushed by it or schedules its own.
final class CoalescedWriter: Sendable {
    let channel: any Channel
    /// Read and written on the channel's event loop only.
    private let flushQueued = Atomic<Bool>(false)

    init(_ channel: any Channel) { self.channel = channel }

    func write(_ buffer: ByteBuffer, promise: EventLoopPromise<Void>? = nil) {
        let loop = channel.eventLoop
        if loop.inEventLoop {
            writeOnLoop(buffer, promise)
        } else {
            loop.execute { self.writeOnLoop(buffer, promise) }
        }
    }

    private func writeOnLoop(_ buffer: ByteBuffer, _ promise: EventLoopPromise<Void>?) {
        channel.write(buffer, promise: promise)
        guard !flushQueued.load(ordering: .relaxed) else { return }
        flushQueued.store(true, ordering: .relaxed)
        channel.eventLoop.execute {
            self.flushQueued.store(false, ordering: .relaxed)
            self.channel.flush()
        }
    }

    /// Closes the connection once every answer written to it so far has left: the
    /// pending writes go out, then the output side closes, then the whole connection.
    /// Queued on the event loop behind the writes before it.
    func closeWhenWritten() {
        let channel = channel
        channel.eventLoop.execute {
            channel.flush()
            channel.close(mode: .output).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
