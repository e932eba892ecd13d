import Auth
import Glibc
import Testing
@testable import HTTPServer

/// A blocking TLS client over a loopback socket: OpenSSL's client side through `TLSEngine`.
private final class TLSTestClient {
    let socket: TestClient
    let engine: TLSEngine
    private var plaintext: [UInt8] = []
    private(set) var peerClosed = false

    init(port: Int, trusting certificate: SelfSignedCertificate, serverName: String = "localhost") throws {
        socket = try TestClient(port: port, receiveTimeoutSeconds: 5)
        engine = try TLSEngine(context: try TLSContext.client(trustedCertificatePEM: certificate.certificatePEM), serverName: serverName)
    }

    /// Sends what the engine has queued, then reads and decrypts one batch from the socket.
    @discardableResult
    func exchange() throws -> Bool {
        let outbound = engine.takeOutbound()
        if !outbound.isEmpty { socket.send(outbound) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        let result = try engine.receive(Array(chunk[0..<count]))
        plaintext += result.plaintext
        peerClosed = peerClosed || result.peerClosed
        let reply = engine.takeOutbound()
        if !reply.isEmpty { socket.send(reply) }
        return true
    }

    func handshake() throws {
        while !engine.isHandshakeComplete {
            guard try exchange() else { throw TLSError(.handshakeFailed, "connection closed during the handshake") }
        }
    }

    /// Sends a request and reads until the response holds `marker` (or the peer stops).
    func request(_ text: String, until marker: String) throws -> String {
        try engine.send(Array(text.utf8))
        while !String(decoding: plaintext, as: UTF8.self).contains(marker) {
            guard try exchange() else { break }
        }
        defer { plaintext = [] }
        return String(decoding: plaintext, as: UTF8.self)
    }
}

struct TLSServerTests {
    static let certificate = try? SelfSignedCertificate.generate()

    private func tlsConfiguration(_ configuration: inout HTTPServerConfiguration) {
        guard let certificate = Self.certificate else { return }
        configuration.tls = try? TLSContext.server(certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM)
    }

    @Test func servesHTTPSOverLoopback() throws {
        let certificate = try #require(Self.certificate)
        try withServer(echoRouter(), configure: tlsConfiguration) { _, port in
            let client = try TLSTestClient(port: port, trusting: certificate)
            try client.handshake()
            #expect(client.engine.negotiatedProtocol == "http/1.1")
            #expect(client.engine.protocolVersion == "TLSv1.3")
            let first = try client.request("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n", until: "hello")
            #expect(first.hasPrefix("HTTP/1.1 200"))
            // Keep-alive over the same TLS session, with a body bigger than one TLS record.
            let body = String(repeating: "x", count: 40_000)
            let second = try client.request("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body,
                                            until: body)
            #expect(second.hasPrefix("HTTP/1.1 200") && second.hasSuffix(body))
            // A clean close: our close_notify is answered with the server's.
            client.engine.close()
            while !client.peerClosed, try client.exchange() {}
            #expect(client.peerClosed)
        }
    }

    @Test func dropsPlainHTTPOnTheTLSPort() throws {
        try withServer(echoRouter(), configure: tlsConfiguration) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = client.readToEnd()
            // At most a TLS alert record (content type 21), never an HTTP response.
            #expect(answer.isEmpty || answer.first == 21)
        }
    }

    @Test func clientRefusesWrongHostName() throws {
        let certificate = try #require(Self.certificate)
        try withServer(echoRouter(), configure: tlsConfiguration) { _, port in
            let client = try TLSTestClient(port: port, trusting: certificate, serverName: "tally.example")
            #expect(throws: TLSError.self) { try client.handshake() }
        }
    }
}

struct ConnectionLimitTests {
    @Test func refusesConnectionsBeyondThePerAddressLimit() throws {
        try withServer(echoRouter(), configure: { $0.maxConnectionsPerAddress = 2 }) { server, port in
            let first = try TestClient(port: port)
            let second = try TestClient(port: port)
            #expect(eventually { server.connectionLimiter.openConnections == 2 })
            let third = try TestClient(port: port)
            let refused = try #require(third.readResponse())
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.text.contains("server.unavailable"))
            #expect(server.connectionLimiter.refusedForAddress == 1)
            // The admitted ones still work, and a slot frees up when one leaves.
            first.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(first.readResponse()?.text == "hello")
            second.shutdownWrite()
            #expect(second.isClosedByPeer())
            #expect(eventually { server.connectionLimiter.openConnections == 1 })
            let fourth = try TestClient(port: port)
            fourth.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(fourth.readResponse()?.status == 200)
        }
    }

    @Test func answersRefusedTLSConnectionsWith503AfterTheHandshake() throws {
        let certificate = try #require(TLSServerTests.certificate)
        let configure: (inout HTTPServerConfiguration) -> Void = { configuration in
            configuration.tls = try? TLSContext.server(certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM)
            configuration.maxConnectionsPerAddress = 1
        }
        try withServer(echoRouter(), configure: configure) { server, port in
            let first = try TLSTestClient(port: port, trusting: certificate)
            try first.handshake()
            #expect(eventually { server.connectionLimiter.openConnections == 1 })
            let second = try TLSTestClient(port: port, trusting: certificate)
            try second.handshake()
            let refused = try second.request("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n", until: "}}")
            #expect(refused.hasPrefix("HTTP/1.1 503"))
            #expect(refused.contains("Retry-After: 1") && refused.contains("server.unavailable"))
            // Then a clean close, and the refused connection's slot is not counted.
            while !second.peerClosed, try second.exchange() {}
            #expect(second.peerClosed)
            #expect(server.connectionLimiter.refusedForAddress == 1)
            let served = try first.request("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n", until: "hello")
            #expect(served.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func shedsLoadBeyondTheTotalLimit() throws {
        try withServer(echoRouter(), configure: { $0.maxConnections = 1 }) { server, port in
            let first = try TestClient(port: port)
            #expect(eventually { server.connectionLimiter.openConnections == 1 })
            let second = try TestClient(port: port)
            #expect(second.readResponse()?.status == 503)
            #expect(server.connectionLimiter.refusedForLoad == 1)
            first.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(first.readResponse()?.status == 200)
        }
    }
}
