import Glibc

/// What a route needs before its handler runs.
public enum RouteAccess: Equatable, Sendable {
    /// Anyone: health, docs, the OpenAPI document, the dashboard's files.
    case open
    /// Credentials that allow this request (REST, long-poll, SSE).
    case request(AccessRequest)
    /// A WebSocket upgrade: Origin checked, credentials checked if shown, otherwise the first
    /// message must authenticate. The request is nil for the multiplexed `/ws`, whose
    /// subscriptions are checked one by one.
    case webSocket(AccessRequest?)
}

/// Tally's security decisions plugged into the HTTP server: the admission check run before
/// every handler (CORS preflight, WebSocket Origin, credentials per route) and the headers
/// added to every response (CSP and friends, CORS). One object, built at start from
/// `SecurityConfiguration`, shared by every loop.
public final class SecurityGate: Sendable {
    /// Who may do what.
    public let policy: AccessPolicy
    /// Which pages may open WebSockets.
    public let origins: OriginPolicy
    /// Which origins may call the API from a browser.
    public let cors: CORSPolicy
    /// Headers for pages and API responses.
    public let headers: SecurityHeaders
    private let clock: @Sendable () -> Int64
    /// Monotonic milliseconds, for the failure limiter's windows.
    private let monotonicClock: @Sendable () -> UInt64
    /// Failed authentications per client address; nil when `--auth-failure-limit off`.
    public let failures: AuthFailureLimiter?
    private let docsHeaders: HeaderList
    /// `headers.api()` and `headers.dashboard()`, built once: every response carries one.
    private let apiHeaders: HeaderList
    private let dashboardHeaders: HeaderList
    private let refusals: [AuthError.Code: MetricCounter]
    private let preflights = MetricCounter()

    /// Builds the gate; throws for a weak secret or key, or a bad origin pattern.
    public init(configuration: SecurityConfiguration, clock: @escaping @Sendable () -> Int64 = { Int64(time(nil)) },
                monotonicClock: @escaping @Sendable () -> UInt64 = { monotonicMilliseconds() }) throws(AuthConfigurationError) {
        policy = try configuration.accessPolicy()
        origins = try configuration.originPolicy()
        cors = try configuration.corsPolicy()
        headers = configuration.securityHeaders()
        self.clock = clock
        self.monotonicClock = monotonicClock
        failures = configuration.authFailures.map { AuthFailureLimiter(policy: $0) }
        docsHeaders = headers.staticDocument(inlineStyles: SecurityGate.inlineStyles(of: DocsPage.html()))
        apiHeaders = headers.api()
        dashboardHeaders = headers.dashboard()
        var refusals: [AuthError.Code: MetricCounter] = [:]
        for code in AuthError.Code.allCases { refusals[code] = MetricCounter() }
        self.refusals = refusals
    }

    /// What each route needs. Unknown routes under `/api/` and `/ws` need an API key, so a
    /// route added later without an entry here fails closed.
    public static func access(method: HTTPMethod, pattern: String?, parameters: HTTPParameters) -> RouteAccess {
        guard let pattern else { return .open }
        let job = parameters["id"] ?? ""
        switch (method.rawValue, pattern) {
        case ("GET", "/api/jobs"), ("HEAD", "/api/jobs"):
            return .request(.watchAllJobs)
        case ("GET", "/api/jobs/{id}"), ("GET", "/api/jobs/{id}/errors"), ("GET", "/api/jobs/{id}/events"),
             ("GET", "/api/jobs/{id}/stream"), ("HEAD", "/api/jobs/{id}"):
            return .request(.watchJob(job))
        case ("GET", "/ws/jobs/{id}"):
            return .webSocket(.watchJob(job))
        case ("GET", "/ws"):
            return .webSocket(nil)
        case ("GET", "/healthz"), ("HEAD", "/healthz"), ("GET", "/openapi.json"), ("GET", "/docs"):
            return .open
        case ("GET", "/metrics"):
            return .request(.admin)
        default:
            if pattern.hasPrefix("/api/") || pattern.hasPrefix("/ws") { return .request(.admin) }
            return .open
        }
    }

    /// The credentials a request shows: its `Authorization` header and `token` query
    /// parameter.
    public func credentials(of head: HTTPRequestHead) -> Credentials {
        Credentials(authorizationHeader: head.headers["Authorization"],
                    queryToken: head.query.flatMap { Credentials.token(inQuery: $0) })
    }

