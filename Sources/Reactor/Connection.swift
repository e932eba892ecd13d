import CSystem
import Glibc

/// What a write did: `.sent` means accepted with the queue under the high watermark (it goes
/// out at the end of this loop iteration); `.queued` means accepted but the connection is
/// backed up past its high watermark (reading is paused; slow down or coalesce); `.dropped`
/// means refused: the connection is closed or the queue is at its hard limit.
public enum SendStatus: Sendable, Equatable {
    case sent
    case queued
    case dropped
}

/// The protocol side of a connection: bytes in, lifecycle events. Called on the loop only.
public protocol ConnectionHandler: AnyObject {
    /// The handler was installed on `connection` (after an HTTP upgrade, for example); set up
    /// deadlines or send a greeting here.
    func activated(_ connection: Connection)
    /// Bytes arrived. They live in the loop's shared read buffer and are valid only during
    /// the call: keep what must outlive it by copying.
    func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection)
    /// The write queue drained below the low watermark after having been above the high one.
    func writable(_ connection: Connection)
    /// The deadline set with `setTimeout` passed.
    func timedOut(_ connection: Connection)
    /// The peer closed its sending side; by default the connection closes once its queue
    /// has drained.
    func inputClosed(_ connection: Connection)
    /// The server is shutting down; by default the connection closes once its queue has
    /// drained. Protocols with a goodbye (WebSocket 1001) send it here.
    func shutdownRequested(_ connection: Connection)
    /// The connection is closed (`error` is nil for an orderly close). Last call.
    func closed(_ connection: Connection, error: IOError?)
}

extension ConnectionHandler {
    public func activated(_ connection: Connection) {}
    public func writable(_ connection: Connection) {}
    public func timedOut(_ connection: Connection) { connection.close() }
    public func inputClosed(_ connection: Connection) { connection.closeAfterFlushing() }
    public func shutdownRequested(_ connection: Connection) { connection.closeAfterFlushing() }
    public func closed(_ connection: Connection, error: IOError?) {}
}

/// A TCP connection owned by one `EventLoop`. Not `Sendable`: use it on its loop only (reach it
/// from elsewhere with `LoopBound` and `loop.execute`).
///
/// Writes are queued as `SharedBuffer`s and gathered into one `send`/`sendmsg` per connection per loop
/// iteration. EPOLLOUT is armed only while a write has been left unfinished by the kernel.
/// An idle connection holds no buffers: reads go through the loop's shared buffer.
public final class Connection {
    /// The socket descriptor.
    public let fd: Int32
    let generation: UInt32
    /// The loop that owns this connection.
    public unowned let loop: EventLoop
    /// Receives this connection's events; replace it to change protocol (an HTTP upgrade).
    public var handler: (any ConnectionHandler)?
    /// Sits between the socket and the handler (TLS); set it before any byte is exchanged.
    public var transform: (any ConnectionTransform)?
    /// The peer's IP address as text (`127.0.0.1`, `::1`), or empty when unknown.
    public internal(set) var peerAddress = ""
    /// Called once when the connection closes, after the handler's `closed`; for whoever
    /// counts connections outside the handler (per-address limits). It is passed the
    /// connection, so one closure can serve every connection of a server without a
    /// per-connection capture.
    public var onClose: ((Connection) -> Void)?

    private struct Pending {
        let buffer: SharedBuffer
        var offset: Int
    }

    // The first pending buffer sits inline, so a connection that writes one buffer per
    // iteration (the common case) never allocates queue storage.
    private var first: Pending?
    private var rest: [Pending] = []
    /// Bytes queued and not yet accepted by the kernel.
    public private(set) var queuedByteCount = 0
    /// Absolute loop time (ms) at which `timedOut` fires; 0 means none.
    private(set) var deadline: UInt64 = 0

    private struct Flags: OptionSet {
        let rawValue: UInt8
        static let closed = Flags(rawValue: 1 << 0)
        static let dirty = Flags(rawValue: 1 << 1)
        static let writeArmed = Flags(rawValue: 1 << 2)
        static let readPaused = Flags(rawValue: 1 << 3)
        static let backpressure = Flags(rawValue: 1 << 4)
        static let inputClosed = Flags(rawValue: 1 << 5)
        static let closeWhenFlushed = Flags(rawValue: 1 << 6)
        static let lingering = Flags(rawValue: 1 << 7)
    }
    private var flags: Flags = []
    private var registered: UInt32 = EPOLLIN.rawValue

    init(fd: Int32, generation: UInt32, loop: EventLoop) {
        self.fd = fd
        self.generation = generation
        self.loop = loop
    }

    /// Whether the connection has been closed.
    public var isClosed: Bool { flags.contains(.closed) }
    /// Whether the write queue is under the high watermark (writes report `.sent`).
    public var isWritable: Bool { !flags.contains(.backpressure) && !flags.contains(.closed) }

    // MARK: - Writing

