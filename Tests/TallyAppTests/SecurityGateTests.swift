import Auth
import Testing
@testable import TallyApp

/// The gate in front of stub handlers at the real route patterns, over loopback: what every
/// transport (REST, long-poll, SSE, both WebSocket routes, admin actions) answers for no
/// token, a bad signature, an expired token, the wrong job and the wrong Origin.
struct SecurityGateTests {
    static let secret = "0123456789abcdef0123456789abcdef"
    static let adminKey = "admin-key-0123456789"
    static let now: Int64 = 1_800_000_000

    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: String
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    private func gate() throws -> SecurityGate {
        var configuration = SecurityConfiguration()
        configuration.tokenSecret = Array(Self.secret.utf8)
        configuration.apiKeys = [Self.adminKey]
        configuration.allowedOrigins = ["https://portal.example.com"]
        return try SecurityGate(configuration: configuration, clock: { SecurityGateTests.now })
    }

    private func token(_ subject: String, expiresAt: Int64 = now + 600, secret: String = secret) throws -> String {
        try JWTCodec(secret: Array(secret.utf8)).mint(SubscribeClaims(subject: subject, expiresAt: expiresAt))
    }

    private func withGatedServer(_ body: (Int) throws -> Void) throws {
        let gate = try gate()
        var router = Router()
        let ok: Router.Handler = { request, responder in responder.respond(.text("ok " + (request.parameters["id"] ?? "-"))) }
        for pattern in ["/api/jobs", "/api/jobs/{id}", "/api/jobs/{id}/errors", "/api/jobs/{id}/events", "/api/jobs/{id}/stream",
                        "/ws/jobs/{id}", "/ws", "/healthz", "/metrics"] {
            router.get(pattern, ok)
        }
        for pattern in ["/api/imports", "/api/jobs", "/api/jobs/{id}/cancel", "/api/jobs/{id}/retry", "/api/jobs/{id}/progress"] {
            router.post(pattern, ok)
        }
        router.fallback = { _, responder in responder.respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/html")], body: .bytes(Array("<p>dashboard</p>".utf8)))) }
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.loopCount = 1
        configuration.admission = { gate.admit($0) }
        configuration.responseHeaders = { gate.responseHeaders($0, pattern: $1, status: $2) }
        let server = try HTTPServer(configuration: configuration, router: router, logger: .disabled)
        let port = try server.start()
        defer { server.shutdown() }
        try body(port)
    }

    private func send(_ port: Int, _ method: String, _ target: String, headers: [String] = []) throws -> Answer {
        let socket = try BlockingSocket.connect(host: "127.0.0.1", port: port)
        defer { socket.close() }
        let lines = ["\(method) \(target) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close", "Content-Length: 0"] + headers
        try socket.write(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        var data: [UInt8] = []
        while true {
            let chunk = try socket.read(timeout: 5)
            if chunk.isEmpty { break }
            data += chunk
        }
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        let headLines = (parts.first ?? "").split(separator: "\r\n")
        let status = headLines.first.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        let fields = headLines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...].drop(while: { $0 == " " })))
        }
        return Answer(status: status, headers: fields, body: parts.count > 1 ? String(parts[1]) : "")
    }

    private func upgrade(_ token: String? = nil, path: String = "/ws/jobs/job-1", origin: String? = nil) -> [String] {
        var headers = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
        if let origin { headers.append("Origin: " + origin) }
        if let token { headers.append("Authorization: Bearer " + token) }
        return headers
    }

    @Test func everyReadTransportRefusesNoTokenBadSignatureExpiredAndWrongJob() throws {
        try withGatedServer { port in
            let forged = try token("job-1", secret: "another-secret-another-secret-xx")
            let expired = try token("job-1", expiresAt: Self.now - 3600)
            let wrongJob = try token("job-2")
            let right = try token("job-1")
            for path in ["/api/jobs/job-1", "/api/jobs/job-1/errors", "/api/jobs/job-1/events?after=3&wait=1", "/api/jobs/job-1/stream"] {
                let separator = path.contains("?") ? "&" : "?"
                let none = try send(port, "GET", path)
                #expect(none.status == 401 && none.body.contains("auth.missing_token"), "\(path)")
                #expect(none.header("WWW-Authenticate") == "Bearer realm=\"tally\"")
                let bad = try send(port, "GET", path + separator + "token=" + forged)
                #expect(bad.status == 401 && bad.body.contains("auth.bad_signature"), "\(path)")
                let old = try send(port, "GET", path, headers: ["Authorization: Bearer " + expired])
                #expect(old.status == 401 && old.body.contains("auth.expired"), "\(path)")
                let other = try send(port, "GET", path + separator + "token=" + wrongJob)
                #expect(other.status == 403 && other.body.contains("auth.out_of_scope"), "\(path)")
                let allowed = try send(port, "GET", path + separator + "token=" + right)
                #expect(allowed.status == 200 && allowed.body == "ok job-1", "\(path)")
                let admin = try send(port, "GET", path, headers: ["Authorization: Bearer " + Self.adminKey])
                #expect(admin.status == 200, "\(path)")
            }
            #expect(try send(port, "GET", "/api/jobs?token=" + right).status == 403)
            #expect(try send(port, "GET", "/api/jobs?token=" + (try token("*"))).status == 200)
        }
    }

    @Test func webSocketHandshakesCheckOriginThenCredentials() throws {
        try withGatedServer { port in
            let right = try token("job-1")
            // No credentials: the upgrade goes ahead, pending a first-message auth.
            #expect(try send(port, "GET", "/ws/jobs/job-1", headers: upgrade()).status == 200)
            #expect(try send(port, "GET", "/ws/jobs/job-1", headers: upgrade(right, origin: "https://portal.example.com")).status == 200)
            let hijack = try send(port, "GET", "/ws/jobs/job-1", headers: upgrade(right, origin: "https://evil.example"))
            #expect(hijack.status == 403 && hijack.body.contains("auth.origin_not_allowed"))
            let muxHijack = try send(port, "GET", "/ws", headers: upgrade(origin: "https://evil.example"))
            #expect(muxHijack.status == 403)
            let forged = try send(port, "GET", "/ws/jobs/job-1?token=" + (try token("job-1", secret: "another-secret-another-secret-xx")), headers: upgrade())
            #expect(forged.status == 401 && forged.body.contains("auth.bad_signature"))
            let expired = try send(port, "GET", "/ws/jobs/job-1", headers: upgrade(try token("job-1", expiresAt: Self.now - 3600)))
            #expect(expired.status == 401 && expired.body.contains("auth.expired"))
            let wrongJob = try send(port, "GET", "/ws/jobs/job-1", headers: upgrade(try token("job-2")))
            #expect(wrongJob.status == 403 && wrongJob.body.contains("auth.out_of_scope"))
            // The multiplexed route checks each subscription, so any valid token connects.
            #expect(try send(port, "GET", "/ws", headers: upgrade(try token("job-2"))).status == 200)
        }
    }

    @Test func adminActionsNeedAnAPIKey() throws {
        try withGatedServer { port in
            let subscriber = try token("*")
            for path in ["/api/imports", "/api/jobs", "/api/jobs/job-1/cancel", "/api/jobs/job-1/retry", "/api/jobs/job-1/progress"] {
                #expect(try send(port, "POST", path).status == 401, "\(path)")
                let forbidden = try send(port, "POST", path, headers: ["Authorization: Bearer " + subscriber])
                #expect(forbidden.status == 403 && forbidden.body.contains("auth.admin_required"), "\(path)")
                let wrong = try send(port, "POST", path, headers: ["Authorization: Bearer wrong-key-0123456789"])
                #expect(wrong.status == 401 && wrong.body.contains("auth.invalid_api_key"), "\(path)")
                #expect(try send(port, "POST", path, headers: ["Authorization: Bearer " + Self.adminKey]).status == 200, "\(path)")
            }
            #expect(try send(port, "GET", "/metrics").status == 401)
            #expect(try send(port, "GET", "/healthz").status == 200)
        }
    }

    @Test func answersCORSPreflightsAndAddsHeaders() throws {
        try withGatedServer { port in
            let preflight = try send(port, "OPTIONS", "/api/jobs/job-1", headers: [
                "Origin: https://portal.example.com", "Access-Control-Request-Method: GET",
                "Access-Control-Request-Headers: authorization"])
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Origin") == "https://portal.example.com")
            let refused = try send(port, "OPTIONS", "/api/jobs/job-1", headers: ["Origin: https://evil.example", "Access-Control-Request-Method: GET"])
            #expect(refused.status == 403)
            let api = try send(port, "GET", "/api/jobs/job-1", headers: ["Origin: https://portal.example.com", "Authorization: Bearer " + Self.adminKey])
            #expect(api.header("Access-Control-Allow-Origin") == "https://portal.example.com")
            #expect(api.header("Content-Security-Policy") == "default-src 'none'; frame-ancestors 'none'")
            #expect(api.header("X-Content-Type-Options") == "nosniff")
            let page = try send(port, "GET", "/index.html")
            let csp = page.header("Content-Security-Policy") ?? ""
            #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"))
            #expect(page.header("Referrer-Policy") == "no-referrer")
            #expect(page.header("Access-Control-Allow-Origin") == nil)
        }
    }

    @Test func docsPageStylesAllowedByHash() throws {
        let gate = try gate()
        let styles = SecurityGate.inlineStyles(of: DocsPage.html())
        #expect(styles.count == 1)
        let headers = gate.responseHeaders(HTTPRequestHead(method: .GET, target: "/docs"), pattern: "/docs", status: 200)
        let csp = headers.first { $0.name == "Content-Security-Policy" }?.value ?? ""
        #expect(csp.contains(SecurityHeaders.hashSource(of: styles[0])))
    }

    @Test func firstMessageAuthAndSubscriptions() throws {
        let gate = try gate()
        let message = Array(#"{"type":"auth","token":"\#(try token("job-1"))"}"#.utf8)
        guard case .success(let principal) = gate.authenticateFirstMessage(message, for: .watchJob("job-1")) else {
            Issue.record("first-message auth refused")
            return
        }
        #expect(gate.authorizeSubscription(job: "job-1", as: principal) == nil)
        #expect(gate.authorizeSubscription(job: "job-2", as: principal)?.code == .outOfScope)
        #expect(gate.authorizeSubscription(job: "*", as: principal)?.code == .outOfScope)
        guard case .failure(let wrong) = gate.authenticateFirstMessage(message, for: .watchJob("job-2")) else {
            Issue.record("wrong job accepted")
            return
        }
        #expect(wrong.webSocketCloseCode == 4403)
        guard case .failure(let notAuth) = gate.authenticateFirstMessage(Array(#"{"type":"subscribe","job":"job-1"}"#.utf8), for: nil) else {
            Issue.record("non-auth first message accepted")
            return
        }
        #expect(notAuth.code == .missingToken && notAuth.webSocketCloseCode == 4401)
    }
}
