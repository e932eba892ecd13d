import Glibc
import Reactor
import Testing
import WebSocketCodec
@testable import HTTPServer

/// A blocking loopback WebSocket client: handshake, masked frames out, frames in.
final class WebSocketTestClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var decoder = FrameDecoder(
        role: .client, limits: WebSocketLimits(maxFrameSize: 1 << 26, maxMessageSize: 1 << 26), allowsCompression: true)
    /// The handshake response head.
    private(set) var status = 0
    private(set) var headers: [(String, String)] = []

    struct Failure: Error, CustomStringConvertible { let description: String }

    init(port: Int, path: String = "/ws/echo", extraHeaders: [String] = [], version: String = "13",
         key: String = "dGhlIHNhbXBsZSBub25jZQ==") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw Failure(description: "connect failed: \(errno)")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: \(version)\r\n"
        for header in extraHeaders { request += header + "\r\n" }
        request += "\r\n"
        send(Array(request.utf8))
        try readHead()
    }

    deinit { Glibc.close(fd) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    private func readHead() throws {
        while true {
            if let end = findHeadEnd() {
                let text = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeSubrange(..<(end + 4))
                let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
                let parts = lines.first?.split(separator: " ") ?? []
                status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
                }
                return
            }
            guard fill() else { throw Failure(description: "no handshake response") }
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4) where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            offset += count
        }
    }

    func sendFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) {
        send(FrameEncoder.encode(opcode: opcode, payload: payload, fin: fin, rsv1: rsv1, maskingKey: 0x1234_5678))
    }

    func sendText(_ text: String) { sendFrame(.text, Array(text.utf8)) }

    @discardableResult
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    /// The next frame from the server, nil on EOF, timeout or a framing error.
    func readFrame() -> WebSocketFrame? {
        while true {
            var consumed = 0
            var frame: WebSocketFrame?
            var failed = false
            buffer.withUnsafeBytes { bytes in
                var cursor = ByteCursor(bytes)
                do throws(WebSocketError) {
                    if case .frame(let decoded) = try decoder.next(&cursor) { frame = decoded }
                } catch {
                    failed = true
                }
                consumed = cursor.offset
            }
            buffer.removeSubrange(0..<consumed)
            if failed { return nil }
            if let frame { return frame }
            guard fill() else { return nil }
        }
    }

    /// The close code in the next frame, which must be a Close.
    func readCloseCode() -> UInt16? {
        guard let frame = readFrame(), frame.opcode == .close, frame.payload.count >= 2 else { return nil }
        return UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1])
    }

    /// Whether the server closed TCP (EOF or reset) before the timeout.
    func isClosedByPeer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }
}

extension WebSocketFrame {
    func with(rsv1: Bool) -> WebSocketFrame {
        var frame = self
        frame.rsv1 = rsv1
        return frame
    }
}

func closePayload(_ code: UInt16) -> [UInt8] { [UInt8(code >> 8), UInt8(code & 0xFF)] }

func webSocketRouter(small: Bool = true) -> Router {
    var router = Router()
    router.webSocketEcho()
    var limited = WebSocketOptions()
    limited.connection.limits = WebSocketLimits(maxFrameSize: 1024, maxMessageSize: 4096)
    limited.handshake.deflate = .contextTakeover
    limited.handshake.originPolicy = { origin in origin == nil || origin == "http://tally.test" }
    router.webSocket("/ws/small", options: limited) { _, webSocket in
        webSocket.onMessage = { webSocket, message in webSocket.send(message.kind, message.payload) }
    }
    router.webSocket("/ws/greet") { request, webSocket in
        let broadcast = WebSocketBroadcast(text: String(repeating: "{\"type\":\"progress\",\"seq\":1}", count: 8))
        webSocket.send(broadcast)
        webSocket.send(preEncoded: WebSocketBroadcast(text: "pre-encoded", deflate: .disabled).plain)
    }
    router.get("/hello") { _, responder in responder.respond(.text("hello")) }
    return router
}

