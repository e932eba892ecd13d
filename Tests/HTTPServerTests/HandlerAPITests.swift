import Glibc
import Synchronization
import Testing
@testable import HTTPServer

/// Collects a streamed body and answers with its size and chunk count.
final class CountingConsumer: HTTPBodyConsumer {
    var bytes: [UInt8] = []
    var chunks = 0
    let pauseAfterFirst: Bool
    let onPause: @Sendable () -> Void
    init(pauseAfterFirst: Bool = false, onPause: @escaping @Sendable () -> Void = {}) {
        self.pauseAfterFirst = pauseAfterFirst
        self.onPause = onPause
    }
    func received(_ chunk: UnsafeRawBufferPointer) -> HTTPBodyDemand {
        bytes.append(contentsOf: chunk)
        chunks += 1
        if pauseAfterFirst, chunks == 1 {
            onPause()
            return .pause
        }
        return .more
    }
    func finished(_ responder: HTTPResponder) {
        var checksum: UInt32 = 0
        for byte in bytes { checksum = checksum &* 31 &+ UInt32(byte) }
        responder.respond(.text("\(bytes.count) bytes in \(chunks > 1 ? "several" : "one") chunk(s), sum \(checksum)"))
    }
    func failed(_ failure: HTTPBodyFailure) {}
}

/// Echoes raw bytes after an upgrade, to prove the connection changed hands.
final class RawEcho: ConnectionHandler {
    func activated(_ connection: Connection) {
        connection.write(Array("hello raw\n".utf8))
    }
    func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
        connection.write(bytes)
    }
}

