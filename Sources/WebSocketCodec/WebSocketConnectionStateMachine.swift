/// A complete data message.
public struct WebSocketMessage: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case text
        case binary

        /// The opcode of the message's first frame.
        public var opcode: WebSocketOpcode { self == .text ? .text : .binary }
    }

    public var kind: Kind
    /// The payload, inflated when the message was compressed. Text is valid UTF-8.
    public var payload: [UInt8]

    public init(kind: Kind, payload: [UInt8]) {
        self.kind = kind
        self.payload = payload
    }

    /// A text message.
    public static func text(_ string: String) -> WebSocketMessage { WebSocketMessage(kind: .text, payload: Array(string.utf8)) }

    /// The payload as a string, for text messages.
    public var text: String? { kind == .text ? String(decoding: payload, as: UTF8.self) : nil }
}

/// An outgoing message encoded once for many connections: the plain frame suits every
/// connection; the compressed one (made once, with a fresh context) suits every connection that
/// negotiated permessage-deflate with a window at least as large. See docs/CONFORMANCE.md.
public final class WebSocketSharedMessage: Sendable {
    /// The uncompressed frame.
    public let plain: EncodedFrame
    /// The compressed frame, when compression saved bytes.
    public let compressed: EncodedFrame?

    /// Encodes `payload`; compresses it too when `deflate` allows and it is at least
    /// `deflate.minimumCompressedSize` bytes long.
    public init(kind: WebSocketMessage.Kind, payload: [UInt8], deflate: DeflateOptions = DeflateOptions()) {
        plain = EncodedFrame(opcode: kind.opcode, payload: payload)
        var compressedFrame: EncodedFrame?
        if deflate.isEnabled && payload.count >= deflate.minimumCompressedSize {
            let windowBits = max(9, min(15, deflate.serverMaxWindowBits))
            let deflater = Deflater(windowBits: windowBits, memoryLevel: deflate.memoryLevel, level: deflate.compressionLevel)
            var body: [UInt8] = []
            if (try? deflater.compress(payload, appendingTo: &body, keepContext: false)) != nil, body.count < payload.count {
                compressedFrame = EncodedFrame(
                    bytes: FrameEncoder.encode(opcode: kind.opcode, payload: body, rsv1: true), isCompressed: true,
                    windowBits: windowBits)
            }
        }
        compressed = compressedFrame
    }
}

/// Timers and limits of one WebSocket connection.
public struct WebSocketConfiguration: Sendable {
    public var limits: WebSocketLimits
    /// Send a ping after this long without hearing from the peer; nil disables keepalive.
    public var pingInterval: Duration?
    /// A peer that has not answered a ping (or sent anything) within this time is dead.
    public var pongTimeout: Duration
    /// How long to wait for the peer's Close after sending ours before dropping the connection.
    public var closeTimeout: Duration
    /// Compression settings (level, memory level, minimum size) used once negotiated.
    public var deflate: DeflateOptions

    /// 30 s pings (docs/PROTOCOL.md), 10 s to answer, 5 s to finish a close handshake.
    public init(
        limits: WebSocketLimits = WebSocketLimits(), pingInterval: Duration? = .seconds(30), pongTimeout: Duration = .seconds(10),
        closeTimeout: Duration = .seconds(5), deflate: DeflateOptions = DeflateOptions()
    ) {
        self.limits = limits
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.closeTimeout = closeTimeout
        self.deflate = deflate
    }
}

/// A configuration shared by reference among the connections of one endpoint.
public final class WebSocketSettings: Sendable {
    public let configuration: WebSocketConfiguration

    public init(_ configuration: WebSocketConfiguration) {
        self.configuration = configuration
    }
}

/// The server side of one WebSocket connection as a value: bytes and clock ticks go in, actions
/// come out for an I/O shell to perform (RFC 6455 §5-§7, RFC 7692 §6-§7).
///
/// It owns zlib streams when permessage-deflate was negotiated, so it belongs to one event loop
/// and is not `Sendable`.
public struct WebSocketConnectionStateMachine {
    /// What the I/O shell must do next.
    public enum Action {
        /// Hand a complete message to the application.
        case deliver(WebSocketMessage)
        /// Write these bytes (one or more frames).
        case write([UInt8])
        /// Write these bytes, then close the TCP connection: the close handshake is over or the
        /// connection is being failed (RFC 6455 §7.1.1: the server closes TCP first).
        case writeAndClose([UInt8])
        /// Close the TCP connection now.
        case closeConnection
    }

    public enum State: Sendable, Equatable {
        case open
        /// A Close was sent; waiting for the peer's.
        case closing
        case closed
    }

