/// What a request wants to do, as far as access control cares.
public enum AccessRequest: Equatable, Sendable {
    /// Read one job: its snapshot, errors, events (long-poll, SSE, WebSocket).
    case watchJob(String)
    /// Read every job: the job list, or a `*` subscription.
    case watchAllJobs
    /// Change things: create, cancel, retry, publish progress.
    case admin
}

/// Who the caller turned out to be.
public enum Principal: Equatable, Sendable {
    /// No credentials were shown. Allowed everything in open mode, nothing otherwise.
    case anonymous
    /// The holder of an API key: may do everything.
    case admin
    /// The holder of a valid subscribe token: may watch what its `sub` covers.
    case subscriber(SubscribeClaims)
}

/// Where a caller's credentials were found. The app fills in what the transport offers:
/// the `Authorization` header, the `token` query parameter (browsers cannot set headers on
/// WebSocket or EventSource), or a first WebSocket message `{"type":"auth","token":"…"}`.
public struct Credentials: Equatable, Sendable {
    /// The raw `Authorization` header value, if any.
    public var authorizationHeader: String?
    /// The `token` query parameter, already percent-decoded, if any.
    public var queryToken: String?
    /// The token of a first-message auth, if any.
    public var messageToken: String?

    /// Creates credentials from whatever the transport found.
    public init(authorizationHeader: String? = nil, queryToken: String? = nil, messageToken: String? = nil) {
        self.authorizationHeader = authorizationHeader
        self.queryToken = queryToken
        self.messageToken = messageToken
    }

    /// Whether nothing at all was shown.
    public var isEmpty: Bool {
        authorizationHeader == nil && queryToken == nil && messageToken == nil
    }

    /// The `token` parameter of a raw query string (`a=1&token=xyz`), percent-decoded, or
    /// nil when absent or badly encoded.
    public static func token(inQuery query: Substring) -> String? {
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            guard pair[..<equals] == "token" else { continue }
            return percentDecoded(pair[pair.index(after: equals)...])
        }
        return nil
    }

    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// The outcome of an access check.
public enum AccessDecision: Equatable, Sendable {
    /// Go ahead; the principal is kept by connections that authorize more requests later
    /// (a multiplexed WebSocket subscribing to several jobs).
    case allowed(Principal)
    /// Refuse with the error's status (401/403) and code.
    case denied(AuthError)
}

/// What to do with a WebSocket upgrade request, before any frame is exchanged.
public enum HandshakeDecision: Equatable, Sendable {
    /// Upgrade; the connection acts as this principal.
    case accept(Principal)
    /// Upgrade, but the first message must be `{"type":"auth","token":"…"}` within the
    /// auth timeout; nothing else is served until then.
    case acceptPendingAuth
    /// Answer the upgrade request with this error's status instead.
    case reject(AuthError)
}

/// The one place that decides who may do what. A value built at start from the
/// configuration and called by every transport, so REST, long-poll, SSE and both WebSocket
/// routes apply the same rules and give the same codes.
///
/// - Open mode (no token secret, no API key): everything is allowed, for local use; see
///   `StartupCheck` for the warning when that is exposed to a network.
/// - Otherwise watching needs an API key or a subscribe token that covers the job, and
///   changing things needs an API key.
public struct AccessPolicy: Sendable {
    /// Verifies subscribe tokens; nil when no secret is configured.
    public let tokens: JWTCodec?
    /// The admin keys.
    public let apiKeys: APIKeySet

    /// Creates a policy from a token codec (if a secret is configured) and the admin keys.
    public init(tokens: JWTCodec?, apiKeys: APIKeySet) {
        self.tokens = tokens
        self.apiKeys = apiKeys
    }

    /// A policy with nothing configured: open mode.
    public static func open() -> AccessPolicy {
        AccessPolicy(tokens: nil, apiKeys: APIKeySet())
    }

    /// True when no secret and no key is configured: every request is allowed.
    public var isOpen: Bool { tokens == nil && apiKeys.isEmpty }

    /// Decides a request in one step: authenticate what was shown, then authorize.
    public func decide(_ request: AccessRequest, credentials: Credentials, now: Int64) -> AccessDecision {
        // Open mode ignores whatever is shown: a page that always sends its token still works
        // against a local server with nothing configured.
        if isOpen { return .allowed(.anonymous) }
        switch authenticate(credentials, now: now) {
        case .failure(let error): return .denied(error)
        case .success(let principal):
            if let error = authorize(request, as: principal, now: now) { return .denied(error) }
            return .allowed(principal)
        }
    }

