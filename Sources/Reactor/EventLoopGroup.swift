import CSystem
import Glibc
import Synchronization

/// N event loops, one thread each, and the listening sockets they accept on.
public final class EventLoopGroup: Sendable {
    /// The loops, in index order.
    public let loops: [EventLoop]
    private let state = Mutex(GroupState())
    private let roundRobin = Atomic<Int>(0)

    private struct GroupState: ~Copyable {
        var threads: [pthread_t] = []
        var started = false
        var joined = false
    }

    /// Creates `count` loops (at least one). Threads start with `start()`.
    public init(count: Int, configuration: EventLoopConfiguration = EventLoopConfiguration(), logger: Logger = .disabled) throws(IOError) {
        var loops: [EventLoop] = []
        for index in 0..<max(count, 1) {
            loops.append(try EventLoop(index: index, configuration: configuration, logger: logger))
        }
        self.loops = loops
    }

    /// The number of online processors: the default loop count.
    public static var processorCount: Int { max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1) }

    /// A loop picked round-robin, for spreading work that belongs to no connection.
    public func next() -> EventLoop {
        let position = roundRobin.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[position % loops.count]
    }

    /// Binds one `SO_REUSEPORT` listener per loop on `host:port` (port 0 picks a free port,
    /// shared by all loops) and returns the bound port. `accept` is called on the accepting
    /// loop with each new connection and must set its handler. Call before `start()`.
    public func listen(host: String, port: Int, backlog: Int32 = 1024, accept: @escaping @Sendable (Connection) -> Void) throws(IOError) -> Int {
        precondition(!state.withLock { $0.started }, "listen must be called before start")
        var boundPort = port
        var opened: [Int32] = []
        do throws(IOError) {
            for loop in loops {
                let fd = try Self.makeListener(host: host, port: boundPort, backlog: backlog)
                opened.append(fd)
                if boundPort == 0 { boundPort = Self.localPort(of: fd) }
                try loop.addListener(fd)
                loop.acceptHandler = accept
            }
        } catch {
            for fd in opened { Glibc.close(fd) }
            throw error
        }
        return boundPort
    }

    /// Starts one thread per loop.
    public func start() {
        state.withLock { state in
            guard !state.started else { return }
            state.started = true
            for loop in loops {
                let context = Unmanaged.passRetained(loop).toOpaque()
                var thread = pthread_t()
                let result = pthread_create(&thread, nil, { argument in
                    guard let argument else { return nil }
                    let loop = Unmanaged<EventLoop>.fromOpaque(argument).takeRetainedValue()
                    loop.run()
                    return nil
                }, context)
                precondition(result == 0, "pthread_create failed: \(result)")
                state.threads.append(thread)
            }
        }
    }

    /// Asks every loop to shut down gracefully (see `EventLoop.beginShutdown`); returns
    /// without waiting. `join()` waits.
    public func shutdown(graceMilliseconds: UInt64) {
        for loop in loops {
            loop.execute { loop.beginShutdown(graceMilliseconds: graceMilliseconds) }
        }
    }

    /// Waits for every loop thread to end.
    public func join() {
        let threads = state.withLock { state -> [pthread_t] in
            guard !state.joined else { return [] }
            state.joined = true
            return state.threads
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    static func makeListener(host: String, port: Int, backlog: Int32) throws(IOError) -> Int32 {
        let isIPv6 = host.contains(":")
        let family = isIPv6 ? AF_INET6 : AF_INET
        let fd = try syscallBlocking("socket") {
            socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(IOError) {
            var one: Int32 = 1
            let size = socklen_t(MemoryLayout<Int32>.size)
            try syscallBlocking("setsockopt") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size) }
            try syscallBlocking("setsockopt") { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, size) }
            guard let portValue = UInt16(exactly: port) else { throw IOError(errno: EINVAL, call: "bind") }
            if isIPv6 {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = portValue.bigEndian
                guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { throw IOError(errno: EINVAL, call: "inet_pton") }
                try syscallBlocking("bind") {
                    withUnsafePointer(to: &address) { pointer in
                        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                    }
                }
            } else {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = portValue.bigEndian
                let name = host == "localhost" ? "127.0.0.1" : host
                guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else { throw IOError(errno: EINVAL, call: "inet_pton") }
                try syscallBlocking("bind") {
                    withUnsafePointer(to: &address) { pointer in
                        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                }
            }
            try syscallBlocking("listen") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    static func localPort(of fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return 0 }
        if Int32(storage.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        }
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
    }
}

/// Blocks SIGINT/SIGTERM for signal-driven shutdown: call `block()` before any thread starts
/// (threads inherit the mask), then `wait()` on the main thread. A signalfd delivers the
/// signal as a read, so no handler runs in an async-signal context.
public enum TerminationSignals {
    /// Blocks SIGINT and SIGTERM (and ignores SIGPIPE) in the calling thread.
    public static func block() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Waits until SIGINT or SIGTERM arrives and returns its number.
    public static func wait() -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        let fd = signalfd(-1, &set, Int32(SFD_CLOEXEC))
        guard fd >= 0 else { return SIGTERM }
        defer { Glibc.close(fd) }
        var info = signalfd_siginfo()
        while true {
            let count = read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
            if count == MemoryLayout<signalfd_siginfo>.size { return Int32(info.ssi_signo) }
            if count < 0, errno == EINTR { continue }
            return SIGTERM
        }
    }
}
