import Reactor
import Synchronization
import WebSocketCodec

/// Everything configurable about a WebSocket route: what the handshake accepts and how each
/// connection behaves (limits, keepalive, timeouts, compression).
public struct WebSocketOptions: Sendable {
    /// Handshake policy: permessage-deflate, subprotocols, the Origin hook.
    public var handshake: WebSocketHandshake.Options
    /// Limits, ping interval, pong and close timeouts.
    public var connection: WebSocketConfiguration

    public init(handshake: WebSocketHandshake.Options = .init(), connection: WebSocketConfiguration = .init()) {
        self.handshake = handshake
        self.connection = connection
    }
}

/// How a WebSocket ended, for `onClose`.
public struct WebSocketCloseInfo: Sendable, Equatable {
    /// The peer's code (1005 when its Close had none), ours when it never answered or the
    /// connection was failed, 1006 when TCP ended without a Close.
    public var code: WebSocketCloseCode
    /// The reason in the peer's Close frame.
    public var reason: String
    /// The stable error code when the connection was failed or timed out (`"ws.invalid_utf8"`).
    public var error: String?
}

/// An event encoded once for every WebSocket subscriber: an unmasked text or binary frame in a
/// `SharedBuffer`, and the same message compressed once from an empty window when that saves
/// bytes. Each connection picks the variant it may receive; neither is copied per connection.
/// See docs/CONFORMANCE.md ("Fan-out").
public final class WebSocketBroadcast: Sendable {
    /// The uncompressed frame, valid on every connection.
    public let plain: SharedBuffer
    /// The compressed frame, for connections that negotiated permessage-deflate.
    public let compressed: SharedBuffer?
    let compressedWindowBits: Int?

    /// Encodes `payload` as one frame (and compressed, when `deflate` allows and it pays).
    public init(_ kind: WebSocketMessage.Kind, payload: [UInt8], deflate: DeflateOptions = DeflateOptions()) {
        plain = payload.withUnsafeBytes { bytes in
            FrameEncoder.encode(opcode: kind.opcode, payload: bytes) { count, fill in SharedBuffer(count: count, initializingWith: fill) }
        }
        let shared = deflate.isEnabled && payload.count >= deflate.minimumCompressedSize
            ? WebSocketSharedMessage(kind: kind, payload: payload, deflate: deflate).compressed : nil
        compressed = shared.map { SharedBuffer($0.bytes) }
        compressedWindowBits = shared?.windowBits
    }

    /// A text event.
    public convenience init(text: String, deflate: DeflateOptions = DeflateOptions()) {
        self.init(.text, payload: Array(text.utf8), deflate: deflate)
    }
}

/// The server side of one WebSocket connection, installed on the raw connection after a
/// successful upgrade. It runs on the connection's loop and is not `Sendable`: reach it from
/// other threads with `LoopBound(webSocket, loop:)` and `loop.execute`.
///
/// ```swift
/// router.webSocket("/ws/jobs/{id}") { request, ws in
///     ws.onMessage = { ws, message in ... }
///     ws.onClose = { ws, info in hub.unsubscribe(...) }
///     ws.send(text: snapshot)
/// }
/// ```
public final class WebSocket: ConnectionHandler {
    /// Called for every complete message, on the loop.
    public var onMessage: ((WebSocket, WebSocketMessage) -> Void)?
    /// Called once when the connection is gone, on the loop.
    public var onClose: ((WebSocket, WebSocketCloseInfo) -> Void)?
    /// Called when the write queue drained below the low watermark after `send` reported
    /// `.queued`.
    public var onWritable: ((WebSocket) -> Void)?

    /// The underlying connection while open.
    public private(set) var connection: Connection?
    /// The negotiated permessage-deflate parameters, nil when not negotiated.
    public var deflate: DeflateParameters? { machine.deflate }
    /// The chosen subprotocol, if any.
    public let subprotocol: String?

    private var machine: WebSocketConnectionStateMachine
    private var onOpen: ((WebSocket) -> Void)?
    private let endpoint: WebSocketEndpoint
    private var reported = false
    private var logger: Logger { endpoint.logger }

    init(accepted: WebSocketHandshake.Accepted, endpoint: WebSocketEndpoint, onOpen: @escaping (WebSocket) -> Void) {
        machine = WebSocketConnectionStateMachine(settings: endpoint.settings, deflate: accepted.deflate, now: .now)
        subprotocol = accepted.subprotocol
        self.endpoint = endpoint
        self.onOpen = onOpen
    }

    /// Validates the upgrade request; answers it with the handshake's error status, or
    /// switches the connection to WebSocket and calls `onOpen` on the loop once it is.
    public static func upgrade(
        _ request: HTTPRequest, _ responder: HTTPResponder, options: WebSocketOptions = WebSocketOptions(),
        onOpen: @escaping (WebSocket) -> Void
    ) {
        upgrade(request, responder, endpoint: WebSocketEndpoint(options: options, logger: responder.handler.context.logger), onOpen: onOpen)
    }

