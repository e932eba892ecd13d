import Dispatch
import Progress
#if canImport(Glibc)
import Glibc
#endif

extension EventLoop: HubLoop {
    /// True on the loop's own thread.
    public var inLoop: Bool { inEventLoop }
}

/// Registers routes on a `Router` and remembers which, so a test can compare them with the
/// OpenAPI document.
public struct RouteRecorder {
    /// The router being built.
    public var router: Router
    /// `METHOD path` of every route registered through the recorder.
    public private(set) var keys: [String] = []

    /// Wraps `router`.
    public init(router: Router) {
        self.router = router
    }

    /// Registers `handler` for `method` on `path`.
    public mutating func add(_ method: HTTPMethod, _ path: String, body: Router.BodyMode = .buffered(),
                             _ handler: @escaping Router.Handler) {
        router.add(method, path, body: body, handler)
        keys.append(method.rawValue + " " + path)
    }
}

extension APIError {
    /// The error as an HTTP response.
    var http: HTTPResponse {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        headers += self.headers.map { (name: $0.0, value: $0.1) }
        return HTTPResponse(status: status, headers: headers, body: .bytes(body))
    }
}

extension APIResponse {
    /// The response as HTTP.
    var http: HTTPResponse {
        var fields: [(name: String, value: String)] = [("Content-Type", contentType)]
        fields += headers.map { (name: $0.0, value: $0.1) }
        return HTTPResponse(status: status, headers: fields, body: .bytes(body))
    }
}

extension APIContext {
    /// Sends `result`, counted by status, with `extra` headers (rate-limit headers).
    func respond(_ responder: HTTPResponder, _ result: Result<APIResponse, APIError>,
                 extra: [(String, String)] = []) {
        var response: HTTPResponse
        switch result {
        case .success(let value): response = value.http
        case .failure(let error): response = error.http
        }
        response.headers += extra.map { (name: $0.0, value: $0.1) }
        metrics.countResponse(status: response.status)
        responder.respond(response)
    }

    /// Runs `work` off the loop (it writes to the store) and answers when it is done.
    func respondLater(_ responder: HTTPResponder, extra: [(String, String)] = [],
                      _ work: @escaping @Sendable () -> Result<APIResponse, APIError>) {
        let parked = responder.deferResponse()
        let metrics = self.metrics
        blocking.async {
            let result = work()
            var response: HTTPResponse
            switch result {
            case .success(let value): response = value.http
            case .failure(let error): response = error.http
            }
            response.headers += extra.map { (name: $0.0, value: $0.1) }
            metrics.countResponse(status: response.status)
            parked.complete(response)
        }
    }

    /// Answers a read: on the loop when it only reads the local store, off it when it may
    /// also ask the shared PostgreSQL database (other nodes' imports).
    func respondReading(_ responder: HTTPResponder, extra: [(String, String)],
                        _ work: @escaping @Sendable () -> Result<APIResponse, APIError>) {
        if imports.sharesImports {
            respondLater(responder, extra: extra, work)
        } else {
            respond(responder, work(), extra: extra)
        }
    }

    /// Checks the rate limit for the request's client; answers 429 and returns nil when over
    /// it, otherwise returns the headers to add to the answer.
    func admit(_ request: HTTPRequest, _ responder: HTTPResponder) -> [(String, String)]? {
        guard let limiter else { return [] }
        let decision = limiter.check(clientKey(request, responder), now: UInt64(monotonicMilliseconds()) * 1_000_000)
        guard decision.allowed else {
            metrics.rateLimited.increment()
            respond(responder, .failure(.rateLimited(decision)))
            return nil
        }
        return decision.headers
    }

    /// The rate-limit key: the credential when there is one (a portal's backend may serve
    /// many users from one address), the client's address otherwise.
    func clientKey(_ request: HTTPRequest, _ responder: HTTPResponder) -> String {
        if let authorization = request.headers["Authorization"], !authorization.isEmpty {
            return "auth:" + String(authorization.suffix(64))
        }
        if let token = request.query("token"), !token.isEmpty { return "token:" + String(token.suffix(64)) }
        return "addr:" + responder.peerAddress
    }
}

