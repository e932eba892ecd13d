import Dispatch
import Synchronization

/// The point where job producers (the import engine, external jobs) publish events and
/// subscribers (the real-time hub, the CLI progress bar) receive them.
///
/// - Producers call `publish(_:)` after the snapshot is persisted, in `seq` order per job.
///   `publish` never blocks on an observer: it appends to each observer's own serial queue.
/// - Each observer receives every event of every job, per job in strictly increasing `seq`,
///   on its own serial queue (one observer at a time, never concurrently with itself).
/// - An observer that falls more than `maxPendingPerObserver` events behind loses progress
///   events (counted in `droppedEvents`); state events (and so terminal ones) are never
///   dropped. A subscriber that sees a gap in `seq` knows it missed something.
public final class JobTracker: Sendable {
    /// Identifies an observer for `removeObserver`.
    public struct ObserverToken: Hashable, Sendable {
        let id: Int
    }

    private final class Observer: Sendable {
        let body: @Sendable (JobEvent) -> Void
        let queue: DispatchQueue
        let pending = Atomic<Int>(0)
        init(id: Int, body: @escaping @Sendable (JobEvent) -> Void) {
            self.body = body
            self.queue = DispatchQueue(label: "tally.tracker.observer.\(id)")
        }
    }

    private struct State: ~Copyable {
        var observers: [Int: Observer] = [:]
        var inlineObservers: [@Sendable (JobEvent) -> Void] = []
        var nextObserverID = 1
        var latest: [String: JobSnapshot] = [:]
        /// `latest`'s JSON, encoded on the first read after each change: a job polled by many
        /// clients between two events is encoded once.
        var encoded: [String: [UInt8]] = [:]
    }

    private let state = Mutex(State())
    private let dropped = Atomic<Int>(0)
    /// How far an observer may fall behind before it loses progress events.
    public let maxPendingPerObserver: Int

    public init(maxPendingPerObserver: Int = 10_000) {
        self.maxPendingPerObserver = maxPendingPerObserver
    }

    /// Registers `body` to be called with every event published from now on.
    @discardableResult
    public func addObserver(_ body: @escaping @Sendable (JobEvent) -> Void) -> ObserverToken {
        state.withLock { state in
            let id = state.nextObserverID
            state.nextObserverID += 1
            state.observers[id] = Observer(id: id, body: body)
            return ObserverToken(id: id)
        }
    }

    /// Registers `body` to be called with every event, inside `publish` and in publish order,
    /// before `publish` returns. For observers that never block (the progress hub only encodes
    /// and hands the event to the event loops): whoever reads a job after a producer published
    /// it then finds the event there, with no queue in between. It cannot be removed.
    public func addInlineObserver(_ body: @escaping @Sendable (JobEvent) -> Void) {
        state.withLock { $0.inlineObservers.append(body) }
    }

    /// Stops calling an observer (events already queued for it are still delivered).
    public func removeObserver(_ token: ObserverToken) {
        _ = state.withLock { $0.observers.removeValue(forKey: token.id) }
    }

    /// Publishes an event to every observer. Returns false (and publishes nothing) when the
    /// event's `seq` is not above the job's last published one: observers only ever see
    /// strictly increasing sequence numbers.
    @discardableResult
    public func publish(_ event: JobEvent) -> Bool {
        state.withLock { state in
            let id = event.snapshot.id
            if let last = state.latest[id], event.seq <= last.seq { return false }
            if event.isTerminal {
                state.latest.removeValue(forKey: id)
                state.encoded.removeValue(forKey: id)
            } else {
                state.latest[id] = event.snapshot
                state.encoded.removeValue(forKey: id)
            }
            for observer in state.inlineObservers { observer(event) }
            for observer in state.observers.values {
                if event.type == .progress && observer.pending.load(ordering: .relaxed) >= maxPendingPerObserver {
                    dropped.add(1, ordering: .relaxed)
                    continue
                }
                observer.pending.add(1, ordering: .relaxed)
                observer.queue.async {
                    observer.body(event)
                    observer.pending.subtract(1, ordering: .relaxed)
                }
            }
            return true
        }
    }

    /// The last published snapshot of a job that has not reached a terminal state.
    public func latest(_ id: String) -> JobSnapshot? {
        state.withLock { $0.latest[id] }
    }

    /// The JSON of `latest(id)` (`JobSnapshot.json`), or nil when the job is not active.
    public func latestJSON(_ id: String) -> [UInt8]? {
        state.withLock { state in
            if let json = state.encoded[id] { return json }
            guard let snapshot = state.latest[id] else { return nil }
            let json = snapshot.json
            state.encoded[id] = json
            return json
        }
    }

    /// Every active (pending or running) job's last published snapshot.
    public func activeSnapshots() -> [JobSnapshot] {
        state.withLock { Array($0.latest.values) }
    }

    /// Progress events not delivered to a lagging observer since start.
    public var droppedEvents: Int { dropped.load(ordering: .relaxed) }

    /// Waits until every event published so far has been delivered (tests, shutdown).
    public func waitForDelivery() {
        let queues = state.withLock { $0.observers.values.map(\.queue) }
        for queue in queues { queue.sync {} }
    }
}
