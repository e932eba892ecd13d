import Foundation
import Progress
import Reactor
import Testing
@testable import RedisHub

/// A real redis-server on a free loopback port, started and stopped by the test.
final class RedisTestServer {
    static let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isAvailable: Bool { binary != nil && FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/" + Hiredis.libraryName) }

    let port: Int
    /// Extra configuration (`--requirepass`, `--user`).
    let options: [String]
    private var process: Process?

    init(options: [String] = []) throws {
        port = RedisTestServer.freePort()
        self.options = options
        try start()
    }

    deinit { stop() }

    var url: String { "redis://127.0.0.1:\(port)/0" }

    /// The URL with credentials, e.g. `:password` or `user:password` (already percent-encoded).
    func url(credentials: String) -> String { "redis://\(credentials)@127.0.0.1:\(port)/0" }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: RedisTestServer.binary ?? "/usr/bin/redis-server")
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] + options
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if RedisTestServer.accepts(port) { return }
            usleep(20_000)
        }
    }

    func stop() {
        guard let process else { return }
        // SIGKILL: the test process may block SIGTERM (servers under test do), and a child
        // inherits the mask; and a crash is what a restart test wants anyway.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// One node: its loop, its local hub and its Redis hub.
final class TestNode {
    let group: EventLoopGroup
    let local = LocalProgressHub()
    let hub: RedisProgressHub

    init(_ name: String, url: String) throws {
        group = try EventLoopGroup(count: 1)
        group.start()
        hub = try RedisProgressHub(url: url, local: local, loop: group.loops[0], nodeID: name)
    }

    func stop() {
        hub.stop()
        group.shutdown(graceMilliseconds: 0)
        group.join()
    }

    func seqs(_ job: String, after: UInt64 = 0) -> [UInt64]? {
        if case .events(let events) = hub.replay(job: job, after: after) { return events.map(\.seq) }
        return nil
    }
}

func update(_ job: String, _ seq: UInt64, state: String = "running") -> HubUpdate {
    let terminal = state != "running"
    return HubUpdate(job: job, seq: seq, type: terminal ? .state : .progress, isTerminal: terminal, state: state,
                     snapshot: Array(#"{"id":"\#(job)","seq":\#(seq),"state":"\#(state)","processed":\#(seq * 10)}"#.utf8))
}

func waitUntil(_ timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

@Suite(.serialized, .enabled(if: RedisTestServer.isAvailable, "needs redis-server and libhiredis0.14"))
struct RedisProgressHubTests {
    @Test func eventsOfOneNodeReachTheOtherWithTheSameSeqs() throws {
        let redis = try RedisTestServer()
        let a = try TestNode("a", url: redis.url)
        let b = try TestNode("b", url: redis.url)
        defer { a.stop(); b.stop() }
        #expect(waitUntil { !a.hub.isDegraded && !b.hub.isDegraded })
        for seq in 1...40 { try a.hub.publish(update("job1", UInt64(seq))) }
        try a.hub.publish(update("job1", 41, state: "completed"))
        #expect(waitUntil { b.hub.latest(job: "job1")?.seq == 41 })
        #expect(b.seqs("job1") == Array(1...41))
        #expect(b.hub.latest(job: "job1")?.isTerminal == true)
        #expect(b.hub.latest(job: "job1")?.state == "completed")
        #expect(b.hub.latest(job: "job1")?.snapshot == a.hub.latest(job: "job1")?.snapshot)
    }

    @Test func aNodeJoiningLateReadsTheStreamFromTheStart() throws {
        let redis = try RedisTestServer()
        let a = try TestNode("a", url: redis.url)
        defer { a.stop() }
        #expect(waitUntil { !a.hub.isDegraded })
        for seq in 1...10 { try a.hub.publish(update("late", UInt64(seq))) }
        usleep(200_000)
        let b = try TestNode("b", url: redis.url)
        defer { b.stop() }
        #expect(waitUntil { !b.hub.isDegraded })
        try a.hub.publish(update("late", 11))
        #expect(waitUntil { b.hub.latest(job: "late")?.seq == 11 })
        #expect(b.seqs("late") == Array(1...11))
    }

    /// Redis restarts empty while a job publishes: the other node is degraded meanwhile, then
    /// receives every event it missed, in order, with no hole.
    @Test func aRedisRestartLeavesNoGap() throws {
        let redis = try RedisTestServer()
        let a = try TestNode("a", url: redis.url)
        let b = try TestNode("b", url: redis.url)
        defer { a.stop(); b.stop() }
        #expect(waitUntil { !a.hub.isDegraded && !b.hub.isDegraded })
        for seq in 1...5 { try a.hub.publish(update("blip", UInt64(seq))) }
        #expect(waitUntil { b.hub.latest(job: "blip")?.seq == 5 })
        redis.stop()
        #expect(waitUntil { a.hub.isDegraded && b.hub.isDegraded })
        for seq in 6...12 { try a.hub.publish(update("blip", UInt64(seq))) }
        #expect(a.hub.latest(job: "blip")?.seq == 12)
        #expect(b.hub.latest(job: "blip")?.seq == 5)
        try redis.start()
        #expect(waitUntil(15) { !a.hub.isDegraded && !b.hub.isDegraded })
        #expect(waitUntil(15) { b.hub.latest(job: "blip")?.seq == 12 })
        #expect(b.seqs("blip", after: 5) == Array(6...12))
        try a.hub.publish(update("blip", 13, state: "completed"))
        #expect(waitUntil { b.hub.latest(job: "blip")?.seq == 13 })
        #expect(b.seqs("blip") == Array(1...13))
    }

    /// A node started after a job's last event answers for it from the job's hash, and
    /// follows a running job from there.
    @Test func aNodeThatNeverHeardAJobLoadsItFromItsHash() throws {
        let redis = try RedisTestServer()
        let a = try TestNode("a", url: redis.url)
        defer { a.stop() }
        #expect(waitUntil { !a.hub.isDegraded })
        for seq in 1...3 { try a.hub.publish(update("done", UInt64(seq))) }
        try a.hub.publish(update("done", 4, state: "completed"))
        for seq in 1...5 { try a.hub.publish(update("busy", UInt64(seq))) }
        usleep(200_000)
        let b = try TestNode("b", url: redis.url)
        defer { b.stop() }
        b.local.setSnapshotProvider { [weak hub = b.hub] in hub?.storedLatest(job: $0) }
        #expect(waitUntil { !b.hub.isDegraded })
        let done = b.hub.latest(job: "done")
        #expect(done?.seq == 4 && done?.isTerminal == true && done?.state == "completed")
        #expect(done?.snapshot == a.hub.latest(job: "done")?.snapshot)
        #expect(b.hub.latest(job: "busy")?.seq == 5)
        #expect(b.hub.latest(job: "nothing") == nil)
        try a.hub.publish(update("busy", 6, state: "completed"))
        #expect(waitUntil { b.hub.latest(job: "busy")?.seq == 6 })
        #expect(b.seqs("busy", after: 5) == [6])
        #expect(RedisProgressHub.update(fromHash: .array([.string(Array("seq".utf8))]), job: "x") == nil)
    }

    @Test func aPasswordProtectedRedisIsSharedWithAuth() throws {
        // A password with characters a URL must encode: '/', ':', '@' and a space.
        let redis = try RedisTestServer(options: ["--requirepass", "s3cret/:@ x"])
        let url = redis.url(credentials: ":s3cret%2F%3A%40%20x")
        let a = try TestNode("a", url: url)
        let b = try TestNode("b", url: url)
        defer { a.stop(); b.stop() }
        #expect(waitUntil { !a.hub.isDegraded && !b.hub.isDegraded })
        for seq in 1...5 { try a.hub.publish(update("auth", UInt64(seq))) }
        #expect(waitUntil { b.hub.latest(job: "auth")?.seq == 5 })
        #expect(b.seqs("auth") == Array(1...5))
    }

    @Test func anACLUserAuthenticatesWithItsName() throws {
        let redis = try RedisTestServer(options: ["--user", "default", "off", "--user", "tally", "on", ">pw", "~*", "&*", "+@all"])
        let a = try TestNode("a", url: redis.url(credentials: "tally:pw"))
        let b = try TestNode("b", url: redis.url(credentials: "tally:pw"))
        defer { a.stop(); b.stop() }
        #expect(waitUntil { !a.hub.isDegraded && !b.hub.isDegraded })
        try a.hub.publish(update("acl", 1))
        try a.hub.publish(update("acl", 2, state: "completed"))
        #expect(waitUntil { b.hub.latest(job: "acl")?.seq == 2 })
    }

    /// A refused password or no password at all: the node stays degraded (retrying), and its
    /// own hub keeps working.
    @Test func aWrongPasswordLeavesTheNodeDegraded() throws {
        let redis = try RedisTestServer(options: ["--requirepass", "right"])
        let wrong = try TestNode("wrong", url: redis.url(credentials: ":wrong"))
        let none = try TestNode("none", url: redis.url)
        defer { wrong.stop(); none.stop() }
        usleep(700_000)
        #expect(wrong.hub.isDegraded)
        #expect(none.hub.isDegraded)
        try wrong.hub.publish(update("local", 1))
        #expect(wrong.hub.latest(job: "local")?.seq == 1)
    }

    @Test func rejectsBadURLs() throws {
        #expect(throws: RedisError.self) { try RedisAddress(url: "http://x") }
        #expect(throws: RedisError.self) { try RedisAddress(url: "redis://h:0/1") }
        #expect(throws: RedisError.self) { try RedisAddress(url: "redis://:@h:1/1") }
        #expect(throws: RedisError.self) { try RedisAddress(url: "redis://:bad%zz@h:1/1") }
        let local = try RedisAddress(url: "redis://localhost:7000/3")
        #expect(local.host == "127.0.0.1" && local.port == 7000 && local.database == 3)
        #expect(local.password == nil && local.username == nil)
        let plain = try RedisAddress(url: "redis://10.0.0.2")
        #expect(plain.host == "10.0.0.2" && plain.port == 6379 && plain.database == 0)
        let user = try RedisAddress(url: "redis://user:p%40ss@h:1/1")
        #expect(user.username == "user" && user.password == "p@ss" && user.host == "h" && user.port == 1 && user.database == 1)
        let secret = try RedisAddress(url: "redis://:pw@10.0.0.2:6380")
        #expect(secret.username == nil && secret.password == "pw" && secret.port == 6380)
        #expect(!secret.description.contains("pw"))
        #expect(RedisAddress.redacted("redis://user:pw@h:1/1") == "redis://user:***@h:1/1")
        #expect(RedisAddress.redacted("redis://:pw@h") == "redis://:***@h")
        #expect(RedisAddress.redacted("redis://h:1") == "redis://h:1")
    }
}
