import Auth
import Synchronization

/// Everything configurable about the HTTP server, with the defaults `tally serve` uses.
public struct HTTPServerConfiguration: Sendable {
    /// Address to listen on; loopback unless asked otherwise.
    public var host = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (tests).
    public var port = 8080
    /// Number of event loops (threads); one per core by default.
    public var loopCount = EventLoopGroup.processorCount
    /// Parser limits (request line, headers, default body size).
    public var limits = HTTPRequestParser.Limits()
    /// How long a keep-alive connection may sit between requests.
    public var idleTimeoutMilliseconds: UInt64 = 60_000
    /// How long a client may take to send a complete request head (slowloris guard) → 408.
    public var headerTimeoutMilliseconds: UInt64 = 10_000
    /// How long a request body may pause between bytes → 408.
    public var bodyTimeoutMilliseconds: UInt64 = 30_000
    /// How long shutdown waits for in-flight responses and goodbyes before closing the rest.
    public var shutdownGraceMilliseconds: UInt64 = 5_000
    /// Loop tuning: watermarks, read buffer, timer tick.
    public var loop = EventLoopConfiguration()
    /// When set, every connection speaks TLS (https:// and wss://) with this context.
    public var tls: TLSContext?
    /// Most connections one client address may hold open (0: no limit). Generous, since
    /// every client behind a proxy or NAT shares one address; low enough that one client
    /// cannot hold most of the descriptors.
    public var maxConnectionsPerAddress = 256
    /// Most connections in total (0: no limit); beyond it new ones get 503 + Retry-After.
    public var maxConnections = 10_000
    /// Called for every request after routing and before its handler (on the loop); a
    /// returned response answers the request instead. One place for auth, rate limits and
    /// CORS preflights, so no route can forget them.
    public var admission: (@Sendable (HTTPAdmissionRequest) -> HTTPResponse?)?
    /// Headers added to every response and stream head (security headers, CORS), given the
    /// request head, its route pattern (nil when no route matched) and the status.
    public var responseHeaders: (@Sendable (HTTPRequestHead, String?, Int) -> [(name: String, value: String)])?

    public init() {}
}

/// Per-loop scratch space, touched only by its own loop (hence unchecked).
final class LoopLocal: @unchecked Sendable {
    var scratch: [UInt8] = []

    init() { scratch.reserveCapacity(1024) }
}

/// What every connection of a server shares: immutable after start.
final class ServerContext: Sendable {
    let router: Router
    let configuration: HTTPServerConfiguration
    let logger: Logger
    let locals: [LoopLocal]
    /// TLS connections refused at accept that are still handshaking to hear their 503.
    let pendingTLSRefusals = Atomic<Int>(0)

    init(router: Router, configuration: HTTPServerConfiguration, logger: Logger, loopCount: Int) {
        self.router = router
        self.configuration = configuration
        self.logger = logger
        self.locals = (0..<loopCount).map { _ in LoopLocal() }
    }

    @inline(__always)
    func local(for loop: EventLoop) -> LoopLocal { locals[loop.index] }
}

/// An HTTP/1.1 server on a group of event loops: each loop accepts on its own `SO_REUSEPORT`
/// listener and serves its connections with the router's handlers.
public final class HTTPServer: Sendable {
    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    /// The event loops; connections, handlers and upgraded protocols run on these.
    public let group: EventLoopGroup
    private let context: ServerContext
    private let boundPort = Atomic<Int>(0)
    private let hooks = Mutex<[@Sendable () -> Void]>([])

    /// Counts connections per address and in total (exported to `/metrics`).
    public let connectionLimiter: ConnectionLimiter

    /// Creates a server (nothing is bound until `start`).
    public init(configuration: HTTPServerConfiguration, router: Router, logger: Logger) throws(IOError) {
        self.configuration = configuration
        group = try EventLoopGroup(count: configuration.loopCount, configuration: configuration.loop, logger: logger)
        context = ServerContext(router: router, configuration: configuration, logger: logger, loopCount: group.loops.count)
        connectionLimiter = ConnectionLimiter(maxPerAddress: configuration.maxConnectionsPerAddress, maxTotal: configuration.maxConnections)
    }

    /// The loops, in index order.
    public var loops: [EventLoop] { group.loops }

    /// The bound port (after `start`).
    public var port: Int { boundPort.load(ordering: .relaxed) }

