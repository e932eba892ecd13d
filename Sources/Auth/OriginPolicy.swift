/// A list of header fields, in order, as the HTTP layer writes them.
public typealias HeaderList = [(name: String, value: String)]

/// A web origin (RFC 6454): scheme, host and port, normalized (lowercase, default port
/// filled in) so that two spellings of one origin compare equal.
public struct WebOrigin: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// `http` or `https` (any scheme is kept, lowercased).
    public let scheme: String
    /// The host, lowercased; IPv6 addresses keep their brackets.
    public let host: String
    /// The port, with the scheme's default filled in.
    public let port: Int

    /// Parses an `Origin` header value `scheme://host[:port]`; nil for `null`, paths,
    /// userinfo or anything else.
    public init?(_ text: String) {
        guard text.utf8.count <= 512, let (schemeText, rest) = splitScheme(Substring(text)) else { return nil }
        let scheme = schemeText.lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }) else { return nil }
        guard let authority = Authority(rest, defaultPort: Self.defaultPort(scheme)) else { return nil }
        self.scheme = scheme
        self.host = authority.host
        self.port = authority.port
    }

    static func defaultPort(_ scheme: String) -> Int {
        switch scheme {
        case "https", "wss": return 443
        default: return 80
        }
    }

    public var description: String {
        port == Self.defaultPort(scheme) ? "\(scheme)://\(host)" : "\(scheme)://\(host):\(port)"
    }
}

/// Splits `scheme://rest` at the first `://`.
func splitScheme(_ text: Substring) -> (Substring, Substring)? {
    let bytes = text.utf8
    var index = bytes.startIndex
    while index != bytes.endIndex {
        if bytes[index...].starts(with: "://".utf8) {
            return (text[..<index], text[bytes.index(index, offsetBy: 3)...])
        }
        index = bytes.index(after: index)
    }
    return nil
}

/// `host[:port]` of an origin or a `Host` header.
struct Authority: Equatable {
    let host: String
    let port: Int

