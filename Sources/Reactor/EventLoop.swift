import CSystem
import Glibc
import Synchronization

/// Tuning of a loop's buffers, watermarks and timer granularity.
public struct EventLoopConfiguration: Sendable {
    /// Size of the one read buffer each loop shares among all its connections.
    public var readBufferSize = 64 * 1024
    /// Queued bytes above which a connection stops being read and `send` reports `.queued`.
    public var highWatermark = 64 * 1024
    /// Queued bytes below which reading resumes and the handler hears `writable`.
    public var lowWatermark = 16 * 1024
    /// Queued bytes beyond which writes are refused with `.dropped`.
    public var maxQueuedBytes = 64 * 1024 * 1024
    /// How often connection deadlines are swept; a coarse tick instead of a timer per
    /// connection keeps idle connections free of timer objects.
    public var tickMilliseconds: UInt64 = 250
    /// How long a gracefully closing connection may keep sending before it is dropped.
    public var lingerMilliseconds: UInt64 = 2_000

    public init() {}
}

/// One event-loop thread: an epoll set, the connections it owns, a timer heap and a locked
/// task queue woken through an eventfd.
///
/// Everything except `execute`, `inEventLoop` and `index` must be used on the loop's own
/// thread; that is why the class is `@unchecked Sendable`: the cross-thread surface is the
/// locked queue, the rest is loop-confined by discipline (checked by `LoopBound`).
public final class EventLoop: @unchecked Sendable {
    /// Position of this loop in its group.
    public let index: Int
    /// The configuration the loop was created with.
    public let configuration: EventLoopConfiguration

    let epollFD: Int32
    let wakeFD: Int32
    private let queue = Mutex(TaskQueue())
    private let thread = Atomic<UInt>(0)

    private struct TaskQueue: ~Copyable {
        var tasks: [@Sendable () -> Void] = []
        var wakePending = false
        var stopped = false
    }

    // Loop-confined state.
    var connections: [Connection?] = []
    private(set) public var connectionCount = 0
    var listeners: [Int32] = []
    var acceptHandler: ((Connection) -> Void)?
    /// Descriptors watched for other protocols' clients (`FileWatch`), by descriptor.
    var watches: [Int32: FileWatch] = [:]
    let readBuffer: UnsafeMutableRawBufferPointer
    let iovecs: UnsafeMutablePointer<iovec>
    static let maxIovecs = 64
    var dirty: [Connection] = []
    private var timers = TimerHeap()
    private var events: UnsafeMutablePointer<epoll_event>
    private let maxEvents = 256
    private var nextGeneration: UInt32 = 1
    private var nextSweep: UInt64 = 0
    private var shutdownDeadline: UInt64?
    private var localTasks: [@Sendable () -> Void] = []
    private var acceptPausedUntil: UInt64 = 0
    let logger: Logger

    /// The loop's clock: monotonic milliseconds, read once per iteration.
    public private(set) var now: UInt64

    /// Creates a loop (its thread starts with `EventLoopGroup.start`).
    public init(index: Int, configuration: EventLoopConfiguration = EventLoopConfiguration(), logger: Logger = .disabled) throws(IOError) {
        self.index = index
        self.configuration = configuration
        self.logger = logger
        epollFD = try syscallBlocking("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        let eventFD: Int32
        do throws(IOError) {
            eventFD = try syscallBlocking("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
        } catch {
            close(epollFD)
            throw error
        }
        wakeFD = eventFD
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(configuration.readBufferSize, 1024), alignment: 16)
        iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: EventLoop.maxIovecs)
        events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        now = monotonicMilliseconds()
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(UInt32(bitPattern: wakeFD))
        _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
    }

    deinit {
        readBuffer.deallocate()
        iovecs.deallocate()
        events.deallocate()
    }

    /// Whether the caller runs on this loop's thread.
    public var inEventLoop: Bool {
        thread.load(ordering: .relaxed) == UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
    }

