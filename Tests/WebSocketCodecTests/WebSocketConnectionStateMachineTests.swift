import Testing
@testable import WebSocketCodec

/// Feeds bytes and collects actions, like an I/O shell would.
struct Harness {
    var machine: WebSocketConnectionStateMachine
    var now = ContinuousClock.now

    init(configuration: WebSocketConfiguration = WebSocketConfiguration(), deflate: DeflateParameters? = nil) {
        machine = WebSocketConnectionStateMachine(configuration: configuration, deflate: deflate, now: now)
    }

    enum Seen: Equatable {
        case message(WebSocketMessage)
        case frames([WebSocketFrame])
        case framesThenClose([WebSocketFrame])
        case close
    }

    /// Decodes what the server wrote, as a client would.
    static func serverFrames(_ bytes: [UInt8]) -> [WebSocketFrame] {
        decodeAll(bytes, decoder: FrameDecoder(role: .client, limits: WebSocketLimits(maxFrameSize: 1 << 26, maxMessageSize: 1 << 26), allowsCompression: true)).0
    }

    static func describe(_ action: WebSocketConnectionStateMachine.Action) -> Seen {
        switch action {
        case .deliver(let message): return .message(message)
        case .write(let bytes): return .frames(serverFrames(bytes))
        case .writeAndClose(let bytes): return .framesThenClose(serverFrames(bytes))
        case .closeConnection: return .close
        }
    }

    mutating func feed(_ bytes: [UInt8]) -> [Seen] {
        var seen: [Seen] = []
        let now = self.now
        bytes.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            while let action = machine.receive(&cursor, now: now) { seen.append(Self.describe(action)) }
        }
        return seen
    }

    mutating func advance(_ duration: Duration) -> [Seen] {
        now += duration
        var seen: [Seen] = []
        while let action = machine.tick(now: now) { seen.append(Self.describe(action)) }
        return seen
    }
}

func closeFrameSeen(_ code: UInt16, closing: Bool = true) -> Harness.Seen {
    let frame = WebSocketFrame(opcode: .close, payload: [UInt8(code >> 8), UInt8(code & 0xFF)])
    return closing ? .framesThenClose([frame]) : .frames([frame])
}