    /// Binds and starts the loop threads; returns the bound port.
    @discardableResult
    public func start() throws(IOError) -> Int {
        let context = self.context
        let limiter = connectionLimiter
        // One closure for every connection: capturing the address would cost each one a context.
        let release: @Sendable (Connection) -> Void = { connection in limiter.release(connection.peerAddress) }
        let port = try group.listen(host: configuration.host, port: configuration.port) { connection in
            if let refusal = limiter.admit(connection.peerAddress) {
                HTTPServer.refuse(connection, refusal, context: context)
                return
            }
            connection.onClose = release
            if let tls = context.configuration.tls {
                do throws(TLSError) {
                    connection.transform = TLSTransform(engine: try TLSEngine(context: tls))
                } catch {
                    context.logger.error("tls.setup_failed", ["error": error.description])
                    connection.close()
                    return
                }
            }
            connection.handler = HTTPConnectionHandler(context: context, connection: connection)
            // Covers the TLS handshake too: a peer that stalls in it is dropped like a slowloris.
            connection.setTimeout(milliseconds: context.configuration.headerTimeoutMilliseconds)
        }
        boundPort.store(port, ordering: .relaxed)
        group.start()
        context.logger.info("http.listening", ["host": configuration.host, "port": String(port), "loops": String(group.loops.count)])
        return port
    }

    /// Most refused TLS connections handshaking at once to hear their 503; beyond it they
    /// are closed unanswered. A handshake costs a key exchange and a signature, the same as
    /// an admitted connection's, and each one is bounded by the header timeout; the cap keeps
    /// a flood over the limits from turning into a flood of handshakes.
    static let maxPendingTLSRefusals = 64

    /// Sheds a connection over a limit with `503` and `Retry-After`, and closes it. Plain
    /// HTTP gets the answer before anything is read. A TLS client can only read it after a
    /// handshake, so the answer is held by the TLS engine until the handshake completes and
    /// sent with it; the connection closes once the client's first request arrives (or after
    /// the header timeout). Past `maxPendingTLSRefusals` such handshakes, a TLS connection is
    /// closed at once.
    private static func refuse(_ connection: Connection, _ refusal: ConnectionLimiter.Refusal, context: ServerContext) {
        let reason = refusal == .perAddress ? "Too many connections from your address." : "The server is at its connection limit."
        context.logger.debug("http.connection_refused", ["peer": connection.peerAddress, "reason": refusal == .perAddress ? "per_address" : "overloaded"])
        let body = "{\"error\":{\"code\":\"server.unavailable\",\"message\":\"\(reason)\"}}"
        let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        let answer = Array((head + body).utf8)
        guard let tls = context.configuration.tls else {
            connection.handler = RefusedConnection()
            connection.write(answer)
            connection.closeAfterFlushing()
            return
        }
        guard context.pendingTLSRefusals.add(1, ordering: .relaxed).newValue <= maxPendingTLSRefusals,
              let engine = try? TLSEngine(context: tls) else {
            context.pendingTLSRefusals.subtract(1, ordering: .relaxed)
            connection.handler = RefusedConnection()
            connection.close()
            return
        }
        connection.transform = TLSTransform(engine: engine)
        connection.handler = RefusedConnection(answeringAfterHandshake: true)
        connection.onClose = { _ in context.pendingTLSRefusals.subtract(1, ordering: .relaxed) }
        // Held by the engine until the handshake completes, then sent at once.
        connection.write(answer)
        connection.setTimeout(milliseconds: context.configuration.headerTimeoutMilliseconds)
    }

    /// Registers work to run when shutdown begins, before connections are asked to close
    /// (stop producers, wake parked requests).
    public func onShutdown(_ hook: @escaping @Sendable () -> Void) {
        hooks.withLock { $0.append(hook) }
    }

    /// Shuts down gracefully and waits: stops accepting, lets in-flight responses finish,
    /// asks upgraded connections to say goodbye (`shutdownRequested`), and closes whatever
    /// remains after the grace period.
    public func shutdown() {
        let pending = hooks.withLock { hooks -> [@Sendable () -> Void] in
            let taken = hooks
            hooks.removeAll()
            return taken
        }
        for hook in pending { hook() }
        group.shutdown(graceMilliseconds: configuration.shutdownGraceMilliseconds)
        group.join()
        context.logger.info("http.stopped", [:])
    }
}

/// The handler of a connection refused at accept: its 503 is already queued; it only waits
/// for the close. Over TLS, the client's first request means the handshake is done and the
/// 503 went out with its end, so the connection can say goodbye.
private final class RefusedConnection: ConnectionHandler {
    private let answeringAfterHandshake: Bool

    init(answeringAfterHandshake: Bool = false) {
        self.answeringAfterHandshake = answeringAfterHandshake
    }

    func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
        if answeringAfterHandshake { connection.closeAfterFlushing() }
    }
}
