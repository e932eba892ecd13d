import CSystem
import Glibc

/// A descriptor a loop watches for readiness on behalf of a client library that does its own
/// reads and writes (hiredis's async adapter: it asks for read and write interest, the loop
/// says when the socket is ready, the library reads or writes). Level-triggered.
///
/// Loop-bound like a connection: create, change and cancel it on its loop's thread only.
public final class FileWatch {
    /// The watched descriptor (owned by the caller, never closed here).
    public let fd: Int32
    unowned let loop: EventLoop
    /// Called on the loop when the descriptor is readable, or hung up or in error.
    public var onReadable: (() -> Void)?
    /// Called on the loop when the descriptor is writable.
    public var onWritable: (() -> Void)?
    /// The current interest.
    public private(set) var wantsRead = false
    public private(set) var wantsWrite = false
    private var registered = false
    private(set) var isCancelled = false

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
    }

    /// Sets what to wait for; idempotent.
    public func setInterest(read: Bool, write: Bool) {
        guard !isCancelled, read != wantsRead || write != wantsWrite || !registered else { return }
        wantsRead = read
        wantsWrite = write
        var event = epoll_event()
        event.events = (read ? EPOLLIN.rawValue : 0) | (write ? EPOLLOUT.rawValue : 0)
        event.data.u64 = UInt64(UInt32(bitPattern: fd))
        if registered {
            _ = epoll_ctl(loop.epollFD, EPOLL_CTL_MOD, fd, &event)
        } else if epoll_ctl(loop.epollFD, EPOLL_CTL_ADD, fd, &event) == 0 {
            registered = true
        }
    }

    /// Stops watching (before the caller closes the descriptor); safe to call twice.
    public func cancel() {
        guard !isCancelled else { return }
        isCancelled = true
        if registered {
            var event = epoll_event()
            _ = epoll_ctl(loop.epollFD, EPOLL_CTL_DEL, fd, &event)
            registered = false
        }
        loop.forgetWatch(self)
        onReadable = nil
        onWritable = nil
    }

    func handle(_ flags: UInt32) {
        if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0, wantsRead || flags & EPOLLIN.rawValue == 0 {
            onReadable?()
        }
        if flags & EPOLLOUT.rawValue != 0, !isCancelled {
            onWritable?()
        }
    }
}

extension EventLoop {
    /// Watches `fd` (a non-blocking socket the caller owns) for readiness; loop thread only.
    /// Nothing is registered until `setInterest`.
    public func watch(fd: Int32) -> FileWatch {
        let watch = FileWatch(fd: fd, loop: self)
        watches[fd] = watch
        return watch
    }

    func forgetWatch(_ watch: FileWatch) {
        if watches[watch.fd] === watch { watches[watch.fd] = nil }
    }
}
