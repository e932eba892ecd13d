#if canImport(Glibc)
import Glibc
#endif

/// Why a `multipart/form-data` body was refused.
public struct MultipartError: Error, Sendable, Equatable {
    /// A stable code: `multipart.no_boundary`, `multipart.header_too_large`, …
    public let code: String

    /// The reason as a sentence for the error response.
    public var message: String {
        switch code {
        case "multipart.no_boundary": "The Content-Type has no usable boundary."
        case "multipart.header_too_large": "A part's headers are too large."
        case "multipart.too_many_parts": "The form has too many parts."
        case "multipart.bad_header": "A part has a malformed header."
        case "multipart.truncated": "The form ended before its closing boundary."
        default: "The form could not be read."
        }
    }
}

/// One part's headers: what `Content-Disposition` and `Content-Type` said.
public struct MultipartPart: Sendable, Equatable {
    /// The form field name (`name=`).
    public var name: String = ""
    /// The file name (`filename=`), nil for plain fields.
    public var filename: String?
    /// The part's `Content-Type`, nil when absent.
    public var contentType: String?
}

/// What the parser found in the bytes given to it, in order.
public enum MultipartEvent: Sendable, Equatable {
    /// A part begins.
    case begin(MultipartPart)
    /// Bytes of the current part's body (several per part; never empty).
    case data(ArraySlice<UInt8>)
    /// The current part ended.
    case end
    /// The closing boundary: nothing more is read.
    case done
}

/// An incremental `multipart/form-data` parser (RFC 7578, RFC 2046 §5.1): bytes in, events
/// out, whatever the chunking. Part bodies are passed through as they arrive, so a file of any
/// size goes to disk with at most one boundary's worth of bytes held back.
public struct MultipartParser {
    /// Limits, checked as soon as the bytes are seen.
    public struct Limits: Sendable {
        /// Bytes of headers per part; browsers send about 150.
        public var maxHeaderBytes = 8 * 1024
        /// Parts per form; the upload form has half a dozen.
        public var maxParts = 64

        /// The defaults.
        public init() {}
    }

    private enum State {
        case preamble
        case afterDelimiter
        case headers
        case body
        case epilogue
    }

    private let delimiter: [UInt8]
    private let limits: Limits
    private var state = State.preamble
    private var pending: [UInt8]
    private var headerBytes: [UInt8] = []
    private var part = MultipartPart()
    private var parts = 0

    /// Whether the closing boundary has been read.
    public var isDone: Bool {
        if case .epilogue = state { return true }
        return false
    }