@Suite(.serialized)
struct HandlerAPITests {
    @Test func completesDeferredResponsesFromAnotherThread() throws {
        let parked = Shared<[DeferredResponse]>([])
        var router = Router()
        router.get("/wait") { _, responder in
            let handle = responder.deferResponse()
            parked.update { $0.append(handle) }
        }
        router.get("/now") { _, responder in responder.respond(.text("now")) }
        try withServer(router) { _, port in
            let waiting = try TestClient(port: port)
            waiting.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(eventually { parked.value.count == 1 })
            // Another client is served while the first one is parked.
            let other = try TestClient(port: port)
            other.send("GET /now HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(other.readResponse()?.text == "now")
            let handle = try #require(parked.value.first)
            let thread = TestThread { handle.complete(.text("later")) }
            thread.join()
            // The pipelined request behind it is answered after it, in order.
            #expect(waiting.readResponse()?.text == "later")
            #expect(waiting.readResponse()?.text == "now")
            handle.complete(.text("twice"))  // ignored
            waiting.send("GET /now HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(waiting.readResponse()?.text == "now")
        }
    }

    @Test func tellsTheHandlerWhenAParkedClientLeaves() throws {
        let cancelled = Shared<[HTTPCancelReason]>([])
        var router = Router()
        router.get("/wait") { _, responder in
            _ = responder.deferResponse()
            responder.onCancel { reason in cancelled.update { $0.append(reason) } }
        }
        try withServer(router) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
            pause(milliseconds: 50)
            client.shutdownWrite()
            #expect(eventually { cancelled.value == [.connectionClosed] })
        }
    }

    @Test func aParkedRequestHearsItsDeadlineAndTheConnectionStaysUsable() throws {
        let reasons = Shared<[HTTPCancelReason]>([])
        let completed = Shared<[DeferredResponse]>([])
        var router = Router()
        router.get("/wait") { _, responder in
            let parked = responder.deferResponse(deadlineMilliseconds: 100)
            responder.onCancel { reason in
                reasons.update { $0.append(reason) }
                if reason == .deadlinePassed { parked.complete(.text("timed out")) }
            }
        }
        router.get("/answered") { _, responder in
            let parked = responder.deferResponse(deadlineMilliseconds: 100)
            completed.update { $0.append(parked) }
            responder.onCancel { reason in reasons.update { $0.append(reason) } }
        }
        router.get("/now") { _, responder in responder.respond(.text("now")) }
        try withServer(router) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.text == "timed out")
            #expect(reasons.value == [.deadlinePassed])
            // Answered before its deadline: the deadline is gone with the exchange, and the
            // connection is idle again rather than cut.
            client.send("GET /answered HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(eventually { completed.value.count == 1 })
            let parked = try #require(completed.value.first)
            TestThread { parked.complete(.text("in time")) }.join()
            #expect(client.readResponse()?.text == "in time")
            pause(milliseconds: 600)
            #expect(reasons.value == [.deadlinePassed])
            client.send("GET /now HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.text == "now")
        }
    }

    @Test func streamsChunkedResponsesWrittenFromAnotherThread() throws {
        let streams = Shared<[ResponseStream]>([])
        var router = Router()
        router.get("/events") { _, responder in
            let stream = responder.startStream(HTTPResponseHead(status: 200, headers: [("Content-Type", "text/event-stream")]))
            streams.update { $0.append(stream) }
        }
        try withServer(router) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
            let head = client.readHead()
            #expect(head?.status == 200)
            #expect(head?.header("transfer-encoding") == "chunked")
            #expect(eventually { streams.value.count == 1 })
            let stream = try #require(streams.value.first)
            TestThread { stream.write("data: 1\n\n") }.join()
            #expect(client.readChunk() == Array("data: 1\n\n".utf8))
            let framed = Array("data: 2\n\n".utf8).withUnsafeBytes { HTTPResponseSerializer.chunk($0) }
            TestThread { stream.writePreframed(SharedBuffer(framed)) }.join()
            #expect(client.readChunk() == Array("data: 2\n\n".utf8))
            TestThread { stream.finish() }.join()
            #expect(client.readChunk() == [])
            // The connection is reusable after the stream ends.
            client.send("GET /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(client.readHead()?.status == 200)
        }
    }

    @Test func streamsAChunkedUploadToTheHandlerInPieces() throws {
        var router = Router()
        router.post("/upload", body: .streamed()) { _, responder in responder.readBody(CountingConsumer()) }
        try withServer(router) { _, port in
            let client = try TestClient(port: port)
            client.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            var expected: [UInt8] = []
            for index in 0..<40 {
                let piece = [UInt8](repeating: UInt8(65 + index % 26), count: 50_000)
                expected.append(contentsOf: piece)
                client.send(String(piece.count, radix: 16) + "\r\n")
                client.send(piece)
                client.send("\r\n")
            }
            client.send("0\r\n\r\n")
            var checksum: UInt32 = 0
            for byte in expected { checksum = checksum &* 31 &+ UInt32(byte) }
            #expect(client.readResponse()?.text == "2000000 bytes in several chunk(s), sum \(checksum)")
        }
    }

    @Test func pausesAndResumesAStreamedBody() throws {
        let controls = Shared<[HTTPBodyFlowControl]>([])
        var router = Router()
        router.post("/upload", body: .streamed(maxBytes: 10_000_000)) { _, responder in
            let control = responder.bodyFlowControl
            responder.readBody(CountingConsumer(pauseAfterFirst: true) { controls.update { $0.append(control) } })
        }
        try withServer(router) { _, port in
            let client = try TestClient(port: port)
            let body = [UInt8](repeating: 0x41, count: 3_000_000)
            let sender = TestThread {
                client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n")
                client.send(body)
            }
            #expect(eventually { controls.value.count == 1 })
            pause(milliseconds: 100)
            try #require(controls.value.first).resume()
            sender.join()
            let text = client.readResponse()?.text ?? ""
            #expect(text.hasPrefix("3000000 bytes in several chunk(s)"))
        }
    }

    @Test func buffersBodiesForBufferedRoutesAndAnswersExpectContinue() throws {
        try withServer(echoRouter()) { _, port in
            let client = try TestClient(port: port)
            client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            #expect(client.readResponse()?.status == 100)
            client.send("hello")
            #expect(client.readResponse()?.text == "hello")
        }
    }

    @Test func handsTheConnectionToAnUpgradeHandler() throws {
        var router = Router()
        router.get("/raw") { _, responder in
            responder.upgrade(HTTPResponseHead(status: 101, headers: [("Upgrade", "raw"), ("Connection", "Upgrade")]), to: RawEcho())
        }
        try withServer(router) { _, port in
            let client = try TestClient(port: port)
            // Bytes sent right behind the request belong to the new protocol.
            client.send("GET /raw HTTP/1.1\r\nHost: t\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\nearly")
            let head = client.readHead()
            #expect(head?.status == 101)
            #expect(head?.header("upgrade") == "raw")
            #expect(client.readBytes(10) == Array("hello raw\n".utf8))
            #expect(client.readBytes(5) == Array("early".utf8))
            client.send("GET / HTTP/1.1\r\n\r\n")  // no longer parsed as HTTP
            #expect(client.readBytes(18) == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        }
    }

    @Test func answers500WhenAHandlerForgetsToRespond() throws {
        var router = Router()
        router.get("/forgetful") { _, _ in }
        try withServer(router) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /forgetful HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.status == 500)
        }
    }
}

/// A thread for tests that act from outside the loops.
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    @discardableResult
    init(_ body: @escaping () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<TestThread>.fromOpaque(argument).takeRetainedValue().body()
            return nil
        }, context)
    }

    func join() { pthread_join(thread, nil) }
}
