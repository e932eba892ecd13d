import COpenSSL

/// A TLS failure: configuration at start, or a peer's handshake or record that went wrong.
public struct TLSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stable reason.
    public enum Code: String, Sendable {
        /// A certificate or key file that is missing or unreadable.
        case unreadableFile = "tls.unreadable_file"
        /// The certificate file holds no usable PEM certificate chain.
        case badCertificate = "tls.bad_certificate"
        /// The key file holds no usable PEM private key (or it is encrypted).
        case badPrivateKey = "tls.bad_private_key"
        /// The private key does not belong to the certificate.
        case keyMismatch = "tls.key_mismatch"
        /// OpenSSL could not set up a context or a connection.
        case setupFailed = "tls.setup_failed"
        /// The peer's handshake failed (protocol, cipher, certificate, or garbage).
        case handshakeFailed = "tls.handshake_failed"
        /// A bad record after the handshake (tampering, garbage, refused renegotiation).
        case protocolError = "tls.protocol_error"
        /// Plaintext written after the connection was closed.
        case closed = "tls.closed"
    }

    /// The stable reason.
    public let code: Code
    /// What happened, with OpenSSL's own error text where it has one.
    public let message: String

    /// Creates an error with its code and message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Builds an error from OpenSSL's thread-local error queue, emptying it.
    static func fromQueue(_ code: Code, _ context: String) -> TLSError {
        let details = drainOpenSSLErrors()
        return TLSError(code, details.isEmpty ? context : context + " (" + details + ")")
    }
}

/// Empties OpenSSL's error queue into one line.
func drainOpenSSLErrors() -> String {
    var messages: [String] = []
    while true {
        let error = ERR_get_error()
        if error == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(error, $0.baseAddress, $0.count) }
        messages.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return messages.joined(separator: "; ")
}

/// Option and mode bits that OpenSSL defines as function-like macros Swift cannot import.
private enum OpenSSLBits {
    /// SSL_OP_NO_RENEGOTIATION: refuse TLS 1.2 renegotiation both ways (a CPU-exhaustion
    /// vector and a source of past vulnerabilities); TLS 1.3 has no renegotiation at all.
    static let noRenegotiation: UInt64 = 1 << 30
    /// SSL_OP_NO_COMPRESSION: TLS compression enables CRIME.
    static let noCompression: UInt64 = 1 << 17
    /// SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: our plaintext
    /// buffers move between calls.
    static let writeModes: Int = 0x1 | 0x2
}

