import Glibc
import Synchronization
@testable import HTTPServer

/// Starts a server on a free port with `router`, runs `body`, then shuts it down.
func withServer(_ router: Router, loops: Int = 1, configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                _ body: (HTTPServer, Int) throws -> Void) throws {
    var configuration = HTTPServerConfiguration()
    configuration.port = 0
    configuration.loopCount = loops
    configuration.shutdownGraceMilliseconds = 2_000
    configure(&configuration)
    let server = try HTTPServer(configuration: configuration, router: router, logger: .disabled)
    let port = try server.start()
    defer { server.shutdown() }
    try body(server, port)
}

/// A value shared between a handler and the test thread.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
    }
    func update(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }
}

/// Waits until `condition` holds or about two seconds pass.
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<200 {
        if condition() { return true }
        pause(milliseconds: 10)
    }
    return condition()
}

func echoRouter() -> Router {
    var router = Router()
    router.get("/hello") { _, responder in responder.respond(.text("hello")) }
    router.post("/echo") { request, responder in
        responder.respond(HTTPResponse(status: 200, body: .bytes(request.body)))
    }
    router.get("/jobs/{id}/events") { request, responder in
        responder.respond(.text("job " + (request.parameters["id"] ?? "?") + " after " + (request.query("after") ?? "-")))
    }
    return router
}
