import Testing
@testable import Reactor

struct SharedBufferTests {
    @Test func holdsACopyOfItsBytes() {
        var source: [UInt8] = [1, 2, 3]
        let buffer = SharedBuffer(source)
        source[0] = 9
        #expect(buffer.bytes == [1, 2, 3])
        #expect(buffer.count == 3)
        #expect(SharedBuffer("héllo").bytes == Array("héllo".utf8))
        #expect(SharedBuffer([]).count == 0)
    }

    @Test func isFilledOnceByItsInitializer() {
        let buffer = SharedBuffer(count: 4) { target in
            for index in 0..<4 { target[index] = UInt8(index * 2) }
        }
        #expect(buffer.bytes == [0, 2, 4, 6])
        #expect(buffer.withUnsafeBytes { $0.count } == 4)
    }
}

struct LoggerTests {
    final class Lines: @unchecked Sendable {
        var lines: [String] = []
    }

    @Test func writesOneKeyValueLinePerEventAndQuotesWhereNeeded() {
        let sink = Lines()
        let logger = Logger(level: .info) { sink.lines.append($0) }.with("component", "http")
        logger.info("http.bad_request", ["code": "http.uri_too_long", "message": "too \"long\" here"])
        logger.debug("http.request", ["target": "/"])
        #expect(sink.lines.count == 1)
        let line = sink.lines[0]
        #expect(line.hasPrefix("ts="))
        #expect(line.hasSuffix("\n"))
        #expect(line.contains(" level=info event=http.bad_request component=http code=http.uri_too_long message=\"too \\\"long\\\" here\"\n"))
    }

    @Test func disabledLoggerWritesNothing() {
        #expect(!Logger.disabled.isEnabled(.error))
    }
}