    /// Queues `buffer` to be written at the end of this loop iteration (encoded by the
    /// transform first, when there is one).
    @discardableResult
    public func write(_ buffer: SharedBuffer) -> SendStatus {
        guard let transform else { return writeRaw(buffer) }
        guard !flags.contains(.closed), !flags.contains(.closeWhenFlushed) else { return .dropped }
        guard let encoded = transform.encode(UnsafeRawBufferPointer(start: buffer.baseAddress, count: buffer.count)) else {
            close()
            return .dropped
        }
        return writeRaw(SharedBuffer(encoded))
    }

    /// Queues bytes that go to the socket as they are, past the transform.
    private func writeRaw(_ buffer: SharedBuffer) -> SendStatus {
        guard !flags.contains(.closed), !flags.contains(.closeWhenFlushed) else { return .dropped }
        let count = buffer.count
        guard count > 0 else { return isWritable ? .sent : .queued }
        guard queuedByteCount + count <= loop.configuration.maxQueuedBytes else { return .dropped }
        if first == nil {
            first = Pending(buffer: buffer, offset: 0)
        } else {
            rest.append(Pending(buffer: buffer, offset: 0))
        }
        queuedByteCount += count
        if !flags.contains(.dirty) {
            flags.insert(.dirty)
            loop.markDirty(self)
        }
        if queuedByteCount > loop.configuration.highWatermark {
            if !flags.contains(.backpressure) {
                flags.insert(.backpressure)
                updateInterest()
            }
            return .queued
        }
        return flags.contains(.backpressure) ? .queued : .sent
    }

