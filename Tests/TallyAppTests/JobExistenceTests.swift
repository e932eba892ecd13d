import Glibc
import Auth
import Testing
@testable import TallyApp

/// Whether a job exists is told only to callers allowed to watch it: on every per-job route
/// (snapshot, long-poll, SSE, WebSocket) an unauthenticated or out-of-scope caller gets the
/// same 401/403 for an unknown job as for a real one, never a 404.
struct JobExistenceTests {

    @Test func httpRoutesRefuseBeforeLookingTheJobUp() throws {
        let server = try TestAuth.server()
        let real = try TestAuth.createJob(server)
        let forged = try TestAuth.token("*", secret: Array("another-secret-another-secret-xx".utf8))
        let other = try TestAuth.token("someone-elses-job")
        for suffix in ["", "/events?wait=0", "/stream", "/errors"] {
            for id in [real, "zzzzzzzzzzzz", "no-such-job"] {
                let path = "/api/jobs/\(id)\(suffix)"
                let separator = path.contains("?") ? "&" : "?"
                let anonymous = try server.request("GET", path, timeout: 5)
                #expect(anonymous.status == 401 && anonymous.text.contains("auth.missing_token"), "\(path)")
                let bad = try server.request("GET", path + separator + "token=" + forged, timeout: 5)
                #expect(bad.status == 401 && bad.text.contains("auth.bad_signature"), "\(path)")
                let outOfScope = try server.request("GET", path + separator + "token=" + other, timeout: 5)
                #expect(outOfScope.status == 403 && outOfScope.text.contains("auth.out_of_scope"), "\(path)")
            }
        }
        // Allowed callers do learn that a job is missing.
        #expect(try server.request("GET", "/api/jobs/zzzzzzzzzzzz", headers: [("Authorization", "Bearer " + TestAuth.adminKey)]).status == 404)
        #expect(try server.request("GET", "/api/jobs/zzzzzzzzzzzz?token=" + (try TestAuth.token("zzzzzzzzzzzz"))).status == 404)
    }

    @Test func webSocketHandshakeWithoutCredentialsLooksTheSameForAnyJob() throws {
        let server = try TestAuth.server()
        let real = try TestAuth.createJob(server)
        for id in [real, "zzzzzzzzzzzz", "no-such-job"] {
            // Upgraded pending first-message auth whether or not the job exists…
            let silent = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)")
            try silent.send(text: #"{"type":"subscribe","job":"\#(id)"}"#)
            #expect(try silent.closeCode() == 4401, "\(id)")
            // …and refused the same way for a token of another job.
            let outOfScope = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)")
            try outOfScope.send(text: #"{"type":"auth","token":"\#(try TestAuth.token("someone-elses-job"))"}"#)
            #expect(try outOfScope.closeCode() == 4403, "\(id)")
            // A token in the URL is checked at the handshake, before the job is looked up.
            #expect(throws: ClientError.self, "\(id)") {
                _ = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)?token=\(try TestAuth.token("someone-elses-job"))")
            }
        }
    }

    @Test func webSocketTellsAnAllowedCallerTheJobIsMissing() throws {
        let server = try TestAuth.server()
        // After a first-message auth that covers the job: an error, then close.
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/zzzzzzzzzzzz")
        try socket.send(text: #"{"type":"auth","token":"\#(try TestAuth.token("zzzzzzzzzzzz"))"}"#)
        #expect(try socket.json()["type"] == "authenticated")
        let error = try socket.json()
        #expect(error["type"] == "error" && error["code"] == "job.not_found")
        #expect(try socket.closeCode() == 1008)
        // A malformed id is not found either, and only after the auth.
        let malformed = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/not-an-id")
        try malformed.send(text: #"{"type":"auth","token":"\#(try TestAuth.token("*"))"}"#)
        #expect(try malformed.json()["type"] == "authenticated")
        #expect(try malformed.json()["code"] == "job.not_found")
        // With credentials at the handshake: a plain 404 instead of the upgrade.
        let refused = try server.request("GET", "/ws/jobs/zzzzzzzzzzzz", headers: [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"), ("Authorization", "Bearer " + TestAuth.adminKey)])
        #expect(refused.status == 404 && refused.text.contains("job.not_found"))
    }
}