/// Modern TLS 1.2 cipher suites (forward secrecy and AEAD only); TLS 1.3 suites keep
/// OpenSSL's defaults, which are all modern.
private let tls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/// Picks `http/1.1` from the client's ALPN list (RFC 7301); any other list gets no ALPN
/// answer, and the connection carries HTTP/1.1 anyway.
private let selectHTTP1: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?) -> Int32 = { _, out, outLength, offered, offeredLength, _ in
    guard let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
    let wanted: [UInt8] = Array("http/1.1".utf8)
    var index = 0
    let total = Int(offeredLength)
    while index < total {
        let length = Int(offered[index])
        let start = index + 1
        guard start + length <= total else { break }
        if length == wanted.count && (0..<length).allSatisfy({ offered[start + $0] == wanted[$0] }) {
            out.pointee = offered + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}

/// An OpenSSL `SSL_CTX`: certificate, key, protocol and cipher settings shared by every
/// connection. Immutable once built; OpenSSL makes creating connections from one context
/// thread-safe, which is why it may be shared between event loops.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    /// Whether connections made from it act as the server side.
    public let isServer: Bool

    private init(server: Bool) throws(TLSError) {
        guard let context = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.fromQueue(.setupFailed, "SSL_CTX_new failed")
        }
        self.context = context
        self.isServer = server
        _ = SSL_CTX_set_options(context, OpenSSLBits.noRenegotiation | OpenSSLBits.noCompression)
        _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE, OpenSSLBits.writeModes, nil)
        guard SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil) == 1,
              SSL_CTX_set_cipher_list(context, tls12Ciphers) == 1 else {
            throw TLSError.fromQueue(.setupFailed, "cannot set the protocol and cipher defaults")
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// A server context from PEM files: the certificate chain (leaf first) and its
    /// unencrypted private key. Each problem gets its own error saying which file is wrong.
    public static func server(certificateChainPath: String, privateKeyPath: String) throws(TLSError) -> TLSContext {
        for (path, what) in [(certificateChainPath, "certificate"), (privateKeyPath, "private key")] where !SystemFile.isReadable(path) {
            throw TLSError(.unreadableFile, "Cannot read the \(what) file '\(path)'.")
        }
        let tls = try TLSContext(server: true)
        guard SSL_CTX_use_certificate_chain_file(tls.context, certificateChainPath) == 1 else {
            throw TLSError.fromQueue(.badCertificate, "'\(certificateChainPath)' holds no usable PEM certificate")
        }
        guard let keyText = SystemFile.read(path: privateKeyPath, limit: 1 << 20),
              let key = PEM.readPrivateKey(String(decoding: keyText, as: UTF8.self)) else {
            throw TLSError.fromQueue(.badPrivateKey, "'\(privateKeyPath)' holds no usable unencrypted PEM private key")
        }
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_PrivateKey(tls.context, key) == 1 else {
            throw TLSError.fromQueue(.keyMismatch, "the private key in '\(privateKeyPath)' does not belong to the certificate in '\(certificateChainPath)'")
        }
        try tls.finishServerSetup()
        return tls
    }

    /// A server context from PEM text in memory (a generated certificate, or a secret store).
    public static func server(certificatePEM: String, privateKeyPEM: String) throws(TLSError) -> TLSContext {
        let tls = try TLSContext(server: true)
        guard let certificate = PEM.readCertificate(certificatePEM) else {
            throw TLSError.fromQueue(.badCertificate, "no usable PEM certificate")
        }
        defer { X509_free(certificate) }
        guard let key = PEM.readPrivateKey(privateKeyPEM) else {
            throw TLSError.fromQueue(.badPrivateKey, "no usable unencrypted PEM private key")
        }
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_certificate(tls.context, certificate) == 1 else {
            throw TLSError.fromQueue(.badCertificate, "the certificate was refused")
        }
        guard SSL_CTX_use_PrivateKey(tls.context, key) == 1 else {
            throw TLSError.fromQueue(.keyMismatch, "the private key does not belong to the certificate")
        }
        try tls.finishServerSetup()
        return tls
    }

    private func finishServerSetup() throws(TLSError) {
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.fromQueue(.keyMismatch, "the private key does not match the certificate")
        }
        SSL_CTX_set_alpn_select_cb(context, selectHTTP1, nil)
    }

    /// A client context (for `tally` talking to a TLS server, and for tests). With
    /// `trustedCertificatePEM` only that certificate is trusted; otherwise the system's
    /// default trust store is. `maximumVersion` pins an older protocol for tests.
    public static func client(trustedCertificatePEM: String? = nil, verifyPeer: Bool = true, maximumVersion: Int32? = nil) throws(TLSError) -> TLSContext {
        let tls = try TLSContext(server: false)
        if verifyPeer {
            SSL_CTX_set_verify(tls.context, SSL_VERIFY_PEER, nil)
            if let trustedCertificatePEM {
                guard let certificate = PEM.readCertificate(trustedCertificatePEM) else {
                    throw TLSError.fromQueue(.badCertificate, "no usable trusted PEM certificate")
                }
                defer { X509_free(certificate) }
                guard X509_STORE_add_cert(SSL_CTX_get_cert_store(tls.context), certificate) == 1 else {
                    throw TLSError.fromQueue(.badCertificate, "the trusted certificate was refused")
                }
            } else {
                _ = SSL_CTX_set_default_verify_paths(tls.context)
            }
        }
        if let maximumVersion {
            _ = SSL_CTX_ctrl(tls.context, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(maximumVersion), nil)
        }
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        // SSL_CTX_set_alpn_protos returns 0 on success, unlike its neighbours.
        guard SSL_CTX_set_alpn_protos(tls.context, alpn, UInt32(alpn.count)) == 0 else {
            throw TLSError.fromQueue(.setupFailed, "cannot set ALPN")
        }
        return tls
    }
}

/// PEM helpers over memory BIOs.
enum PEM {
    static func readCertificate(_ text: String) -> OpaquePointer? {
        withMemoryBIO(text) { PEM_read_bio_X509($0, nil, nil, nil) }
    }

    static func readPrivateKey(_ text: String) -> OpaquePointer? {
        withMemoryBIO(text) { PEM_read_bio_PrivateKey($0, nil, nil, nil) }
    }

    private static func withMemoryBIO(_ text: String, _ body: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }

