import Progress
import WebSocketCodec

extension WebSocketBroadcast: HubPayload {}

/// The WebSocket routes: `/ws/jobs/{id}` follows one job from the moment it connects (readable
/// in `wscat -c`), `/ws` is multiplexed with subscribe/unsubscribe messages (docs/PROTOCOL.md).
enum JobSocket {
    /// Each event becomes one text frame (and its compressed form) once, for every socket.
    static let encoder = HubEncoder(name: "ws") { draft in WebSocketBroadcast(.text, payload: draft.json) }

    /// What the connections of one route share, made once when the routes are registered.
    static func route(api: APIContext, security: SecurityGate, isMultiplexed: Bool) -> SocketRoute {
        var connection = WebSocketConfiguration()
        connection.pingInterval = .milliseconds(Int64(api.configuration.webSocketPingSeconds * 1000))
        // Client messages are a few dozen bytes; nothing bigger is ever needed.
        connection.limits = WebSocketLimits(maxFrameSize: 16 * 1024, maxMessageSize: 16 * 1024)
        return SocketRoute(api: api, security: security, isMultiplexed: isMultiplexed,
                           options: SharedWebSocketOptions(WebSocketOptions(connection: connection)))
    }

    static func start(_ request: HTTPRequest, _ responder: HTTPResponder, route: SocketRoute) {
        let api = route.api
        var single: (job: String, after: UInt64?)?
        if !route.isMultiplexed {
            // Refused before the upgrade, so the client sees a plain HTTP status with a code.
            guard let after = parseAfter(request.query("after")) else {
                return api.respond(responder, .failure(.badParameter("after", "a non-negative integer.")))
            }
            single = (request.parameters["id"] ?? "", after)
        }
        let loop = request.loop
        // The handshake was admitted by the gate; either it showed credentials (a principal
        // now) or the first message must be {"type":"auth","token":"…"}.
        let access: AccessRequest? = single.map { .watchJob($0.job) }
        let principal: Principal?
        switch route.security.webSocketStart(request.head, access: access) {
        case .accept(let accepted): principal = accepted
        case .acceptPendingAuth: principal = nil
        case .reject(let error): return responder.respond(SecurityGate.response(for: error))
        }
        // Whether the job exists is told only to a caller allowed to watch it: a connection
        // still to authenticate is upgraded whatever the id, and hears `job.not_found` only
        // after its first message proved it may ask (`follow`).
        if let single, principal != nil {
            if case .failure(let error) = JobsAPI.validID(single.job) { return api.respond(responder, .failure(error)) }
            guard api.hub.latest(job: single.job) != nil else { return api.respond(responder, .failure(.jobNotFound(single.job))) }
        }
        let sendBuffer = api.configuration.subscriberSendBuffer
        WebSocket.upgrade(request, responder, shared: route.options) { webSocket in
            SubscriberSocket.limitSendBuffer(webSocket.connection, bytes: sendBuffer)
            let session = SocketSession(webSocket: webSocket, route: route, loop: loop, principal: principal)
            webSocket.onMessage = { _, message in session.handle(message) }
            webSocket.onWritable = { _ in session.flush() }
            webSocket.onClose = { _, _ in session.closed() }
            if principal != nil {
                if let single { session.follow(single.job, after: single.after) }
            } else {
                session.awaitAuth(access: access, thenFollow: single)
            }
        }
    }
}

/// What every socket of one route shares, held once by reference so that an idle socket
/// carries one pointer for all of it.
final class SocketRoute: Sendable {
    let api: APIContext
    let security: SecurityGate
    /// `/ws` (subscribe and unsubscribe messages) rather than `/ws/jobs/{id}`.
    let isMultiplexed: Bool
    let options: SharedWebSocketOptions

    init(api: APIContext, security: SecurityGate, isMultiplexed: Bool, options: SharedWebSocketOptions) {
        self.api = api
        self.security = security
        self.isMultiplexed = isMultiplexed
        self.options = options
    }
}

/// One WebSocket's subscriptions; the hub sink of all of them. Lives on the socket's loop.
///
/// Kept small, since thousands sit idle: the route's shared state is one reference, the one
/// subscription of a `/ws/jobs/{id}` socket sits inline (no table), a token's claims are
/// boxed, and what a socket waiting for its first-message auth needs is allocated only then.
final class SocketSession: HubSink {
    private let webSocket: WebSocket
    private let route: SocketRoute
    private let loop: EventLoop
    private var subscriptions = SocketSubscriptions()
    /// Who the connection acts as; `.pending` until a first-message auth succeeds.
    private var identity: Identity
    /// Set while the first message must authenticate the connection.
    private var pendingAuth: PendingAuth?
    private var isClosed = false