    /// Same as `upgrade(_:_:options:onOpen:)` with options held once for a whole route: every
    /// connection refers to them instead of carrying its own copy (a few hundred bytes each).
    public static func upgrade(
        _ request: HTTPRequest, _ responder: HTTPResponder, shared: SharedWebSocketOptions,
        onOpen: @escaping (WebSocket) -> Void
    ) {
        upgrade(request, responder, endpoint: shared.endpoint(logger: responder.handler.context.logger), onOpen: onOpen)
    }

    static func upgrade(_ request: HTTPRequest, _ responder: HTTPResponder, endpoint: WebSocketEndpoint, onOpen: @escaping (WebSocket) -> Void) {
        let options = endpoint.options
        let logger = endpoint.logger
        let headers = Array(request.headers)
        let result = WebSocketHandshake.validate(
            method: request.method.rawValue, httpVersion: (request.head.version.major, request.head.version.minor),
            headers: headers, options: options.handshake)
        switch result {
        case .failure(let rejection):
            logger.info("ws.handshake_rejected", ["code": rejection.code, "status": String(rejection.status)])
            var response = HTTPResponse.error(status: rejection.status, code: rejection.code, message: Self.message(for: rejection))
            response.headers.append(contentsOf: rejection.headers)
            responder.respond(response)
        case .success(let accepted):
            let webSocket = WebSocket(accepted: accepted, endpoint: endpoint, onOpen: onOpen)
            responder.upgrade(HTTPResponseHead(status: 101, headers: accepted.headers), to: webSocket)
        }
    }

    private static func message(for rejection: WebSocketHandshake.Rejection) -> String {
        switch rejection.status {
        case 426: return "Only WebSocket version 13 is supported."
        case 403: return "This origin may not open a WebSocket here."
        case 405: return "A WebSocket upgrade must be a GET request."
        default: return "Not a valid WebSocket upgrade request."
        }
    }

    // MARK: Sending

    /// Whether messages can still be sent (open, no Close sent).
    public var isOpen: Bool { machine.state == .open && connection != nil }

    /// Whether the write queue is under the high watermark.
    public var isWritable: Bool { connection?.isWritable ?? false }

    /// Sends a message, compressed when negotiated and worthwhile.
    @discardableResult
    public func send(_ kind: WebSocketMessage.Kind, _ payload: UnsafeRawBufferPointer) -> SendStatus {
        guard let connection,
            let buffer = machine.encode(kind, payload: payload, into: { count, fill in SharedBuffer(count: count, initializingWith: fill) })
        else { return .dropped }
        return connection.write(buffer)
    }

    /// Sends a message from an array.
    @discardableResult
    public func send(_ kind: WebSocketMessage.Kind, _ payload: [UInt8]) -> SendStatus {
        payload.withUnsafeBytes { send(kind, $0) }
    }

    /// Sends a text message.
    @discardableResult
    public func send(text: String) -> SendStatus {
        var text = text
        return text.withUTF8 { send(.text, UnsafeRawBufferPointer($0)) }
    }

    /// Sends an event encoded once for many connections: the compressed variant when this
    /// connection may receive it, else the plain one. The buffers are queued, not copied.
    @discardableResult
    public func send(_ broadcast: WebSocketBroadcast) -> SendStatus {
        guard let connection else { return .dropped }
        let windowBits = broadcast.compressed == nil ? nil : broadcast.compressedWindowBits
        switch machine.chooseSharedFrame(compressedWindowBits: windowBits) {
        case .none: return .dropped
        case .plain: return connection.write(broadcast.plain)
        case .compressed: return connection.write(broadcast.compressed ?? broadcast.plain)
        }
    }

    /// Sends a frame the caller encoded once (an unmasked, uncompressed, complete data frame,
    /// for example from `FrameEncoder.encode(opcode:payload:into:)`); queued, not copied.
    @discardableResult
    public func send(preEncoded frame: SharedBuffer) -> SendStatus {
        guard let connection, machine.state == .open else { return .dropped }
        return connection.write(frame)
    }

    /// Sends a ping; the peer's pong (or any traffic) counts as a sign of life.
    public func ping() {
        guard let connection, let frame = machine.ping(now: .now) else { return }
        connection.write(frame)
        updateDeadline()
    }

    /// Starts the close handshake; the connection ends when the peer answers or after the
    /// close timeout.
    public func close(code: WebSocketCloseCode = .normalClosure, reason: String = "") {
        let now = ContinuousClock.now
        guard connection != nil, let action = machine.close(code: code, reason: reason, now: now) else { return }
        perform(action)
        updateDeadline(now: now)
    }

    // MARK: ConnectionHandler

    public func activated(_ connection: Connection) {
        self.connection = connection
        updateDeadline()
        let open = onOpen
        onOpen = nil
        open?(self)
    }

