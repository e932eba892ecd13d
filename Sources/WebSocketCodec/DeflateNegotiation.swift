/// What the server is willing to do with permessage-deflate (RFC 7692).
public struct DeflateOptions: Sendable, Equatable {
    /// Whether the extension is negotiated at all.
    public var isEnabled: Bool
    /// Always answer with `server_no_context_takeover`: the server's compressor is freed after
    /// every message, so idle connections hold no zlib memory (about 256 KiB each otherwise) and
    /// one compressed event can be shared by every connection.
    public var serverNoContextTakeover: Bool
    /// Always answer with `client_no_context_takeover`, so the server's decompressor can be freed
    /// between messages (RFC 7692 §7.1.1.2 lets a server ask this even when not offered).
    public var clientNoContextTakeover: Bool
    /// Largest window the server compresses with (9-15); answered as `server_max_window_bits`
    /// when below 15 or when the client asked for a limit.
    public var serverMaxWindowBits: Int
    /// zlib memory level for compression (1-9).
    public var memoryLevel: Int
    /// zlib compression level (0-9).
    public var compressionLevel: Int
    /// Messages shorter than this are sent uncompressed (RSV1 clear), which RFC 7692 §6 allows
    /// per message; tiny messages only grow when deflated.
    public var minimumCompressedSize: Int
    /// Compress every message, even short ones and ones that do not shrink. Some clients
    /// mishandle plain messages on a compressed connection (Autobahn's kosoku runner hands
    /// them to its checks as strings), so the conformance echo endpoint turns this on.
    public var compressesEveryMessage = false

    /// The defaults favour memory: no server context between messages, the client's choice for
    /// its own context, full window.
    public init(
        isEnabled: Bool = true, serverNoContextTakeover: Bool = true, clientNoContextTakeover: Bool = false,
        serverMaxWindowBits: Int = 15, memoryLevel: Int = 8, compressionLevel: Int = 6, minimumCompressedSize: Int = 64
    ) {
        self.isEnabled = isEnabled
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.memoryLevel = memoryLevel
        self.compressionLevel = compressionLevel
        self.minimumCompressedSize = minimumCompressedSize
    }

    /// Honours whatever the client asks and keeps context where it allows: best ratio, most
    /// memory (used by the conformance echo endpoint).
    public static let contextTakeover = DeflateOptions(serverNoContextTakeover: false, clientNoContextTakeover: false)
    /// `contextTakeover`, compressing every message (the conformance echo endpoint).
    public static let echo: DeflateOptions = {
        var options = DeflateOptions.contextTakeover
        options.compressesEveryMessage = true
        return options
    }()
    /// permessage-deflate is refused.
    public static let disabled = DeflateOptions(isEnabled: false)
}

/// The permessage-deflate parameters agreed for one connection.
public struct DeflateParameters: Sendable, Equatable {
    /// The server starts every message with an empty window.
    public var serverNoContextTakeover: Bool
    /// The client starts every message with an empty window.
    public var clientNoContextTakeover: Bool
    /// The server's compression window (9-15).
    public var serverMaxWindowBits: Int
    /// Window the client was limited to, if the response carried `client_max_window_bits`.
    public var clientMaxWindowBits: Int?

    public init(serverNoContextTakeover: Bool = false, clientNoContextTakeover: Bool = false, serverMaxWindowBits: Int = 15, clientMaxWindowBits: Int? = nil) {
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
    }

    /// The `Sec-WebSocket-Extensions` value of the response.
    public var headerValue: String {
        var value = "permessage-deflate"
        if serverNoContextTakeover { value += "; server_no_context_takeover" }
        if clientNoContextTakeover { value += "; client_no_context_takeover" }
        if serverMaxWindowBits < 15 { value += "; server_max_window_bits=\(serverMaxWindowBits)" }
        if let bits = clientMaxWindowBits { value += "; client_max_window_bits=\(bits)" }
        return value
    }
}

/// Parsing of `Sec-WebSocket-Extensions` offers and the choice of a permessage-deflate
/// configuration (RFC 7692 §5 and §7.1).
public enum DeflateNegotiation {
    /// One offered extension: its name and parameters in order (value nil when absent).
    public struct Offer: Equatable, Sendable {
        public var name: String
        public var parameters: [(name: String, value: String?)]

        public static func == (lhs: Offer, rhs: Offer) -> Bool {
            lhs.name == rhs.name && lhs.parameters.count == rhs.parameters.count
                && zip(lhs.parameters, rhs.parameters).allSatisfy { $0.name == $1.name && $0.value == $1.value }
        }
    }

