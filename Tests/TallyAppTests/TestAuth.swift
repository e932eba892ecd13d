import Glibc
import Auth
import Progress
@testable import TallyApp

/// The credentials the authentication tests run with, and what they do with them.
enum TestAuth {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let adminKey = "admin-key-0123456789"

    /// A server that requires these credentials; `tweak` adds to its configuration.
    static func server(loops: Int = 2, _ tweak: (inout TallyConfiguration) -> Void = { _ in }) throws -> TestServer {
        try TestServer(loops: loops) { configuration in
            configuration.security.tokenSecret = secret
            configuration.security.apiKeys = [adminKey]
            tweak(&configuration)
        }
    }

    /// A subscribe token for `subject` that expires `ttl` seconds from now (negative: expired).
    static func token(_ subject: String, ttl: Int64 = 600, secret: [UInt8] = secret) throws -> String {
        try JWTCodec(secret: secret).mint(SubscribeClaims(subject: subject, expiresAt: Int64(time(nil)) + ttl))
    }

    /// Creates an external job with the API key; returns its id.
    static func createJob(_ server: TestServer) throws -> String {
        let response = try server.request("POST", "/api/jobs", headers: [("Content-Type", "application/json"),
                                                                        ("Authorization", "Bearer " + adminKey)],
                                          body: Array(#"{"name":"sync","total":100}"#.utf8))
        guard response.status == 201, let id = (try? JSONParser().parse(response.body))?["id"]?.stringValue else {
            throw ClientError("test", "create failed: \(response.status)")
        }
        return id
    }
}

extension WebSocketClient {
    /// Reads until the close frame; returns its code.
    func closeCode() throws -> UInt16? {
        while true {
            if case .close(let code) = try receive(timeout: 5) { return code }
        }
    }
}