/// Registers every route of `APIRoutes.all` (a test checks that none is missing).
func registerAPIRoutes(on routes: inout RouteRecorder, api: APIContext, context: AppContext) {
    routes.add(.POST, "/api/imports", body: .streamed(maxBytes: api.configuration.maxUploadBytes)) { request, responder in
        UploadHandler.start(request, responder, api: api)
    }
    routes.add(.GET, "/api/jobs") { request, responder in
        guard let extra = api.admit(request, responder) else { return }
        let query: [String: String] = ["state": request.query("state"), "limit": request.query("limit"),
                                       "offset": request.query("offset")].compactMapValues { $0 }
        api.respondReading(responder, extra: extra) { api.jobs.list { query[$0] } }
    }
    routes.add(.POST, "/api/jobs", body: .buffered(maxBytes: 256 * 1024)) { request, responder in
        let body = request.body
        api.respondLater(responder) { api.jobs.createExternal(body: body) }
    }
    routes.add(.GET, "/api/jobs/{id}") { request, responder in
        guard let extra = api.admit(request, responder) else { return }
        switch JobsAPI.validID(request.parameters["id"]) {
        case .failure(let error): api.respond(responder, .failure(error), extra: extra)
        case .success(let id): api.respondReading(responder, extra: extra) { api.jobs.job(id) }
        }
    }
    routes.add(.GET, "/api/jobs/{id}/errors") { request, responder in
        guard let extra = api.admit(request, responder) else { return }
        switch JobsAPI.validID(request.parameters["id"]) {
        case .failure(let error): api.respond(responder, .failure(error), extra: extra)
        case .success(let id):
            let query: [String: String] = ["limit": request.query("limit"), "offset": request.query("offset"),
                                           "format": request.query("format")].compactMapValues { $0 }
            api.respondLater(responder) { api.jobs.errors(id) { query[$0] } }
        }
    }
    routes.add(.POST, "/api/jobs/{id}/cancel") { request, responder in
        switch JobsAPI.validID(request.parameters["id"]) {
        case .failure(let error): api.respond(responder, .failure(error))
        case .success(let id): api.respondLater(responder) { api.jobs.cancel(id) }
        }
    }
    routes.add(.POST, "/api/jobs/{id}/retry") { request, responder in
        switch JobsAPI.validID(request.parameters["id"]) {
        case .failure(let error): api.respond(responder, .failure(error))
        case .success(let id): api.respondLater(responder) { api.jobs.retry(id) }
        }
    }
    routes.add(.POST, "/api/jobs/{id}/progress", body: .buffered(maxBytes: 256 * 1024)) { request, responder in
        switch JobsAPI.validID(request.parameters["id"]) {
        case .failure(let error): api.respond(responder, .failure(error))
        case .success(let id):
            let body = request.body
            api.respondLater(responder) { api.jobs.publishProgress(id, body: body) }
        }
    }
    routes.add(.GET, "/api/jobs/{id}/events") { request, responder in
        guard let extra = api.admit(request, responder) else { return }
        LongPoll.start(request, responder, api: api, extra: extra)
    }
    routes.add(.GET, "/api/jobs/{id}/stream") { request, responder in
        guard api.admit(request, responder) != nil else { return }
        SSEStream.start(request, responder, api: api)
    }
    let oneJob = JobSocket.route(api: api, security: context.security, isMultiplexed: false)
    routes.add(.GET, "/ws/jobs/{id}") { request, responder in
        JobSocket.start(request, responder, route: oneJob)
    }
    let multiplexed = JobSocket.route(api: api, security: context.security, isMultiplexed: true)
    routes.add(.GET, "/ws") { request, responder in
        JobSocket.start(request, responder, route: multiplexed)
    }
    let loops = context.configuration.server.loopCount
    let startedAt = context.startedAt
    routes.add(.GET, "/healthz") { _, responder in
        let uptime = Double(monotonicMilliseconds() - startedAt) / 1000
        // Degraded: Redis is unreachable, so other nodes' jobs are not followed until it is back.
        let status = api.redis.map { $0.isDegraded ? "degraded" : "ok" } ?? "ok"
        let redis = api.redis.map { $0.isDegraded ? ",\"redis\":\"down\"" : ",\"redis\":\"up\"" } ?? ""
        api.respond(responder, .success(.json(Array("{\"status\":\"\(status)\"\(redis),\"version\":\"\(OpenAPI.version)\",\"uptime\":\(uptime),\"loops\":\(loops)}".utf8))))
    }
    routes.add(.GET, "/metrics") { _, responder in
        // Collectors read the store: off the loop.
        api.respondLater(responder) {
            .success(APIResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                 body: Array(api.metrics.registry.exposition().utf8)))
        }
    }
    routes.add(.GET, "/openapi.json") { _, responder in
        api.respond(responder, .success(.json(api.openAPIBytes)))
    }
    routes.add(.GET, "/docs") { _, responder in
        api.respond(responder, .success(APIResponse(status: 200, contentType: "text/html; charset=utf-8", body: api.docsHTML)))
    }
}

/// Parses `after` (absent means from the start); nil when present but not a count.
func parseAfter(_ text: String?) -> UInt64?? {
    guard let text, !text.isEmpty else { return .some(nil) }
    guard let value = UInt64(text) else { return nil }
    return .some(value)
}
