import COpenSSL
import Testing
@testable import Auth

/// A server and a client engine wired back to back in memory.
private struct Pair {
    let server: TLSEngine
    let client: TLSEngine
    var serverReceived: [UInt8] = []
    var clientReceived: [UInt8] = []
    var serverPeerClosed = false
    var clientPeerClosed = false

    init(server: TLSContext, client: TLSContext, serverName: String = "localhost") throws {
        self.server = try TLSEngine(context: server)
        self.client = try TLSEngine(context: client, serverName: serverName)
    }

    var clientSSL: OpaquePointer? { client.ssl }

    /// Moves bytes both ways until nothing is in flight, in chunks of `chunk` bytes.
    mutating func pump(chunk: Int = Int.max) throws {
        var rounds = 0
        while server.hasOutbound || client.hasOutbound {
            rounds += 1
            guard rounds < 100_000 else { throw TLSError(.protocolError, "pump did not settle") }
            if client.hasOutbound {
                let result = try server.receive(client.takeOutbound(maxBytes: chunk))
                serverReceived += result.plaintext
                serverPeerClosed = serverPeerClosed || result.peerClosed
            }
            if server.hasOutbound {
                let result = try client.receive(server.takeOutbound(maxBytes: chunk))
                clientReceived += result.plaintext
                clientPeerClosed = clientPeerClosed || result.peerClosed
            }
        }
    }
}

struct TLSEngineTests {
    static let certificate: SelfSignedCertificate? = try? SelfSignedCertificate.generate()

    private func contexts(maximumVersion: Int32? = nil) throws -> (TLSContext, TLSContext) {
        let certificate = try #require(Self.certificate)
        let server = try TLSContext.server(certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM)
        let client = try TLSContext.client(trustedCertificatePEM: certificate.certificatePEM, maximumVersion: maximumVersion)
        return (server, client)
    }

    @Test func handshakesAndExchangesData() throws {
        let (serverContext, clientContext) = try contexts()
        var pair = try Pair(server: serverContext, client: clientContext)
        try pair.client.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        try pair.pump()
        #expect(pair.server.isHandshakeComplete && pair.client.isHandshakeComplete)
        #expect(pair.server.protocolVersion == "TLSv1.3")
        #expect(pair.server.negotiatedProtocol == "http/1.1")
        #expect(pair.client.negotiatedProtocol == "http/1.1")
        #expect(pair.serverReceived == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try pair.server.send(big)
        try pair.pump()
        #expect(pair.clientReceived == big)
    }

    @Test func survivesOneByteAtATime() throws {
        let (serverContext, clientContext) = try contexts()
        var pair = try Pair(server: serverContext, client: clientContext)
        let message = Array("partial records are reassembled".utf8)
        try pair.client.send(message)
        try pair.pump(chunk: 1)
        #expect(pair.serverReceived == message)
        try pair.server.send(message)
        try pair.pump(chunk: 7)
        #expect(pair.clientReceived == message)
    }

    @Test func negotiatesTLS12WithModernCipher() throws {
        let (serverContext, clientContext) = try contexts(maximumVersion: Int32(TLS1_2_VERSION))
        var pair = try Pair(server: serverContext, client: clientContext)
        try pair.client.send([1, 2, 3])
        try pair.pump()
        #expect(pair.server.protocolVersion == "TLSv1.2")
        #expect(pair.serverReceived == [1, 2, 3])
    }

