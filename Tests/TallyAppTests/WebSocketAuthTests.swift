import Glibc
import Auth
import Testing
@testable import TallyApp

/// Authentication on both WebSocket routes over loopback: token in the URL, first-message
/// auth, and the refusals (no token, bad signature, expired, wrong job, wrong Origin).
struct WebSocketAuthTests {

    @Test func tokenInTheURLFollowsTheJob() throws {
        let server = try TestAuth.server()
        let id = try TestAuth.createJob(server)
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)?token=\(try TestAuth.token(id))")
        #expect(try socket.json()["type"] == "snapshot")
    }

    @Test func firstMessageAuthenticatesThenTheJobFollows() throws {
        let server = try TestAuth.server()
        let id = try TestAuth.createJob(server)
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)")
        try socket.send(text: #"{"type":"auth","token":"\#(try TestAuth.token(id))"}"#)
        #expect(try socket.json()["type"] == "authenticated")
        #expect(try socket.json()["type"] == "snapshot")
    }

    @Test func firstMessageRefusals() throws {
        let server = try TestAuth.server()
        let id = try TestAuth.createJob(server)
        let cases: [(String, UInt16, String)] = [
            (#"{"type":"subscribe","job":"\#(id)"}"#, 4401, "no token"),
            (#"{"type":"auth","token":"\#(try TestAuth.token(id, secret: Array("another-secret-another-secret-xx".utf8)))"}"#, 4401, "bad signature"),
            (#"{"type":"auth","token":"\#(try TestAuth.token(id, ttl: -3600))"}"#, 4401, "expired"),
            (#"{"type":"auth","token":"\#(try TestAuth.token("other-job"))"}"#, 4403, "wrong job"),
        ]
        for (message, expected, label) in cases {
            let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(id)")
            try socket.send(text: message)
            #expect(try socket.closeCode() == expected, "\(label)")
        }
    }

    @Test func handshakeRefusals() throws {
        let server = try TestAuth.server()
        let id = try TestAuth.createJob(server)
        let forged = try TestAuth.token(id, secret: Array("another-secret-another-secret-xx".utf8))
        for (path, headers) in [("/ws/jobs/\(id)?token=\(forged)", [(String, String)]()),
                                ("/ws/jobs/\(id)?token=\(try TestAuth.token(id, ttl: -3600))", []),
                                ("/ws/jobs/\(id)?token=\(try TestAuth.token("other-job"))", []),
                                ("/ws/jobs/\(id)?token=\(try TestAuth.token(id))", [("Origin", "https://evil.example")])] {
            #expect(throws: ClientError.self, "\(path) \(headers)") {
                _ = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: path, headers: headers)
            }
        }
    }

    @Test func multiplexedSubscriptionsAreCheckedOneByOne() throws {
        let server = try TestAuth.server()
        let mine = try TestAuth.createJob(server)
        let other = try TestAuth.createJob(server)
        let socket = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws")
        try socket.send(text: #"{"type":"auth","token":"\#(try TestAuth.token(mine))"}"#)
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