    /// What a socket without credentials waits with: what it asks for, the job to follow once
    /// authenticated (`/ws/jobs/{id}`), and the deadline timer.
    private final class PendingAuth {
        let access: AccessRequest?
        let single: (job: String, after: UInt64?)?
        var timer: TimerID?

        init(access: AccessRequest?, single: (job: String, after: UInt64?)?) {
            self.access = access
            self.single = single
        }
    }
    /// The per-connection message budget: when the current window started (loop time in
    /// units of 1,024 ms) and how many messages it has taken; `.max` once closed for flooding.
    private var messageWindow: UInt32 = 0
    private var messagesInWindow: UInt32 = 0
    /// The budget's window, in units of 1,024 ms (about 10 s).
    static let messageWindowUnits: UInt32 = 10

    /// How long a connection may stay unauthenticated before it is closed with 4401.
    static let authTimeoutMilliseconds: UInt64 = 10_000

    private var api: APIContext { route.api }

    init(webSocket: WebSocket, route: SocketRoute, loop: EventLoop, principal: Principal?) {
        self.webSocket = webSocket
        self.route = route
        self.loop = loop
        self.identity = Identity(principal)
        route.api.metrics.webSockets.add(1)
    }

    var isReady: Bool { webSocket.isWritable }

    /// `/ws/jobs/{id}`: subscribes at once; a snapshot (or the missed events) comes first.
    func follow(_ job: String, after: UInt64?) {
        guard let subscription = api.hub.subscribe(to: .job(job), after: after, sink: self, on: loop) else {
            let shown = APIError.clip(job)
            send(ServerMessage.error(WireError(code: "job.not_found", message: "No job with id '\(shown)'.", job: shown)))
            webSocket.close(code: .policyViolation, reason: "job.not_found")
            return
        }
        keep(subscription)
    }

    /// Waits for the first-message auth, closing with 4401 when it does not come in time;
    /// `single` (`/ws/jobs/{id}`) is followed once it does.
    func awaitAuth(access: AccessRequest?, thenFollow single: (job: String, after: UInt64?)?) {
        let pending = PendingAuth(access: access, single: single)
        pendingAuth = pending
        pending.timer = loop.scheduleTimer(afterMilliseconds: SocketSession.authTimeoutMilliseconds) { [weak self] in
            guard let self, self.identity.principal == nil, !self.isClosed else { return }
            self.webSocket.close(code: WebSocketCloseCode(rawValue: 4401), reason: "auth.missing_token")
        }
    }

