import Glibc
import Testing
@testable import HTTPServer

struct AdmissionTests {
    private func configure(_ configuration: inout HTTPServerConfiguration) {
        configuration.admission = { request in
            guard request.pattern == "/jobs/{id}/events" else { return nil }
            if request.parameters["id"] == "secret" && request.header("Authorization") != "Bearer ok" {
                return .error(status: 401, code: "auth.missing_token", message: "Token needed.")
            }
            return nil
        }
        configuration.responseHeaders = { head, pattern, status in
            [("X-Content-Type-Options", "nosniff"), ("X-Route", pattern ?? "none"), ("X-Status", String(status)),
             ("X-Method", head.method.rawValue)]
        }
    }

    @Test func refusesBeforeTheHandlerWithRouteParameters() throws {
        try withServer(echoRouter(), configure: configure) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /jobs/secret/events HTTP/1.1\r\nHost: x\r\n\r\n")
            let refused = try #require(client.readResponse())
            #expect(refused.status == 401)
            #expect(refused.text.contains("auth.missing_token"))
            #expect(refused.header("X-Route") == "/jobs/{id}/events")
            #expect(refused.header("X-Status") == "401")
            // The connection stays usable, and the right credentials pass.
            client.send("GET /jobs/secret/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ok\r\n\r\n")
            let allowed = try #require(client.readResponse())
            #expect(allowed.status == 200 && allowed.text.hasPrefix("job secret"))
            client.send("GET /jobs/public/events HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(client.readResponse()?.status == 200)
        }
    }

    @Test func decoratesEveryResponse() throws {
        try withServer(echoRouter(), configure: configure) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let hello = try #require(client.readResponse())
            #expect(hello.header("X-Content-Type-Options") == "nosniff" && hello.header("X-Route") == "/hello")
            client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
            let missing = try #require(client.readResponse())
            #expect(missing.status == 404 && missing.header("X-Route") == "none")
            client.send("DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let notAllowed = try #require(client.readResponse())
            #expect(notAllowed.status == 405 && notAllowed.header("X-Method") == "DELETE")
        }
    }

    @Test func refusedUploadIsNotRead() throws {
        var router = echoRouter()
        router.post("/jobs/{id}/events", body: .streamed()) { _, responder in responder.respond(.text("read")) }
        try withServer(router, configure: configure) { _, port in
            let client = try TestClient(port: port)
            client.send("POST /jobs/secret/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nabc")
            let refused = try #require(client.readResponse())
            #expect(refused.status == 401)
            #expect(client.isClosedByPeer())
        }
    }
}