    /// Decides a WebSocket upgrade for `request` (`.watchJob` for `/ws/jobs/{id}`,
    /// `.watchAllJobs` or nil for the multiplexed `/ws`, whose subscriptions are checked one
    /// by one). Without credentials, and with auth on, the upgrade goes ahead pending a
    /// first-message auth, because browsers cannot set headers on WebSocket.
    public func decideHandshake(_ request: AccessRequest?, credentials: Credentials, now: Int64) -> HandshakeDecision {
        if isOpen { return .accept(.anonymous) }
        if credentials.isEmpty { return .acceptPendingAuth }
        switch authenticate(credentials, now: now) {
        case .failure(let error): return .reject(error)
        case .success(let principal):
            if let request, let error = authorize(request, as: principal, now: now) { return .reject(error) }
            return .accept(principal)
        }
    }

    /// Works out who the caller is. No credentials give `.anonymous`; credentials that are
    /// shown but wrong are an error (401), never silently ignored.
    public func authenticate(_ credentials: Credentials, now: Int64) -> Result<Principal, AuthError> {
        let presented: String
        if let header = credentials.authorizationHeader {
            guard let token = Self.bearerToken(header) else {
                return .failure(AuthError(.malformedToken, "The Authorization header is not 'Bearer <token>'."))
            }
            presented = token
        } else if let token = credentials.queryToken ?? credentials.messageToken {
            presented = token
        } else {
            return .success(.anonymous)
        }
        guard !presented.isEmpty else { return .failure(AuthError(.missingToken, "The token is empty.")) }
        if apiKeys.contains(presented) { return .success(.admin) }
        guard let tokens else {
            return .failure(AuthError(.invalidAPIKey, "The credential is not a valid API key."))
        }
        // An API key never holds a dot, a JWT always holds two: tell the caller which one failed.
        guard presented.utf8.contains(UInt8(ascii: ".")) else {
            return .failure(AuthError(.invalidAPIKey, "The credential is neither a valid API key nor a token."))
        }
        do {
            return .success(.subscriber(try tokens.verify(presented, now: now)))
        } catch {
            return .failure(error)
        }
    }

    /// Whether `principal` may do `request` (nil) or why not. Tokens are checked for expiry
    /// again, so a long-lived multiplexed WebSocket cannot add subscriptions on a token that
    /// has run out since it connected.
    public func authorize(_ request: AccessRequest, as principal: Principal, now: Int64) -> AuthError? {
        switch principal {
        case .admin:
            return nil
        case .anonymous:
            if isOpen { return nil }
            if request == .admin && apiKeys.isEmpty { return Self.adminDisabled }
            return AuthError(.missingToken, request == .admin ? "This action needs an API key." : "Watching jobs needs a token or an API key.")
        case .subscriber(let claims):
            if request == .admin {
                return apiKeys.isEmpty ? Self.adminDisabled : AuthError(.adminRequired, "A subscribe token cannot change jobs; this action needs an API key.")
            }
            if let exp = claims.expiresAt, let tokens {
                let (limit, overflow) = exp.addingReportingOverflow(tokens.leeway)
                if !overflow && now >= limit { return AuthError(.expired, "The token expired.") }
            }
            switch request {
            case .watchJob(let job):
                return claims.covers(job: job) ? nil : AuthError(.outOfScope, "The token does not cover this job.")
            case .watchAllJobs:
                return claims.covers(job: nil) ? nil : AuthError(.outOfScope, "The token covers one job, not all of them.")
            case .admin:
                return nil
            }
        }
    }

    private static let adminDisabled = AuthError(.adminDisabled, "Admin actions are disabled: auth is on and no API key is configured (start with --api-key).")

    /// The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1): the scheme is
    /// case-insensitive, and the token is one run of non-space characters.
    public static func bearerToken(_ header: String) -> String? {
        let trimmed = Substring(header).trimmingSpaces()
        let parts = trimmed.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingSpaces()
        guard !token.isEmpty, !token.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else { return nil }
        return token
    }
}

/// The first WebSocket message of a client that could not put its token in the URL.
public enum AuthMessage {
    /// The token of a text message `{"type":"auth","token":"…"}`, or nil for any other
    /// message (which the server then refuses with `auth.missing_token`).
    public static func token(fromText bytes: some Collection<UInt8>) -> String? {
        guard bytes.count <= JWTCodec.maxTokenLength + 256,
              let object = CompactJSON.parse(bytes)?.objectValue,
              object["type"]?.stringValue == "auth",
              let token = object["token"]?.stringValue else { return nil }
        return token
    }
}
