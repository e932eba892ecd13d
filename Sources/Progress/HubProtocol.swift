/// The progress hub: producers publish job updates, subscribers on event loops receive them.
///
/// A protocol so that a Redis-backed hub can replace the in-process `LocalProgressHub` for
/// several nodes without the transports changing. Publishing may happen on any thread;
/// `subscribe` must be called on the loop that will run the sink, and the returned
/// subscription is bound to that loop.
public protocol ProgressHub: AnyObject, Sendable {
    /// Publishes one change of a job's snapshot to every subscriber of the job and of `*`.
    func publish(_ update: HubUpdate) throws(HubError)

    /// Subscribes `sink` to one job or to all jobs; must be called on `loop`.
    ///
    /// With `after: nil` the sink first receives a `snapshot` event; with `after: N` it
    /// receives exactly the logged events with `seq > N`, or one resync snapshot when the log
    /// no longer holds them. Returns nil when the job is unknown.
    func subscribe(to topic: HubTopic, after: UInt64?, sink: any HubSink,
                   on loop: any HubLoop) -> HubSubscription?

    /// What a client resuming with `after` has missed, without subscribing (long-polling).
    func replay(job: String, after: UInt64?) -> HubReplay

    /// The job's latest event, or nil when the hub does not know the job.
    func latest(job: String) -> HubEvent?

    /// The handle of a named encoding given to the hub at creation.
    func format(named name: String) -> HubFormat?

    /// Counters for `/metrics`.
    var metrics: HubMetrics { get }
}

/// What a subscription follows.
public enum HubTopic: Sendable, Hashable {
    /// One job.
    case job(String)
    /// Every job (`"*"` on the wire).
    case all

    /// Parses the wire form: `"*"` is every job, anything else a job id.
    public init(_ text: String) {
        self = text == "*" ? .all : .job(text)
    }
}

/// The answer to "what did I miss since `after`".
public enum HubReplay: Sendable {
    /// The missed events in seq order (empty when the client is up to date).
    case events([HubEvent])
    /// One snapshot marked `"resync":true`: the client was too far behind for the log.
    case resync(HubEvent)
    /// The hub knows no such job.
    case unknownJob
}

/// An event loop as the hub sees it: somewhere to run work, in submission order.
///
/// The server's loops conform to this in the wiring layer, so Progress needs no sockets.
public protocol HubLoop: AnyObject, Sendable {
    /// Runs `work` on the loop's thread soon, after work submitted earlier.
    func execute(_ work: @escaping @Sendable () -> Void)
    /// True when called on the loop's own thread.
    var inLoop: Bool { get }
}

/// Where a subscription's events go: a connection, a parked request, a test probe.
///
/// Bound to one loop, like the connection behind it: the hub calls it only on that loop.
public protocol HubSink: AnyObject {
    /// Whether the sink can take an event now without growing its write queue past its
    /// high watermark. When false the hub keeps the event in the subscription's small
    /// mailbox, and the sink calls `HubSubscription.flush()` once it has drained.
    var isReady: Bool { get }
    /// Takes one event; called on the subscription's loop.
    func receive(_ event: HubEvent, from subscription: HubSubscription)
}

/// Why a publish was refused, with stable codes shared by logs, metrics and the JSON API.
public enum HubError: Error, Sendable, Equatable {
    /// The update's seq is not after the job's latest (a duplicate or a late update).
    case staleSeq
    /// The snapshot is not a JSON object.
    case invalidSnapshot
    /// The job already reached a terminal state.
    case jobFinished

    /// The stable code (`"hub.stale_seq"`, …).
    public var code: String {
        switch self {
        case .staleSeq: "hub.stale_seq"
        case .invalidSnapshot: "hub.invalid_snapshot"
        case .jobFinished: "hub.job_finished"
        }
    }
}