    /// Everything written to a memory BIO so far, as text.
    static func drain(_ bio: OpaquePointer) -> String {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
            if count <= 0 { break }
            out.append(contentsOf: chunk[0..<Int(count)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// What one call to `TLSEngine.receive` produced.
public struct TLSReceiveResult: Equatable, Sendable {
    /// Decrypted application bytes, in order (possibly empty: a partial record, or only
    /// handshake traffic).
    public var plaintext: [UInt8] = []
    /// True on the call that completed the handshake.
    public var handshakeCompleted = false
    /// True once the peer has sent close_notify: no more plaintext will come.
    public var peerClosed = false
}

/// One TLS connection as a byte transform, with no socket and no blocking: the event loop
/// feeds it ciphertext it read (`receive`), gives it plaintext to send (`send`), and writes
/// whatever `takeOutbound` returns. Handshake, partial records, alerts and close_notify all
/// happen inside; the loop only moves bytes. Owned by one loop thread, hence not Sendable.
public final class TLSEngine {
    let ssl: OpaquePointer
    private let incoming: OpaquePointer
    private let outgoing: OpaquePointer
    private var pendingPlaintext: [UInt8] = []
    private var readBuffer = [UInt8](repeating: 0, count: 16 * 1024)
    /// Whether the handshake has completed.
    public private(set) var isHandshakeComplete = false
    /// Whether we have sent close_notify (after `close()`, or in answer to the peer's).
    public private(set) var isClosing = false
    /// Whether the peer has sent close_notify.
    public private(set) var peerClosed = false
    /// Whether a fatal error happened; the connection must then be dropped after flushing
    /// `takeOutbound()` (which may hold an alert telling the peer why).
    public private(set) var failed = false

    /// Creates a connection. A client sends its ClientHello right away (see `takeOutbound`);
    /// `serverName` sets SNI and the name checked against the server's certificate.
    public init(context: TLSContext, serverName: String? = nil) throws(TLSError) {
        guard let ssl = SSL_new(context.context) else {
            throw TLSError.fromQueue(.setupFailed, "SSL_new failed")
        }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.fromQueue(.setupFailed, "BIO_new failed")
        }
        // SSL_free releases both BIOs from here on.
        SSL_set_bio(ssl, incoming, outgoing)
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        if context.isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let serverName {
                _ = serverName.withCString { name in
                    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: name))
                }
                if StartupCheck.isLoopback(serverName) || serverName.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) {
                    _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
                } else {
                    _ = SSL_set1_host(ssl, serverName)
                }
            }
            _ = try handshake()
        }
    }

    deinit {
        SSL_free(ssl)
    }

    /// The protocol ALPN settled on (`http/1.1`), or nil.
    public var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The protocol version in use, such as `TLSv1.3`.
    public var protocolVersion: String {
        guard let name = SSL_get_version(ssl) else { return "unknown" }
        return String(cString: name)
    }

    /// Whether ciphertext is waiting to be written to the socket.
    public var hasOutbound: Bool { BIO_ctrl_pending(outgoing) > 0 }

    /// Takes up to `maxBytes` of ciphertext to write to the socket. What is not taken stays
    /// queued inside, in order, for the next call.
    public func takeOutbound(maxBytes: Int = Int.max) -> [UInt8] {
        let pending = min(Int(BIO_ctrl_pending(outgoing)), maxBytes)
        guard pending > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: pending)
        let count = out.withUnsafeMutableBytes { BIO_read(outgoing, $0.baseAddress, Int32(clamping: $0.count)) }
        return count > 0 ? Array(out.prefix(Int(count))) : []
    }

    /// Feeds ciphertext read from the socket, and returns what it decrypted to. Any amount
    /// is fine, down to one byte at a time. After an error, flush `takeOutbound()` (an alert)
    /// and close the socket.
    public func receive(_ ciphertext: UnsafeRawBufferPointer) throws(TLSError) -> TLSReceiveResult {
        var result = TLSReceiveResult()
        guard !failed else { throw TLSError(.protocolError, "The connection already failed.") }
        var offset = 0
        while offset < ciphertext.count {
            let written = BIO_write(incoming, ciphertext.baseAddress.map { $0 + offset }, Int32(clamping: ciphertext.count - offset))
            guard written > 0 else { throw fail(.setupFailed, "BIO_write failed") }
            offset += Int(written)
        }
        if !isHandshakeComplete {
            guard try handshake() else { return result }
            result.handshakeCompleted = true
        }
        try readAvailable(into: &result)
        result.peerClosed = peerClosed
        return result
    }

    /// `receive` for an array.
    public func receive(_ ciphertext: [UInt8]) throws(TLSError) -> TLSReceiveResult {
        var outcome: Result<TLSReceiveResult, TLSError> = .success(TLSReceiveResult())
        ciphertext.withUnsafeBytes { bytes in
            do throws(TLSError) { outcome = .success(try receive(bytes)) } catch { outcome = .failure(error) }
        }
        return try outcome.get()
    }

    /// Encrypts plaintext for the peer; the ciphertext comes out of `takeOutbound`. Bytes
    /// sent before the handshake completes are held and go out right after it.
    public func send(_ plaintext: UnsafeRawBufferPointer) throws(TLSError) {
        guard !failed else { throw TLSError(.protocolError, "The connection already failed.") }
        guard !isClosing else { throw TLSError(.closed, "The connection is closing.") }
        guard isHandshakeComplete else {
            // Only a server's early error answer lands here; a peer that never finishes its
            // handshake must not make us hold an unbounded amount.
            guard pendingPlaintext.count + plaintext.count <= Self.maxPendingPlaintext else {
                throw fail(.protocolError, "too much plaintext before the handshake completed")
            }
            pendingPlaintext.append(contentsOf: plaintext)
            return
        }
        try write(plaintext)
    }

    /// Most plaintext held while the handshake is still running.
    public static let maxPendingPlaintext = 256 * 1024

    /// `send` for an array.
    public func send(_ plaintext: [UInt8]) throws(TLSError) {
        var outcome: Result<Void, TLSError> = .success(())
        plaintext.withUnsafeBytes { bytes in
            do throws(TLSError) { try send(bytes) } catch { outcome = .failure(error) }
        }
        try outcome.get()
    }

    /// Starts a clean shutdown: queues close_notify (RFC 8446 §6.1). The socket may be
    /// closed once `takeOutbound` has been flushed; waiting for the peer's answer is not
    /// required.
    public func close() {
        guard !isClosing, !failed else { return }
        isClosing = true
        ERR_clear_error()
        if isHandshakeComplete {
            _ = SSL_shutdown(ssl)
        }
        ERR_clear_error()
    }

    /// Drives the handshake; true once complete.
    private func handshake() throws(TLSError) -> Bool {
        ERR_clear_error()
        let status = SSL_do_handshake(ssl)
        if status == 1 {
            isHandshakeComplete = true
            if !pendingPlaintext.isEmpty {
                let held = pendingPlaintext
                pendingPlaintext = []
                var outcome: Result<Void, TLSError> = .success(())
                held.withUnsafeBytes { bytes in
                    do throws(TLSError) { try write(bytes) } catch { outcome = .failure(error) }
                }
                try outcome.get()
            }
            return true
        }
        let error = SSL_get_error(ssl, status)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return false }
        throw fail(.handshakeFailed, "handshake failed")
    }

    private func readAvailable(into result: inout TLSReceiveResult) throws(TLSError) {
        while !peerClosed {
            ERR_clear_error()
            let count = readBuffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 {
                result.plaintext.append(contentsOf: readBuffer[0..<Int(count)])
                continue
            }
            let error = SSL_get_error(ssl, count)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return
            case SSL_ERROR_ZERO_RETURN:
                peerClosed = true
                if !isClosing {
                    // Answer close_notify with ours, as RFC 8446 §6.1 asks.
                    isClosing = true
                    _ = SSL_shutdown(ssl)
                }
                ERR_clear_error()
                return
            default:
                throw fail(.protocolError, "bad TLS record")
            }
        }
    }

    private func write(_ plaintext: UnsafeRawBufferPointer) throws(TLSError) {
        var offset = 0
        while offset < plaintext.count {
            ERR_clear_error()
            let count = SSL_write(ssl, plaintext.baseAddress.map { $0 + offset }, Int32(clamping: plaintext.count - offset))
            if count > 0 {
                offset += Int(count)
                continue
            }
            // A memory BIO always takes every byte, so any other answer is a real failure.
            throw fail(.protocolError, "SSL_write failed")
        }
    }

    private func fail(_ code: TLSError.Code, _ context: String) -> TLSError {
        failed = true
        return TLSError.fromQueue(code, context)
    }
}
