import Testing
@testable import HTTP1Codec

/// A request as seen after feeding a whole input: head summary plus the concatenated body.
struct ParsedRequest: Equatable {
    var method: String
    var target: String
    var headers: [String]
    var keepAlive: Bool
    var body: [UInt8]
}

struct ParseOutcome: Equatable {
    var requests: [ParsedRequest] = []
    var error: String?
    var bodyChunks = 0
}

/// Feeds `input` cut at `cuts` the way the server does: unconsumed bytes are kept and
/// presented again with the next piece.
func parse(_ input: [UInt8], cuts: [Int] = [], limits: HTTPRequestParser.Limits = .init()) -> ParseOutcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = ParseOutcome()
    var pending: [UInt8] = []
    var current: ParsedRequest?
    var start = 0
    for end in (cuts + [input.count]) where end >= start {
        pending.append(contentsOf: input[start..<end])
        start = end
        let consumed: Int = pending.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            while true {
                do throws(HTTPParseError) {
                    switch try parser.next(&reader) {
                    case .head(let head):
                        current = ParsedRequest(method: head.method.rawValue, target: head.target,
                                                headers: head.headers.map { "\($0.name): \($0.value)" },
                                                keepAlive: head.keepAlive, body: [])
                    case .body(let chunk):
                        current?.body.append(contentsOf: chunk)
                        outcome.bodyChunks += 1
                    case .end:
                        if let request = current { outcome.requests.append(request) }
                        current = nil
                    case .needMoreData:
                        return reader.readerIndex
                    }
                } catch {
                    outcome.error = error.code
                    return raw.count
                }
            }
        }
        pending.removeSubrange(0..<consumed)
        if outcome.error != nil { break }
    }
    return outcome
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