    // Stored fields are ordered widest first and rarely used state is boxed: every idle
    // connection carries one machine, so its size is memory per connection.

    /// Held by reference: every connection of a route shares one copy (idle memory).
    private let settings: WebSocketSettings
    /// The negotiated compression and its zlib streams, nil when not negotiated.
    private let compression: Compression?
    private var messageBuffer: [UInt8] = []
    private var lastHeard: ContinuousClock.Instant
    /// The reason text of the peer's Close frame.
    public private(set) var closeReason = ""
    private var decoder: FrameDecoder
    private var timer = Timer.none
    /// The protocol error that failed the connection, if any.
    public private(set) var error: WebSocketError?
    public private(set) var state: State = .open
    /// The code the connection ended with: the peer's (1005 when its Close had none), ours when
    /// it never answered or we failed the connection, 1006 when TCP ended without a Close.
    public private(set) var closeCode: WebSocketCloseCode?
    private var messageKind: WebSocketMessage.Kind?
    private var messageCompressed = false
    private var utf8 = UTF8Validator()

    public var configuration: WebSocketConfiguration { settings.configuration }
    /// The negotiated permessage-deflate parameters, nil when not negotiated.
    public var deflate: DeflateParameters? { compression?.parameters }

    /// What is pending on the clock: an unanswered ping (while open) or the end of the close
    /// handshake (while closing); one field, since the two never coexist.
    private enum Timer {
        case none
        case pingSent(ContinuousClock.Instant)
        case closeBy(ContinuousClock.Instant)
    }

    /// permessage-deflate state, allocated only when it was negotiated.
    private final class Compression {
        let parameters: DeflateParameters
        var inflater: Inflater?
        var deflater: Deflater?

        init(_ parameters: DeflateParameters) { self.parameters = parameters }
    }

    public init(configuration: WebSocketConfiguration = WebSocketConfiguration(), deflate: DeflateParameters? = nil, now: ContinuousClock.Instant) {
        self.init(settings: WebSocketSettings(configuration), deflate: deflate, now: now)
    }

    /// Creates a connection whose configuration is shared with others through `settings`.
    public init(settings: WebSocketSettings, deflate: DeflateParameters? = nil, now: ContinuousClock.Instant) {
        self.settings = settings
        let configuration = settings.configuration
        self.compression = deflate.map(Compression.init)
        self.decoder = FrameDecoder(role: .server, limits: configuration.limits, allowsCompression: deflate != nil)
        self.lastHeard = now
    }

    // MARK: Input

    /// Decodes bytes from `input` until something must be done. Returns nil once every byte was
    /// consumed with nothing to do; call again with the same cursor after each action.
    public mutating func receive(_ input: inout ByteCursor, now: ContinuousClock.Instant) -> Action? {
        guard state != .closed else {
            input.offset = input.bytes.count
            return nil
        }
        if !input.isEmpty {
            lastHeard = now
            // Any traffic answers a ping; a close deadline stands.
            if case .pingSent = timer { timer = .none }
        }
        while true {
            let frame: WebSocketFrame
            do {
                guard case .frame(let decoded) = try decoder.next(&input) else { return nil }
                frame = decoded
            } catch {
                return fail(error)
            }
            do {
                if let action = try handle(frame, now: now) { return action }
            } catch {
                return fail(error)
            }
        }
    }

    /// The TCP connection ended (EOF or error).
    public mutating func connectionClosed() {
        guard state != .closed else { return }
        state = .closed
        if closeCode == nil { closeCode = .abnormalClosure }
        release()
    }

    private mutating func handle(_ frame: WebSocketFrame, now: ContinuousClock.Instant) throws(WebSocketError) -> Action? {
        switch frame.opcode {
        case .ping:
            guard state == .open else { return nil }
            return .write(FrameEncoder.encode(opcode: .pong, payload: frame.payload))
        case .pong:
            return nil
        case .close:
            let (code, reason) = try Self.parseClose(frame.payload)
            closeReason = reason
            switch state {
            case .open:
                closeCode = code
                state = .closed
                release()
                // Echo the status code (RFC 6455 §5.5.1); an empty Close is answered empty.
                let reply = code == .noStatusReceived
                    ? FrameEncoder.encode(opcode: .close, payload: [])
                    : FrameEncoder.closeFrame(code: code)
                return .writeAndClose(reply)
            case .closing:
                state = .closed
                release()
                return .closeConnection
            case .closed:
                return nil
            }
        case .text, .binary, .continuation:
            // After sending Close, data from the peer is read and dropped (RFC 6455 §1.4).
            guard state == .open else { return nil }
            return try assemble(frame).map { .deliver($0) }
        }
    }

