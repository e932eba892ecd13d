import Progress

/// `GET /api/jobs/{id}/events?after=N&wait=S`: answers at once when events newer than `N`
/// exist, otherwise parks the request on its loop until an event arrives or the wait ends.
///
/// A parked request is a deferred response with the connection's own deadline, and a hub
/// subscription: no thread, no buffer, no timer object.
enum LongPoll {
    static func start(_ request: HTTPRequest, _ responder: HTTPResponder, api: APIContext, extra: [(String, String)]) {
        let id: String
        switch JobsAPI.validID(request.parameters["id"]) {
        case .failure(let error): return api.respond(responder, .failure(error), extra: extra)
        case .success(let value): id = value
        }
        guard let afterParameter = parseAfter(request.query("after")) else {
            return api.respond(responder, .failure(.badParameter("after", "a non-negative integer.")), extra: extra)
        }
        let after = afterParameter ?? 0
        var wait = api.configuration.longPollDefaultSeconds
        if let text = request.query("wait"), !text.isEmpty {
            guard let value = Double(text), value.isFinite, value >= 0 else {
                return api.respond(responder, .failure(.badParameter("wait", "seconds from 0 to \(Int(api.configuration.longPollMaxSeconds)).")), extra: extra)
            }
            wait = min(value, api.configuration.longPollMaxSeconds)
        }
        switch api.hub.replay(job: id, after: after) {
        case .unknownJob:
            api.respond(responder, .failure(.jobNotFound(id)), extra: extra)
        case .resync(let event):
            api.respond(responder, .success(batch(id, [event])), extra: extra)
        case .events(let events) where !events.isEmpty:
            api.respond(responder, .success(batch(id, events)), extra: extra)
        case .events:
            let state = api.hub.latest(job: id)?.state ?? ""
            if wait == 0 {
                return api.respond(responder, .success(empty(id, after: after, state: state)), extra: extra)
            }
            LongPollWaiter.park(request, responder, api: api, job: id, after: after, wait: wait, state: state, extra: extra)
        }
    }

    static func batch(_ job: String, _ events: [HubEvent]) -> APIResponse {
        let last = events.last
        return .json(EventEncoding.eventBatch(job: job, events: events, last: last?.seq ?? 0, state: last?.state ?? ""))
    }

    static func empty(_ job: String, after: UInt64, state: String) -> APIResponse {
        .json(EventEncoding.eventBatch(job: job, events: [], last: after, state: state))
    }
}

/// One parked long-poll: the first event it hears (or the deadline) answers it.
final class LongPollWaiter: HubSink {
    private let parked: DeferredResponse
    private let api: APIContext
    private let job: String
    private let after: UInt64
    private let state: String
    private let extra: [(String, String)]
    private var subscription: HubSubscription?
    private var done = false

    private init(parked: DeferredResponse, api: APIContext, job: String, after: UInt64, state: String,
                 extra: [(String, String)]) {
        self.parked = parked
        self.api = api
        self.job = job
        self.after = after
        self.state = state
        self.extra = extra
    }

    static func park(_ request: HTTPRequest, _ responder: HTTPResponder, api: APIContext, job: String, after: UInt64,
                     wait: Double, state: String, extra: [(String, String)]) {
        let loop = request.loop
        let parked = responder.deferResponse(deadlineMilliseconds: UInt64(wait * 1000))
        let waiter = LongPollWaiter(parked: parked, api: api, job: job, after: after, state: state, extra: extra)
        api.metrics.longPolls.add(1)
        responder.onCancel { [waiter] reason in waiter.cancelled(reason) }
        // An event published between the replay and here is replayed by `subscribe` itself.
        let subscription = api.hub.subscribe(to: .job(job), after: after, sink: waiter, on: loop)
        guard !waiter.done else {
            subscription?.cancel()
            return
        }
        guard let subscription else {
            waiter.answer(.json(APIError.jobNotFound(job).body, status: 404))
            return
        }
        waiter.subscription = subscription
    }

    var isReady: Bool { !done }

    func receive(_ event: HubEvent, from subscription: HubSubscription) {
        answer(LongPoll.batch(job, [event]))
    }

    /// The wait is over (`.deadlinePassed`) or the server is shutting down: answer with what
    /// there is (nothing new). The client left: just let go.
    private func cancelled(_ reason: HTTPCancelReason) {
        switch reason {
        case .deadlinePassed, .serverShutdown: answer(LongPoll.empty(job, after: after, state: state))
        case .connectionClosed: finish()
        }
    }

    private func answer(_ response: APIResponse) {
        guard !done else { return }
        var response = response
        response.headers = extra
        api.metrics.countResponse(status: response.status)
        finish()
        parked.complete(response.http)
    }

    /// Lets go of the subscription; idempotent.
    private func finish() {
        guard !done else { return }
        done = true
        api.metrics.longPolls.add(-1)
        subscription?.cancel()
        subscription = nil
    }
}
