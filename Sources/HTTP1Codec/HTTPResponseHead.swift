/// A response status line and header fields, serialized by `HTTPResponseSerializer`.
public struct HTTPResponseHead: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields in order. `Content-Length`, `Transfer-Encoding` and `Connection` are
    /// written by the serializer from its arguments; do not add them here.
    public var headers: [(name: String, value: String)]

    /// Creates a head.
    public init(status: Int, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.headers = headers
    }

    /// Appends a header field.
    public mutating func add(_ name: String, _ value: String) {
        headers.append((name, value))
    }

    /// The first value of `name` (case-insensitive), or nil.
    public func value(of name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// How a response body is framed on the wire.
public enum HTTPResponseFraming: Sendable, Equatable {
    /// `Content-Length: n`.
    case length(Int)
    /// `Transfer-Encoding: chunked`; the body follows as chunks and a last chunk.
    case chunked
    /// No body and no length header (1xx, 204, 304 and upgrades).
    case none
}

/// Writes response heads and chunk framing into byte arrays (RFC 9112 §4, §7.1).
public enum HTTPResponseSerializer {
    /// Appends the status line, the given fields, the framing and connection fields, and the
    /// empty line.
    public static func writeHead(_ head: HTTPResponseHead, framing: HTTPResponseFraming, keepAlive: Bool, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(head.status, to: &buffer)
        buffer.append(0x20)
        buffer.append(contentsOf: reasonPhrase(head.status).utf8)
        buffer.append(contentsOf: crlf)
        for (name, value) in head.headers {
            buffer.append(contentsOf: name.utf8)
            buffer.append(contentsOf: ": ".utf8)
            // A CR or LF in a value would split the response; drop such bytes.
            for byte in value.utf8 where byte != 0x0D && byte != 0x0A { buffer.append(byte) }
            buffer.append(contentsOf: crlf)
        }
        switch framing {
        case .length(let count):
            buffer.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(count, to: &buffer)
            buffer.append(contentsOf: crlf)
        case .chunked:
            buffer.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        case .none:
            break
        }
        if head.status != 101 {
            buffer.append(contentsOf: keepAlive ? "Connection: keep-alive\r\n".utf8 : "Connection: close\r\n".utf8)
        }
        buffer.append(contentsOf: crlf)
    }

    /// The head as a new array.
    public static func head(_ head: HTTPResponseHead, framing: HTTPResponseFraming, keepAlive: Bool) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(128 + head.headers.count * 32)
        writeHead(head, framing: framing, keepAlive: keepAlive, into: &buffer)
        return buffer
    }

    /// Appends the line that opens a chunk of `count` bytes (`count` must be positive).
    public static func writeChunkHeader(count: Int, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: String(count, radix: 16).utf8)
        buffer.append(contentsOf: crlf)
    }

    /// The CRLF that closes a chunk's data.
    public static let chunkTrailer: [UInt8] = [0x0D, 0x0A]
    /// The last chunk with an empty trailer section.
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// Frames `payload` as one complete chunk (header, data, CRLF).
    public static func chunk(_ payload: UnsafeRawBufferPointer) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(payload.count + 12)
        writeChunkHeader(count: payload.count, into: &buffer)
        buffer.append(contentsOf: payload)
        buffer.append(contentsOf: crlf)
        return buffer
    }

    static let crlf: [UInt8] = [0x0D, 0x0A]

    static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        guard value > 0 else {
            buffer.append(value == 0 ? 0x30 : 0x3F)
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            while rest > 0 {
                raw[count] = UInt8(0x30 + rest % 10)
                rest /= 10
                count += 1
            }
            while count > 0 {
                count -= 1
                buffer.append(raw[count])
            }
        }
    }

    /// The reason phrase for `status` (RFC 9110 §15).
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 426: return "Upgrade Required"
        case 428: return "Precondition Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }
}