    /// Validates a Close payload (RFC 6455 §5.5.1, §7.4).
    static func parseClose(_ payload: [UInt8]) throws(WebSocketError) -> (WebSocketCloseCode, String) {
        if payload.isEmpty { return (.noStatusReceived, "") }
        guard payload.count >= 2 else { throw .invalidClosePayload }
        let code = WebSocketCloseCode(UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isValidOnWire else { throw .invalidCloseCode }
        var validator = UTF8Validator()
        let reasonBytes = payload[2...]
        let valid = reasonBytes.withUnsafeBytes { validator.validate($0) }
        guard valid && validator.isComplete else { throw .invalidUTF8 }
        return (code, String(decoding: reasonBytes, as: UTF8.self))
    }

    private mutating func assemble(_ frame: WebSocketFrame) throws(WebSocketError) -> WebSocketMessage? {
        if frame.opcode != .continuation {
            messageKind = frame.opcode == .text ? .text : .binary
            messageCompressed = frame.rsv1
            utf8.reset()
            // The common case, one uncompressed frame, is delivered without a copy.
            if frame.fin && !frame.rsv1, let kind = messageKind {
                messageKind = nil
                return WebSocketMessage(kind: kind, payload: frame.payload)
            }
        }
        guard let kind = messageKind else { return nil }
        let limit = configuration.limits.maxMessageSize
        if messageCompressed {
            // The decoder admits compressed frames only when compression was negotiated.
            let inflater = compression?.inflater ?? Inflater()
            compression?.inflater = inflater
            let start = messageBuffer.count
            try frame.payload.withUnsafeBytes { bytes in
                Result { () throws(WebSocketError) in try inflater.inflate(bytes, appendingTo: &messageBuffer, limit: limit) }
            }.get()
            if frame.fin {
                try inflater.finishMessage(
                    appendingTo: &messageBuffer, limit: limit, keepContext: !(deflate?.clientNoContextTakeover ?? true))
            }
            if kind == .text {
                let valid = messageBuffer.withUnsafeBytes { utf8.validate(UnsafeRawBufferPointer(rebasing: $0[start...])) }
                guard valid, !frame.fin || utf8.isComplete else { throw .invalidUTF8 }
            }
        } else {
            messageBuffer.append(contentsOf: frame.payload)
        }
        guard frame.fin else { return nil }
        let message = WebSocketMessage(kind: kind, payload: messageBuffer)
        messageBuffer = []
        messageKind = nil
        messageCompressed = false
        return message
    }

    private mutating func fail(_ error: WebSocketError) -> Action {
        let wasOpen = state == .open
        self.error = error
        state = .closed
        release()
        guard wasOpen else { return .closeConnection }
        closeCode = error.closeCode
        return .writeAndClose(FrameEncoder.closeFrame(code: error.closeCode))
    }

    /// Frees buffers and zlib streams once the connection is over.
    private mutating func release() {
        messageBuffer = []
        compression?.inflater?.release()
        compression?.deflater?.release()
        compression?.inflater = nil
        compression?.deflater = nil
    }

    // MARK: Output

    /// Encodes a message for this connection, compressed when negotiated and worthwhile.
    /// Returns nil once a Close has been sent or the connection is over.
    public mutating func encode(_ kind: WebSocketMessage.Kind, payload: UnsafeRawBufferPointer) -> [UInt8]? {
        encode(kind, payload: payload) { count, fill in
            [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                fill(UnsafeMutableRawBufferPointer(buffer))
                initialized = count
            }
        }
    }

    /// Encodes a message into a buffer the caller allocates (see `FrameEncoder.encode(opcode:payload:rsv1:into:)`).
    public mutating func encode<Buffer>(
        _ kind: WebSocketMessage.Kind, payload: UnsafeRawBufferPointer,
        into make: (_ count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Buffer
    ) -> Buffer? {
        guard state == .open else { return nil }
        if let body = compress(payload) {
            return body.withUnsafeBytes { FrameEncoder.encode(opcode: kind.opcode, payload: $0, rsv1: true, into: make) }
        }
        return FrameEncoder.encode(opcode: kind.opcode, payload: payload, into: make)
    }

    /// The compressed body of a message, or nil when it goes out plain.
    private mutating func compress(_ payload: UnsafeRawBufferPointer) -> [UInt8]? {
        let always = configuration.deflate.compressesEveryMessage
        if let compression, always || payload.count >= configuration.deflate.minimumCompressedSize {
            let deflate = compression.parameters
            let keepContext = !deflate.serverNoContextTakeover
            let deflater = compression.deflater ?? Deflater(
                windowBits: deflate.serverMaxWindowBits, memoryLevel: configuration.deflate.memoryLevel,
                level: configuration.deflate.compressionLevel)
            compression.deflater = deflater
            var body: [UInt8] = []
            body.reserveCapacity(payload.count / 2 + 64)
            do {
                try deflater.compress(payload, appendingTo: &body, keepContext: keepContext)
                if always || body.count < payload.count { return body }
                // Not worth it: send it plain, and forget it so the peer's window and ours agree.
                deflater.reset()
            } catch {
                deflater.release()
            }
        }
        return nil
    }

    /// Encodes a message from an array.
    public mutating func encode(_ kind: WebSocketMessage.Kind, payload: [UInt8]) -> [UInt8]? {
        payload.withUnsafeBytes { encode(kind, payload: $0) }
    }

    /// Encodes a text message.
    public mutating func encode(text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { encode(.text, payload: UnsafeRawBufferPointer($0)) }
    }

    /// Picks the shared frame this connection may receive: the compressed one when the
    /// negotiated window allows it, else the plain one; nil once closing.
    public mutating func frame(for message: WebSocketSharedMessage) -> EncodedFrame? {
        switch chooseSharedFrame(compressedWindowBits: message.compressed?.windowBits) {
        case .none: return nil
        case .plain: return message.plain
        case .compressed: return message.compressed
        }
    }

    /// Which variant of a shared message this connection may receive.
    public enum SharedFrameChoice: Sendable, Equatable {
        /// Nothing: a Close was sent or the connection is over.
        case none
        /// The uncompressed frame.
        case plain
        /// The frame compressed from an empty window.
        case compressed
    }

    /// Decides between the plain and the compressed variant of a shared message (the latter
    /// made with `compressedWindowBits`, nil when there is none) and accounts for sending it.
    public mutating func chooseSharedFrame(compressedWindowBits: Int?) -> SharedFrameChoice {
        guard state == .open else { return .none }
        guard let windowBits = compressedWindowBits, let compression,
              compression.parameters.serverMaxWindowBits >= windowBits else { return .plain }
        // The peer's window now holds this message but our compressor's does not: start our
        // next message from an empty window so back-references stay in agreement.
        if !compression.parameters.serverNoContextTakeover { compression.deflater?.reset() }
        return .compressed
    }

    /// Starts the close handshake (RFC 6455 §7.1.2). Returns nil when it already started.
    public mutating func close(code: WebSocketCloseCode = .normalClosure, reason: String = "", now: ContinuousClock.Instant) -> Action? {
        guard state == .open else { return nil }
        state = .closing
        closeCode = code
        timer = .closeBy(now + configuration.closeTimeout)
        messageBuffer = []
        return .write(FrameEncoder.closeFrame(code: code, reason: reason))
    }

    /// A ping frame, or nil when not open.
    public mutating func ping(payload: [UInt8] = [], now: ContinuousClock.Instant) -> [UInt8]? {
        guard state == .open else { return nil }
        if case .none = timer { timer = .pingSent(now) }
        return FrameEncoder.encode(opcode: .ping, payload: Array(payload.prefix(125)))
    }

    // MARK: Time

    /// When `tick(now:)` should next be called, nil when no timer is needed.
    public var nextDeadline: ContinuousClock.Instant? {
        switch state {
        case .closed: return nil
        case .closing:
            guard case .closeBy(let closeDeadline) = timer else { return nil }
            return closeDeadline
        case .open:
            guard let interval = configuration.pingInterval else { return nil }
            if case .pingSent(let pingSentAt) = timer { return pingSentAt + configuration.pongTimeout }
            return lastHeard + interval
        }
    }

    /// Runs the timers: keepalive pings, the dead-peer check and the close timeout.
    public mutating func tick(now: ContinuousClock.Instant) -> Action? {
        switch state {
        case .closed:
            return nil
        case .closing:
            guard case .closeBy(let closeDeadline) = timer, now >= closeDeadline else { return nil }
            state = .closed
            error = .closeTimeout
            release()
            return .closeConnection
        case .open:
            guard let interval = configuration.pingInterval else { return nil }
            if case .pingSent(let pingSentAt) = timer {
                guard now >= pingSentAt + configuration.pongTimeout else { return nil }
                state = .closed
                error = .peerTimeout
                closeCode = .abnormalClosure
                release()
                return .closeConnection
            }
            guard now >= lastHeard + interval else { return nil }
            timer = .pingSent(now)
            return .write(FrameEncoder.encode(opcode: .ping, payload: []))
        }
    }
}
