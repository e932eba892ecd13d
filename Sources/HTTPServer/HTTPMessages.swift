import Auth
@_exported import HTTP1Codec
@_exported import Reactor

/// A request as handlers see it: the parsed head, the route's path parameters and, for
/// buffered routes, the body.
public struct HTTPRequest: Sendable {
    /// The parsed request line and headers.
    public let head: HTTPRequestHead
    /// Path parameters captured by the route pattern (`{id}` → `parameters["id"]`),
    /// percent-decoded.
    public internal(set) var parameters: HTTPParameters
    /// The complete body for buffered routes; empty for streamed routes (see `readBody`).
    public internal(set) var body: [UInt8]
    /// The loop serving this request.
    public let loop: EventLoop

    init(head: HTTPRequestHead, parameters: HTTPParameters, body: [UInt8] = [], loop: EventLoop) {
        self.head = head
        self.parameters = parameters
        self.body = body
        self.loop = loop
    }

    /// The method.
    public var method: HTTPMethod { head.method }
    /// The raw path (before `?`), not percent-decoded.
    public var path: Substring { head.path }
    /// The header fields.
    public var headers: HTTPHeaders { head.headers }

    /// The first value of the query parameter `name`, percent-decoded (`+` is a space), or nil.
    public func query(_ name: String) -> String? {
        guard let query = head.query else { return nil }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = parts.first, percentDecode(key, plusIsSpace: true) == name else { continue }
            return parts.count > 1 ? (percentDecode(parts[1], plusIsSpace: true) ?? "") : ""
        }
        return nil
    }
}

/// Path parameters captured by a route, in pattern order.
public struct HTTPParameters: Sendable {
    var pairs: [(name: String, value: String)] = []

    /// The value captured for `{name}`, or nil.
    public subscript(_ name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }
}

/// A complete response: status, headers and a body.
public struct HTTPResponse: Sendable {
    /// A response body.
    public enum Body: Sendable {
        /// No body.
        case empty
        /// Bytes copied into the connection's write with the head.
        case bytes([UInt8])
        /// A shared buffer queued as is (cached files, fan-out): no copy.
        case buffer(SharedBuffer)

        var count: Int {
            switch self {
            case .empty: return 0
            case .bytes(let bytes): return bytes.count
            case .buffer(let buffer): return buffer.count
            }
        }
    }

    /// The status code.
    public var status: Int
    /// Header fields (not `Content-Length` or `Connection`: the server writes those).
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: Body

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from already-encoded bytes.
    public static func json(_ bytes: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: .bytes(bytes))
    }

    /// A JSON response from an already-encoded string.
    public static func json(_ text: String, status: Int = 200) -> HTTPResponse {
        json(Array(text.utf8), status: status)
    }

    /// A plain-text response.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: .bytes(Array(text.utf8)))
    }

    /// The project's error shape: `{"error":{"code":"…","message":"…"}}` with a stable code.
    public static func error(status: Int, code: String, message: String) -> HTTPResponse {
        json("{\"error\":{\"code\":" + jsonString(code) + ",\"message\":" + jsonString(message) + "}}", status: status)
    }
}

/// Encodes `text` as a JSON string literal (quotes included), with the one escaping routine
/// the project has (`Auth.jsonQuoted`, RFC 8259 §7).
public func jsonString(_ text: String) -> String {
    jsonQuoted(text)
}

/// Decodes `%XX` escapes (and `+` as space when asked); nil when an escape is malformed or the
/// result is not UTF-8.
public func percentDecode<S: StringProtocol>(_ text: S, plusIsSpace: Bool = false) -> String? {
    guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else { return String(text) }
    let utf8 = Array(text.utf8)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(utf8.count)
    var index = 0
    while index < utf8.count {
        let byte = utf8[index]
        if byte == UInt8(ascii: "%") {
            guard index + 2 < utf8.count, let high = hexDigit(utf8[index + 1]), let low = hexDigit(utf8[index + 2]) else { return nil }
            bytes.append(high << 4 | low)
            index += 3
        } else {
            bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? 0x20 : byte)
            index += 1
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x41...0x46: return byte - 0x41 + 10
    case 0x61...0x66: return byte - 0x61 + 10
    default: return nil
    }
}
