/// An incremental HTTP/1.1 request parser (RFC 9112). Feed it bytes with `next(_:)` and act
/// on each step; running out of input is `.needMoreData`, never an error. Pipelined requests
/// simply follow one another.
///
/// The header section is parsed in place once complete: while it is incomplete nothing is
/// consumed, and the caller presents the same unread bytes again with more appended (keeping
/// at most `Limits.maxHeaderBytes`). Bodies are never buffered: each `.body` step is a slice of
/// the caller's input.
public struct HTTPRequestParser: Sendable {
    /// Every size limit, checked as soon as the size is known.
    public struct Limits: Sendable, Equatable {
        /// Longest request line (method, target, version); longer → 414.
        public var maxRequestLineBytes = 8 * 1024
        /// Largest header section, request line included; larger → 431. 16 KiB holds any
        /// browser's cookies with room to spare.
        public var maxHeaderBytes = 16 * 1024
        /// Most header fields; more → 431.
        public var maxHeaderCount = 100
        /// Largest body unless a route raises it; larger → 413.
        public var maxBodyBytes = 1024 * 1024
        /// Longest chunk-size line with extensions; longer → 400.
        public var maxChunkLineBytes = 256
        /// Largest chunked trailer section; larger → 431.
        public var maxTrailerBytes = 8 * 1024

        public init() {}
    }

    /// One parsing step.
    public enum Step {
        /// A complete request head. The body, if any, follows as `.body` steps, then `.end`.
        case head(HTTPRequestHead)
        /// A piece of the body: a slice of the input, valid until the input changes.
        case body(UnsafeRawBufferPointer)
        /// The request (head and body) is complete.
        case end
        /// Everything available was used; call again with more bytes.
        case needMoreData
    }

    private struct HeadScan: Sendable {
        var lineStart = 0
        var scanned = 0
        var lines = 0
    }

    private struct ChunkLine: Sendable {
        var digits = 0
        var value = 0
        var length = 0
        var inExtension = false
        var sawCR = false
    }

    private enum State: Sendable {
        case head(HeadScan)
        case bodyStart
        case fixed(remaining: Int)
        case chunkSize(ChunkLine)
        case chunkData(remaining: Int)
        case chunkDataEnd(sawCR: Bool)
        case trailers(lineLength: Int, total: Int, sawCR: Bool)
        case bodyDone
        case failed(HTTPParseError)
    }

    /// The limits in force.
    public let limits: Limits
    /// The body limit for the current request; starts at `limits.maxBodyBytes` for every
    /// request and may be changed after `.head` (a route accepting large uploads).
    public var bodyLimit: Int
    private var state = State.head(HeadScan())
    private var framing = HTTPBodyFraming.none
    private var bodyReceived = 0

    /// Creates a parser with `limits`.
    public init(limits: Limits = Limits()) {
        self.limits = limits
        self.bodyLimit = limits.maxBodyBytes
    }

    /// Whether the parser sits between requests (nothing of the next one consumed yet).
    public var isIdle: Bool {
        if case .head(let scan) = state { return scan.scanned == 0 }
        return false
    }

    /// Whether the parser is reading a request head.
    public var isReadingHead: Bool {
        if case .head = state { return true }
        return false
    }

