#if canImport(Glibc)
import Glibc
#endif
import WebSocketCodec

/// A minimal blocking WebSocket client (RFC 6455 client side): handshake, masked sends, frame
/// decoding with the codec, automatic pongs. For `tally watch` and the loopback tests.
public final class WebSocketClient {
    /// A complete message from the server.
    public enum Message: Sendable, Equatable {
        case text(String)
        case binary([UInt8])
        /// The server closed with this code (1005 when it sent none).
        case close(UInt16)
    }

    private let socket: BlockingSocket
    private var decoder = FrameDecoder(role: .client, limits: WebSocketLimits(maxFrameSize: 16 << 20, maxMessageSize: 16 << 20))
    private var pending: [UInt8] = []
    private var fragments: [UInt8] = []
    private var fragmentOpcode: WebSocketOpcode?
    private var generator = SystemRandomNumberGenerator()
    /// Frames received so far (tests use it to see pings).
    public private(set) var pingsAnswered = 0

    private init(socket: BlockingSocket) {
        self.socket = socket
    }

    /// Connects and performs the opening handshake on `path` (with its query).
    public static func connect(host: String, port: Int, path: String, headers: [(String, String)] = [],
                               timeout: Double = 5, receiveBuffer: Int? = nil) throws(ClientError) -> WebSocketClient {
        let socket = try BlockingSocket.connect(host: host, port: port, timeout: timeout, receiveBuffer: receiveBuffer)
        var random = SystemRandomNumberGenerator()
        let key = Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) })
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try socket.write(Array(request.utf8))
        var head: [UInt8] = []
        var rest: [UInt8] = []
        while true {
            let chunk = try socket.read(timeout: timeout)
            guard !chunk.isEmpty else { throw ClientError("client.handshake", "The server closed during the handshake.") }
            head += chunk
            if let end = head.firstRange(of: [13, 10, 13, 10]) {
                rest = Array(head[end.upperBound...])
                head = Array(head[..<end.lowerBound])
                break
            }
            guard head.count < 64 * 1024 else { throw ClientError("client.handshake", "The handshake answer is too large.") }
        }
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.split(separator: "\r\n")
        guard let status = lines.first, status.hasPrefix("HTTP/1.1 101") else {
            throw ClientError("client.handshake", "The server answered '\(lines.first ?? "")'\(rest.isEmpty ? "" : ": " + String(decoding: rest.prefix(300), as: UTF8.self))")
        }
        let expected = WebSocketHandshake.acceptValue(forKey: key)
        let accepted = lines.dropFirst().contains { line in
            guard let colon = line.firstIndex(of: ":") else { return false }
            return line[..<colon].lowercased() == "sec-websocket-accept"
                && line[line.index(after: colon)...].trimmingSpaces == expected
        }
        guard accepted else { throw ClientError("client.handshake", "Wrong Sec-WebSocket-Accept.") }
        let client = WebSocketClient(socket: socket)
        client.pending = rest
        return client
    }

    /// Sends a text message (masked, as clients must).
    public func send(text: String) throws(ClientError) {
        try sendFrame(.text, Array(text.utf8))
    }

    /// Sends raw bytes as they are (tests of malformed frames).
    public func sendRaw(_ bytes: [UInt8]) throws(ClientError) {
        try socket.write(bytes)
    }

    /// Sends a ping with `payload`.
    public func ping(_ payload: [UInt8] = []) throws(ClientError) {
        try sendFrame(.ping, payload)
    }

    private func sendFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8]) throws(ClientError) {
        let key = UInt32.random(in: 0...UInt32.max, using: &generator)
        try socket.write(FrameEncoder.encode(opcode: opcode, payload: payload, maskingKey: key))
    }

    /// The next message, answering pings on the way; throws `client.timeout` when nothing
    /// complete arrives within `timeout` seconds.
    public func receive(timeout: Double = 5) throws(ClientError) -> Message {
        while true {
            if let message = try decodeOne() { return message }
            let chunk = try socket.read(timeout: timeout)
            guard !chunk.isEmpty else { return .close(1006) }
            pending += chunk
        }
    }

    /// Sends a close frame and closes the socket.
    public func close(code: UInt16 = 1000) {
        try? sendFrame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)])
        socket.close()
    }

    /// Drops the connection without a close frame (a client vanishing).
    public func abort() {
        socket.close()
    }

    private func decodeOne() throws(ClientError) -> Message? {
        while !pending.isEmpty {
            var consumed = 0
            let result = pending.withUnsafeBytes { raw -> Result<FrameDecoder.Step, WebSocketError> in
                var cursor = ByteCursor(raw)
                defer { consumed = cursor.offset }
                do throws(WebSocketError) {
                    return .success(try decoder.next(&cursor))
                } catch {
                    return .failure(error)
                }
            }
            let step: FrameDecoder.Step
            switch result {
            case .success(let value): step = value
            case .failure(let error): throw ClientError("client.protocol", "Bad frame from the server: \(error.code)")
            }
            pending.removeFirst(consumed)
            guard case .frame(let frame) = step else { return nil }
            switch frame.opcode {
            case .ping:
                try sendFrame(.pong, frame.payload)
                pingsAnswered += 1
            case .pong:
                continue
            case .close:
                let code = frame.payload.count >= 2 ? UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) : 1005
                return .close(code)
            case .text, .binary:
                if frame.fin {
                    return frame.opcode == .text ? .text(String(decoding: frame.payload, as: UTF8.self)) : .binary(frame.payload)
                }
                fragmentOpcode = frame.opcode
                fragments = frame.payload
            case .continuation:
                fragments += frame.payload
                if frame.fin, let opcode = fragmentOpcode {
                    fragmentOpcode = nil
                    let payload = fragments
                    fragments = []
                    return opcode == .text ? .text(String(decoding: payload, as: UTF8.self)) : .binary(payload)
                }
            }
        }
        return nil
    }
}
