import Progress
import WebSocketCodec

extension WebSocketBroadcast: HubPayload {}

/// The WebSocket routes: `/ws/jobs/{id}` follows one job from the moment it connects (readable
/// in `wscat -c`), `/ws` is multiplexed with subscribe/unsubscribe messages (docs/PROTOCOL.md).
enum JobSocket {
    /// Each event becomes one text frame (and its compressed form) once, for every socket.
    static let encoder = HubEncoder(name: "ws") { draft in WebSocketBroadcast(.text, payload: draft.json) }

    static func start(_ request: HTTPRequest, _ responder: HTTPResponder, api: APIContext, security: SecurityGate, topic: HubTopic?) {
        var single: (job: String, after: UInt64?)?
        if topic == nil {
            // Refused before the upgrade, so the client sees a plain HTTP status with a code.
            let id: String
            switch JobsAPI.validID(request.parameters["id"]) {
            case .failure(let error): return api.respond(responder, .failure(error))
            case .success(let value): id = value
            }
            guard let after = parseAfter(request.query("after")) else {
                return api.respond(responder, .failure(.badParameter("after", "a non-negative integer.")))
            }
            guard api.hub.latest(job: id) != nil else { return api.respond(responder, .failure(.jobNotFound(id))) }
            single = (id, after)
        }
        var connection = WebSocketConfiguration()
        connection.pingInterval = .milliseconds(Int64(api.configuration.webSocketPingSeconds * 1000))
        // Client messages are a few dozen bytes; nothing bigger is ever needed.
        connection.limits = WebSocketLimits(maxFrameSize: 16 * 1024, maxMessageSize: 16 * 1024)
        let loop = request.loop
        // The handshake was admitted by the gate; either it showed credentials (a principal
        // now) or the first message must be {"type":"auth","token":"…"}.
        let access: AccessRequest? = single.map { .watchJob($0.job) }
        let principal: Principal?
        switch security.webSocketStart(request.head, access: access) {
        case .accept(let accepted): principal = accepted
        case .acceptPendingAuth: principal = nil
        case .reject(let error): return responder.respond(SecurityGate.response(for: error))
        }
        WebSocket.upgrade(request, responder, options: WebSocketOptions(connection: connection)) { webSocket in
            let session = SocketSession(webSocket: webSocket, api: api, loop: loop, isMultiplexed: single == nil,
                                        security: security, access: access, principal: principal)
            webSocket.onMessage = { _, message in session.handle(message) }
            webSocket.onWritable = { _ in session.flush() }
            webSocket.onClose = { _, _ in session.closed() }
            session.single = single
            if principal != nil {
                if let single { session.follow(single.job, after: single.after) }
            } else {
                session.awaitAuth()
            }
        }
    }
}

/// One WebSocket's subscriptions; the hub sink of all of them. Lives on the socket's loop.
final class SocketSession: HubSink {
    private let webSocket: WebSocket
    private let api: APIContext
    private let loop: EventLoop
    private let isMultiplexed: Bool
    private var subscriptions: [HubTopic: HubSubscription] = [:]
    private var isClosed = false
    private let security: SecurityGate
    private let access: AccessRequest?
    /// Who the connection acts as; nil until a first-message auth succeeds.
    private var principal: Principal?
    private var authTimer: TimerID?
    /// The job of `/ws/jobs/{id}` and its `after`, followed once authenticated.
    var single: (job: String, after: UInt64?)?

    /// How long a connection may stay unauthenticated before it is closed with 4401.
    static let authTimeoutMilliseconds: UInt64 = 10_000

    init(webSocket: WebSocket, api: APIContext, loop: EventLoop, isMultiplexed: Bool,
         security: SecurityGate, access: AccessRequest?, principal: Principal?) {
        self.webSocket = webSocket
        self.api = api
        self.loop = loop
        self.isMultiplexed = isMultiplexed
        self.security = security
        self.access = access
        self.principal = principal
        api.metrics.webSockets.add(1)
    }

    var isReady: Bool { webSocket.isWritable }

    /// `/ws/jobs/{id}`: subscribes at once; a snapshot (or the missed events) comes first.
    func follow(_ job: String, after: UInt64?) {
        guard let subscription = api.hub.subscribe(to: .job(job), after: after, sink: self, on: loop) else {
            send(ServerMessage.error(WireError(code: "job.not_found", message: "No job with id '\(job)'.", job: job)))
            webSocket.close(code: .policyViolation, reason: "job.not_found")
            return
        }
        keep(subscription, for: .job(job))
    }

