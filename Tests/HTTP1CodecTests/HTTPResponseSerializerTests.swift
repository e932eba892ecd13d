import Testing
@testable import HTTP1Codec

struct HTTPResponseSerializerTests {
    @Test func writesStatusLineHeadersLengthAndConnection() {
        let head = HTTPResponseHead(status: 200, headers: [("Content-Type", "text/plain")])
        let text = String(decoding: HTTPResponseSerializer.head(head, framing: .length(5), keepAlive: true), as: UTF8.self)
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n")
    }

    @Test func writesChunkedFramingAndClose() {
        let text = String(decoding: HTTPResponseSerializer.head(HTTPResponseHead(status: 404), framing: .chunked, keepAlive: false), as: UTF8.self)
        #expect(text == "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    }

    @Test func switchingProtocolsHasNoFramingOrConnectionFromTheSerializer() {
        let head = HTTPResponseHead(status: 101, headers: [("Upgrade", "websocket"), ("Connection", "Upgrade")])
        let text = String(decoding: HTTPResponseSerializer.head(head, framing: .none, keepAlive: true), as: UTF8.self)
        #expect(text == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    }

    @Test func framesChunks() {
        let chunk = Array("hello world, this is 26 b!".utf8)
        let framed = chunk.withUnsafeBytes { HTTPResponseSerializer.chunk($0) }
        #expect(String(decoding: framed, as: UTF8.self) == "1a\r\nhello world, this is 26 b!\r\n")
        #expect(HTTPResponseSerializer.lastChunk == Array("0\r\n\r\n".utf8))
    }

    @Test func dropsLineBreaksInHeaderValues() {
        let head = HTTPResponseHead(status: 200, headers: [("X-Evil", "a\r\nSet-Cookie: b")])
        let text = String(decoding: HTTPResponseSerializer.head(head, framing: .length(0), keepAlive: true), as: UTF8.self)
        #expect(text.contains("X-Evil: aSet-Cookie: b\r\n"))
    }

    @Test func writesLargeDecimalLengths() {
        let text = String(decoding: HTTPResponseSerializer.head(HTTPResponseHead(status: 200), framing: .length(1_234_567_890), keepAlive: true), as: UTF8.self)
        #expect(text.contains("Content-Length: 1234567890\r\n"))
    }
}