    /// Parses header values (several headers are read as one comma-separated list, RFC 6455
    /// §9.1). Returns nil when the syntax is broken, in which case no extension is accepted.
    public static func parseOffers(_ values: [String]) -> [Offer]? {
        var offers: [Offer] = []
        for value in values {
            var scanner = TokenScanner(Array(value.utf8))
            while true {
                scanner.skipWhitespace()
                if scanner.atEnd { break }
                if scanner.consume(UInt8(ascii: ",")) { continue }
                guard let name = scanner.token() else { return nil }
                var offer = Offer(name: name.lowercased(), parameters: [])
                while true {
                    scanner.skipWhitespace()
                    if scanner.atEnd || scanner.consume(UInt8(ascii: ",")) { break }
                    guard scanner.consume(UInt8(ascii: ";")) else { return nil }
                    scanner.skipWhitespace()
                    guard let parameter = scanner.token() else { return nil }
                    scanner.skipWhitespace()
                    var parameterValue: String?
                    if scanner.consume(UInt8(ascii: "=")) {
                        scanner.skipWhitespace()
                        guard let text = scanner.tokenOrQuoted() else { return nil }
                        parameterValue = text
                    }
                    offer.parameters.append((parameter.lowercased(), parameterValue))
                }
                offers.append(offer)
            }
        }
        return offers
    }

    /// Chooses the first permessage-deflate offer the server can honour, or nil. Offers with
    /// unknown or repeated parameters, bad values, or a server window the server cannot use
    /// (zlib's raw deflate has no 8-bit window) are declined (RFC 7692 §5.1, §7.1).
    public static func negotiate(_ headerValues: [String], options: DeflateOptions) -> DeflateParameters? {
        guard options.isEnabled, let offers = parseOffers(headerValues) else { return nil }
        for offer in offers where offer.name == "permessage-deflate" {
            if let accepted = accept(offer, options: options) { return accepted }
        }
        return nil
    }

    private static func accept(_ offer: Offer, options: DeflateOptions) -> DeflateParameters? {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var requestedServerBits: Int?
        var clientBitsOffered = false
        var clientBits: Int?
        var seen = Set<String>()
        for (name, value) in offer.parameters {
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return nil }
                serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard value == nil else { return nil }
                clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let value, let bits = windowBits(value) else { return nil }
                requestedServerBits = bits
            case "client_max_window_bits":
                clientBitsOffered = true
                if let value {
                    guard let bits = windowBits(value) else { return nil }
                    clientBits = bits
                }
            default:
                return nil
            }
        }
        var parameters = DeflateParameters()
        parameters.serverNoContextTakeover = serverNoContextTakeover || options.serverNoContextTakeover
        parameters.clientNoContextTakeover = clientNoContextTakeover || options.clientNoContextTakeover
        let serverBits = min(requestedServerBits ?? 15, max(9, min(15, options.serverMaxWindowBits)))
        guard serverBits >= 9 else { return nil }
        parameters.serverMaxWindowBits = serverBits
        // The server inflates with a 15-bit window, which reads any smaller one, so it never
        // needs to limit the client; it echoes a value the client stated to be explicit.
        if clientBitsOffered, let clientBits { parameters.clientMaxWindowBits = clientBits }
        return parameters
    }

    private static func windowBits(_ text: String) -> Int? {
        let utf8 = Array(text.utf8)
        guard (1...2).contains(utf8.count), utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), utf8[0] != 0x30,
            let bits = Int(text), (8...15).contains(bits)
        else { return nil }
        return bits
    }
}

/// A small scanner for HTTP tokens and quoted strings (RFC 9110 §5.6).
struct TokenScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count && (bytes[index] == 0x20 || bytes[index] == 0x09) { index += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count && bytes[index] == byte else { return false }
        index += 1
        return true
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    mutating func token() -> String? {
        let start = index
        while index < bytes.count && Self.isTokenByte(bytes[index]) { index += 1 }
        guard index > start else { return nil }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// A token, or a quoted string whose content must itself be a token (RFC 6455 §9.1).
    mutating func tokenOrQuoted() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return token() }
        var content: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") {
                guard !content.isEmpty, content.allSatisfy(Self.isTokenByte) else { return nil }
                return String(decoding: content, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                guard index < bytes.count else { return nil }
                content.append(bytes[index])
                index += 1
            } else {
                content.append(byte)
            }
        }
        return nil
    }
}