struct HTTPRequestParserTests {
    @Test func parsesSimpleGet() {
        // "GET /healthz HTTP/1.1" CRLF "Host: a" CRLF CRLF
        let outcome = parse(bytes("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(outcome.error == nil)
        #expect(outcome.requests == [ParsedRequest(method: "GET", target: "/healthz", headers: ["Host: a"], keepAlive: true, body: [])])
    }

    @Test func trimsHeaderWhitespaceAndKeepsOrder() {
        let outcome = parse(bytes("GET / HTTP/1.1\r\nHost:  a \r\nX-A:\tone\t\r\nX-B:\r\n\r\n"))
        #expect(outcome.requests.first?.headers == ["Host: a", "X-A: one", "X-B: "])
    }

    @Test func parsesContentLengthBody() {
        let outcome = parse(bytes("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(outcome.requests.first?.body == bytes("hello"))
    }

    @Test func parsesChunkedBodyWithExtensionsAndTrailers() {
        // 5-byte chunk with an extension, 1-byte chunk, last chunk, one trailer field.
        let input = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1\r\n!\r\n0\r\nX-Checksum: 1\r\n\r\n"
        let outcome = parse(bytes(input))
        #expect(outcome.error == nil)
        #expect(outcome.requests.first?.body == bytes("hello!"))
    }

    @Test func deliversBodyInChunksWithoutBuffering() {
        let body = [UInt8](repeating: 0x61, count: 10_000)
        let input = bytes("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10000\r\n\r\n") + body
        let outcome = parse(input, cuts: [100, 1000, 5000])
        #expect(outcome.requests.first?.body == body)
        #expect(outcome.bodyChunks >= 3)
    }

    @Test func parsesPipelinedRequests() {
        let input = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        let outcome = parse(bytes(input))
        #expect(outcome.requests.map(\.target) == ["/a", "/b", "/c"])
        #expect(outcome.requests.map(\.keepAlive) == [true, true, false])
    }

    @Test func appliesKeepAliveRulesForHTTP10() {
        let outcome = parse(bytes("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
        #expect(outcome.requests.map(\.keepAlive) == [false, true])
    }

    @Test func ignoresEmptyLinesBeforeRequestLine() {
        let outcome = parse(bytes("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(outcome.requests.count == 1)
    }

    @Test func acceptsBareLineFeeds() {
        let outcome = parse(bytes("GET / HTTP/1.1\nHost: a\n\n"))
        #expect(outcome.requests.count == 1)
    }

    @Test func everySplitYieldsTheSameRequests() {
        let input = bytes("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nA;x=1\r\n0123456789\r\n0\r\n\r\n"
            + "GET /next?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz")
        let whole = parse(input)
        #expect(whole.requests.count == 2)
        for cut in 1..<input.count {
            #expect(parse(input, cuts: [cut]) == ParseOutcome(requests: whole.requests, error: nil, bodyChunks: parse(input, cuts: [cut]).bodyChunks), "cut at \(cut)")
        }
        for cut in stride(from: 1, to: input.count, by: 7) {
            let cuts = Array(stride(from: cut, to: input.count, by: 13))
            #expect(parse(input, cuts: cuts).requests == whole.requests, "cuts from \(cut)")
        }
        let bytewise = parse(input, cuts: Array(1..<input.count))
        #expect(bytewise.requests == whole.requests)
    }

    @Test func errorsAreSplitInvariantToo() {
        let input = bytes("GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n")
        #expect(parse(input).error == "http.bad_request")
        for cut in 1..<input.count {
            #expect(parse(input, cuts: [cut]).error == "http.bad_request")
        }
    }

    // MARK: - Malformed input and limits

    @Test(arguments: [
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "http.bad_request"),          // two spaces
        ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "http.bad_request"),          // trailing space
        ("GET / HTTX/1.1\r\nHost: a\r\n\r\n", "http.bad_request"),           // not HTTP
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", "http.version_not_supported"), // 505
        ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", "http.version_not_supported"),
        ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "http.bad_request"),           // non-token method
        ("GET x HTTP/1.1\r\nHost: a\r\n\r\n", "http.bad_request"),           // not origin form
        ("GET / HTTP/1.1\r\n\r\n", "http.bad_request"),                      // no Host
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "http.bad_request"),
        ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "http.bad_request"), // obs-fold
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "http.bad_request"),          // space before colon
        ("GET / HTTP/1.1\r\nHost: a\u{01}\r\n\r\n", "http.bad_request"),     // control in value
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", "http.bad_request"),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "http.bad_request"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "http.bad_request"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "http.unsupported_transfer_encoding"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "http.unsupported_transfer_encoding"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "http.bad_request"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "http.bad_request"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", "http.bad_request"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "http.bad_request"),
    ])
    func rejectsMalformedRequest(input: String, code: String) {
        #expect(parse(bytes(input)).error == code)
    }

    @Test func rejectsLongRequestLineWith414AsSoonAsItIsLong() {
        var limits = HTTPRequestParser.Limits()
        limits.maxRequestLineBytes = 64
        // The line never ends: the parser must not wait for it.
        let input = bytes("GET /" + String(repeating: "a", count: 100))
        #expect(parse(input, limits: limits).error == "http.uri_too_long")
    }

    @Test func rejectsLargeHeaderSectionWith431() {
        var limits = HTTPRequestParser.Limits()
        limits.maxHeaderBytes = 256
        let input = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "b", count: 400))
        #expect(parse(input, limits: limits).error == "http.header_too_large")
    }

    @Test func rejectsTooManyHeadersWith431() {
        var limits = HTTPRequestParser.Limits()
        limits.maxHeaderCount = 5
        var text = "GET / HTTP/1.1\r\nHost: a\r\n"
        for index in 0..<10 { text += "X-\(index): v\r\n" }
        #expect(parse(bytes(text + "\r\n"), limits: limits).error == "http.header_too_large")
    }

    @Test func rejectsDeclaredBodyOverLimitBeforeReadingIt() {
        var limits = HTTPRequestParser.Limits()
        limits.maxBodyBytes = 10
        let outcome = parse(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"), limits: limits)
        #expect(outcome.error == "http.body_too_large")
        #expect(outcome.bodyChunks == 0)
    }

    @Test func rejectsChunkedBodyOverLimitWhenTheChunkSizeIsKnown() {
        var limits = HTTPRequestParser.Limits()
        limits.maxBodyBytes = 10
        let outcome = parse(bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n"), limits: limits)
        #expect(outcome.error == "http.body_too_large")
        #expect(parse(bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n")).error == "http.body_too_large")
    }

    @Test func rejectsHugeContentLengthWithoutOverflow() {
        let outcome = parse(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n"))
        #expect(outcome.error == "http.body_too_large")
    }

    @Test func routeMayRaiseTheBodyLimitAfterTheHead() throws {
        var limits = HTTPRequestParser.Limits()
        limits.maxBodyBytes = 4
        var parser = HTTPRequestParser(limits: limits)
        let input = bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n12345678")
        var received: [UInt8] = []
        try input.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            guard case .head = try parser.next(&reader) else { Issue.record("no head"); return }
            parser.bodyLimit = 100
            guard case .body(let chunk) = try parser.next(&reader) else { Issue.record("no body"); return }
            received.append(contentsOf: chunk)
            guard case .end = try parser.next(&reader) else { Issue.record("no end"); return }
        }
        #expect(received == bytes("12345678"))
    }

    @Test func staysFailedAfterAnError() {
        var parser = HTTPRequestParser()
        let input = bytes("BAD\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        input.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: HTTPParseError.self) { _ = try parser.next(&reader) }
            #expect(throws: HTTPParseError.self) { _ = try parser.next(&reader) }
        }
    }

    @Test func headerLookupIsCaseInsensitiveAndTokenAware() {
        let head = HTTPRequestHead(method: .GET, target: "/a?x=1", headers: HTTPHeaders([("Accept-Encoding", "br, GZip;q=0.5"), ("Connection", "Upgrade")]))
        #expect(head.headers["accept-encoding"] == "br, GZip;q=0.5")
        #expect(head.headers.containsToken("gzip", in: "ACCEPT-ENCODING"))
        #expect(!head.headers.containsToken("deflate", in: "accept-encoding"))
        #expect(head.headers.containsToken("upgrade", in: "connection"))
        #expect(head.path == "/a")
        #expect(head.query == "x=1")
    }
}
