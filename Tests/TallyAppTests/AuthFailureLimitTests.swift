import Glibc
import Auth
import Testing
@testable import TallyApp

/// The per-address limit on failed authentications: the limiter's arithmetic with a moved
/// clock, then the 429 over loopback on HTTP (REST and SSE), the WebSocket handshake and the
/// WebSocket first message, and its figures in `/metrics`.
struct AuthFailureLimitTests {
    static let forgedSecret = Array("another-secret-another-secret-xx".utf8)

    @Test func locksAnAddressOutAfterTheLimitForOneWindow() {
        let limiter = AuthFailureLimiter(policy: AuthFailurePolicy(maxFailures: 3, windowSeconds: 60))
        let start: UInt64 = 1_000_000
        #expect(limiter.recordFailure("10.0.0.1", now: start) == nil)
        #expect(limiter.recordFailure("10.0.0.1", now: start + 1_000) == nil)
        #expect(limiter.retryAfter("10.0.0.1", now: start + 1_500) == nil)
        #expect(limiter.recordFailure("10.0.0.1", now: start + 2_000) == 60)
        #expect(limiter.retryAfter("10.0.0.1", now: start + 2_000) == 60)
        #expect(limiter.retryAfter("10.0.0.1", now: start + 31_500) == 31)
        #expect(limiter.retryAfter("10.0.0.2", now: start + 2_000) == nil, "other addresses are not affected")
        #expect(limiter.blockedAddresses(now: start + 2_000) == 1)
        #expect(limiter.lockoutCount == 1)
        #expect(limiter.retryAfter("10.0.0.1", now: start + 62_000) == nil, "the lockout ends with its window")
        #expect(limiter.blockedAddresses(now: start + 62_000) == 0)
    }

    @Test func failuresSpreadOverWindowsDoNotAddUp() {
        let limiter = AuthFailureLimiter(policy: AuthFailurePolicy(maxFailures: 3, windowSeconds: 10))
        for window in 0..<5 {
            let base = UInt64(window) * 10_000
            #expect(limiter.recordFailure("a", now: base) == nil)
            #expect(limiter.recordFailure("a", now: base + 5_000) == nil)
        }
        #expect(limiter.retryAfter("a", now: 50_000) == nil)
    }

    @Test func remembersABoundedNumberOfAddresses() {
        let limiter = AuthFailureLimiter(policy: AuthFailurePolicy(maxFailures: 2, windowSeconds: 60, maxAddresses: 64), shardCount: 4)
        limiter.recordFailure("locked", now: 0)
        limiter.recordFailure("locked", now: 0)
        for index in 0..<10_000 { limiter.recordFailure("10.1.\(index / 256).\(index % 256)", now: 1_000) }
        #expect(limiter.trackedAddresses <= 64)
        #expect(limiter.retryAfter("locked", now: 1_000) != nil, "a locked-out address is forgotten last")
    }

