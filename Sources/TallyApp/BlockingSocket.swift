#if canImport(Glibc)
import Glibc
#endif

/// Why a client connection failed, with a stable code.
public struct ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `client.resolve`, `client.connect`, `client.timeout`, `client.closed`, `client.io`,
    /// `client.handshake`, `client.protocol`.
    public let code: String
    /// Details.
    public let message: String

    /// Creates an error.
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { code + ": " + message }
}

/// A blocking TCP connection with deadlines, for the command-line client and for tests: not
/// for the server, which never blocks.
public final class BlockingSocket {
    /// The descriptor; -1 once closed.
    public private(set) var fd: Int32

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit { close() }

    /// Connects to `host:port` (a name or an address), trying each address in turn.
    /// `receiveBuffer` fixes the kernel's receive buffer (tests of slow readers).
    public static func connect(host: String, port: Int, timeout: Double = 5,
                               receiveBuffer: Int? = nil) throws(ClientError) -> BlockingSocket {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ClientError("client.resolve", "Cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = 0
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if fd < 0 {
                lastError = errno
                continue
            }
            let socket = BlockingSocket(fd: fd)
            if var size = receiveBuffer.map(Int32.init(clamping:)) {
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            // Non-blocking connect bounded by poll, then back to blocking with read deadlines.
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                guard errno == EINPROGRESS else {
                    lastError = errno
                    continue
                }
                var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                guard poll(&entry, 1, Int32(timeout * 1000)) == 1 else {
                    lastError = ETIMEDOUT
                    continue
                }
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                guard soError == 0 else {
                    lastError = soError
                    continue
                }
            }
            _ = fcntl(fd, F_SETFL, flags)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return socket
        }
        throw ClientError("client.connect", "Cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return send(fd, base + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw ClientError("client.io", "send: \(String(cString: strerror(errno)))")
            }
            offset += count
        }
    }

    /// Reads what is available, waiting up to `timeout` seconds; empty at end of stream.
    public func read(max limit: Int = 65536, timeout: Double) throws(ClientError) -> [UInt8] {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&entry, 1, Int32(max(0, timeout) * 1000))
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { throw ClientError("client.timeout", "No data within \(timeout) s.") }
            break
        }
        var buffer = [UInt8](repeating: 0, count: limit)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, limit, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return [] }
                throw ClientError("client.io", "recv: \(String(cString: strerror(errno)))")
            }
            return Array(buffer[0..<count])
        }
    }

    /// Closes the connection; safe to call twice.
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}

/// Splits `http://host:port/path` or `ws://…` into its parts.
public struct ServerURL: Sendable, Equatable {
    /// `http`, `https`, `ws` or `wss`.
    public var scheme: String
    /// The host name or address (IPv6 without brackets).
    public var host: String
    /// The port (default 80 or 443).
    public var port: Int
    /// The path prefix, without a trailing slash.
    public var path: String

    /// Parses `text`; nil when it is not an absolute http(s) or ws(s) URL.
    public init?(_ text: String) {
        guard let schemeEnd = text.firstRange(of: "://") else { return nil }
        scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard ["http", "https", "ws", "wss"].contains(scheme) else { return nil }
        var rest = text[schemeEnd.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash]
        rest = rest[slash...]
        path = rest.hasSuffix("/") ? String(rest.dropLast()) : String(rest)
        port = scheme == "https" || scheme == "wss" ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            authority = authority[authority.index(after: close)...]
            if authority.hasPrefix(":") {
                guard let value = Int(authority.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { return nil }
    }
}