    init?(_ text: Substring, defaultPort: Int) {
        let lower = text.lowercased()
        var host = Substring(lower)
        var port = defaultPort
        if lower.hasPrefix("[") {
            guard let close = lower.firstIndex(of: "]") else { return nil }
            host = lower[...close]
            let rest = lower[lower.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":", let value = Int(rest.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            }
        } else if let colon = lower.lastIndex(of: ":") {
            host = lower[..<colon]
            guard let value = Int(lower[lower.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
        }
        guard !host.isEmpty, host.allSatisfy({ Authority.isHostCharacter($0) }) else { return nil }
        self.host = String(host)
        self.port = port
    }

    static func isHostCharacter(_ character: Character) -> Bool {
        guard character.isASCII else { return false }
        return character.isLetter || character.isNumber || character == "-" || character == "." || character == "_"
            || character == "[" || character == "]" || character == ":"
    }
}

/// One entry of an origin allow-list: `*` (any origin), an exact origin
/// (`https://portal.example.com`), or every subdomain of a host (`https://*.example.com`,
/// which does not match `https://example.com` itself).
public enum OriginPattern: Equatable, Sendable, CustomStringConvertible {
    /// Any origin at all.
    case any
    /// Exactly this origin.
    case exact(WebOrigin)
    /// Any subdomain of `suffix` with this scheme and port.
    case subdomains(scheme: String, suffix: String, port: Int)

    /// Parses a configured pattern, or throws with the offending text.
    public init(_ text: String) throws(AuthConfigurationError) {
        let trimmed = Substring(text).trimmingSpaces()
        if trimmed == "*" { self = .any; return }
        if let (scheme, rest) = splitScheme(Substring(trimmed)), rest.hasPrefix("*.") {
            if let origin = WebOrigin(scheme + "://" + rest.dropFirst(2)) {
                self = .subdomains(scheme: origin.scheme, suffix: origin.host, port: origin.port)
                return
            }
        } else if let origin = WebOrigin(trimmed) {
            self = .exact(origin)
            return
        }
        throw AuthConfigurationError(.badOrigin, "'\(text)' is not an origin pattern (use https://host[:port], https://*.host or *).")
    }

    /// Whether `origin` matches this pattern.
    public func matches(_ origin: WebOrigin) -> Bool {
        switch self {
        case .any:
            return true
        case .exact(let allowed):
            return allowed == origin
        case .subdomains(let scheme, let suffix, let port):
            return origin.scheme == scheme && origin.port == port && origin.host.hasSuffix("." + suffix)
        }
    }

    public var description: String {
        switch self {
        case .any: return "*"
        case .exact(let origin): return origin.description
        case .subdomains(let scheme, let suffix, let port):
            let origin = "\(scheme)://*.\(suffix)"
            return port == WebOrigin.defaultPort(scheme) ? origin : origin + ":\(port)"
        }
    }
}

/// Which pages may open a WebSocket to Tally, against cross-site WebSocket hijacking:
/// browsers send `Origin` on the handshake but do not apply CORS to WebSocket, so the server
/// must check it itself (RFC 6455 §10.2).
public struct OriginPolicy: Sendable {
    /// The allowed origins. Empty means same-origin only (the dashboard served by Tally).
    public let allowed: [OriginPattern]

    /// Creates a policy from an allow-list; empty means same-origin only.
    public init(allowed: [OriginPattern] = []) {
        self.allowed = allowed
    }

    /// Parses a list of configured patterns.
    public init(patterns: [String]) throws(AuthConfigurationError) {
        var allowed: [OriginPattern] = []
        for pattern in patterns { allowed.append(try OriginPattern(pattern)) }
        self.allowed = allowed
    }

    /// Checks a handshake's `Origin` against the list, or against its own `Host` when the
    /// list is empty. A request without `Origin` is not from a browser page (CLI tools,
    /// other servers), which cannot be hijacked this way, so it passes; those callers still
    /// need credentials when auth is on.
    public func check(origin: String?, host: String?) -> AuthError? {
        guard let origin else { return nil }
        guard let parsed = WebOrigin(origin) else {
            return AuthError(.originNotAllowed, "The page's origin is opaque or malformed.")
        }
        if allowed.isEmpty {
            guard let host, let authority = Authority(Substring(host), defaultPort: parsed.port),
                  authority.host == parsed.host, authority.port == parsed.port else {
                return AuthError(.originNotAllowed, "Only pages served by this server may connect (origin \(parsed)).")
            }
            return nil
        }
        return allowed.contains(where: { $0.matches(parsed) }) ? nil
            : AuthError(.originNotAllowed, "Origin \(parsed) is not in the allowed list.")
    }
}

/// Cross-origin resource sharing for the JSON API (Fetch standard, "CORS protocol"), so an
/// admin portal on another origin can call it from the browser.
///
/// Tokens travel in `Authorization`, never in cookies, so credentials mode is never needed
/// and `Access-Control-Allow-Credentials` is never sent.
public struct CORSPolicy: Sendable {
    /// Origins allowed to read API responses. Empty: no cross-origin access.
    public let allowed: [OriginPattern]
    /// Methods allowed on preflight.
    public let methods: [String]
    /// Request headers allowed on preflight (lowercase).
    public let requestHeaders: [String]
    /// Response headers scripts may read.
    public let exposedHeaders: [String]
    /// How long a browser may cache a preflight answer; ten minutes keeps preflights rare
    /// without pinning a changed policy for long.
    public let maxAge: Int

    /// Creates a policy; the defaults cover every route in the API.
    public init(allowed: [OriginPattern] = [],
                methods: [String] = ["GET", "POST", "OPTIONS"],
                requestHeaders: [String] = ["authorization", "content-type", "last-event-id"],
                exposedHeaders: [String] = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Location"],
                maxAge: Int = 600) {
        self.allowed = allowed
        self.methods = methods
        self.requestHeaders = requestHeaders.map { $0.lowercased() }
        self.exposedHeaders = exposedHeaders
        self.maxAge = maxAge
    }

    /// Whether an origin may read responses.
    public func allows(origin: String?) -> Bool {
        guard let origin, let parsed = WebOrigin(origin) else { return false }
        return allowed.contains(where: { $0.matches(parsed) })
    }

    /// Headers to add to an actual (non-preflight) response for a request with this `Origin`.
    public func responseHeaders(origin: String?) -> HeaderList {
        guard !allowed.isEmpty else { return [] }
        // Vary even when refusing: a shared cache must not hand one origin's answer to another.
        var headers: HeaderList = [("Vary", "Origin")]
        if let origin, allows(origin: origin) {
            headers.append(("Access-Control-Allow-Origin", origin))
            headers.append(("Access-Control-Expose-Headers", exposedHeaders.joined(separator: ", ")))
        }
        return headers
    }

    /// The answer to an `OPTIONS` preflight: headers for a `204`, or the reason for a `403`.
    public func preflight(origin: String?, method: String?, requestHeaders: String?) -> Result<HeaderList, AuthError> {
        guard let origin, allows(origin: origin) else {
            return .failure(AuthError(.originNotAllowed, "Cross-origin requests from this origin are not allowed."))
        }
        guard let method, methods.contains(method.uppercased()) else {
            return .failure(AuthError(.originNotAllowed, "Method not allowed for cross-origin requests."))
        }
        let asked = (requestHeaders ?? "").split(separator: ",").map { $0.trimmingSpaces().lowercased() }.filter { !$0.isEmpty }
        for header in asked where !self.requestHeaders.contains(header) {
            return .failure(AuthError(.originNotAllowed, "Header '\(header)' not allowed for cross-origin requests."))
        }
        return .success([
            ("Vary", "Origin"),
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", methods.joined(separator: ", ")),
            ("Access-Control-Allow-Headers", self.requestHeaders.joined(separator: ", ")),
            ("Access-Control-Max-Age", String(maxAge)),
        ])
    }
}