    @Test func parsesThePolicyFlag() throws {
        #expect(AuthFailurePolicy.parse("5/30") == AuthFailurePolicy(maxFailures: 5, windowSeconds: 30))
        for bad in ["", "5", "0/30", "5/0", "x/30", "5/30/1"] { #expect(AuthFailurePolicy.parse(bad) == nil, "\(bad)") }
        #expect(try SecurityConfiguration.parse(["--auth-failure-limit", "off"]).0.authFailures == nil)
        #expect(try SecurityConfiguration.parse(["--auth-failure-limit=3/10"]).0.authFailures == AuthFailurePolicy(maxFailures: 3, windowSeconds: 10))
        #expect(try SecurityConfiguration.parse([]).0.authFailures == AuthFailurePolicy())
        #expect(throws: AuthConfigurationError.self) { try SecurityConfiguration.parse(["--auth-failure-limit", "lots"]) }
    }

    // MARK: - Over loopback

    private func server(limit: String = "3/60") throws -> TestServer {
        try TestAuth.server(loops: 1) { configuration in
            configuration.security.authFailures = AuthFailurePolicy.parse(limit)
        }
    }

    /// Read in-process: the test client's own address is locked out by then.
    private func metric(_ server: TestServer, _ line: String) -> Bool {
        server.api.metrics.registry.exposition().contains(line)
    }

    @Test func httpFailuresLeadToA429ThatCoversEveryCredential() throws {
        let server = try server()
        _ = try TestAuth.createJob(server)  // throws unless 201
        // Expired and missing tokens are not guesses: they do not count.
        for _ in 0..<5 {
            #expect(try server.request("GET", "/api/jobs?token=" + (try TestAuth.token("*", ttl: -3600))).status == 401)
            #expect(try server.request("GET", "/api/jobs").status == 401)
        }
        #expect(try server.request("GET", "/api/jobs", headers: [("Authorization", "Bearer wrong-key-0123456789")]).status == 401)
        #expect(try server.request("GET", "/api/jobs/x/stream?token=" + (try TestAuth.token("*", secret: Self.forgedSecret))).status == 401)
        let third = try server.request("POST", "/api/jobs", headers: [("Authorization", "Bearer not.a.token")])
        #expect(third.status == 401 && third.text.contains("auth.malformed_token"))
        // Locked out: even the right key is not looked at.
        for headers in [[("Authorization", "Bearer " + TestAuth.adminKey)], [("Authorization", "Bearer wrong-key-0123456789")]] {
            let refused = try server.request("GET", "/api/jobs", headers: headers)
            #expect(refused.status == 429 && refused.text.contains("auth.too_many_failures"))
            #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 59)
            #expect(refused.header("WWW-Authenticate") == nil)
        }
        #expect(try server.request("GET", "/api/jobs/x/events?token=" + (try TestAuth.token("x"))).status == 429)
        // Without credentials nothing is guessed: the usual 401, and open routes stay open.
        #expect(try server.request("GET", "/api/jobs").status == 401)
        #expect(try server.request("GET", "/healthz").status == 200)
        #expect(metric(server, "tally_auth_failure_lockouts_total 1"))
        #expect(metric(server, "tally_auth_failure_locked_addresses 1"))
        #expect(metric(server, "tally_auth_refusals_total{code=\"auth.too_many_failures\"} 3"))
    }

    @Test func webSocketHandshakeAndFirstMessageFailuresCountToo() throws {
        let server = try server()
        let forged = try TestAuth.token("*", secret: Self.forgedSecret)
        // One failed handshake, two failed first messages.
        #expect(throws: ClientError.self) {
            _ = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws?token=" + forged)
        }
        for _ in 0..<2 {
            let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws")
            try socket.send(text: #"{"type":"auth","token":"\#(forged)"}"#)
            #expect(try socket.closeCode() == 4401)
        }
        // Locked out: a valid token is refused at the handshake with 429…
        let valid = try TestAuth.token("*")
        let refused = try server.request("GET", "/ws?token=" + valid, headers: [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")])
        #expect(refused.status == 429 && refused.text.contains("auth.too_many_failures") && refused.header("Retry-After") != nil)
        // …and in a first message with close 4429.
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws")
        try socket.send(text: #"{"type":"auth","token":"\#(valid)"}"#)
        #expect(try socket.closeCode() == 4429)
        #expect(metric(server, "tally_auth_failure_lockouts_total 1"))
    }

    @Test func offMeansNoLockout() throws {
        let server = try TestServer(loops: 1) { configuration in
            configuration.security.apiKeys = [TestAuth.adminKey]
            configuration.security.authFailures = nil
        }
        for _ in 0..<30 {
            #expect(try server.request("GET", "/api/jobs", headers: [("Authorization", "Bearer wrong-key-0123456789")]).status == 401)
        }
        #expect(try server.request("GET", "/api/jobs", headers: [("Authorization", "Bearer " + TestAuth.adminKey)]).status == 200)
    }
}
