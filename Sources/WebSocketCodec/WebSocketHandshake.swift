import COpenSSL

/// Decides whether a browser page from `origin` (nil when the request had no Origin header,
/// as with non-browser clients) may open a WebSocket (RFC 6455 §10.2).
public typealias WebSocketOriginPolicy = @Sendable (_ origin: String?) -> Bool

/// The server side of the opening handshake (RFC 6455 §4.2): validates an upgrade request and
/// produces either the `101 Switching Protocols` answer or the error response to send.
public enum WebSocketHandshake {
    /// The GUID appended to the client's key before hashing (RFC 6455 §1.3).
    public static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// An accepted upgrade.
    public struct Accepted: Sendable, Equatable {
        /// The `Sec-WebSocket-Accept` value.
        public var accept: String
        /// The permessage-deflate parameters, when negotiated.
        public var deflate: DeflateParameters?
        /// The chosen subprotocol, if any.
        public var subprotocol: String?

        /// Headers of the `101` response, in order.
        public var headers: [(name: String, value: String)] {
            var headers: [(name: String, value: String)] = [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept),
            ]
            if let deflate { headers.append(("Sec-WebSocket-Extensions", deflate.headerValue)) }
            if let subprotocol { headers.append(("Sec-WebSocket-Protocol", subprotocol)) }
            return headers
        }

        /// The complete `101` response.
        public var responseBytes: [UInt8] {
            var text = "HTTP/1.1 101 Switching Protocols\r\n"
            for (name, value) in headers { text += name + ": " + value + "\r\n" }
            text += "\r\n"
            return Array(text.utf8)
        }

        public static func == (lhs: Accepted, rhs: Accepted) -> Bool {
            lhs.accept == rhs.accept && lhs.deflate == rhs.deflate && lhs.subprotocol == rhs.subprotocol
        }
    }

    /// A refused upgrade: the status to answer with, extra headers and a stable code.
    public struct Rejection: Error, Sendable, Equatable {
        public var status: Int
        /// A stable identifier such as `"ws.unsupported_version"`.
        public var code: String
        public var headers: [(name: String, value: String)]

        public init(status: Int, code: String, headers: [(name: String, value: String)] = []) {
            self.status = status
            self.code = code
            self.headers = headers
        }

        public static func == (lhs: Rejection, rhs: Rejection) -> Bool {
            lhs.status == rhs.status && lhs.code == rhs.code && lhs.headers.count == rhs.headers.count
                && zip(lhs.headers, rhs.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
        }

        static let notGet = Rejection(status: 405, code: "ws.method_not_allowed", headers: [("Allow", "GET")])
        static let oldHTTP = Rejection(status: 400, code: "ws.http_version")
        static let missingHost = Rejection(status: 400, code: "ws.missing_host")
        static let notUpgrade = Rejection(status: 400, code: "ws.not_an_upgrade")
        static let badKey = Rejection(status: 400, code: "ws.bad_key")
        static let unsupportedVersion = Rejection(
            status: 426, code: "ws.unsupported_version", headers: [("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")])
        static let forbiddenOrigin = Rejection(status: 403, code: "ws.forbidden_origin")
    }

    /// What the server accepts in a handshake.
    public struct Options: Sendable {
        public var deflate: DeflateOptions
        /// Subprotocols the server speaks, in order of preference of the client.
        public var subprotocols: [String]
        /// nil allows every origin.
        public var originPolicy: WebSocketOriginPolicy?

        public init(deflate: DeflateOptions = DeflateOptions(), subprotocols: [String] = [], originPolicy: WebSocketOriginPolicy? = nil) {
            self.deflate = deflate
            self.subprotocols = subprotocols
            self.originPolicy = originPolicy
        }
    }

    /// Validates an upgrade request given its method, HTTP version and headers (names in any
    /// case, repeated headers allowed). Checks in the order of RFC 6455 §4.2.1; a wrong
    /// version is 426 with `Sec-WebSocket-Version: 13` (§4.4), a missing or malformed key 400.
    public static func validate(
        method: String, httpVersion: (major: Int, minor: Int), headers: [(name: String, value: String)],
        options: Options = Options()
    ) -> Result<Accepted, Rejection> {
        guard method == "GET" else { return .failure(.notGet) }
        guard httpVersion.major > 1 || (httpVersion.major == 1 && httpVersion.minor >= 1) else { return .failure(.oldHTTP) }
        func values(_ name: String) -> [String] {
            headers.filter { $0.name.lowercased() == name }.map(\.value)
        }
        guard !values("host").isEmpty else { return .failure(.missingHost) }
        guard hasToken(values("upgrade"), "websocket"), hasToken(values("connection"), "upgrade") else {
            return .failure(.notUpgrade)
        }
        let versions = values("sec-websocket-version")
        guard versions.count == 1, versions[0].trimmingSpaces == "13" else { return .failure(.unsupportedVersion) }
        let keys = values("sec-websocket-key")
        guard keys.count == 1, isValidKey(keys[0].trimmingSpaces) else { return .failure(.badKey) }
        if let policy = options.originPolicy {
            let origins = values("origin")
            guard origins.count <= 1, policy(origins.first) else { return .failure(.forbiddenOrigin) }
        }
        var accepted = Accepted(accept: acceptValue(forKey: keys[0].trimmingSpaces))
        accepted.deflate = DeflateNegotiation.negotiate(values("sec-websocket-extensions"), options: options.deflate)
        if !options.subprotocols.isEmpty {
            let offered = values("sec-websocket-protocol").flatMap { $0.split(separator: ",") }.map { String($0).trimmingSpaces }
            accepted.subprotocol = offered.first { options.subprotocols.contains($0) }
        }
        return .success(accepted)
    }

    /// `base64(SHA-1(key + GUID))` (RFC 6455 §4.2.2 step 5.4).
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        var size: UInt32 = 0
        let ok = input.withUnsafeBytes { source in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(source.baseAddress, source.count, output.baseAddress, &size, EVP_sha1(), nil)
            }
        }
        precondition(ok == 1 && size == 20, "OpenSSL SHA-1 failed")
        return Base64.encode(digest)
    }

    /// A key is the base64 encoding of exactly 16 bytes (RFC 6455 §4.1): 22 characters and "==".
    public static func isValidKey(_ key: String) -> Bool {
        guard let decoded = Base64.decode(key) else { return false }
        return decoded.count == 16
    }

    /// Whether a comma-separated header (possibly repeated) contains `token`, ignoring case.
    static func hasToken(_ values: [String], _ token: String) -> Bool {
        values.contains { value in
            value.split(separator: ",").contains { $0.trimmingSpaces.lowercased() == token }
        }
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
            let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

/// Standard base64 (RFC 4648 §4) with padding.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(value >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict decoding: length a multiple of 4, padding only at the end, no whitespace, and
    /// unused bits zero. Returns nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            var value: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let byte = input[index + offset]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = UInt32(byte - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = UInt32(byte - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): digit = 62
                case UInt8(ascii: "/"): digit = 63
                case UInt8(ascii: "="):
                    // Padding only in the last two positions of the last group.
                    guard index + 4 == input.count, offset >= 2 else { return nil }
                    padding += 1
                    digit = 0
                default: return nil
                }
                if padding > 0 && byte != UInt8(ascii: "=") { return nil }
                value = value << 6 | digit
            }
            out.append(UInt8(value >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(value >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(value & 0xFF)) }
            // Bits below the last full byte must be zero, so every key has one spelling.
            if padding == 2 && value & 0xFFFF != 0 { return nil }
            if padding == 1 && value & 0xFF != 0 { return nil }
            index += 4
        }
        return out
    }
}