struct WebSocketConnectionStateMachineTests {
    @Test func deliversMessagesAndAssemblesFragments() {
        var harness = Harness()
        let input = clientFrame(.text, "one") + clientFrame(.binary, [1, 2], fin: false) + clientFrame(.ping, Array("x".utf8))
            + clientFrame(.continuation, [3], fin: false) + clientFrame(.continuation, [4])
        #expect(harness.feed(input) == [
            .message(.text("one")),
            .frames([WebSocketFrame(opcode: .pong, payload: Array("x".utf8))]),
            .message(WebSocketMessage(kind: .binary, payload: [1, 2, 3, 4])),
        ])
    }

    @Test func answersAPeerCloseAndClosesTCP() {
        var harness = Harness()
        var payload: [UInt8] = [0x0B, 0xB8]  // 3000
        payload += Array("bye".utf8)
        #expect(harness.feed(clientFrame(.close, payload)) == [closeFrameSeen(3000)])
        #expect(harness.machine.state == .closed)
        #expect(harness.machine.closeCode == WebSocketCloseCode(3000))
        #expect(harness.machine.closeReason == "bye")
        // Nothing more is read once closed.
        #expect(harness.feed(clientFrame(.text, "late")) == [])
    }

    @Test func answersAnEmptyCloseWithAnEmptyClose() {
        var harness = Harness()
        #expect(harness.feed(clientFrame(.close, [])) == [.framesThenClose([WebSocketFrame(opcode: .close, payload: [])])])
        #expect(harness.machine.closeCode == .noStatusReceived)
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] as [UInt16])
    func echoesValidCloseCodes(code: UInt16) {
        var harness = Harness()
        #expect(harness.feed(clientFrame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)])) == [closeFrameSeen(code)])
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func failsOnInvalidCloseCodesWith1002(code: UInt16) {
        var harness = Harness()
        #expect(harness.feed(clientFrame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)])) == [closeFrameSeen(1002)])
        #expect(harness.machine.error == .invalidCloseCode)
    }

    @Test func failsOnAOneByteCloseAndABadReason() {
        var harness = Harness()
        #expect(harness.feed(clientFrame(.close, [0x03])) == [closeFrameSeen(1002)])
        var second = Harness()
        #expect(second.feed(clientFrame(.close, [0x03, 0xE8, 0xC0, 0x80])) == [closeFrameSeen(1007)])
    }

    @Test func failsProtocolErrorsWithTheirCodes() {
        var reserved = Harness()
        #expect(reserved.feed(hex("83 80 00 00 00 00")) == [closeFrameSeen(1002)])
        var utf8 = Harness()
        #expect(utf8.feed(clientFrame(.text, [0x61, 0xFF])) == [closeFrameSeen(1007)])
        var big = Harness(configuration: WebSocketConfiguration(limits: WebSocketLimits(maxFrameSize: 10, maxMessageSize: 10)))
        #expect(big.feed(clientFrame(.binary, [UInt8](repeating: 0, count: 11))) == [closeFrameSeen(1009)])
        #expect(big.machine.error == .frameTooLarge)
    }

    @Test func serverInitiatedCloseWaitsForTheReply() {
        var harness = Harness()
        let action = harness.machine.close(code: .goingAway, now: harness.now)
        #expect(action.map(Harness.describe) == closeFrameSeen(1001, closing: false))
        #expect(harness.machine.state == .closing)
        // Data after our Close is dropped; pings are not answered; the peer's Close ends it.
        #expect(harness.feed(clientFrame(.text, "ignored") + clientFrame(.ping, [])) == [])
        #expect(harness.feed(clientFrame(.close, [0x03, 0xE9])) == [.close])
        #expect(harness.machine.state == .closed)
        let late = harness.machine.encode(text: "too late")
        #expect(late == nil)
    }

    @Test func closeTimesOutWhenThePeerNeverAnswers() {
        var harness = Harness(configuration: WebSocketConfiguration(closeTimeout: .seconds(5)))
        _ = harness.machine.close(now: harness.now)
        #expect(harness.machine.nextDeadline == harness.now + .seconds(5))
        #expect(harness.advance(.seconds(4)) == [])
        #expect(harness.advance(.seconds(1)) == [.close])
        #expect(harness.machine.error == .closeTimeout)
    }

    @Test func pingsAnIdlePeerAndDropsADeadOne() {
        var harness = Harness(configuration: WebSocketConfiguration(pingInterval: .seconds(30), pongTimeout: .seconds(10)))
        #expect(harness.advance(.seconds(29)) == [])
        #expect(harness.advance(.seconds(1)) == [.frames([WebSocketFrame(opcode: .ping, payload: [])])])
        // The pong arrives: the peer is alive, the next ping is due 30 s later.
        #expect(harness.feed(clientFrame(.pong, [])) == [])
        #expect(harness.machine.nextDeadline == harness.now + .seconds(30))
        #expect(harness.advance(.seconds(30)) == [.frames([WebSocketFrame(opcode: .ping, payload: [])])])
        #expect(harness.advance(.seconds(9)) == [])
        #expect(harness.advance(.seconds(1)) == [.close])
        #expect(harness.machine.error == .peerTimeout)
    }

    @Test func trafficPostponesTheKeepalivePing() {
        var harness = Harness(configuration: WebSocketConfiguration(pingInterval: .seconds(30)))
        _ = harness.advance(.seconds(20))
        _ = harness.feed(clientFrame(.text, "hi"))
        #expect(harness.advance(.seconds(20)) == [])
        #expect(harness.advance(.seconds(10)).count == 1)
    }

    @Test func tcpEndWithoutCloseIs1006() {
        var harness = Harness()
        harness.machine.connectionClosed()
        #expect(harness.machine.closeCode == .abnormalClosure)
    }

    // MARK: permessage-deflate

    @Test func inflatesCompressedMessagesFromTheRFC() {
        // RFC 7692 §7.2.3.1 and §7.2.3.2, masked as a client sends them.
        var harness = Harness(deflate: DeflateParameters())
        let first = clientFrame(.text, hex("f2 48 cd c9 c9 07 00"), rsv1: true)
        let fragmented = clientFrame(.text, hex("f2 48 cd"), fin: false, rsv1: true) + clientFrame(.continuation, hex("c9 c9 07 00"))
        let shared = clientFrame(.text, hex("f2 00 11 00 00"), rsv1: true)
        #expect(harness.feed(first) == [.message(.text("Hello"))])
        // The fragmented message also keeps the window, so the back-reference still works after it.
        #expect(harness.feed(fragmented) == [.message(.text("Hello"))])
        #expect(harness.feed(shared) == [.message(.text("Hello"))])
    }

    @Test func compressesOutgoingMessagesWhenWorthIt() throws {
        var harness = Harness(deflate: DeflateParameters(serverNoContextTakeover: true))
        let text = String(repeating: "progress ", count: 50)
        let bytesEncoded = harness.machine.encode(text: text)
        let bytes = try #require(bytesEncoded)
        #expect(bytes.count < text.utf8.count)
        let frames = Harness.serverFrames(bytes)
        #expect(frames.first?.rsv1 == true)
        let inflated = try DeflateTests.inflate([frames.first?.payload ?? []])
        #expect(inflated == Array(text.utf8))
        // Short messages stay plain.
        let shortEncoded = harness.machine.encode(text: "hi")
        let short = try #require(shortEncoded)
        #expect(Harness.serverFrames(short) == [WebSocketFrame(opcode: .text, payload: Array("hi".utf8))])
    }

    @Test func compressesEveryMessageWhenAsked() throws {
        var harness = Harness(configuration: WebSocketConfiguration(deflate: .echo), deflate: DeflateParameters())
        let encoded = harness.machine.encode(text: "hi")
        let bytes = try #require(encoded)
        let frame = try #require(Harness.serverFrames(bytes).first)
        #expect(frame.rsv1)
        #expect(try DeflateTests.inflate([frame.payload]) == Array("hi".utf8))
    }

    /// Found by Fuzz/inflate: the echo endpoint compresses every message with the context
    /// kept, and an empty message after another went out as an empty payload, which the peer
    /// inflated as the start of a stored block (the next empty one arrived as 00 FF FF).
    @Test func echoesEmptyMessagesAfterOthersSoThePeerInflatesThem() throws {
        var harness = Harness(configuration: WebSocketConfiguration(deflate: .echo), deflate: DeflateParameters())
        let peer = Inflater()
        for text in ["hello", "", "", "again"] {
            let encoded = harness.machine.encode(text: text)
            let bytes = try #require(encoded)
            let frame = try #require(Harness.serverFrames(bytes).first)
            #expect(frame.rsv1)
            #expect(try DeflateTests.inflate([frame.payload], inflater: peer) == Array(text.utf8))
        }
    }

    @Test func compressedBombFailsWith1009() throws {
        var harness = Harness(
            configuration: WebSocketConfiguration(limits: WebSocketLimits(maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)),
            deflate: DeflateParameters())
        var compressed: [UInt8] = []
        try Deflater(level: 9).compress([UInt8](repeating: 0x61, count: 16 << 20), appendingTo: &compressed, keepContext: false)
        #expect(harness.feed(clientFrame(.binary, compressed, rsv1: true)) == [closeFrameSeen(1009)])
        #expect(harness.machine.error == .messageTooLarge)
    }

    @Test func invalidUTF8InsideACompressedTextFailsWith1007() throws {
        var harness = Harness(deflate: DeflateParameters())
        var compressed: [UInt8] = []
        try Deflater().compress([0x61, 0x62, 0xED, 0xA0, 0x80], appendingTo: &compressed, keepContext: false)
        #expect(harness.feed(clientFrame(.text, compressed, rsv1: true)) == [closeFrameSeen(1007)])
    }

    @Test func sharedMessagesPickTheFrameEachConnectionMayReceive() throws {
        let payload = Array(String(repeating: "{\"type\":\"progress\",\"seq\":1} ", count: 10).utf8)
        let shared = WebSocketSharedMessage(kind: .text, payload: payload)
        let compressed = try #require(shared.compressed)
        #expect(compressed.bytes.count < shared.plain.bytes.count)

        var plainPeer = Harness()
        let plainFrame = plainPeer.machine.frame(for: shared)
        #expect(plainFrame == shared.plain)
        var deflatePeer = Harness(deflate: DeflateParameters(serverNoContextTakeover: true))
        let deflateFrame = deflatePeer.machine.frame(for: shared)
        #expect(deflateFrame == compressed)
        var smallWindow = Harness(deflate: DeflateParameters(serverMaxWindowBits: 10))
        let smallFrame = smallWindow.machine.frame(for: shared)
        #expect(smallFrame == shared.plain)

        // A connection with context takeover receives the shared frame and its own compressed
        // messages afterwards still inflate with one continuous window.
        var takeover = Harness(deflate: DeflateParameters())
        let inflater = Inflater()
        let own1Encoded = takeover.machine.encode(.text, payload: payload)
        let own1 = try #require(own1Encoded)
        let sharedFrameEncoded = takeover.machine.frame(for: shared)
        let sharedFrame = try #require(sharedFrameEncoded)
        let own2Encoded = takeover.machine.encode(.text, payload: payload)
        let own2 = try #require(own2Encoded)
        for bytes in [own1, sharedFrame.bytes, own2] {
            let frame = try #require(Harness.serverFrames(bytes).first)
            #expect(frame.rsv1)
            #expect(try DeflateTests.inflate([frame.payload], inflater: inflater) == payload)
        }
    }

    @Test func encodedFramesAreHeaderThenPayload() {
        let frame = EncodedFrame(opcode: .text, payload: Array("Hello".utf8))
        #expect(frame.bytes == hex("81 05 48 65 6c 6c 6f"))
        let big = EncodedFrame(opcode: .binary, payload: [UInt8](repeating: 0, count: 256))
        #expect(Array(big.bytes.prefix(4)) == hex("82 7e 01 00"))
        #expect(big.bytes.count == 260)
    }

    /// Every idle connection carries a machine: its size is server memory per connection
    /// (docs/BENCHMARKS.md), so growing it should be a decision, not an accident.
    @Test func anIdleConnectionsStateStaysSmall() {
        #expect(MemoryLayout<WebSocketConnectionStateMachine>.size <= 184)
        #expect(MemoryLayout<FrameDecoder>.size <= 72)
    }
}