    /// The admission check (`HTTPServerConfiguration.admission`): nil lets the request
    /// through, a response refuses it.
    public func admit(_ request: HTTPAdmissionRequest) -> HTTPResponse? {
        let head = request.head
        if head.method == .OPTIONS, head.headers["Access-Control-Request-Method"] != nil {
            return preflight(head)
        }
        switch Self.access(method: head.method, pattern: request.pattern, parameters: request.parameters) {
        case .open:
            return nil
        case .request(let access):
            let credentials = credentials(of: head)
            if let lockout = lockout(credentials, peer: request.peerAddress) { return lockout }
            guard case .denied(let error) = policy.decide(access, credentials: credentials, now: clock()) else { return nil }
            return refuse(failed(error, peer: request.peerAddress))
        case .webSocket(let access):
            if let error = origins.check(origin: head.headers["Origin"], host: head.headers["Host"]) {
                return refuse(error)
            }
            let credentials = credentials(of: head)
            if let lockout = lockout(credentials, peer: request.peerAddress) { return lockout }
            guard case .reject(let error) = policy.decideHandshake(access, credentials: credentials, now: clock()) else { return nil }
            return refuse(failed(error, peer: request.peerAddress))
        }
    }

    /// The 429 for a request showing credentials from an address that failed too often,
    /// answered before the credentials are looked at.
    private func lockout(_ credentials: Credentials, peer: String) -> HTTPResponse? {
        guard let seconds = lockedOut(credentials, peer: peer) else { return nil }
        var response = refuse(Self.tooManyFailures(seconds))
        response.headers.append(("Retry-After", String(seconds)))
        return response
    }

    /// Seconds `peer` must wait before its credentials are looked at, when it shows some.
    private func lockedOut(_ credentials: Credentials, peer: String) -> Int? {
        guard let failures, !policy.isOpen, !credentials.isEmpty else { return nil }
        return failures.retryAfter(peer, now: monotonicClock())
    }

    /// Counts `error` against `peer` when it is a failed guess; returns it.
    private func failed(_ error: AuthError, peer: String) -> AuthError {
        if error.isCredentialFailure { failures?.recordFailure(peer, now: monotonicClock()) }
        return error
    }

    private static func tooManyFailures(_ seconds: Int) -> AuthError {
        AuthError(.tooManyFailures, "Too many failed authentications from your address; try again in \(seconds) s.")
    }

    /// How a WebSocket connection starts after its upgrade was admitted: with a principal,
    /// or waiting for `{"type":"auth","token":"…"}` as its first message.
    public func webSocketStart(_ head: HTTPRequestHead, access: AccessRequest?) -> HandshakeDecision {
        policy.decideHandshake(access, credentials: credentials(of: head), now: clock())
    }

    /// Checks a first WebSocket message that should authenticate the connection, for
    /// `access` (nil on the multiplexed route). The error's `webSocketCloseCode` is the close
    /// code to use.
    /// A failure on `peer`'s address counts towards its failure limit, and an address that
    /// is locked out is refused with `auth.too_many_failures` (close 4429) unheard.
    public func authenticateFirstMessage(_ text: some Collection<UInt8>, for access: AccessRequest?, peer: String = "") -> Result<Principal, AuthError> {
        guard let token = AuthMessage.token(fromText: text) else {
            return .failure(count(AuthError(.missingToken, "The first message must be {\"type\":\"auth\",\"token\":\"…\"}.")))
        }
        let credentials = Credentials(messageToken: token)
        if let seconds = lockedOut(credentials, peer: peer) { return .failure(count(Self.tooManyFailures(seconds))) }
        let now = clock()
        switch policy.authenticate(credentials, now: now) {
        case .failure(let error):
            return .failure(count(failed(error, peer: peer)))
        case .success(let principal):
            if let access, let error = policy.authorize(access, as: principal, now: now) { return .failure(count(error)) }
            return .success(principal)
        }
    }

    /// Whether a connection that authenticated as `principal` may watch `job` (nil: all
    /// jobs), for each subscription on the multiplexed WebSocket.
    public func authorizeSubscription(job: String?, as principal: Principal) -> AuthError? {
        let access: AccessRequest = job.map { $0 == "*" ? .watchAllJobs : .watchJob($0) } ?? .watchAllJobs
        return policy.authorize(access, as: principal, now: clock()).map(count)
    }