    /// Waits for the first-message auth, closing with 4401 when it does not come in time.
    func awaitAuth() {
        authTimer = loop.scheduleTimer(afterMilliseconds: SocketSession.authTimeoutMilliseconds) { [weak self] in
            guard let self, self.principal == nil, !self.isClosed else { return }
            self.webSocket.close(code: WebSocketCloseCode(rawValue: 4401), reason: "auth.missing_token")
        }
    }

    /// The first message of an unauthenticated connection: it must authenticate, or the
    /// connection closes with 4401/4403 and the refusal's code as the reason.
    private func authenticate(_ message: WebSocketMessage) {
        if let authTimer { loop.cancelTimer(authTimer) }
        authTimer = nil
        switch security.authenticateFirstMessage(message.payload, for: access) {
        case .failure(let error):
            send(ServerMessage.error(WireError(code: error.code.rawValue, message: error.message)))
            webSocket.close(code: WebSocketCloseCode(rawValue: error.webSocketCloseCode), reason: error.code.rawValue)
        case .success(let accepted):
            principal = accepted
            send(Array(#"{"type":"authenticated"}"#.utf8))
            if let single { follow(single.job, after: single.after) }
        }
    }

    func handle(_ message: WebSocketMessage) {
        guard principal != nil else { return authenticate(message) }
        guard message.kind == .text else {
            return reject(WireError(code: "ws.bad_message", message: "Send JSON text messages."))
        }
        switch ClientMessage.parse(message.payload) {
        case .failure(let error):
            reject(error)
        case .success(.ping):
            send(ServerMessage.pong)
        case .success(.subscribe(let topic, let after)):
            guard isMultiplexed else {
                return reject(WireError(code: "ws.bad_message", message: "This endpoint follows one job; use /ws to subscribe."))
            }
            subscribe(topic, after: after)
        case .success(.unsubscribe(let topic)):
            guard isMultiplexed else {
                return reject(WireError(code: "ws.bad_message", message: "This endpoint follows one job; close it to stop."))
            }
            subscriptions.removeValue(forKey: topic)?.cancel()
            send(ServerMessage.unsubscribed(topic))
        }
    }

    private func subscribe(_ topic: HubTopic, after: UInt64?) {
        if let principal {
            let job: String? = if case .job(let id) = topic { id } else { nil }
            if let error = security.authorizeSubscription(job: job, as: principal) {
                return reject(WireError(code: error.code.rawValue, message: error.message, job: job))
            }
        }
        // Subscribing again replaces the subscription: that is how a client resumes one job.
        subscriptions.removeValue(forKey: topic)?.cancel()
        guard subscriptions.count < api.configuration.maxSubscriptionsPerSocket else {
            return reject(WireError(code: "ws.too_many_subscriptions",
                                    message: "At most \(api.configuration.maxSubscriptionsPerSocket) subscriptions per connection."))
        }
        if case .job(let job) = topic, api.hub.latest(job: job) == nil {
            return reject(WireError(code: "job.not_found", message: "No job with id '\(job)'.", job: job))
        }
        // The confirmation goes first: the snapshot or missed events follow it at once.
        send(ServerMessage.subscribed(topic))
        guard let subscription = api.hub.subscribe(to: topic, after: after, sink: self, on: loop) else {
            return reject(WireError(code: "job.not_found", message: "The job is gone.", job: nil))
        }
        keep(subscription, for: topic)
    }

    /// Keeps a subscription unless it already ended (the replay held the terminal event).
    private func keep(_ subscription: HubSubscription, for topic: HubTopic) {
        guard !subscription.isCancelled, !isClosed else {
            subscription.cancel()
            return
        }
        subscriptions[topic] = subscription
    }

    func receive(_ event: HubEvent, from subscription: HubSubscription) {
        guard let frame = event.encoded(api.webSocketFormat) as? WebSocketBroadcast else { return }
        webSocket.send(frame)
        // No event follows a terminal one: let the subscription go (and, on the one-job
        // endpoint, the connection, with 1000 once the event is written).
        guard event.isTerminal, case .job = subscription.topic else { return }
        subscriptions.removeValue(forKey: subscription.topic)
        subscription.cancel()
        if !isMultiplexed { webSocket.close(code: .normalClosure) }
    }

    func flush() {
        for subscription in subscriptions.values { subscription.flush() }
    }

    func closed() {
        guard !isClosed else { return }
        isClosed = true
        if let authTimer { loop.cancelTimer(authTimer) }
        api.metrics.webSockets.add(-1)
        for subscription in subscriptions.values { subscription.cancel() }
        subscriptions.removeAll()
    }

    private func reject(_ error: WireError) {
        api.metrics.badMessages.increment()
        send(ServerMessage.error(error))
    }

    private func send(_ bytes: [UInt8]) {
        webSocket.send(.text, bytes)
    }
}
