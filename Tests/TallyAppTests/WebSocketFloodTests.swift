import Testing
@testable import TallyApp

/// The per-connection message budget of the WebSocket routes: a client sending more messages
/// in 10 s than `--ws-message-limit` allows is told why and closed with 1008; one within it is
/// answered message by message.
struct WebSocketFloodTests {
    private func server(limit: Int) throws -> TestServer {
        try TestServer(loops: 1) { $0.api.maxSocketMessagesPerWindow = limit }
    }

    @Test func aFloodOfMessagesClosesTheConnection() throws {
        let server = try server(limit: 20)
        let socket = try server.socket("/ws")
        // Sent in one go, as a flooding client would: every one is a bad subscription.
        for index in 0..<200 { try socket.send(text: #"{"type":"subscribe","job":"nope-\#(index)"}"#) }
        var errors = 0
        var closing: JSONValue = .null
        var code: UInt16?
        while code == nil {
            switch try socket.receive(timeout: 5) {
            case .text(let text):
                let message = try JSONParser().parse(Array(text.utf8))
                if message["code"] == "ws.too_many_messages" { closing = message } else { errors += 1 }
            case .close(let closeCode): code = closeCode
            case .binary: break
            }
        }
        #expect(errors == 20, "each message within the budget is answered")
        #expect(closing["type"] == "error")
        #expect(code == 1008)
        #expect(server.api.metrics.floodingSockets.count == 1)
        // The server is none the worse for it.
        let next = try server.socket("/ws")
        try next.send(text: #"{"type":"ping"}"#)
        #expect(try next.json()["type"] == "pong")
    }

    @Test func aClientWithinTheBudgetIsServed() throws {
        let server = try server(limit: 20)
        let socket = try server.socket("/ws")
        for _ in 0..<20 {
            try socket.send(text: #"{"type":"ping"}"#)
            #expect(try socket.json()["type"] == "pong")
        }
        #expect(server.api.metrics.floodingSockets.count == 0)
    }

    @Test func theFlagSetsTheBudget() throws {
        #expect(try APIConfiguration.parse(["--ws-message-limit", "50"]).0.maxSocketMessagesPerWindow == 50)
        #expect(APIConfiguration().maxSocketMessagesPerWindow == 500)
        #expect(throws: APIFlagError.self) { _ = try APIConfiguration.parse(["--ws-message-limit", "0"]) }
    }
}