    /// The first message of an unauthenticated connection: it must authenticate, or the
    /// connection closes with 4401/4403 and the refusal's code as the reason.
    private func authenticate(_ message: WebSocketMessage) {
        // Only the first message gets here: after a refusal the socket is closing, and the
        // WebSocket drops what the peer still sends.
        guard let pending = pendingAuth else { return }
        pendingAuth = nil
        if let timer = pending.timer { loop.cancelTimer(timer) }
        switch route.security.authenticateFirstMessage(message.payload, for: pending.access,
                                                       peer: webSocket.connection?.peerAddress ?? "") {
        case .failure(let error):
            send(ServerMessage.error(WireError(code: error.code.rawValue, message: error.message)))
            webSocket.close(code: WebSocketCloseCode(rawValue: error.webSocketCloseCode), reason: error.code.rawValue)
        case .success(let accepted):
            identity = Identity(accepted)
            send(Array(#"{"type":"authenticated"}"#.utf8))
            if let single = pending.single { follow(single.job, after: single.after) }
        }
    }

    func handle(_ message: WebSocketMessage) {
        guard withinMessageBudget() else { return }
        guard identity.principal != nil else { return authenticate(message) }
        guard message.kind == .text else {
            return reject(WireError(code: "ws.bad_message", message: "Send JSON text messages."))
        }
        switch ClientMessage.parse(message.payload) {
        case .failure(let error):
            reject(error)
        case .success(.ping):
            send(ServerMessage.pong)
        case .success(.subscribe(let topic, let after)):
            guard route.isMultiplexed else {
                return reject(WireError(code: "ws.bad_message", message: "This endpoint follows one job; use /ws to subscribe."))
            }
            subscribe(topic, after: after)
        case .success(.unsubscribe(let topic)):
            guard route.isMultiplexed else {
                return reject(WireError(code: "ws.bad_message", message: "This endpoint follows one job; close it to stop."))
            }
            subscriptions.remove(topic)?.cancel()
            send(ServerMessage.unsubscribed(topic))
        }
    }

    private func subscribe(_ topic: HubTopic, after: UInt64?) {
        if let principal = identity.principal {
            let job: String? = if case .job(let id) = topic { id } else { nil }
            if let error = route.security.authorizeSubscription(job: job, as: principal) {
                return reject(WireError(code: error.code.rawValue, message: error.message, job: job))
            }
        }
        // Subscribing again replaces the subscription: that is how a client resumes one job.
        subscriptions.remove(topic)?.cancel()
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
        keep(subscription)
    }

    /// Keeps a subscription unless it already ended (the replay held the terminal event).
    private func keep(_ subscription: HubSubscription) {
        guard !subscription.isCancelled, !isClosed else {
            subscription.cancel()
            return
        }
        subscriptions.insert(subscription)
    }

    func receive(_ event: HubEvent, from subscription: HubSubscription) {
        guard let frame = event.encoded(api.webSocketFormat) as? WebSocketBroadcast else { return }
        webSocket.send(frame)
        // No event follows a terminal one: let the subscription go (and, on the one-job
        // endpoint, the connection, with 1000 once the event is written).
        guard event.isTerminal, case .job = subscription.topic else { return }
        _ = subscriptions.remove(subscription.topic)
        subscription.cancel()
        if !route.isMultiplexed { webSocket.close(code: .normalClosure) }
    }

    func flush() {
        // A copy: a terminal event delivered by `flush` removes its subscription from the set.
        let current = subscriptions
        current.forEach { $0.flush() }
    }

    func closed() {
        guard !isClosed else { return }
        isClosed = true
        if let timer = pendingAuth?.timer { loop.cancelTimer(timer) }
        pendingAuth = nil
        api.metrics.webSockets.add(-1)
        for subscription in subscriptions.removeAll() { subscription.cancel() }
    }

    /// Counts a message against the connection's budget; past it, says why and closes with
    /// 1008. Every message costs the loop an answer (an error, a confirmation, a snapshot), so
    /// a client flooding them (thousands in one read) would hold up everyone on its loop.
    private func withinMessageBudget() -> Bool {
        guard messagesInWindow != .max else { return false }
        let now = UInt32(truncatingIfNeeded: loop.now >> 10)
        if now &- messageWindow >= Self.messageWindowUnits {
            messageWindow = now
            messagesInWindow = 0
        }
        messagesInWindow += 1
        guard messagesInWindow > UInt32(clamping: api.configuration.maxSocketMessagesPerWindow) else { return true }
        messagesInWindow = .max
        api.metrics.floodingSockets.increment()
        send(ServerMessage.error(WireError(code: "ws.too_many_messages",
                                           message: "More than \(api.configuration.maxSocketMessagesPerWindow) messages in 10 s.")))
        webSocket.close(code: .policyViolation, reason: "ws.too_many_messages")
        return false
    }

    private func reject(_ error: WireError) {
        api.metrics.badMessages.increment()
        send(ServerMessage.error(error))
    }

    private func send(_ bytes: [UInt8]) {
        webSocket.send(.text, bytes)
    }
}

/// Who a socket acts as. A token's claims are boxed (`indirect`), so the common cases cost
/// one word in the session instead of the claims' seventy-odd bytes.
private enum Identity {
    case pending
    case anonymous
    case admin
    indirect case subscriber(SubscribeClaims)

    init(_ principal: Principal?) {
        switch principal {
        case nil: self = .pending
        case .anonymous: self = .anonymous
        case .admin: self = .admin
        case .subscriber(let claims): self = .subscriber(claims)
        }
    }

    var principal: Principal? {
        switch self {
        case .pending: nil
        case .anonymous: .anonymous
        case .admin: .admin
        case .subscriber(let claims): .subscriber(claims)
        }
    }
}

/// A socket's subscriptions, at most one per topic. The first sits inline, so a one-job
/// socket never allocates a table; more (on `/ws`, bounded by `maxSubscriptionsPerSocket`)
/// go to a small array searched by topic.
struct SocketSubscriptions {
    private var first: HubSubscription?
    private var others: [HubSubscription] = []

    var count: Int { (first == nil ? 0 : 1) + others.count }

    /// Adds `subscription`, whose topic must not be present.
    mutating func insert(_ subscription: HubSubscription) {
        if first == nil {
            first = subscription
        } else {
            others.append(subscription)
        }
    }

    /// Removes and returns the subscription to `topic`, if any.
    mutating func remove(_ topic: HubTopic) -> HubSubscription? {
        if let current = first, current.topic == topic {
            first = others.popLast()
            if others.isEmpty { others = [] }
            return current
        }
        guard let index = others.firstIndex(where: { $0.topic == topic }) else { return nil }
        let removed = others.remove(at: index)
        if others.isEmpty { others = [] }
        return removed
    }

    func forEach(_ body: (HubSubscription) -> Void) {
        if let first { body(first) }
        for subscription in others { body(subscription) }
    }

    /// Empties the set, returning what it held.
    mutating func removeAll() -> [HubSubscription] {
        var all = others
        if let first { all.insert(first, at: 0) }
        first = nil
        others = []
        return all
    }
}