@Suite(.serialized)
struct WebSocketTests {
    @Test func completesTheHandshake() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port)
            #expect(client.status == 101)
            #expect(client.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            #expect(client.header("upgrade")?.lowercased() == "websocket")
            #expect(client.header("sec-websocket-extensions") == nil)
        }
    }

    @Test func refusesOtherVersionsAndBadKeys() throws {
        try withServer(webSocketRouter()) { _, port in
            let old = try WebSocketTestClient(port: port, version: "8")
            #expect(old.status == 426)
            #expect(old.header("sec-websocket-version") == "13")
            let badKey = try WebSocketTestClient(port: port, key: "short")
            #expect(badKey.status == 400)
            let foreign = try WebSocketTestClient(port: port, path: "/ws/small", extraHeaders: ["Origin: http://evil.test"])
            #expect(foreign.status == 403)
            let allowed = try WebSocketTestClient(port: port, path: "/ws/small", extraHeaders: ["Origin: http://tally.test"])
            #expect(allowed.status == 101)
        }
    }

    @Test func echoesTextAndBinary() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port)
            client.sendText("hello κόσμε")
            #expect(client.readFrame() == WebSocketFrame(opcode: .text, payload: Array("hello κόσμε".utf8)))
            let blob = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            client.sendFrame(.binary, blob)
            #expect(client.readFrame() == WebSocketFrame(opcode: .binary, payload: blob))
        }
    }

    @Test func echoesFragmentedMessagesWithControlFramesBetween() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port)
            client.sendFrame(.text, Array("frag".utf8), fin: false)
            client.sendFrame(.ping, Array("in between".utf8))
            client.sendFrame(.continuation, Array("ment".utf8), fin: false)
            client.sendFrame(.continuation, Array("ed".utf8))
            #expect(client.readFrame() == WebSocketFrame(opcode: .pong, payload: Array("in between".utf8)))
            #expect(client.readFrame() == WebSocketFrame(opcode: .text, payload: Array("fragmented".utf8)))
        }
    }

    @Test func answersPingsWithPongs() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port)
            client.sendFrame(.ping, [1, 2, 3])
            #expect(client.readFrame() == WebSocketFrame(opcode: .pong, payload: [1, 2, 3]))
        }
    }

    @Test func echoesACloseAndClosesTCP() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port)
            client.sendFrame(.close, closePayload(1000) + Array("done".utf8))
            #expect(client.readCloseCode() == 1000)
            #expect(client.isClosedByPeer())
        }
    }

    @Test(arguments: [
        (closePayload(1005), UInt16(1002)),  // reserved code
        (closePayload(2999), 1002),
        ([0x03], 1002),  // one-byte payload
        (closePayload(1000) + [0xC0, 0x80], 1007),  // reason not UTF-8
    ] as [([UInt8], UInt16)])
    func failsBadClosesWithTheRightCode(payload: [UInt8], expected: UInt16) throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port)
            client.sendFrame(.close, payload)
            #expect(client.readCloseCode() == expected)
            #expect(client.isClosedByPeer())
        }
    }

    @Test func refusesAnOversizedFrameWith1009() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port, path: "/ws/small")
            client.sendFrame(.binary, [UInt8](repeating: 0, count: 2000))
            #expect(client.readCloseCode() == 1009)
            #expect(client.isClosedByPeer())
            // A message over the limit in small fragments is refused too.
            let fragmented = try WebSocketTestClient(port: port, path: "/ws/small")
            fragmented.sendFrame(.binary, [], fin: false)
            for _ in 0..<5 { fragmented.sendFrame(.continuation, [UInt8](repeating: 1, count: 1000), fin: false) }
            #expect(fragmented.readCloseCode() == 1009)
        }
    }

    @Test func refusesInvalidUTF8With1007() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port)
            client.sendFrame(.text, Array("valid then ".utf8) + [0xED, 0xA0, 0x80])
            #expect(client.readCloseCode() == 1007)
            #expect(client.isClosedByPeer())
        }
    }

    @Test func refusesProtocolErrorsWith1002AndKeepsServingOthers() throws {
        try withServer(webSocketRouter()) { _, port in
            let bystander = try WebSocketTestClient(port: port)
            let client = try WebSocketTestClient(port: port)
            client.send([0x83, 0x80, 0, 0, 0, 0])  // reserved opcode 3
            #expect(client.readCloseCode() == 1002)
            let unmasked = try WebSocketTestClient(port: port)
            unmasked.send([0x81, 0x02, 0x68, 0x69])  // unmasked text
            #expect(unmasked.readCloseCode() == 1002)
            bystander.sendText("still here")
            #expect(bystander.readFrame()?.payload == Array("still here".utf8))
            let http = try TestClient(port: port)
            http.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(http.readResponse()?.text == "hello")
        }
    }

    @Test func negotiatesPermessageDeflateAndEchoesCompressed() throws {
        try withServer(webSocketRouter()) { _, port in
            let client = try WebSocketTestClient(port: port, extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"])
            #expect(client.header("sec-websocket-extensions") == "permessage-deflate")
            // RFC 7692 §7.2.3.1 "Hello", masked by the client.
            // The echo endpoint compresses every message, and with a fresh window "Hello" comes back
            // exactly as the RFC shows it.
            client.sendFrame(.text, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv1: true)
            #expect(client.readFrame() == WebSocketFrame(opcode: .text, payload: [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]).with(rsv1: true))
            // A long message comes back compressed and inflates to the original.
            let text = String(repeating: "compress me ", count: 200)
            client.sendText(text)
            let frame = try #require(client.readFrame())
            #expect(frame.rsv1)
            #expect(frame.payload.count < text.utf8.count)
            var output: [UInt8] = []
            let inflater = Inflater()
            try frame.payload.withUnsafeBytes { bytes in
                Result { () throws(WebSocketError) in try inflater.inflate(bytes, appendingTo: &output, limit: 1 << 20) }
            }.get()
            try inflater.finishMessage(appendingTo: &output, limit: 1 << 20, keepContext: true)
            #expect(output == Array(text.utf8))
        }
    }

    @Test func sendsBroadcastAndPreEncodedFrames() throws {
        try withServer(webSocketRouter()) { _, port in
            let plain = try WebSocketTestClient(port: port, path: "/ws/greet")
            let expected = Array(String(repeating: "{\"type\":\"progress\",\"seq\":1}", count: 8).utf8)
            #expect(plain.readFrame() == WebSocketFrame(opcode: .text, payload: expected))
            #expect(plain.readFrame() == WebSocketFrame(opcode: .text, payload: Array("pre-encoded".utf8)))
            let deflate = try WebSocketTestClient(port: port, path: "/ws/greet", extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate"])
            let compressed = try #require(deflate.readFrame())
            #expect(compressed.rsv1)
            #expect(compressed.payload.count < expected.count)
        }
    }

    @Test func shutdownClosesWith1001() throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.loopCount = 1
        configuration.shutdownGraceMilliseconds = 2_000
        let server = try HTTPServer(configuration: configuration, router: webSocketRouter(), logger: .disabled)
        let port = try server.start()
        let client = try WebSocketTestClient(port: port)
        client.sendText("warm up")
        #expect(client.readFrame()?.payload == Array("warm up".utf8))
        let done = Shared(false)
        let thread = Thread { server.shutdown(); done.update { $0 = true } }
        #expect(client.readCloseCode() == 1001)
        client.sendFrame(.close, closePayload(1001))
        #expect(client.isClosedByPeer())
        thread.join()
        #expect(done.value)
    }
}

/// A plain thread for running a blocking call beside the test.
final class Thread {
    private var handle = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
    }

    func join() { pthread_join(handle, nil) }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
