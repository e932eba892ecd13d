import Progress

/// `GET /api/jobs/{id}/stream`: Server-Sent Events, resumed with `Last-Event-ID` or `after`.
///
/// The response takes over the connection (an upgrade without a protocol switch) so the
/// stream can follow the connection's writability: while the client reads slowly the hub
/// coalesces its progress events instead of the write queue growing. Records are framed as
/// HTTP chunks once per event and written to every stream as they are.
enum SSEStream {
    static func start(_ request: HTTPRequest, _ responder: HTTPResponder, api: APIContext) {
        let id: String
        switch JobsAPI.validID(request.parameters["id"]) {
        case .failure(let error): return api.respond(responder, .failure(error))
        case .success(let value): id = value
        }
        // Browsers resend the last `id:` in Last-Event-ID when they reconnect; it wins over
        // the `after` of the original URL.
        let header = request.headers["Last-Event-ID"]
        guard let resume = parseAfter(header?.isEmpty == false ? header : request.query("after")) else {
            return api.respond(responder, .failure(.badParameter("after", "a non-negative integer.")))
        }
        guard api.hub.latest(job: id) != nil else { return api.respond(responder, .failure(.jobNotFound(id))) }
        api.metrics.countResponse(status: 200)
        responder.upgrade(HTTPResponseHead(status: 200, headers: [
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("Transfer-Encoding", "chunked"),
            // Tells nginx-like proxies not to buffer the stream.
            ("X-Accel-Buffering", "no"),
        ]), to: SSEConnection(api: api, job: id, after: resume))
    }
}

/// One SSE stream on its raw connection: a hub sink that writes pre-framed records.
final class SSEConnection: ConnectionHandler, HubSink {
    private let api: APIContext
    private let job: String
    private let after: UInt64?
    private var connection: Connection?
    private var subscription: HubSubscription?
    private var ended = false

    /// `retry:` asks browsers to reconnect after 2 s; sent once at the start.
    private static let opening = SharedBuffer(chunk(": tally\nretry: 2000\n\n"))
    /// A comment line: keeps proxies from closing a quiet stream.
    private static let heartbeat = SharedBuffer(chunk(": keep-alive\n\n"))
    private static let lastChunk = SharedBuffer(Array("0\r\n\r\n".utf8))

    init(api: APIContext, job: String, after: UInt64?) {
        self.api = api
        self.job = job
        self.after = after
    }

    static func chunk(_ text: String) -> [UInt8] {
        Array(String(text.utf8.count, radix: 16).utf8) + [13, 10] + Array(text.utf8) + [13, 10]
    }

    var isReady: Bool { connection?.isWritable ?? false }

    func activated(_ connection: Connection) {
        self.connection = connection
        SubscriberSocket.limitSendBuffer(connection, bytes: api.configuration.subscriberSendBuffer)
        api.metrics.sseStreams.add(1)
        connection.write(SSEConnection.opening)
        subscription = api.hub.subscribe(to: .job(job), after: after, sink: self, on: connection.loop)
        if subscription == nil { end() }
        if ended {
            subscription?.cancel()
            subscription = nil
        }
        armHeartbeat()
    }

    func receive(_ event: HubEvent, from subscription: HubSubscription) {
        guard let connection, let payload = event.encoded(api.sseFormat) as? HubBytesBuffer else { return }
        connection.write(payload.buffer)
        if event.isTerminal { end() }
    }

    func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
        // An event stream is one-way; whatever the client sends is ignored.
    }

    func writable(_ connection: Connection) {
        subscription?.flush()
    }

    func timedOut(_ connection: Connection) {
        guard !ended else { return connection.close() }
        connection.write(SSEConnection.heartbeat)
        armHeartbeat()
    }

    func shutdownRequested(_ connection: Connection) {
        end()
    }

    func closed(_ connection: Connection, error: IOError?) {
        api.metrics.sseStreams.add(-1)
        subscription?.cancel()
        subscription = nil
        self.connection = nil
    }

    private func armHeartbeat() {
        connection?.setTimeout(milliseconds: UInt64(api.configuration.sseHeartbeatSeconds * 1000))
    }

    /// Ends the stream after the terminal event (no event follows one) or at shutdown.
    private func end() {
        guard !ended else { return }
        ended = true
        subscription?.cancel()
        subscription = nil
        connection?.write(SSEConnection.lastChunk)
        connection?.closeAfterFlushing()
    }
}
