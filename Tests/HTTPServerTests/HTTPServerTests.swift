import Glibc
import Testing
@testable import HTTPServer

@Suite(.serialized)
struct HTTPServerTests {
    @Test func servesKeepAliveRequestsOnOneConnection() throws {
        try withServer(echoRouter()) { _, port in
            let client = try TestClient(port: port)
            for _ in 0..<3 {
                client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                let response = client.readResponse()
                #expect(response?.status == 200)
                #expect(response?.text == "hello")
                #expect(response?.header("connection") == "keep-alive")
            }
        }
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        try withServer(echoRouter()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /jobs/1/events?after=5 HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping"
                + "GET /jobs/2/events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(client.readResponse()?.text == "job 1 after 5")
            #expect(client.readResponse()?.text == "ping")
            let last = client.readResponse()
            #expect(last?.text == "job 2 after -")
            #expect(last?.header("connection") == "close")
            #expect(client.isClosedByPeer())
        }
    }

    @Test func closesAfterHTTP10Request() throws {
        try withServer(echoRouter()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /hello HTTP/1.0\r\n\r\n")
            #expect(client.readResponse()?.status == 200)
            #expect(client.isClosedByPeer())
        }
    }

    @Test func answers404And405WithJSONErrors() throws {
        try withServer(echoRouter()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
            let missing = client.readResponse()
            #expect(missing?.status == 404)
            #expect(missing?.text == #"{"error":{"code":"http.not_found","message":"No route for this path."}}"#)
            client.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let wrong = client.readResponse()
            #expect(wrong?.status == 405)
            #expect(wrong?.header("allow") == "GET, HEAD")
            client.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let head = client.readResponse(headRequest: true)
            #expect(head?.status == 200)
            #expect(head?.header("content-length") == "5")
            client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.text == "hello")
        }
    }

    static let badRequests: [String: (String, Int)] = [
        "bad header": ("GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400),
        "long target": ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        "large headers": ("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "b", count: 17000) + "\r\n\r\n", 431),
        "large body": ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413),
        "unknown coding": ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: br\r\n\r\n", 501),
        "HTTP/3.0": ("GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505),
    ]
    static let codes = [400: "http.bad_request", 414: "http.uri_too_long", 431: "http.header_too_large",
                        413: "http.body_too_large", 501: "http.unsupported_transfer_encoding", 505: "http.version_not_supported"]

    @Test(arguments: ["bad header", "long target", "large headers", "large body", "unknown coding", "HTTP/3.0"])
    func answersLimitAndSyntaxErrorsAndCloses(name: String) throws {
        let (request, status) = try #require(Self.badRequests[name])
        let code = try #require(Self.codes[status])
        try withServer(echoRouter()) { _, port in
            let client = try TestClient(port: port)
            client.send(request)
            let response = client.readResponse()
            #expect(response?.status == status)
            #expect(response?.header("connection") == "close")
            #expect(response?.text.hasPrefix(#"{"error":{"code":""# + code + #"","message":""#) == true)
            #expect(client.isClosedByPeer())
        }
    }

    @Test func keepsServingOthersWhileOneClientSendsGarbage() throws {
        try withServer(echoRouter()) { _, port in
            let good = try TestClient(port: port)
            let bad = try TestClient(port: port)
            let slow = try TestClient(port: port)
            slow.send("GET /hel")  // an incomplete head must not block anyone
            bad.send("\u{00}\u{01}garbage\r\n\r\n")
            good.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(good.readResponse()?.text == "hello")
            #expect(bad.readResponse()?.status == 400)
            slow.send("lo HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(slow.readResponse()?.text == "hello")
        }
    }
}

@Suite(.serialized)
struct HTTPServerSplitTests {
    /// Every cut of two pipelined requests, sent as two writes with a pause between them,
    /// yields the same two responses: the server's unparsed-tail handling is split-invariant.
    @Test func everyCutOfPipelinedRequestsGetsTheSameAnswers() throws {
        let input = Array("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /jobs/7/events?after=2 HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        try withServer(echoRouter()) { _, port in
            for cut in stride(from: 1, to: input.count, by: 3) {
                let client = try TestClient(port: port)
                var one: Int32 = 1
                setsockopt(client.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                client.send(Array(input[..<cut]))
                pause(milliseconds: 2)
                client.send(Array(input[cut...]))
                #expect(client.readResponse()?.text == "abcde", "cut at \(cut)")
                #expect(client.readResponse()?.text == "job 7 after 2", "cut at \(cut)")
            }
        }
    }

    @Test func acceptsARequestSentOneByteAtATime() throws {
        try withServer(echoRouter()) { _, port in
            let client = try TestClient(port: port)
            var one: Int32 = 1
            setsockopt(client.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            for byte in Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz".utf8) {
                client.send([byte])
                pause(milliseconds: 1)
            }
            #expect(client.readResponse()?.text == "xyz")
        }
    }
}
