import Glibc
import Synchronization
import Testing
@testable import Reactor

/// Echoes every byte back and counts callbacks.
final class EchoHandler: ConnectionHandler {
    func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
        connection.write(bytes)
    }
}

final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

func waitUntil(_ condition: () -> Bool) -> Bool {
    for _ in 0..<300 {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

func connectClient(port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

func receiveExactly(_ fd: Int32, _ count: Int) -> [UInt8] {
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while result.count < count {
        let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min(65536, count - result.count), 0) }
        if got <= 0 { break }
        result.append(contentsOf: chunk[0..<got])
    }
    return result
}

@Suite(.serialized)
struct EventLoopTests {
    @Test func runsSubmittedTasksInOrderOnTheLoopThread() throws {
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.shutdown(graceMilliseconds: 100); group.join() }
        let loop = group.loops[0]
        let order = Mutex<[Int]>([])
        let onLoop = Counter()
        for index in 0..<100 {
            loop.execute {
                if loop.inEventLoop { onLoop.increment() }
                order.withLock { $0.append(index) }
            }
        }
        #expect(waitUntil { order.withLock { $0.count } == 100 })
        #expect(order.withLock { $0 } == Array(0..<100))
        #expect(onLoop.count == 100)
        #expect(!loop.inEventLoop)
    }

    @Test func firesTimersInDeadlineOrderAndSkipsCancelledOnes() throws {
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.shutdown(graceMilliseconds: 100); group.join() }
        let loop = group.loops[0]
        let fired = Mutex<[String]>([])
        loop.execute {
            loop.scheduleTimer(afterMilliseconds: 60) { fired.withLock { $0.append("late") } }
            loop.scheduleTimer(afterMilliseconds: 10) { fired.withLock { $0.append("early") } }
            let cancelled = loop.scheduleTimer(afterMilliseconds: 30) { fired.withLock { $0.append("cancelled") } }
            loop.cancelTimer(cancelled)
        }
        #expect(waitUntil { fired.withLock { $0.count } == 2 })
        usleep(50_000)
        #expect(fired.withLock { $0 } == ["early", "late"])
    }

    @Test func echoesBytesOverLoopbackWithGatheredWrites() throws {
        let group = try EventLoopGroup(count: 2)
        let port = try group.listen(host: "127.0.0.1", port: 0) { connection in connection.handler = EchoHandler() }
        group.start()
        defer { group.shutdown(graceMilliseconds: 100); group.join() }
        let fd = connectClient(port: port)
        defer { close(fd) }
        // Larger than the kernel send buffer, so the server meets EAGAIN and arms EPOLLOUT.
        let payload = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let sender = Thread { payload.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        let echoed = receiveExactly(fd, payload.count)
        sender.join()
        #expect(echoed.count == payload.count)
        #expect(echoed == payload)
    }

    @Test func fansOutOneSharedBufferToManyConnections() throws {
        let group = try EventLoopGroup(count: 1)
        let accepted = Mutex<[LoopBound<Connection>]>([])
        final class Quiet: ConnectionHandler {
            func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {}
        }
        let port = try group.listen(host: "127.0.0.1", port: 0) { connection in
            connection.handler = Quiet()
            let bound = LoopBound(connection, loop: connection.loop)
            accepted.withLock { $0.append(bound) }
        }
        group.start()
        defer { group.shutdown(graceMilliseconds: 100); group.join() }
        let clients = (0..<20).map { _ in connectClient(port: port) }
        defer { clients.forEach { close($0) } }
        #expect(waitUntil { accepted.withLock { $0.count } == 20 })
        let message = SharedBuffer("event: one shared buffer\n")
        let statuses = Mutex<[SendStatus]>([])
        let loop = group.loops[0]
        let targets = accepted.withLock { $0 }
        loop.execute {
            for target in targets {
                let status = target.value.write(message)
                statuses.withLock { $0.append(status) }
            }
        }
        for fd in clients {
            #expect(receiveExactly(fd, message.count) == message.bytes)
        }
        #expect(statuses.withLock { $0 } == Array(repeating: .sent, count: 20))
    }

    @Test func reportsBackpressureAboveTheHighWatermarkAndWritableBelowTheLow() throws {
        var configuration = EventLoopConfiguration()
        configuration.highWatermark = 64 * 1024
        configuration.lowWatermark = 16 * 1024
        let group = try EventLoopGroup(count: 1, configuration: configuration)
        let writableCalls = Counter()
        let statuses = Locked<[SendStatus]>([])
        final class Flooder: ConnectionHandler {
            let writableCalls: Counter
            let statuses: Locked<[SendStatus]>
            init(_ writableCalls: Counter, _ statuses: Locked<[SendStatus]>) { self.writableCalls = writableCalls; self.statuses = statuses }
            func activated(_ connection: Connection) {}
            func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
                // Queue 8 MiB at once: far more than the socket buffers take.
                let block = SharedBuffer(count: 1024 * 1024) { $0.initializeMemory(as: UInt8.self, repeating: 0x78) }
                var seen: [SendStatus] = []
                for _ in 0..<8 { seen.append(connection.write(block)) }
                statuses.withLock { $0 = seen }
            }
            func writable(_ connection: Connection) { writableCalls.increment() }
        }
        let port = try group.listen(host: "127.0.0.1", port: 0) { connection in
            connection.handler = Flooder(writableCalls, statuses)
        }
        group.start()
        defer { group.shutdown(graceMilliseconds: 100); group.join() }
        let fd = connectClient(port: port)
        defer { close(fd) }
        _ = send(fd, "go", 2, Int32(MSG_NOSIGNAL))
        #expect(waitUntil { statuses.withLock { $0.count } == 8 })
        #expect(statuses.withLock { $0 }.allSatisfy { $0 == .queued })
        #expect(writableCalls.count == 0)
        let received = receiveExactly(fd, 8 * 1024 * 1024)
        #expect(received.count == 8 * 1024 * 1024)
        #expect(waitUntil { writableCalls.count == 1 })
    }

    @Test func firesConnectionDeadlinesFromTheSweep() throws {
        var configuration = EventLoopConfiguration()
        configuration.tickMilliseconds = 20
        let group = try EventLoopGroup(count: 1, configuration: configuration)
        let timeouts = Counter()
        final class Sleepy: ConnectionHandler {
            let timeouts: Counter
            init(_ timeouts: Counter) { self.timeouts = timeouts }
            func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {}
            func timedOut(_ connection: Connection) {
                timeouts.increment()
                connection.write(Array("bye".utf8))
                connection.closeAfterFlushing()
            }
        }
        let port = try group.listen(host: "127.0.0.1", port: 0) { connection in
            connection.handler = Sleepy(timeouts)
            connection.setTimeout(milliseconds: 50)
        }
        group.start()
        defer { group.shutdown(graceMilliseconds: 100); group.join() }
        let fd = connectClient(port: port)
        defer { close(fd) }
        #expect(receiveExactly(fd, 3) == Array("bye".utf8))
        var byte: UInt8 = 0
        #expect(recv(fd, &byte, 1, 0) == 0)
        #expect(timeouts.count == 1)
    }

    @Test func shutdownAsksHandlersAndEndsTheLoops() throws {
        let group = try EventLoopGroup(count: 2)
        let asked = Counter()
        final class Polite: ConnectionHandler {
            let asked: Counter
            init(_ asked: Counter) { self.asked = asked }
            func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {}
            func shutdownRequested(_ connection: Connection) {
                asked.increment()
                connection.write(Array("going away".utf8))
                connection.closeAfterFlushing()
            }
        }
        let port = try group.listen(host: "127.0.0.1", port: 0) { connection in connection.handler = Polite(asked) }
        group.start()
        let fd = connectClient(port: port)
        defer { close(fd) }
        #expect(waitUntil { group.loops.contains { _ in true } })
        usleep(50_000)
        group.shutdown(graceMilliseconds: 2_000)
        #expect(receiveExactly(fd, 10) == Array("going away".utf8))
        group.join()
        #expect(asked.count == 1)
        // The listener is closed: new connections are refused.
        let late = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(late) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(late, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(result != 0)
    }

    @Test func syscallWrapperMapsErrors() {
        #expect(throws: IOError.self) { _ = try syscall("close") { close(-1) } }
        do {
            _ = try syscall("close") { close(-1) }
        } catch {
            #expect(error.errno == EBADF)
            #expect(error.call == "close")
        }
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        var byte: UInt8 = 0
        if case .wouldBlock = try? syscall("read", { read(fds[0], &byte, 1) }) {} else { Issue.record("expected wouldBlock") }
        close(fds[0]); close(fds[1])
    }
}

/// A minimal thread for tests (Foundation is not imported by the Reactor's tests).
final class Thread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let me = Unmanaged<Thread>.fromOpaque(argument).takeRetainedValue()
            me.body()
            return nil
        }, context)
    }

    func join() { pthread_join(thread, nil) }
}
