import Auth
import Foundation
import Glibc
import Testing
@testable import TallyApp

/// What `/openapi.json` says about credentials and rate limits is what the server does: every
/// route of `APIRoutes.all` is called over loopback with no credential, the wrong one and the
/// right one, and twice against a one-request rate limit.
struct DocumentedAccessTests {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let adminKey = "admin-key-0123456789"

    private func token(_ subject: String) throws -> String {
        try JWTCodec(secret: Self.secret).mint(SubscribeClaims(subject: subject, expiresAt: Int64(time(nil)) + 600))
    }

    private func body(for route: APIRoute) -> (headers: [(String, String)], body: [UInt8]) {
        switch route.key {
        case "POST /api/jobs": ([("Content-Type", "application/json")], Array(#"{"name":"x"}"#.utf8))
        case "POST /api/jobs/{id}/progress": ([("Content-Type", "application/json")], Array(#"{"processed":1}"#.utf8))
        case "POST /api/imports": ([("Content-Type", "text/csv")], Array("a\n1\n".utf8))
        default: ([], [])
        }
    }

    private func path(_ route: APIRoute, job: String, token: String? = nil) -> String {
        var path = route.path.replacingOccurrences(of: "{id}", with: job)
        var query: [String] = []
        if route.path.hasSuffix("/events") { query.append("wait=0") }
        if let token { query.append("token=" + token) }
        if !query.isEmpty { path += "?" + query.joined(separator: "&") }
        return path
    }

    private func isWebSocket(_ route: APIRoute) -> Bool { route.path.hasPrefix("/ws") }

    /// The status of one call: an HTTP request, an SSE stream's opening, or a WebSocket
    /// upgrade (101 when it went through).
    private func status(_ server: TestServer, _ route: APIRoute, job: String, bearer: String? = nil,
                        queryToken: String? = nil) throws -> (Int, String?) {
        let target = path(route, job: job, token: queryToken)
        var headers: [(String, String)] = bearer.map { [("Authorization", "Bearer " + $0)] } ?? []
        if isWebSocket(route) {
            do {
                let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: target, headers: headers)
                socket.abort()
                return (101, nil)
            } catch {
                let status = error.message.firstRange(of: "HTTP/1.1 ").flatMap { Int(error.message[$0.upperBound...].prefix(3)) } ?? 0
                return (status, error.message)
            }
        }
        if route.path.hasSuffix("/stream") {
            // The stream stays open once it starts: read its head and the first record only.
            let socket = try BlockingSocket.connect(host: "127.0.0.1", port: server.port)
            defer { socket.close() }
            var head = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            try socket.write(Array((head + "\r\n").utf8))
            let first = try socket.read(timeout: 10)
            let status = Int(String(decoding: first.dropFirst(9).prefix(3), as: UTF8.self)) ?? 0
            guard status != 200, let end = first.firstRange(of: [13, 10, 13, 10]) else { return (status, nil) }
            return (status, (try? JSONParser().parse(first[end.upperBound...]))?["error"]?["code"]?.stringValue)
        }
        let (extra, body) = self.body(for: route)
        headers += extra
        let response = try server.request(route.method, target, headers: headers, body: body)
        return (response.status, (try? JSONParser().parse(response.body))?["error"]?["code"]?.stringValue)
    }

    @Test func credentialsAreCheckedAsDocumented() throws {
        let server = try TestServer { configuration in
            configuration.security.tokenSecret = Self.secret
            configuration.security.apiKeys = [Self.adminKey]
        }
        let created = try server.request("POST", "/api/jobs", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer " + Self.adminKey)],
                                         body: Array(#"{"name":"sync","total":100}"#.utf8))
        let job = try #require((try JSONParser().parse(created.body))["id"]?.stringValue)
        let all = try token("*")
        let otherJob = try token("someotherjob")
        for route in APIRoutes.all {
            switch route.access {
            case .open:
                let (status, detail) = try self.status(server, route, job: job)
                #expect(status == 200, "\(route.key) is documented as open: \(status) \(detail ?? "")")
            case .admin:
                let (none, noneCode) = try status(server, route, job: job)
                #expect(none == 401 && noneCode == "auth.missing_token", "\(route.key) without a credential: \(none)")
                let (subscriber, code) = try status(server, route, job: job, bearer: all)
                #expect(subscriber == 403 && code == "auth.admin_required", "\(route.key) with a subscribe token: \(subscriber) \(code ?? "")")
                let (admin, _) = try status(server, route, job: job, bearer: Self.adminKey)
                #expect(![401, 403].contains(admin), "\(route.key) with the API key: \(admin)")
            case .read:
                if isWebSocket(route) {
                    // Without a credential the upgrade waits for a first-message auth (documented).
                    let (wrong, _) = try status(server, route, job: job, queryToken: "not.a.token")
                    #expect(wrong == 401, "\(route.key) with a bad token: \(wrong)")
                    if route.path.contains("{id}") {
                        let (elsewhere, _) = try status(server, route, job: job, queryToken: otherJob)
                        #expect(elsewhere == 403, "\(route.key) with another job's token: \(elsewhere)")
                    }
                } else {
                    let (none, code) = try status(server, route, job: job)
                    #expect(none == 401 && code == "auth.missing_token", "\(route.key) without a credential: \(none)")
                    let (elsewhere, _) = try status(server, route, job: job, bearer: otherJob)
                    #expect(elsewhere == 403, "\(route.key) with another job's token: \(elsewhere)")
                }
                let (header, detail) = try status(server, route, job: job, bearer: isWebSocket(route) ? nil : all,
                                                  queryToken: isWebSocket(route) ? all : nil)
                #expect([101, 200].contains(header), "\(route.key) with a token for every job: \(header) \(detail ?? "")")
                let (query, _) = try status(server, route, job: job, queryToken: all)
                #expect([101, 200].contains(query), "\(route.key) with the token as a query parameter: \(query)")
                let (admin, _) = try status(server, route, job: job, bearer: isWebSocket(route) ? nil : Self.adminKey,
                                            queryToken: isWebSocket(route) ? Self.adminKey : nil)
                #expect([101, 200].contains(admin), "\(route.key) with the API key: \(admin)")
            }
        }
    }

    @Test func aLockedOutAddressHears429WhereDocumented() throws {
        let server = try TestServer { configuration in
            configuration.security.tokenSecret = Self.secret
            configuration.security.apiKeys = [Self.adminKey]
            configuration.security.authFailures = AuthFailurePolicy(maxFailures: 2, windowSeconds: 600)
        }
        let created = try server.request("POST", "/api/jobs", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer " + Self.adminKey)],
                                         body: Array(#"{"name":"sync","total":100}"#.utf8))
        let job = try #require((try JSONParser().parse(created.body))["id"]?.stringValue)
        for _ in 0..<3 { _ = try server.request("GET", "/api/jobs", headers: [("Authorization", "Bearer made-up-key")]) }
        for route in APIRoutes.all {
            let (status, code) = try self.status(server, route, job: job, bearer: isWebSocket(route) ? nil : Self.adminKey,
                                                 queryToken: isWebSocket(route) ? Self.adminKey : nil)
            if route.access == .open {
                #expect(status == 200, "\(route.key) is open: \(status)")
            } else {
                #expect(status == 429, "\(route.key) from a locked-out address: \(status)")
                #expect(isWebSocket(route) || code == "auth.too_many_failures", "\(route.key): \(code ?? "")")
            }
        }
    }

    @Test func rateLimitsApplyWhereDocumented() throws {
        let server = try TestServer(loops: 1) { $0.api.rateLimit = RateLimitPolicy(burst: 1, refillPerSecond: 0.001) }
        let job = try server.externalJob()
        for (index, route) in APIRoutes.all.enumerated() {
            // Each route gets its own client key, so one route's bucket does not spill into the next.
            let key = "route-\(index)"
            _ = try status(server, route, job: job, bearer: isWebSocket(route) ? nil : key)
            let (second, _) = try status(server, route, job: job, bearer: isWebSocket(route) ? nil : key)
            #expect((second == 429) == route.rateLimited, "\(route.key): second request answered \(second)")
        }
    }
}