    /// Copies `bytes` into a new buffer and queues it.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> SendStatus {
        write(SharedBuffer(bytes))
    }

    /// Copies `bytes` into a new buffer and queues it.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> SendStatus {
        write(SharedBuffer(bytes))
    }

    /// Writes what is queued with one `send` or gathered `sendmsg` (more only when more than 64
    /// buffers are queued). Called by the loop at the end of an iteration and on EPOLLOUT.
    func flush(fromWritableEvent: Bool) {
        flags.remove(.dirty)
        guard !flags.contains(.closed) else { return }
        // While EPOLLOUT is armed the kernel buffer is full; the event will tell us when not.
        if flags.contains(.writeArmed), !fromWritableEvent { return }
        while let head = first {
            let result: IOResult<Int>
            let total: Int
            do throws(IOError) {
                if rest.isEmpty {
                    // One buffer (a subscriber keeping up gets one frame per iteration): a plain
                    // send spares the kernel the message header and iovec copies.
                    total = head.buffer.count - head.offset
                    let start = head.buffer.baseAddress + head.offset
                    result = try syscall("send") { send(fd, start, total, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                } else {
                    let (count, length) = fillIovecs()
                    total = length
                    var message = msghdr()
                    message.msg_iov = loop.iovecs
                    message.msg_iovlen = count
                    result = try syscall("sendmsg") { sendmsg(fd, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                }
            } catch {
                close(error: error)
                return
            }
            switch result {
            case .done(let written):
                consume(written)
                if written < total { armWrite(true); return afterFlush() }
            case .wouldBlock:
                armWrite(true)
                return afterFlush()
            }
        }
        armWrite(false)
        afterFlush()
    }

    private func fillIovecs() -> (Int, Int) {
        var count = 0
        var total = 0
        let iovecs = loop.iovecs
        if let head = first {
            let length = head.buffer.count - head.offset
            iovecs[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: head.buffer.baseAddress + head.offset), iov_len: length)
            total += length
            count = 1
        }
        for pending in rest {
            guard count < EventLoop.maxIovecs else { break }
            let length = pending.buffer.count - pending.offset
            iovecs[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: pending.buffer.baseAddress + pending.offset), iov_len: length)
            total += length
            count += 1
        }
        return (count, total)
    }

    private func consume(_ written: Int) {
        var remaining = written
        queuedByteCount -= written
        guard var head = first else { return }
        let headLength = head.buffer.count - head.offset
        if remaining < headLength {
            head.offset += remaining
            first = head
            return
        }
        remaining -= headLength
        // Count the fully written buffers and drop them at once: a subscriber that fell behind
        // has a hundred frames queued, and dropping them one by one from the front of the
        // array moved the rest each time.
        var done = 0
        while done < rest.count {
            let length = rest[done].buffer.count - rest[done].offset
            if remaining < length {
                rest[done].offset += remaining
                break
            }
            remaining -= length
            done += 1
        }
        if done < rest.count {
            first = rest[done]
            rest.removeSubrange(0...done)
        } else {
            first = nil
            rest.removeAll()
        }
        if rest.isEmpty, rest.capacity > 0 { rest = [] }
    }

    private func afterFlush() {
        guard !flags.contains(.closed) else { return }
        if flags.contains(.backpressure), queuedByteCount <= loop.configuration.lowWatermark {
            flags.remove(.backpressure)
            updateInterest()
            handler?.writable(self)
        }
        if first == nil, flags.contains(.closeWhenFlushed), !flags.contains(.lingering) {
            beginLinger()
        }
    }

    private func armWrite(_ armed: Bool) {
        guard flags.contains(.writeArmed) != armed else { return }
        if armed { flags.insert(.writeArmed) } else { flags.remove(.writeArmed) }
        updateInterest()
    }

    private func updateInterest() {
        guard !flags.contains(.closed) else { return }
        var wanted: UInt32 = 0
        let reading = !flags.contains(.readPaused) && !flags.contains(.backpressure) && !flags.contains(.inputClosed)
        if reading || flags.contains(.lingering) && !flags.contains(.inputClosed) { wanted |= EPOLLIN.rawValue }
        if flags.contains(.writeArmed) { wanted |= EPOLLOUT.rawValue }
        guard wanted != registered else { return }
        var event = epoll_event()
        event.events = wanted
        event.data.u64 = (UInt64(generation) << 32) | UInt64(UInt32(bitPattern: fd))
        if epoll_ctl(loop.epollFD, EPOLL_CTL_MOD, fd, &event) == 0 { registered = wanted }
    }

    // MARK: - Reading

    /// Stops delivering received bytes until `resumeReading` (the kernel buffer then fills and
    /// TCP slows the peer down).
    public func pauseReading() {
        guard !flags.contains(.readPaused) else { return }
        flags.insert(.readPaused)
        updateInterest()
    }

    /// Undoes `pauseReading`.
    public func resumeReading() {
        guard flags.contains(.readPaused) else { return }
        flags.remove(.readPaused)
        updateInterest()
    }

    func readableEvent() {
        guard !flags.contains(.closed) else { return }
        let buffer = loop.readBuffer
        let result: IOResult<Int>
        do throws(IOError) {
            result = try syscall("read") { read(fd, buffer.baseAddress, buffer.count) }
        } catch {
            close(error: error)
            return
        }
        guard case .done(let count) = result else { return }
        if count == 0 {
            flags.insert(.inputClosed)
            updateInterest()
            if flags.contains(.lingering) { close(); return }
            handler?.inputClosed(self)
            return
        }
        // A lingering connection only waits for the peer's FIN; its bytes are discarded.
        if flags.contains(.lingering) { return }
        let bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: count)
        guard let transform else {
            handler?.received(bytes, on: self)
            return
        }
        let decoded = transform.decode(bytes)
        let output = transform.takeOutput()
        if !output.isEmpty { _ = writeRaw(SharedBuffer(output)) }
        guard let (plaintext, ended) = decoded else {
            // Unacceptable input (a bad record): send the alert, if any, and go.
            flags.insert(.closeWhenFlushed)
            if first == nil { beginLinger() }
            return
        }
        if !plaintext.isEmpty {
            plaintext.withUnsafeBytes { handler?.received($0, on: self) }
        }
        if ended, !flags.contains(.closed) { handler?.inputClosed(self) }
    }

    // MARK: - Deadlines

    /// Arranges for `handler.timedOut` after `milliseconds` (rounded up to the loop's tick),
    /// replacing any earlier deadline. Costs no allocation: it is one field swept per tick.
    public func setTimeout(milliseconds: UInt64) {
        guard !flags.contains(.lingering) else { return }
        deadline = loop.now &+ max(milliseconds, 1)
    }

    /// Removes the deadline.
    public func cancelTimeout() {
        guard !flags.contains(.lingering) else { return }
        deadline = 0
    }

    func deadlinePassed() {
        deadline = 0
        if flags.contains(.lingering) { close(); return }
        handler?.timedOut(self)
    }

    // MARK: - Closing

    /// Closes once everything queued has been written: sends FIN, then waits briefly for the
    /// peer's FIN (discarding its bytes) so that unread input does not turn into a reset that
    /// destroys the response in flight.
    public func closeAfterFlushing() {
        guard !flags.contains(.closed), !flags.contains(.closeWhenFlushed) else { return }
        if let transform {
            transform.finish()
            let goodbye = transform.takeOutput()
            if !goodbye.isEmpty { _ = writeRaw(SharedBuffer(goodbye)) }
        }
        flags.insert(.closeWhenFlushed)
        if first == nil { beginLinger() }
    }

    private func beginLinger() {
        flags.insert(.lingering)
        if flags.contains(.inputClosed) { close(); return }
        _ = shutdown(fd, Int32(SHUT_WR))
        flags.remove(.readPaused)
        flags.remove(.backpressure)
        updateInterest()
        deadline = loop.now &+ loop.configuration.lingerMilliseconds
    }

    /// Closes now, discarding anything queued.
    public func close() {
        close(error: nil)
    }

    func close(error: IOError?) {
        guard !flags.contains(.closed) else { return }
        flags.insert(.closed)
        var event = epoll_event()
        _ = epoll_ctl(loop.epollFD, EPOLL_CTL_DEL, fd, &event)
        Glibc.close(fd)
        loop.forget(self)
        first = nil
        rest = []
        queuedByteCount = 0
        deadline = 0
        let current = handler
        handler = nil
        transform = nil
        current?.closed(self, error: error)
        let hook = onClose
        onClose = nil
        hook?(self)
    }
}
