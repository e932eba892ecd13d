import Progress

/// A JSON value with object members in their original order, for request bodies (client
/// messages, producer updates) and for documents the server builds (OpenAPI).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The member named `key` of an object (the first one, if a client sent it twice).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number, if this is one.
    public var numberValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The number as an exact non-negative integer below 2^53, if it is one.
    public var countValue: Int64? {
        guard case .number(let value) = self, value >= 0, value <= 9_007_199_254_740_991,
              value.rounded(.towardZero) == value else { return nil }
        return Int64(value)
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The value encoded as compact JSON.
    public var bytes: [UInt8] {
        var writer = JSONWriter(capacity: 256)
        write(into: &writer)
        return writer.bytes
    }

    /// The value encoded as compact JSON text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends the value to `writer`.
    public func write(into writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .bool(let value): writer.bool(value)
        case .number(let value):
            if value.rounded(.towardZero) == value, abs(value) < 1e15 {
                writer.raw(json: String(Int64(value)).utf8)
            } else if value.isFinite {
                writer.raw(json: "\(value)".utf8)
            } else {
                writer.null()
            }
        case .string(let value): writer.string(value)
        case .array(let values):
            writer.beginArray()
            for (index, value) in values.enumerated() {
                if index > 0 { writer.comma() }
                value.write(into: &writer)
            }
            writer.endArray()
        case .object(let members):
            writer.beginObject()
            for (index, member) in members.enumerated() {
                if index > 0 { writer.comma() }
                writer.key(member.0)
                member.1.write(into: &writer)
            }
            writer.endObject()
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
    public init(nilLiteral: ()) { self = .null }
}

/// Why a JSON text was refused.
public struct JSONParseError: Error, Sendable, Equatable {
    /// A stable code: `json.syntax`, `json.too_deep`, `json.too_large`.
    public let code: String
    /// Where the parser stopped, in bytes.
    public let offset: Int
}

/// A strict RFC 8259 parser for small untrusted documents: bounded depth and size, no
/// recursion deeper than `maxDepth`, never traps on any input.
public struct JSONParser {
    /// Deepest nesting accepted; client messages and producer updates are shallow.
    public var maxDepth = 32
    /// Largest document accepted, in bytes.
    public var maxBytes = 1 << 20

    /// Creates a parser with the default limits.
    public init() {}

    /// Parses one JSON value that fills `bytes` (surrounding whitespace allowed).
    public func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        let input = Array(bytes)
        guard input.count <= maxBytes else { throw JSONParseError(code: "json.too_large", offset: 0) }
        var cursor = Cursor(bytes: input, maxDepth: maxDepth)
        cursor.skipSpace()
        let value = try cursor.value(depth: 0)
        cursor.skipSpace()
        guard cursor.index == input.count else { throw cursor.fail() }
        return value
    }

    /// Parses `text`.
    public func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses one JSON value like `parse(_:)` and also returns the exact source text of the
    /// top-level object member `key` (its first occurrence, as the subscript reads it), with
    /// only the whitespace between tokens removed; nil when there is no such member.
    ///
    /// This is how a producer's free `data` object is passed on as it was sent: numbers keep
    /// every digit (a 64-bit id or a nanosecond timestamp does not fit a Double) and strings
    /// keep their escapes, while the text still fits on one line (an SSE `data:` field).
    public func parse(_ bytes: some Collection<UInt8>, keepingTextOf key: String) throws(JSONParseError) -> (value: JSONValue, text: [UInt8]?) {
        let input = Array(bytes)
        guard input.count <= maxBytes else { throw JSONParseError(code: "json.too_large", offset: 0) }
        var cursor = Cursor(bytes: input, maxDepth: maxDepth)
        cursor.keptKey = key
        cursor.skipSpace()
        let value = try cursor.value(depth: 0)
        cursor.skipSpace()
        guard cursor.index == input.count else { throw cursor.fail() }
        return (value, cursor.kept.map { Self.removingWhitespace(input[$0]) })
    }

    /// Valid JSON text without the whitespace between its tokens; strings are copied as they
    /// are, escapes included.
    static func removingWhitespace(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var inString = false
        var escaped = false
        for byte in text {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                out.append(byte)
            } else if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                continue
            } else {
                if byte == UInt8(ascii: "\"") { inString = true }
                out.append(byte)
            }
        }
        return out
    }

    private struct Cursor {
        let bytes: [UInt8]
        let maxDepth: Int
        var index = 0
        /// The top-level member whose source range is kept, and that range once seen.
        var keptKey: String?
        var kept: Range<Int>?

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        func fail(_ code: String = "json.syntax") -> JSONParseError {
            JSONParseError(code: code, offset: index)
        }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        mutating func expect(_ literal: String) throws(JSONParseError) {
            for byte in literal.utf8 {
                guard peek == byte else { throw fail() }
                index += 1
            }
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth <= maxDepth else { throw fail("json.too_deep") }
            guard let byte = peek else { throw fail() }
            switch byte {
            case UInt8(ascii: "{"):
                index += 1
                var members: [(String, JSONValue)] = []
                skipSpace()
                if peek == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard peek == UInt8(ascii: "\"") else { throw fail() }
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    skipSpace()
                    let start = index
                    members.append((key, try value(depth: depth + 1)))
                    if depth == 0, kept == nil, key == keptKey { kept = start..<index }
                    skipSpace()
                    if peek == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect("}")
                    return .object(members)
                }
            case UInt8(ascii: "["):
                index += 1
                var values: [JSONValue] = []
                skipSpace()
                if peek == UInt8(ascii: "]") {
                    index += 1
                    return .array(values)
                }
                while true {
                    skipSpace()
                    values.append(try value(depth: depth + 1))
                    skipSpace()
                    if peek == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect("]")
                    return .array(values)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default:
                return .number(try number())
            }
        }

        mutating func number() throws(JSONParseError) -> Double {
            let start = index
            if peek == UInt8(ascii: "-") { index += 1 }
            guard let first = peek, first >= 0x30, first <= 0x39 else { throw fail() }
            index += 1
            if first != 0x30 { digits() }
            if peek == UInt8(ascii: ".") {
                index += 1
                guard let digit = peek, digit >= 0x30, digit <= 0x39 else { throw fail() }
                digits()
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard let digit = peek, digit >= 0x30, digit <= 0x39 else { throw fail() }
                digits()
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw JSONParseError(code: "json.syntax", offset: start) }
            return value
        }

        mutating func digits() {
            while let byte = peek, byte >= 0x30, byte <= 0x39 { index += 1 }
        }

        mutating func string() throws(JSONParseError) -> String {
            index += 1
            var out: [UInt8] = []
            while true {
                guard let byte = peek else { throw fail() }
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    // Invalid UTF-8 is refused rather than repaired: the text came from outside.
                    guard let text = String(validating: out, as: UTF8.self) else { throw fail("json.invalid_utf8") }
                    return text
                case UInt8(ascii: "\\"):
                    guard let escape = peek else { throw fail() }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if scalar >= 0xD800, scalar < 0xDC00 {
                            try expect("\\u")
                            let low = try hex4()
                            guard low >= 0xDC00, low < 0xE000 else { throw fail() }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if scalar >= 0xDC00, scalar < 0xE000 {
                            throw fail()
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail() }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default:
                        throw fail()
                    }
                default:
                    guard byte >= 0x20 else { throw fail() }
                    out.append(byte)
                }
            }
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = peek else { throw fail() }
                index += 1
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: throw fail()
                }
                value = value << 4 | digit
            }
            return value
        }
    }
}