    /// Creates a parser for `boundary` (from `MultipartParser.boundary(fromContentType:)`).
    public init(boundary: String, limits: Limits = Limits()) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        self.limits = limits
        // The first delimiter may open the body without a CRLF before it: pretend there was one.
        pending = [0x0D, 0x0A]
    }

    /// The boundary parameter of a `multipart/form-data` Content-Type, or nil.
    public static func boundary(fromContentType value: String) -> String? {
        let pieces = value.split(separator: ";").map { $0.trimmingSpaces }
        guard let type = pieces.first, type.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            guard piece[..<equals].trimmingSpaces.lowercased() == "boundary" else { continue }
            var boundary = piece[piece.index(after: equals)...].trimmingSpaces
            if boundary.hasPrefix("\""), boundary.hasSuffix("\""), boundary.count >= 2 {
                boundary = String(boundary.dropFirst().dropLast())
            }
            // RFC 2046: 1 to 70 characters, none of them a control or line break.
            guard (1...70).contains(boundary.utf8.count),
                  boundary.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
            return boundary
        }
        return nil
    }

    /// Parses the next chunk.
    public mutating func feed(_ chunk: some Collection<UInt8>) throws(MultipartError) -> [MultipartEvent] {
        if case .epilogue = state { return [] }
        pending.append(contentsOf: chunk)
        var events: [MultipartEvent] = []
        var index = 0
        loop: while true {
            switch state {
            case .preamble:
                guard let found = find(delimiter, in: pending, from: index) else {
                    // Keep only what could still start a delimiter.
                    index = max(index, pending.count - (delimiter.count - 1))
                    break loop
                }
                index = found + delimiter.count
                state = .afterDelimiter
            case .afterDelimiter:
                guard pending.count - index >= 2 else { break loop }
                if pending[index] == 0x2D, pending[index + 1] == 0x2D {
                    state = .epilogue
                    events.append(.done)
                    index = pending.count
                    break loop
                }
                // Transport padding, then CRLF.
                var cursor = index
                while cursor < pending.count, pending[cursor] == 0x20 || pending[cursor] == 0x09 { cursor += 1 }
                guard pending.count - cursor >= 2 else {
                    if cursor - index > 64 { throw MultipartError(code: "multipart.bad_header") }
                    break loop
                }
                guard pending[cursor] == 0x0D, pending[cursor + 1] == 0x0A else {
                    throw MultipartError(code: "multipart.bad_header")
                }
                // The CRLF stays: the header block then always ends at the first CRLFCRLF,
                // even when it is empty.
                index = cursor
                parts += 1
                guard parts <= limits.maxParts else { throw MultipartError(code: "multipart.too_many_parts") }
                headerBytes.removeAll(keepingCapacity: true)
                state = .headers
            case .headers:
                guard let end = find([0x0D, 0x0A, 0x0D, 0x0A], in: pending, from: index) else {
                    // Keep the last three bytes unread so a CRLFCRLF split across chunks is seen.
                    let keep = max(index, pending.count - 3)
                    headerBytes.append(contentsOf: pending[index..<keep])
                    index = keep
                    guard headerBytes.count <= limits.maxHeaderBytes else {
                        throw MultipartError(code: "multipart.header_too_large")
                    }
                    break loop
                }
                headerBytes.append(contentsOf: pending[index..<end])
                guard headerBytes.count <= limits.maxHeaderBytes + 2 else {
                    throw MultipartError(code: "multipart.header_too_large")
                }
                part = try MultipartParser.parseHeaders(Array(headerBytes.dropFirst(2)))
                events.append(.begin(part))
                index = end + 4
                state = .body
            case .body:
                if let found = find(delimiter, in: pending, from: index) {
                    if found > index { events.append(.data(pending[index..<found])) }
                    events.append(.end)
                    index = found + delimiter.count
                    state = .afterDelimiter
                } else {
                    let safe = pending.count - (delimiter.count - 1)
                    if safe > index {
                        events.append(.data(pending[index..<safe]))
                        index = safe
                    }
                    break loop
                }
            case .epilogue:
                index = pending.count
                break loop
            }
        }
        // Events hold slices of the old buffer; the new one keeps only the unread tail.
        pending = Array(pending[min(index, pending.count)...])
        return events
    }

    /// Checks that the body ended after its closing boundary.
    public func finish() throws(MultipartError) {
        guard isDone else { throw MultipartError(code: "multipart.truncated") }
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, start >= 0, haystack.count - start >= needle.count else { return nil }
        let last = haystack.count - needle.count
        return haystack.withUnsafeBufferPointer { hay -> Int? in
            guard let base = hay.baseAddress else { return nil }
            var index = start
            while index <= last {
                // memchr finds the candidate first bytes at memory speed; uploads are large.
                guard let hit = memchr(base + index, Int32(first), last - index + 1) else { return nil }
                let position = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + position, needle, needle.count) == 0 { return position }
                index = position + 1
            }
            return nil
        }
    }

    static func parseHeaders(_ bytes: [UInt8]) throws(MultipartError) -> MultipartPart {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw MultipartError(code: "multipart.bad_header") }
        var part = MultipartPart()
        var sawDisposition = false
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { throw MultipartError(code: "multipart.bad_header") }
            let name = line[..<colon].trimmingSpaces.lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces
            switch name {
            case "content-disposition":
                sawDisposition = true
                let parameters = dispositionParameters(value)
                part.name = parameters["name"] ?? ""
                part.filename = parameters["filename"]
            case "content-type":
                part.contentType = value
            default:
                continue
            }
        }
        guard sawDisposition else { throw MultipartError(code: "multipart.bad_header") }
        return part
    }

    /// `form-data; name="file"; filename="a;b.csv"`: parameters, quotes and escapes honoured.
    static func dispositionParameters(_ value: String) -> [String: String] {
        var result: [String: String] = [:]
        let scalars = Array(value.unicodeScalars)
        var index = 0
        // Skip the disposition type.
        while index < scalars.count, scalars[index] != ";" { index += 1 }
        while index < scalars.count {
            index += 1
            while index < scalars.count, scalars[index] == " " || scalars[index] == "\t" { index += 1 }
            var key = ""
            while index < scalars.count, scalars[index] != "=", scalars[index] != ";" {
                key.unicodeScalars.append(scalars[index])
                index += 1
            }
            guard index < scalars.count, scalars[index] == "=" else { continue }
            index += 1
            var value = ""
            if index < scalars.count, scalars[index] == "\"" {
                index += 1
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\", index + 1 < scalars.count { index += 1 }
                    value.unicodeScalars.append(scalars[index])
                    index += 1
                }
                index += 1
                while index < scalars.count, scalars[index] != ";" { index += 1 }
            } else {
                while index < scalars.count, scalars[index] != ";" {
                    value.unicodeScalars.append(scalars[index])
                    index += 1
                }
                value = value.trimmingSpaces
            }
            let name = key.trimmingSpaces.lowercased()
            if result[name] == nil { result[name] = value }
        }
        return result
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (Foundation-free).
    var trimmingSpaces: String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
