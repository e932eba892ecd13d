import Glibc
import Auth
import Testing
@testable import TallyApp

/// Authentication on both WebSocket routes over loopback: token in the URL, first-message
/// auth, and the refusals (no token, bad signature, expired, wrong job, wrong Origin).
struct WebSocketAuthTests {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let adminKey = "admin-key-0123456789"

    private func server() throws -> TestServer {
        try TestServer { configuration in
            configuration.security.tokenSecret = WebSocketAuthTests.secret
            configuration.security.apiKeys = [WebSocketAuthTests.adminKey]
        }
    }

    private func token(_ subject: String, ttl: Int64 = 600, secret: [UInt8] = secret) throws -> String {
        let now = Int64(time(nil))
        return try JWTCodec(secret: secret).mint(SubscribeClaims(subject: subject, expiresAt: now + ttl))
    }

    private func job(_ server: TestServer) throws -> String {
        let response = try server.request("POST", "/api/jobs", headers: [("Content-Type", "application/json"),
                                                                        ("Authorization", "Bearer " + Self.adminKey)],
                                          body: Array(#"{"name":"sync","total":100}"#.utf8))
        guard response.status == 201, let id = (try? JSONParser().parse(response.body))?["id"]?.stringValue else {
            throw ClientError("test", "create failed: \(response.status)")
        }
        return id
    }

    private func closeCode(_ socket: WebSocketClient) throws -> UInt16? {
        while true {
            let message = try socket.receive(timeout: 5)
            if case .close(let code) = message { return code }
        }
    }

    @Test func tokenInTheURLFollowsTheJob() throws {
        let server = try server()
        let id = try job(server)
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)?token=\(try token(id))")
        #expect(try socket.json()["type"] == "snapshot")
    }

    @Test func firstMessageAuthenticatesThenTheJobFollows() throws {
        let server = try server()
        let id = try job(server)
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)")
        try socket.send(text: #"{"type":"auth","token":"\#(try token(id))"}"#)
        #expect(try socket.json()["type"] == "authenticated")
        #expect(try socket.json()["type"] == "snapshot")
    }

    @Test func firstMessageRefusals() throws {
        let server = try server()
        let id = try job(server)
        let cases: [(String, UInt16, String)] = [
            (#"{"type":"subscribe","job":"\#(id)"}"#, 4401, "no token"),
            (#"{"type":"auth","token":"\#(try token(id, secret: Array("another-secret-another-secret-xx".utf8)))"}"#, 4401, "bad signature"),
            (#"{"type":"auth","token":"\#(try token(id, ttl: -3600))"}"#, 4401, "expired"),
            (#"{"type":"auth","token":"\#(try token("other-job"))"}"#, 4403, "wrong job"),
        ]
        for (message, expected, label) in cases {
            let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)")
            try socket.send(text: message)
            #expect(try closeCode(socket) == expected, "\(label)")
        }
    }

    @Test func handshakeRefusals() throws {
        let server = try server()
        let id = try job(server)
        let forged = try token(id, secret: Array("another-secret-another-secret-xx".utf8))
        for (path, headers) in [("/ws/jobs/\(id)?token=\(forged)", [(String, String)]()),
                                ("/ws/jobs/\(id)?token=\(try token(id, ttl: -3600))", []),
                                ("/ws/jobs/\(id)?token=\(try token("other-job"))", []),
                                ("/ws/jobs/\(id)?token=\(try token(id))", [("Origin", "https://evil.example")])] {
            #expect(throws: ClientError.self, "\(path) \(headers)") {
                _ = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: path, headers: headers)
            }
        }
    }

    @Test func multiplexedSubscriptionsAreCheckedOneByOne() throws {
        let server = try server()
        let mine = try job(server)
        let other = try job(server)
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws")
        try socket.send(text: #"{"type":"auth","token":"\#(try token(mine))"}"#)
        #expect(try socket.json()["type"] == "authenticated")
        try socket.send(text: #"{"type":"subscribe","job":"\#(other)"}"#)
        let refused = try socket.json()
        #expect(refused["type"] == "error" && refused["code"] == "auth.out_of_scope")
        try socket.send(text: #"{"type":"subscribe","job":"*"}"#)
        #expect(try socket.json()["code"] == "auth.out_of_scope")
        try socket.send(text: #"{"type":"subscribe","job":"\#(mine)"}"#)
        #expect(try socket.json()["type"] == "subscribed")
    }
}