    /// Headers for every response (`HTTPServerConfiguration.responseHeaders`).
    public func responseHeaders(_ head: HTTPRequestHead, pattern: String?, status: Int) -> [(name: String, value: String)] {
        var list: HeaderList
        switch pattern {
        case "/docs"?:
            list = docsHeaders
        case let pattern? where pattern.hasPrefix("/api/") || pattern == "/openapi.json" || pattern == "/healthz" || pattern == "/metrics":
            let origin = cors.responseHeaders(origin: head.headers["Origin"])
            list = origin.isEmpty ? apiHeaders : apiHeaders + origin
        default:
            list = dashboardHeaders
        }
        return list
    }

    private func preflight(_ head: HTTPRequestHead) -> HTTPResponse {
        preflights.increment()
        switch cors.preflight(origin: head.headers["Origin"], method: head.headers["Access-Control-Request-Method"],
                              requestHeaders: head.headers["Access-Control-Request-Headers"]) {
        case .success(let list):
            return HTTPResponse(status: 204, headers: list.map { (name: $0.name, value: $0.value) })
        case .failure(let error):
            return refuse(error)
        }
    }

    private func refuse(_ error: AuthError) -> HTTPResponse {
        _ = count(error)
        return Self.response(for: error)
    }

    private func count(_ error: AuthError) -> AuthError {
        refusals[error.code]?.increment()
        return error
    }

    /// The JSON error response for an auth refusal, with its status.
    public static func response(for error: AuthError) -> HTTPResponse {
        var response = HTTPResponse.error(status: error.httpStatus, code: error.code.rawValue, message: error.message)
        if let challenge = error.wwwAuthenticate { response.headers.append(("WWW-Authenticate", challenge)) }
        return response
    }

    /// Registers the refusal counters with `/metrics`.
    public func register(in metrics: MetricsRegistry) {
        metrics.register("tally_auth_refusals_total", help: "Requests and WebSocket messages refused by authentication, authorization or Origin checks, by code.", type: .counter) { [self] in
            AuthError.Code.allCases.map { code in
                MetricSample(labels: [("code", code.rawValue)], value: Double(refusals[code]?.count ?? 0))
            }
        }
        metrics.register("tally_cors_preflights_total", help: "CORS preflight requests answered.", type: .counter) { [self] in
            [MetricSample(value: Double(preflights.count))]
        }
        metrics.register("tally_auth_failure_lockouts_total", help: "Client addresses locked out after too many failed authentications (--auth-failure-limit).", type: .counter) { [self] in
            [MetricSample(value: Double(failures?.lockoutCount ?? 0))]
        }
        metrics.register("tally_auth_failure_locked_addresses", help: "Client addresses locked out now; their credentialed requests get 429.", type: .gauge) { [self] in
            [MetricSample(value: Double(failures?.blockedAddresses(now: monotonicClock()) ?? 0))]
        }
        metrics.register("tally_auth_open_mode", help: "1 when no token secret and no API key is configured.", type: .gauge) { [self] in
            [MetricSample(value: policy.isOpen ? 1 : 0)]
        }
    }

    /// Registers the connection limiter's figures with `/metrics`.
    public static func registerConnectionLimits(_ limiter: ConnectionLimiter, in metrics: MetricsRegistry) {
        metrics.register("tally_tcp_connections", help: "Open TCP connections (all transports, before any upgrade).", type: .gauge) {
            [MetricSample(value: Double(limiter.openConnections))]
        }
        metrics.register("tally_connections_refused_total", help: "Connections refused at accept with 503, by limit.", type: .counter) {
            [MetricSample(labels: [("limit", "per_address")], value: Double(limiter.refusedForAddress)),
             MetricSample(labels: [("limit", "total")], value: Double(limiter.refusedForLoad))]
        }
        metrics.register("tally_connection_limit", help: "Configured connection limits (0: none).", type: .gauge) {
            [MetricSample(labels: [("limit", "per_address")], value: Double(limiter.maxPerAddress)),
             MetricSample(labels: [("limit", "total")], value: Double(limiter.maxTotal))]
        }
    }

    /// The bodies of a page's inline `<style>` elements, exactly as written.
    static func inlineStyles(of html: String) -> [String] {
        var styles: [String] = []
        var rest = Substring(html)
        while let open = rest.firstRange(of: "<style>"), let close = rest[open.upperBound...].firstRange(of: "</style>") {
            styles.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return styles
    }
}