    public func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
        let now = ContinuousClock.now
        var cursor = ByteCursor(bytes)
        while let action = machine.receive(&cursor, now: now) {
            perform(action)
            // A handler may have closed the connection while handling a message.
            if self.connection == nil { return }
        }
        updateDeadline(now: now)
    }

    public func writable(_ connection: Connection) {
        onWritable?(self)
    }

    public func timedOut(_ connection: Connection) {
        let now = ContinuousClock.now
        while let action = machine.tick(now: now) {
            perform(action)
            if self.connection == nil { return }
        }
        updateDeadline(now: now)
    }

    public func inputClosed(_ connection: Connection) {
        machine.connectionClosed()
        connection.closeAfterFlushing()
    }

    public func shutdownRequested(_ connection: Connection) {
        if machine.state == .open {
            close(code: .goingAway, reason: "server shutting down")
        } else {
            connection.closeAfterFlushing()
        }
    }

    public func closed(_ connection: Connection, error: IOError?) {
        machine.connectionClosed()
        self.connection = nil
        report()
    }

    // MARK: Internals

    private func perform(_ action: WebSocketConnectionStateMachine.Action) {
        guard let connection else { return }
        switch action {
        case .deliver(let message):
            onMessage?(self, message)
        case .write(let bytes):
            connection.write(bytes)
        case .writeAndClose(let bytes):
            connection.write(bytes)
            connection.closeAfterFlushing()
        case .closeConnection:
            if machine.error == nil {
                connection.closeAfterFlushing()
            } else {
                connection.close()
            }
        }
        if let error = machine.error, !reported {
            logger.info("ws.failed", ["code": error.code, "close": String(error.closeCode.rawValue)])
        }
    }

    private func updateDeadline(now: ContinuousClock.Instant = .now) {
        guard let connection else { return }
        guard let deadline = machine.nextDeadline else {
            connection.cancelTimeout()
            return
        }
        let remaining = now.duration(to: deadline)
        let milliseconds = max(1, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
        connection.setTimeout(milliseconds: UInt64(clamping: milliseconds))
    }

    private func report() {
        guard !reported else { return }
        reported = true
        let info = WebSocketCloseInfo(
            code: machine.closeCode ?? .abnormalClosure, reason: machine.closeReason, error: machine.error?.code)
        let callback = onClose
        onMessage = nil
        onClose = nil
        onWritable = nil
        onOpen = nil
        callback?(self, info)
    }
}

extension Router {
    /// Registers a WebSocket endpoint: GET requests on `pattern` are validated as upgrades
    /// (426, 400, 403 or 405 when they are not acceptable) and `onOpen` runs on the
    /// connection's loop once the connection speaks WebSocket.
    public mutating func webSocket(
        _ pattern: String, options: WebSocketOptions = WebSocketOptions(),
        onOpen: @escaping @Sendable (HTTPRequest, WebSocket) -> Void
    ) {
        // One endpoint object per route: its connections share the options and the logger.
        let shared = SharedWebSocketOptions(options)
        get(pattern) { request, responder in
            WebSocket.upgrade(request, responder, shared: shared) { webSocket in onOpen(request, webSocket) }
        }
    }

    /// Registers the conformance echo endpoint: every message is sent back with the same
    /// opcode. Off unless `tally serve --echo` asks for it.
    public mutating func webSocketEcho(_ pattern: String = "/ws/echo", options: WebSocketOptions = .echo) {
        webSocket(pattern, options: options) { _, webSocket in
            webSocket.onMessage = { webSocket, message in webSocket.send(message.kind, message.payload) }
        }
    }
}

/// What the connections of one WebSocket route share, held once by reference.
final class WebSocketEndpoint: Sendable {
    let options: WebSocketOptions
    let settings: WebSocketSettings
    let logger: Logger

    init(options: WebSocketOptions, logger: Logger) {
        self.options = options
        self.settings = WebSocketSettings(options.connection)
        self.logger = logger
    }
}

/// A route's WebSocket options, made once and shared by reference by all its connections
/// (`WebSocket.upgrade(_:_:shared:onOpen:)`). The endpoint with the server's logger is built
/// on the first upgrade, since the logger is known only then.
public final class SharedWebSocketOptions: Sendable {
    /// The options every connection of the route uses.
    public let options: WebSocketOptions
    private let cached = Mutex<WebSocketEndpoint?>(nil)

    /// Holds `options` for the connections of one route.
    public init(_ options: WebSocketOptions) { self.options = options }

    func endpoint(logger: Logger) -> WebSocketEndpoint {
        cached.withLock { current in
            if let current { return current }
            let made = WebSocketEndpoint(options: options, logger: logger)
            current = made
            return made
        }
    }
}

extension WebSocketOptions {
    /// The echo endpoint's options: 64 MiB messages (Autobahn's 9.x cases send 16 MiB ones),
    /// compression context kept wherever the client allows and every message compressed once
    /// negotiated, no keepalive pings.
    public static var echo: WebSocketOptions {
        var options = WebSocketOptions()
        options.handshake.deflate = .contextTakeover
        options.connection.deflate = .echo
        options.connection.limits = WebSocketLimits(maxFrameSize: 64 << 20, maxMessageSize: 64 << 20)
        options.connection.pingInterval = nil
        return options
    }
}
