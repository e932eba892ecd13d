/// An HTTP method token (RFC 9110 §9). Any token is representable; common ones are constants.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let GET = HTTPMethod("GET")
    public static let HEAD = HTTPMethod("HEAD")
    public static let POST = HTTPMethod("POST")
    public static let PUT = HTTPMethod("PUT")
    public static let PATCH = HTTPMethod("PATCH")
    public static let DELETE = HTTPMethod("DELETE")
    public static let OPTIONS = HTTPMethod("OPTIONS")

    public var description: String { rawValue }
}

/// An HTTP version; only 1.0 and 1.1 are accepted by the parser.
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }

    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    public var description: String { "HTTP/\(major).\(minor)" }
}

/// How the request body is delimited (RFC 9112 §6.3).
public enum HTTPBodyFraming: Hashable, Sendable {
    /// No body.
    case none
    /// Exactly this many bytes (`Content-Length`).
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

/// The header fields of a request, kept as one copy of the received bytes plus offsets:
/// two allocations per request however many fields there are.
public struct HTTPHeaders: Sendable, Sequence {
    struct Field: Sendable {
        var nameStart: Int32
        var nameEnd: Int32
        var valueStart: Int32
        var valueEnd: Int32
    }

    let storage: [UInt8]
    let fields: [Field]

    init(storage: [UInt8], fields: [Field]) {
        self.storage = storage
        self.fields = fields
    }

    /// Builds headers from name/value pairs (for tests and synthesized requests).
    public init(_ pairs: [(String, String)]) {
        var storage: [UInt8] = []
        var fields: [Field] = []
        for (name, value) in pairs {
            let nameStart = Int32(storage.count)
            storage.append(contentsOf: name.utf8)
            let nameEnd = Int32(storage.count)
            storage.append(contentsOf: value.utf8)
            fields.append(Field(nameStart: nameStart, nameEnd: nameEnd, valueStart: nameEnd, valueEnd: Int32(storage.count)))
        }
        self.init(storage: storage, fields: fields)
    }

    /// The number of fields.
    public var count: Int { fields.count }

    private func nameMatches(_ field: Field, _ name: String) -> Bool {
        let length = Int(field.nameEnd - field.nameStart)
        guard length == name.utf8.count else { return false }
        var position = Int(field.nameStart)
        for byte in name.utf8 {
            if asciiLower(storage[position]) != asciiLower(byte) { return false }
            position += 1
        }
        return true
    }

    private func value(of field: Field) -> String {
        String(decoding: storage[Int(field.valueStart)..<Int(field.valueEnd)], as: UTF8.self)
    }

    /// The first value of the field `name` (case-insensitive), or nil.
    public subscript(_ name: String) -> String? {
        for field in fields where nameMatches(field, name) { return value(of: field) }
        return nil
    }

    /// Every value of the field `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { nameMatches($0, name) }.map { value(of: $0) }
    }

    /// Whether the field `name` is present.
    public func contains(_ name: String) -> Bool {
        fields.contains { nameMatches($0, name) }
    }

    /// Whether a comma-separated field (such as `Connection` or `Accept-Encoding`) lists
    /// `token`, compared case-insensitively, ignoring parameters after `;`.
    public func containsToken(_ token: String, in name: String) -> Bool {
        let wanted = Array(token.utf8).map(asciiLower)
        for field in fields where nameMatches(field, name) {
            var start = Int(field.valueStart)
            let end = Int(field.valueEnd)
            while start <= end {
                var stop = start
                while stop < end, storage[stop] != UInt8(ascii: ",") { stop += 1 }
                var itemEnd = stop
                var semicolon = start
                while semicolon < stop, storage[semicolon] != UInt8(ascii: ";") { semicolon += 1 }
                itemEnd = semicolon
                var itemStart = start
                while itemStart < itemEnd, isWhitespace(storage[itemStart]) { itemStart += 1 }
                while itemEnd > itemStart, isWhitespace(storage[itemEnd - 1]) { itemEnd -= 1 }
                if itemEnd - itemStart == wanted.count {
                    var same = true
                    for offset in 0..<wanted.count where asciiLower(storage[itemStart + offset]) != wanted[offset] {
                        same = false
                        break
                    }
                    if same { return true }
                }
                start = stop + 1
            }
        }
        return false
    }

    public func makeIterator() -> AnyIterator<(name: String, value: String)> {
        var index = 0
        return AnyIterator {
            guard index < fields.count else { return nil }
            let field = fields[index]
            index += 1
            return (String(decoding: storage[Int(field.nameStart)..<Int(field.nameEnd)], as: UTF8.self), value(of: field))
        }
    }
}

/// A parsed request line and header section, with the framing and connection semantics
/// derived from them.
public struct HTTPRequestHead: Sendable {
    /// The method token.
    public var method: HTTPMethod
    /// The request target as sent (origin form: path and query).
    public var target: String
    /// The protocol version (1.0 or 1.1).
    public var version: HTTPVersion
    /// The header fields.
    public var headers: HTTPHeaders
    /// How the body is delimited.
    public var framing: HTTPBodyFraming
    /// Whether the connection may be reused after this exchange (RFC 9112 §9.3).
    public var keepAlive: Bool
    /// Whether the client sent `Expect: 100-continue` and waits before sending its body.
    public var expectsContinue: Bool

    /// Creates a head (for tests and synthesized requests).
    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders([]),
                framing: HTTPBodyFraming = .none, keepAlive: Bool = true, expectsContinue: Bool = false) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }

    /// The path part of the target (before `?`).
    public var path: Substring {
        if let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) { return target[..<mark] }
        return target[...]
    }

    /// The query part of the target (after `?`), or nil.
    public var query: Substring? {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.utf8.index(after: mark)...]
    }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
}

@inline(__always)
func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

/// RFC 9110 §5.6.2 tchar.
@inline(__always)
func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
         UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
         UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): return true
    default: return false
    }
}
