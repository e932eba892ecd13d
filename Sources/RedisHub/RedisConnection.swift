import CHiredis
import Glibc
import Reactor

/// One hiredis async connection driven by one of our event loops through hiredis's adapter
/// hooks: hiredis says when it wants to read or write (`addRead`, `delWrite`, …), the loop's
/// `FileWatch` says when the socket is ready, and hiredis does the I/O and parses replies. No
/// thread of its own.
///
/// Loop-bound: create it, send on it and close it on its loop's thread only.
final class RedisConnection {
    private let library: Hiredis
    let loop: EventLoop
    private var context: UnsafeMutablePointer<tally_redisAsyncContext>?
    private var watch: FileWatch?
    /// Called once the connection is up.
    var onConnected: (() -> Void)?
    /// Called once when the connection failed or dropped (the connection is then unusable).
    var onDisconnected: ((String) -> Void)?
    private(set) var isConnected = false
    private var ended = false
    /// The callback of a subscription: hiredis calls it for every message, so it is kept here
    /// rather than released after the first call.
    private var subscription: ReplyBox?

    init(library: Hiredis, loop: EventLoop) {
        self.library = library
        self.loop = loop
    }

    deinit {
        close()
    }

    /// Starts connecting; `onConnected` or `onDisconnected` follows on the loop.
    func connect(to address: RedisAddress) throws(RedisError) {
        guard let ac = library.connect(address.host, Int32(address.port)) else {
            throw RedisError(.connectionFailed, "out of memory connecting to Redis")
        }
        if ac.pointee.err != 0 {
            let message = withUnsafeBytes(of: ac.pointee.c.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            library.free(ac)
            throw RedisError(.connectionFailed, "cannot connect to Redis at \(address.host):\(address.port): \(message)")
        }
        // The declared layout must be the library's: a mismatch would show here first.
        guard ac.pointee.c.tcp.port == Int32(address.port), ac.pointee.c.fd >= 0 else {
            library.free(ac)
            throw RedisError(.libraryMissing, "\(Hiredis.libraryName) does not have the expected layout")
        }
        context = ac
        let me = Unmanaged.passUnretained(self).toOpaque()
        ac.pointee.data = me
        ac.pointee.ev.data = me
        let watch = loop.watch(fd: ac.pointee.c.fd)
        self.watch = watch
        watch.onReadable = { [unowned self] in if let context { library.handleRead(context) } }
        watch.onWritable = { [unowned self] in if let context { library.handleWrite(context) } }
        ac.pointee.ev.addRead = { data in RedisConnection.from(data)?.interest(read: true) }
        ac.pointee.ev.delRead = { data in RedisConnection.from(data)?.interest(read: false) }
        ac.pointee.ev.addWrite = { data in RedisConnection.from(data)?.interest(write: true) }
        ac.pointee.ev.delWrite = { data in RedisConnection.from(data)?.interest(write: false) }
        ac.pointee.ev.cleanup = { data in RedisConnection.from(data)?.released() }
        _ = library.setConnectCallback(ac) { ac, status in
            guard let connection = RedisConnection.from(ac?.pointee.data) else { return }
            if status == TALLY_REDIS_OK {
                connection.isConnected = true
                connection.onConnected?()
            } else {
                let message = ac.map { RedisConnection.errorText($0) } ?? "connect failed"
                connection.ended(message)
            }
        }
        _ = library.setDisconnectCallback(ac) { ac, status in
            guard let connection = RedisConnection.from(ac?.pointee.data) else { return }
            let message = status == TALLY_REDIS_OK ? "closed" : (ac.map { RedisConnection.errorText($0) } ?? "connection lost")
            connection.ended(message)
        }
    }

    /// Sends one command; `reply` is called on the loop with the answer, or with `.null`
    /// when the connection ends first. Returns false when the command could not be queued.
    @discardableResult
    func send(_ arguments: [[UInt8]], reply: ((RedisReply) -> Void)? = nil) -> Bool {
        guard let context, !ended else { return false }
        let box = Unmanaged.passRetained(ReplyBox(persistent: false, body: reply)).toOpaque()
        let rc = Self.withArgv(arguments) { argc, argv, lengths in
            library.commandArgv(context, { _, reply, privdata in
                guard let privdata else { return }
                let box = Unmanaged<ReplyBox>.fromOpaque(privdata).takeRetainedValue()
                box.body?(RedisReply(reply))
            }, box, argc, argv, lengths)
        }
        if rc != TALLY_REDIS_OK {
            Unmanaged<ReplyBox>.fromOpaque(box).release()
            return false
        }
        return true
    }

    /// Subscribes to `channel`; `message` gets every pushed reply (subscribe confirmations
    /// and messages). The connection is then in subscriber mode.
    @discardableResult
    func subscribe(_ channel: String, message: @escaping (RedisReply) -> Void) -> Bool {
        guard let context, !ended, subscription == nil else { return false }
        let box = ReplyBox(persistent: true, body: message)
        subscription = box
        let rc = Self.withArgv([Array("SUBSCRIBE".utf8), Array(channel.utf8)]) { argc, argv, lengths in
            library.commandArgv(context, { _, reply, privdata in
                guard let privdata else { return }
                let box = Unmanaged<ReplyBox>.fromOpaque(privdata).takeUnretainedValue()
                if reply != nil { box.body?(RedisReply(reply)) }
            }, Unmanaged.passUnretained(box).toOpaque(), argc, argv, lengths)
        }
        return rc == TALLY_REDIS_OK
    }

    /// Closes the connection; pending callbacks get `.null`. Safe to call twice.
    func close() {
        onConnected = nil
        onDisconnected = nil
        if let context {
            // Detach first: hiredis calls the hooks and callbacks while freeing, and this
            // object may be in its deinit.
            context.pointee.data = nil
            context.pointee.ev.data = nil
            library.free(context)
        }
        context = nil
        watch?.cancel()
        watch = nil
        subscription = nil
        ended = true
    }

    // MARK: hiredis hooks

    private static func from(_ data: UnsafeMutableRawPointer?) -> RedisConnection? {
        data.map { Unmanaged<RedisConnection>.fromOpaque($0).takeUnretainedValue() }
    }

    private static func from(_ data: UnsafeRawPointer?) -> RedisConnection? {
        data.map { Unmanaged<RedisConnection>.fromOpaque($0).takeUnretainedValue() }
    }

    private static func errorText(_ ac: UnsafePointer<tally_redisAsyncContext>) -> String {
        if let text = ac.pointee.errstr { return String(cString: text) }
        return withUnsafeBytes(of: ac.pointee.c.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    private func interest(read: Bool? = nil, write: Bool? = nil) {
        guard let watch else { return }
        watch.setInterest(read: read ?? watch.wantsRead, write: write ?? watch.wantsWrite)
    }

    /// hiredis is about to free the context.
    private func released() {
        watch?.cancel()
        watch = nil
        context = nil
    }

    private func ended(_ message: String) {
        guard !ended else { return }
        ended = true
        isConnected = false
        // hiredis frees the context right after this callback returns.
        context = nil
        let handler = onDisconnected
        onDisconnected = nil
        onConnected = nil
        // Report after hiredis has finished with the context.
        loop.scheduleTimer(afterMilliseconds: 0) { [weak self] in
            self?.subscription = nil
            handler?(message)
        }
    }

    private static func withArgv<R>(_ arguments: [[UInt8]],
                                    _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int>?) -> R) -> R {
        let total = arguments.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, total))
        defer { storage.deallocate() }
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        var offset = 0
        for argument in arguments {
            argument.withUnsafeBytes { raw in
                if let base = raw.baseAddress, raw.count > 0 {
                    UnsafeMutableRawPointer(storage + offset).copyMemory(from: base, byteCount: raw.count)
                }
            }
            pointers.append(UnsafePointer(storage + offset))
            lengths.append(argument.count)
            offset += argument.count
        }
        return pointers.withUnsafeMutableBufferPointer { p in
            lengths.withUnsafeBufferPointer { l in body(Int32(arguments.count), p.baseAddress, l.baseAddress) }
        }
    }
}

/// A reply callback handed to hiredis as its `privdata`.
private final class ReplyBox {
    let persistent: Bool
    let body: ((RedisReply) -> Void)?
    init(persistent: Bool, body: ((RedisReply) -> Void)?) {
        self.persistent = persistent
        self.body = body
    }
}