    /// Parses the next step from `input`, advancing it past what was consumed.
    public mutating func next(_ input: inout ByteReader) throws(HTTPParseError) -> Step {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .head(var scan):
                do {
                    return try parseHead(&input, &scan)
                } catch {
                    state = .failed(error)
                    throw error
                }
            case .bodyStart:
                switch framing {
                case .none:
                    finishRequest()
                    return .end
                case .length(let length):
                    if length > bodyLimit {
                        return try fail(.bodyTooLarge, "The request body is larger than the limit.")
                    }
                    if length == 0 {
                        finishRequest()
                        return .end
                    }
                    state = .fixed(remaining: length)
                case .chunked:
                    state = .chunkSize(ChunkLine())
                }
            case .fixed(let remaining):
                guard input.readableCount > 0 else { return .needMoreData }
                let take = min(remaining, input.readableCount)
                let slice = UnsafeRawBufferPointer(rebasing: input.bytes[input.readerIndex..<(input.readerIndex + take)])
                input.readerIndex += take
                state = remaining == take ? .bodyDone : .fixed(remaining: remaining - take)
                return .body(slice)
            case .chunkSize(var line):
                guard let done = try parseChunkLine(&input, &line) else {
                    state = .chunkSize(line)
                    return .needMoreData
                }
                bodyReceived += done
                if done == 0 {
                    state = .trailers(lineLength: 0, total: 0, sawCR: false)
                } else {
                    state = .chunkData(remaining: done)
                }
            case .chunkData(let remaining):
                guard input.readableCount > 0 else { return .needMoreData }
                let take = min(remaining, input.readableCount)
                let slice = UnsafeRawBufferPointer(rebasing: input.bytes[input.readerIndex..<(input.readerIndex + take)])
                input.readerIndex += take
                state = remaining == take ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - take)
                return .body(slice)
            case .chunkDataEnd(let sawCR):
                guard input.readableCount > 0 else { return .needMoreData }
                let byte = input.bytes[input.readerIndex]
                input.readerIndex += 1
                if byte == 0x0A {
                    state = .chunkSize(ChunkLine())
                } else if byte == 0x0D, !sawCR {
                    state = .chunkDataEnd(sawCR: true)
                } else {
                    return try fail(.badRequest, "Chunk data is not followed by CRLF.")
                }
            case .trailers(var lineLength, var total, var sawCR):
                guard input.readableCount > 0 else {
                    state = .trailers(lineLength: lineLength, total: total, sawCR: sawCR)
                    return .needMoreData
                }
                let byte = input.bytes[input.readerIndex]
                input.readerIndex += 1
                total += 1
                if total > limits.maxTrailerBytes {
                    return try fail(.headerTooLarge, "The chunked trailer section is larger than the limit.")
                }
                if byte == 0x0A {
                    if lineLength == 0 {
                        finishRequest()
                        return .end
                    }
                    lineLength = 0
                    sawCR = false
                } else if sawCR {
                    return try fail(.badRequest, "Bare CR in the chunked trailer section.")
                } else if byte == 0x0D {
                    sawCR = true
                } else {
                    lineLength += 1
                }
                state = .trailers(lineLength: lineLength, total: total, sawCR: sawCR)
            case .bodyDone:
                finishRequest()
                return .end
            }
        }
    }

    private mutating func finishRequest() {
        state = .head(HeadScan())
        framing = .none
        bodyReceived = 0
        bodyLimit = limits.maxBodyBytes
    }

    private mutating func fail(_ kind: HTTPParseError.Kind, _ message: String) throws(HTTPParseError) -> Step {
        let error = HTTPParseError(kind, message)
        state = .failed(error)
        throw error
    }

    /// Reads a chunk-size line byte by byte (nothing of it is kept but counters); returns the
    /// chunk size once the line ends, nil when the input ran out first.
    private mutating func parseChunkLine(_ input: inout ByteReader, _ line: inout ChunkLine) throws(HTTPParseError) -> Int? {
        while input.readableCount > 0 {
            let byte = input.bytes[input.readerIndex]
            input.readerIndex += 1
            line.length += 1
            if line.length > limits.maxChunkLineBytes {
                _ = try fail(.badRequest, "The chunk-size line is longer than the limit.")
            }
            if byte == 0x0A {
                guard line.digits > 0 else { _ = try fail(.badRequest, "A chunk-size line has no size."); return nil }
                return line.value
            }
            if line.sawCR { _ = try fail(.badRequest, "Bare CR in a chunk-size line.") }
            if byte == 0x0D { line.sawCR = true; continue }
            if line.inExtension {
                // Chunk extensions are ignored (RFC 9112 §7.1.1) but must not contain controls.
                if byte < 0x20, byte != 0x09 { _ = try fail(.badRequest, "Control byte in a chunk extension.") }
                continue
            }
            if let digit = hexValue(byte) {
                line.digits += 1
                line.value = line.value &* 16 &+ digit
                if line.digits > 15 || bodyReceived + line.value > bodyLimit {
                    _ = try fail(.bodyTooLarge, "The request body is larger than the limit.")
                }
                continue
            }
            if (byte == UInt8(ascii: ";") || isWhitespace(byte)), line.digits > 0 {
                line.inExtension = true
                continue
            }
            _ = try fail(.badRequest, "Invalid chunk size.")
        }
        return nil
    }

    // MARK: - Head

    private mutating func parseHead(_ input: inout ByteReader, _ scan: inout HeadScan) throws(HTTPParseError) -> Step {
        // RFC 9112 §2.2: ignore empty lines received before the request line.
        if scan.scanned == 0 {
            while input.readableCount > 0 {
                let byte = input.bytes[input.readerIndex]
                if byte == 0x0A {
                    input.readerIndex += 1
                } else if byte == 0x0D {
                    guard input.readableCount >= 2 else { return .needMoreData }
                    guard input.bytes[input.readerIndex + 1] == 0x0A else {
                        throw HTTPParseError(.badRequest, "Bare CR before the request line.")
                    }
                    input.readerIndex += 2
                } else {
                    break
                }
            }
        }
        let base = input.readerIndex
        let available = input.readableCount
        var position = scan.scanned
        while position < available {
            let byte = input.bytes[base + position]
            position += 1
            guard byte == 0x0A else { continue }
            let lineLength = position - 1 - scan.lineStart
            let isEmpty = lineLength == 0 || (lineLength == 1 && input.bytes[base + scan.lineStart] == 0x0D)
            if scan.lines == 0, lineLength > limits.maxRequestLineBytes {
                throw HTTPParseError(.uriTooLong, "The request line is longer than the limit.")
            }
            if isEmpty {
                let head = try Self.parseHeadSection(UnsafeRawBufferPointer(rebasing: input.bytes[base..<(base + position)]), limits: limits)
                input.readerIndex = base + position
                framing = head.framing
                bodyReceived = 0
                bodyLimit = limits.maxBodyBytes
                state = .bodyStart
                return .head(head)
            }
            scan.lines += 1
            if scan.lines > limits.maxHeaderCount + 1 {
                throw HTTPParseError(.headerTooLarge, "Too many header fields.")
            }
            scan.lineStart = position
        }
        scan.scanned = position
        if scan.lines == 0, position > limits.maxRequestLineBytes {
            throw HTTPParseError(.uriTooLong, "The request line is longer than the limit.")
        }
        if position > limits.maxHeaderBytes {
            throw HTTPParseError(.headerTooLarge, "The header section is larger than the limit.")
        }
        state = .head(scan)
        return .needMoreData
    }

    /// Parses a complete header section (request line through the empty line).
    static func parseHeadSection(_ bytes: UnsafeRawBufferPointer, limits: Limits) throws(HTTPParseError) -> HTTPRequestHead {
        if bytes.count > limits.maxHeaderBytes {
            throw HTTPParseError(.headerTooLarge, "The header section is larger than the limit.")
        }
        let count = bytes.count
        // Line end (index of LF) and content end (excluding CR) of the request line.
        var lineEnd = 0
        while lineEnd < count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
        var contentEnd = lineEnd
        if contentEnd > 0, bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }

        // method SP request-target SP HTTP-version
        var cursor = 0
        while cursor < contentEnd, isTokenByte(bytes[cursor]) { cursor += 1 }
        guard cursor > 0, cursor < contentEnd, bytes[cursor] == 0x20 else {
            throw HTTPParseError(.badRequest, "Malformed request line.")
        }
        let methodEnd = cursor
        cursor += 1
        let targetStart = cursor
        while cursor < contentEnd, bytes[cursor] > 0x20, bytes[cursor] < 0x7F { cursor += 1 }
        let targetEnd = cursor
        guard targetEnd > targetStart, cursor < contentEnd, bytes[cursor] == 0x20 else {
            throw HTTPParseError(.badRequest, "Malformed request line.")
        }
        if targetEnd - targetStart > limits.maxRequestLineBytes {
            throw HTTPParseError(.uriTooLong, "The request target is longer than the limit.")
        }
        cursor += 1
        let version = try parseVersion(UnsafeRawBufferPointer(rebasing: bytes[cursor..<contentEnd]))
        let firstByte = bytes[targetStart]
        guard firstByte == UInt8(ascii: "/") || firstByte == UInt8(ascii: "*") || isAbsoluteForm(bytes, targetStart, targetEnd) else {
            throw HTTPParseError(.badRequest, "Malformed request target.")
        }

        let storage = [UInt8](bytes)
        var fields: [HTTPHeaders.Field] = []
        // One allocation of just the size needed: one slot per line left. A parked request
        // (long-poll) keeps its head while it waits, so spare capacity would be held per
        // connection; counting newlines is cheap next to validating every byte below.
        var lineCount = 0
        for position in (lineEnd + 1)..<max(lineEnd + 1, count) where bytes[position] == 0x0A { lineCount += 1 }
        fields.reserveCapacity(min(limits.maxHeaderCount + 1, lineCount))
        var lineStart = lineEnd + 1
        while lineStart < count {
            var end = lineStart
            while end < count, bytes[end] != 0x0A { end += 1 }
            var content = end
            if content > lineStart, bytes[content - 1] == 0x0D { content -= 1 }
            if content == lineStart { break }
            let first = bytes[lineStart]
            if isWhitespace(first) {
                throw HTTPParseError(.badRequest, "Obsolete line folding is not accepted.")
            }
            var colon = lineStart
            while colon < content, isTokenByte(bytes[colon]) { colon += 1 }
            guard colon > lineStart, colon < content, bytes[colon] == UInt8(ascii: ":") else {
                throw HTTPParseError(.badRequest, "Malformed header field.")
            }
            var valueStart = colon + 1
            while valueStart < content, isWhitespace(bytes[valueStart]) { valueStart += 1 }
            var valueEnd = content
            while valueEnd > valueStart, isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
            var index = valueStart
            while index < valueEnd {
                let byte = bytes[index]
                if (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                    throw HTTPParseError(.badRequest, "Control character in a header value.")
                }
                index += 1
            }
            fields.append(HTTPHeaders.Field(nameStart: Int32(lineStart), nameEnd: Int32(colon), valueStart: Int32(valueStart), valueEnd: Int32(valueEnd)))
            if fields.count > limits.maxHeaderCount {
                throw HTTPParseError(.headerTooLarge, "Too many header fields.")
            }
            lineStart = end + 1
        }
        let headers = HTTPHeaders(storage: storage, fields: fields)
        let method = HTTPMethod(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<methodEnd]), as: UTF8.self))
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd]), as: UTF8.self)
        return try semantics(method: method, target: target, version: version, headers: headers)
    }

    private static func isAbsoluteForm(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        // absolute-form (RFC 9112 §3.2.2): scheme "://" ...; accepted, routed by its path.
        var index = start
        while index < end, (bytes[index] >= 0x61 && bytes[index] <= 0x7A) || (bytes[index] >= 0x41 && bytes[index] <= 0x5A) { index += 1 }
        return index > start && index + 2 < end && bytes[index] == UInt8(ascii: ":") && bytes[index + 1] == UInt8(ascii: "/") && bytes[index + 2] == UInt8(ascii: "/")
    }

    private static func parseVersion(_ text: UnsafeRawBufferPointer) throws(HTTPParseError) -> HTTPVersion {
        // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3)
        guard text.count == 8, text[0] == UInt8(ascii: "H"), text[1] == UInt8(ascii: "T"), text[2] == UInt8(ascii: "T"),
              text[3] == UInt8(ascii: "P"), text[4] == UInt8(ascii: "/"), text[6] == UInt8(ascii: "."),
              let major = decimalValue(text[5]), let minor = decimalValue(text[7]) else {
            throw HTTPParseError(.badRequest, "Malformed HTTP version.")
        }
        guard major == 1, minor <= 1 else {
            throw HTTPParseError(.versionNotSupported, "Only HTTP/1.0 and HTTP/1.1 are supported.")
        }
        return HTTPVersion(major: major, minor: minor)
    }

    private static func semantics(method: HTTPMethod, target: String, version: HTTPVersion, headers: HTTPHeaders) throws(HTTPParseError) -> HTTPRequestHead {
        var contentLength: Int?
        var hasTransferEncoding = false
        var hostCount = 0
        var closeRequested = false
        var keepAliveRequested = false
        var expectsContinue = false
        var transferCodings: [String] = []
        for field in headers.fields {
            let nameLength = Int(field.nameEnd - field.nameStart)
            let name = headers.storage[Int(field.nameStart)..<Int(field.nameEnd)]
            func named(_ wanted: StaticString) -> Bool {
                guard nameLength == wanted.utf8CodeUnitCount else { return false }
                var index = name.startIndex
                var equal = true
                wanted.withUTF8Buffer { buffer in
                    for byte in buffer {
                        if asciiLower(name[index]) != byte { equal = false; return }
                        index += 1
                    }
                }
                return equal
            }
            let value = headers.storage[Int(field.valueStart)..<Int(field.valueEnd)]
            if named("content-length") {
                // A list of identical values is tolerated (RFC 9110 §8.6); anything else is not.
                for item in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                    var digits = item[...]
                    while let first = digits.first, isWhitespace(first) { digits = digits.dropFirst() }
                    while let last = digits.last, isWhitespace(last) { digits = digits.dropLast() }
                    guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                        throw HTTPParseError(.badRequest, "Invalid Content-Length.")
                    }
                    var parsed = 0
                    for digit in digits {
                        let (times, overflow1) = parsed.multipliedReportingOverflow(by: 10)
                        let (sum, overflow2) = times.addingReportingOverflow(Int(digit - 0x30))
                        if overflow1 || overflow2 { throw HTTPParseError(.bodyTooLarge, "The request body is larger than the limit.") }
                        parsed = sum
                    }
                    if let known = contentLength, known != parsed {
                        throw HTTPParseError(.badRequest, "Conflicting Content-Length values.")
                    }
                    contentLength = parsed
                }
            } else if named("transfer-encoding") {
                hasTransferEncoding = true
                for item in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                    let coding = String(decoding: item.map(asciiLower), as: UTF8.self).trimmingWhitespace()
                    if !coding.isEmpty { transferCodings.append(coding) }
                }
            } else if named("host") {
                hostCount += 1
            } else if named("connection") {
                for item in value.split(separator: UInt8(ascii: ",")) {
                    let token = String(decoding: item.map(asciiLower), as: UTF8.self).trimmingWhitespace()
                    if token == "close" { closeRequested = true }
                    if token == "keep-alive" { keepAliveRequested = true }
                }
            } else if named("expect") {
                let token = String(decoding: value.map(asciiLower), as: UTF8.self)
                if token == "100-continue" { expectsContinue = true }
            }
        }
        if version == .http1_1, hostCount != 1 {
            throw HTTPParseError(.badRequest, hostCount == 0 ? "Missing Host header." : "More than one Host header.")
        }
        if hostCount > 1 {
            throw HTTPParseError(.badRequest, "More than one Host header.")
        }
        var framing = HTTPBodyFraming.none
        if hasTransferEncoding {
            // RFC 9112 §6.1: chunked must be the final (and, for us, only) coding; a message
            // with both framings is a smuggling attempt and is refused.
            if contentLength != nil {
                throw HTTPParseError(.badRequest, "Both Transfer-Encoding and Content-Length are present.")
            }
            if version == .http1_0 {
                throw HTTPParseError(.badRequest, "Transfer-Encoding in an HTTP/1.0 request.")
            }
            if transferCodings.contains(where: { $0 != "chunked" }) {
                throw HTTPParseError(.unsupportedTransferEncoding, "Only the chunked transfer coding is supported.")
            }
            guard transferCodings == ["chunked"] else {
                throw HTTPParseError(.badRequest, "Malformed Transfer-Encoding.")
            }
            framing = .chunked
        } else if let length = contentLength, length > 0 {
            framing = .length(length)
        }
        let keepAlive = version == .http1_1 ? !closeRequested : (keepAliveRequested && !closeRequested)
        return HTTPRequestHead(method: method, target: target, version: version, headers: headers,
                               framing: framing, keepAlive: keepAlive, expectsContinue: expectsContinue && framing != .none)
    }
}

@inline(__always)
func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case 0x30...0x39: return Int(byte - 0x30)
    case 0x41...0x46: return Int(byte - 0x41 + 10)
    case 0x61...0x66: return Int(byte - 0x61 + 10)
    default: return nil
    }
}

@inline(__always)
func decimalValue(_ byte: UInt8) -> Int? {
    byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : nil
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