    @Test func refusesTLS11() throws {
        let certificate = try #require(Self.certificate)
        let serverContext = try TLSContext.server(certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM)
        let clientContext = try TLSContext.client(trustedCertificatePEM: certificate.certificatePEM)
        // Let this client speak only TLS 1.1 (OpenSSL's default security level may refuse to
        // build the hello at all; either way no session may be established).
        _ = SSL_CTX_ctrl(clientContext.context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_1_VERSION), nil)
        _ = SSL_CTX_ctrl(clientContext.context, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(TLS1_1_VERSION), nil)
        var established = false
        do {
            var pair = try Pair(server: serverContext, client: clientContext)
            try pair.pump()
            established = pair.server.isHandshakeComplete
        } catch {
            established = false
        }
        #expect(!established)
    }

    @Test func refusesRenegotiation() throws {
        let (serverContext, clientContext) = try contexts(maximumVersion: Int32(TLS1_2_VERSION))
        var pair = try Pair(server: serverContext, client: clientContext)
        try pair.client.send([1])
        try pair.pump()
        #expect(pair.server.protocolVersion == "TLSv1.2")
        // Our client context refuses renegotiation too; let this one ask for it.
        let ssl = try #require(pair.clientSSL)
        _ = SSL_clear_options(ssl, 1 << 30)
        #expect(SSL_renegotiate(ssl) == 1)
        _ = SSL_do_handshake(ssl)
        ERR_clear_error()
        // The server answers the new ClientHello with a no_renegotiation alert, which this
        // client treats as fatal; the server itself stays healthy.
        let error = #expect(throws: TLSError.self) { try pair.pump() }
        #expect(error?.message.contains("no renegotiation") == true)
        #expect(!pair.server.failed)
        #expect(SSL_renegotiate_pending(ssl) == 1)
    }

    @Test func closesCleanlyWithCloseNotify() throws {
        let (serverContext, clientContext) = try contexts()
        var pair = try Pair(server: serverContext, client: clientContext)
        try pair.client.send([1])
        try pair.pump()
        pair.client.close()
        try pair.pump()
        #expect(pair.serverPeerClosed)
        #expect(pair.server.isClosing)
        #expect(pair.clientPeerClosed)
        #expect(throws: TLSError.self) { try pair.server.send([9]) }
    }

    @Test func holdsPlaintextSentBeforeHandshake() throws {
        let (serverContext, clientContext) = try contexts()
        var pair = try Pair(server: serverContext, client: clientContext)
        try pair.server.send(Array("early".utf8))
        try pair.client.send([0])
        try pair.pump()
        #expect(pair.clientReceived == Array("early".utf8))
    }

    @Test func rejectsGarbageAndReportsHandshakeFailure() throws {
        let (serverContext, _) = try contexts()
        let server = try TLSEngine(context: serverContext)
        #expect(throws: TLSError.self) { _ = try server.receive(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) }
        #expect(server.failed)
        #expect(throws: TLSError.self) { _ = try server.receive([0x16]) }
    }

    @Test func clientRefusesUntrustedCertificate() throws {
        let (serverContext, _) = try contexts()
        let other = try SelfSignedCertificate.generate()
        let clientContext = try TLSContext.client(trustedCertificatePEM: other.certificatePEM)
        var pair = try Pair(server: serverContext, client: clientContext)
        #expect(throws: TLSError.self) { try pair.pump() }
        #expect(!pair.client.isHandshakeComplete)
    }

    @Test func clientChecksHostName() throws {
        let (serverContext, clientContext) = try contexts()
        var pair = try Pair(server: serverContext, client: clientContext, serverName: "other.example")
        #expect(throws: TLSError.self) { try pair.pump() }
    }

    @Test func loadsPEMFilesWithClearErrors() throws {
        let certificate = try #require(Self.certificate)
        let base = "/tmp/tally-tls-\(UInt32.random(in: 0...UInt32.max))"
        try writeFile(base + ".crt", certificate.certificatePEM)
        try writeFile(base + ".key", certificate.privateKeyPEM)
        try writeFile(base + ".bad", "not a pem file\n")
        let other = try SelfSignedCertificate.generate()
        try writeFile(base + ".other.key", other.privateKeyPEM)
        defer { for suffix in [".crt", ".key", ".bad", ".other.key"] { removeFile(base + suffix) } }

        _ = try TLSContext.server(certificateChainPath: base + ".crt", privateKeyPath: base + ".key")
        func code(_ certificate: String, _ key: String) -> TLSError.Code? {
            do throws(TLSError) {
                _ = try TLSContext.server(certificateChainPath: certificate, privateKeyPath: key)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code(base + ".missing", base + ".key") == .unreadableFile)
        #expect(code(base + ".bad", base + ".key") == .badCertificate)
        #expect(code(base + ".crt", base + ".bad") == .badPrivateKey)
        #expect(code(base + ".crt", base + ".other.key") == .keyMismatch)
    }
}