    /// Runs `task` on the loop thread, soon; callable from any thread. Tasks run in order.
    /// Tasks submitted after the loop has stopped are dropped.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        let wakeFD = self.wakeFD
        queue.withLock { state in
            guard !state.stopped else { return }
            state.tasks.append(task)
            guard !state.wakePending else { return }
            state.wakePending = true
            // Written under the lock so that it can never reach a descriptor number reused
            // after the loop stopped and closed its eventfd.
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Runs `body` once after `milliseconds`; loop thread only.
    @discardableResult
    public func scheduleTimer(afterMilliseconds milliseconds: UInt64, _ body: @escaping () -> Void) -> TimerID {
        timers.schedule(at: monotonicMilliseconds() &+ milliseconds, body)
    }

    /// Cancels a timer that has not fired yet; loop thread only.
    public func cancelTimer(_ timer: TimerID) {
        timers.cancel(timer)
    }

    /// Adopts an accepted or connected socket (non-blocking) as a connection of this loop.
    /// Loop thread only. The caller sets `connection.handler` right after.
    public func adopt(socket fd: Int32) throws(IOError) -> Connection {
        let generation = nextGeneration
        nextGeneration = nextGeneration == UInt32.max ? 1 : nextGeneration + 1
        let connection = Connection(fd: fd, generation: generation, loop: self)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = (UInt64(generation) << 32) | UInt64(UInt32(bitPattern: fd))
        _ = try syscallBlocking("epoll_ctl") { epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) }
        let slot = Int(fd)
        if slot >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: slot - connections.count + 1))
        }
        connections[slot] = connection
        connectionCount += 1
        return connection
    }

    func forget(_ connection: Connection) {
        let slot = Int(connection.fd)
        if slot < connections.count, connections[slot] === connection {
            connections[slot] = nil
            connectionCount -= 1
        }
    }

    func markDirty(_ connection: Connection) {
        dirty.append(connection)
    }

    func addListener(_ fd: Int32) throws(IOError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(UInt32(bitPattern: fd))
        _ = try syscallBlocking("epoll_ctl") { epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) }
        listeners.append(fd)
    }

    // MARK: - The loop

    func run() {
        thread.store(UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))), ordering: .relaxed)
        _ = "tally-loop-\(index)".withCString { pthread_setname_np(pthread_self(), $0) }
        now = monotonicMilliseconds()
        nextSweep = now &+ configuration.tickMilliseconds
        while true {
            let count = epoll_wait(epollFD, events, Int32(maxEvents), waitTimeout())
            now = monotonicMilliseconds()
            if count > 0 { dispatchAll(count) }
            runTasks()
            runTimers()
            if now >= nextSweep { sweep() }
            flushDirty()
            if let deadline = shutdownDeadline, connectionCount == 0 || now >= deadline { break }
        }
        finish()
    }

    /// Connections accepted per listener event.
    static let acceptBatch = 32

    /// How long a batch of socket events may run before the tasks queued meanwhile get a turn.
    static let dispatchSliceMilliseconds: UInt64 = 2

    /// Handles one `epoll_wait` batch. Queued tasks (the hub's event deliveries among them)
    /// would otherwise wait for the whole batch, and under attack a batch can be long: up to
    /// 256 events of accepts, upgrades and requests. So every couple of milliseconds the tasks
    /// queued meanwhile run and what they wrote goes out, and a well-behaved subscriber's next
    /// event is not held behind a crowd of new connections.
    private func dispatchAll(_ count: Int32) {
        var yieldAt = now &+ Self.dispatchSliceMilliseconds
        for position in 0..<Int(count) {
            dispatch(events[position])
            guard position & 3 == 3 else { continue }
            let current = monotonicMilliseconds()
            guard current >= yieldAt else { continue }
            now = current
            if queue.withLock({ !$0.tasks.isEmpty }) {
                runTasks()
                flushDirty()
            }
            yieldAt = monotonicMilliseconds() &+ Self.dispatchSliceMilliseconds
        }
    }

    private func waitTimeout() -> Int32 {
        let hasTasks = queue.withLock { !$0.tasks.isEmpty }
        if hasTasks || !dirty.isEmpty { return 0 }
        var deadline: UInt64 = .max
        if connectionCount > 0 || shutdownDeadline != nil || acceptPausedUntil != 0 { deadline = nextSweep }
        if let timer = timers.earliestDeadline() { deadline = min(deadline, timer) }
        if let stop = shutdownDeadline { deadline = min(deadline, stop) }
        if deadline == .max { return -1 }
        let current = monotonicMilliseconds()
        return deadline <= current ? 0 : Int32(clamping: deadline - current)
    }

    private func dispatch(_ event: epoll_event) {
        let data = event.data.u64
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
        let generation = UInt32(truncatingIfNeeded: data >> 32)
        if generation == 0 {
            if fd == wakeFD {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
            } else if let watch = watches[fd] {
                watch.handle(event.events)
            } else {
                acceptAll(listener: fd)
            }
            return
        }
        let slot = Int(fd)
        guard slot < connections.count, let connection = connections[slot], connection.generation == generation else { return }
        let flags = event.events
        if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            connection.readableEvent()
        }
        if flags & EPOLLOUT.rawValue != 0, !connection.isClosed {
            connection.flush(fromWritableEvent: true)
        }
        if flags & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0, !connection.isClosed {
            connection.close(error: socketError(fd))
        }
    }

    private func socketError(_ fd: Int32) -> IOError? {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0, code != 0 else { return nil }
        return IOError(errno: code, call: "epoll")
    }

    private func acceptAll(listener: Int32) {
        guard shutdownDeadline == nil, now >= acceptPausedUntil else { return }
        // A few at a time: the listener stays readable, so the rest are taken next iteration,
        // after the tasks and writes of this one (a flood of connections does not hold up the
        // connections already served).
        for _ in 0..<Self.acceptBatch {
            let result: IOResult<Int32>
            var address = sockaddr_storage()
            var addressLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            do throws(IOError) {
                result = try syscall("accept4") {
                    withUnsafeMutablePointer(to: &address) { pointer in
                        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            accept4(listener, $0, &addressLength, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                        }
                    }
                }
            } catch {
                switch error.errno {
                case ECONNABORTED, EPROTO, EPERM:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: stop accepting for a moment instead of spinning on a
                    // listener that stays readable.
                    logger.error("reactor.accept_failed", ["code": error.code, "errno": String(error.errno)])
                    pauseAccepting(milliseconds: 100)
                    return
                default:
                    logger.error("reactor.accept_failed", ["code": error.code, "errno": String(error.errno)])
                    return
                }
            }
            guard case .done(let fd) = result else { return }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let connection: Connection
            do throws(IOError) {
                connection = try adopt(socket: fd)
            } catch {
                Glibc.close(fd)
                continue
            }
            connection.peerAddress = EventLoop.describe(&address)
            acceptHandler?(connection)
            if connection.handler == nil, !connection.isClosed { connection.close() }
        }
    }

    /// The IP address of a peer as text; IPv4-mapped IPv6 addresses are shown as IPv4 so
    /// one client counts as one address whichever family it used.
    static func describe(_ address: inout sockaddr_storage) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(address.ss_family)
        let written: UnsafePointer<CChar>? = withUnsafePointer(to: &address) { pointer in
            switch family {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    var raw = v4.pointee.sin_addr
                    return inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    var raw = v6.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                }
            default:
                return nil
            }
        }
        guard written != nil else { return "" }
        let description = String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return description.hasPrefix("::ffff:") && description.contains(".") ? String(description.dropFirst(7)) : description
    }

    private func pauseAccepting(milliseconds: UInt64) {
        acceptPausedUntil = now &+ milliseconds
        for fd in listeners {
            var event = epoll_event()
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
        }
        scheduleTimer(afterMilliseconds: milliseconds) { [self] in
            acceptPausedUntil = 0
            guard shutdownDeadline == nil else { return }
            for fd in listeners {
                var event = epoll_event()
                event.events = EPOLLIN.rawValue
                event.data.u64 = UInt64(UInt32(bitPattern: fd))
                _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
            }
        }
    }

    private func runTasks() {
        queue.withLock { state in
            swap(&state.tasks, &localTasks)
            state.wakePending = false
        }
        guard !localTasks.isEmpty else { return }
        for task in localTasks { task() }
        localTasks.removeAll(keepingCapacity: localTasks.count <= 64)
    }

    private func runTimers() {
        guard !timers.isEmpty else { return }
        let due = timers.takeDue(now: now)
        for action in due { action() }
    }

    /// Walks the connections once per tick and fires the deadlines that have passed.
    private func sweep() {
        nextSweep = now &+ configuration.tickMilliseconds
        guard connectionCount > 0 else { return }
        var slot = 0
        while slot < connections.count {
            if let connection = connections[slot], connection.deadline != 0, connection.deadline <= now {
                connection.deadlinePassed()
            }
            slot += 1
        }
    }

    private func flushDirty() {
        var round = 0
        // Flushing can complete work that queues more writes (a handler hearing `writable`);
        // a few rounds settle that without starving the poll.
        while !dirty.isEmpty, round < 4 {
            let batch = dirty
            dirty.removeAll(keepingCapacity: true)
            for connection in batch { connection.flush(fromWritableEvent: false) }
            round += 1
        }
    }

    // MARK: - Shutdown

    /// Stops accepting, asks every connection's handler to wind down (`shutdownRequested`) and
    /// ends the loop once no connection is left or `graceMilliseconds` have passed, closing
    /// whatever remains. Loop thread only; use `EventLoopGroup.shutdown` from elsewhere.
    func beginShutdown(graceMilliseconds: UInt64) {
        guard shutdownDeadline == nil else { return }
        shutdownDeadline = monotonicMilliseconds() &+ graceMilliseconds
        for fd in listeners {
            var event = epoll_event()
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
            Glibc.close(fd)
        }
        listeners.removeAll()
        for case let connection? in connections where !connection.isClosed {
            connection.handler?.shutdownRequested(connection)
        }
    }

    private func finish() {
        for case let connection? in connections where !connection.isClosed {
            connection.close()
        }
        connections.removeAll()
        dirty.removeAll()
        queue.withLock { state in
            state.stopped = true
            state.tasks.removeAll()
        }
        timers = TimerHeap()
        Glibc.close(wakeFD)
        Glibc.close(epollFD)
    }
}
