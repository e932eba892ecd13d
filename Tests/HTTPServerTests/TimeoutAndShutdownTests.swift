import Glibc
import Testing
@testable import HTTPServer

@Suite(.serialized)
struct TimeoutAndShutdownTests {
    func fastTimeouts(_ configuration: inout HTTPServerConfiguration) {
        configuration.loop.tickMilliseconds = 20
        configuration.headerTimeoutMilliseconds = 150
        configuration.bodyTimeoutMilliseconds = 150
        configuration.idleTimeoutMilliseconds = 150
    }

    @Test func answers408WhenTheHeadIsTooSlow() throws {
        try withServer(echoRouter(), configure: fastTimeouts) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /hello HTTP/1.1\r\nHo")
            let response = client.readResponse()
            #expect(response?.status == 408)
            #expect(response?.text.contains("http.request_timeout") == true)
            #expect(client.isClosedByPeer())
        }
    }

    @Test func answers408WhenTheBodyStalls() throws {
        try withServer(echoRouter(), configure: fastTimeouts) { _, port in
            let client = try TestClient(port: port)
            client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            #expect(client.readResponse()?.status == 408)
        }
    }

    @Test func closesIdleKeepAliveConnectionsQuietly() throws {
        try withServer(echoRouter(), configure: fastTimeouts) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.status == 200)
            #expect(client.readToEnd().isEmpty)  // closed without a 408
        }
    }

    @Test func shutdownFinishesInFlightResponsesAndRefusesNewConnections() throws {
        let parked = Shared<[DeferredResponse]>([])
        let reasons = Shared<[HTTPCancelReason]>([])
        var router = echoRouter()
        router.get("/slow") { _, responder in
            let handle = responder.deferResponse()
            responder.onCancel { reason in
                reasons.update { $0.append(reason) }
                handle.complete(.text("bye"))
            }
            parked.update { $0.append(handle) }
        }
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.loopCount = 2
        let server = try HTTPServer(configuration: configuration, router: router, logger: .disabled)
        let port = try server.start()
        let idle = try TestClient(port: port)
        idle.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(idle.readResponse()?.status == 200)
        let waiting = try TestClient(port: port)
        waiting.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(eventually { parked.value.count == 1 })
        server.shutdown()
        // The parked request was told about the shutdown and answered with Connection: close.
        let response = waiting.readResponse()
        #expect(response?.text == "bye")
        #expect(response?.header("connection") == "close")
        #expect(reasons.value == [.serverShutdown])
        #expect(idle.isClosedByPeer())
        #expect(throws: (any Error).self) { _ = try TestClient(port: port) }
    }
}
