import Synchronization

/// Limits of the in-process hub, with defaults sized for thousands of jobs and subscribers.
public struct HubConfiguration: Sendable {
    /// Events kept per job for resuming clients. 256 covers a reconnect of several seconds at
    /// the producers' ~10 events/s per job, at roughly 1 KiB per event with its encodings.
    public var logCapacity: Int = 256
    /// Pending entries per subscription before its events collapse into a resync; state
    /// changes are rare, so 16 holds every one of them for a healthy but briefly slow client.
    public var mailboxCapacity: Int = 16
    /// Finished jobs that keep their whole log (older finished jobs keep their last event).
    public var retainedFinishedLogs: Int = 64
    /// Jobs held in memory; past it, the oldest finished jobs without subscribers are dropped
    /// and come back from the snapshot provider when asked for.
    public var maxJobs: Int = 10_000

    /// Creates the default configuration.
    public init() {}
}

/// The in-process progress hub: one lock for the job table, delivery on the subscribers' loops.
///
/// Each event is encoded once (plain JSON plus every registered encoder) and the same bytes
/// reach every subscriber. Delivery takes one hop per loop per event: subscribers are grouped
/// by loop, and publishing submits one task to each loop that has subscribers of the job or of
/// `*`; that task then walks the loop's subscribers. Tasks are submitted while the job table is
/// locked, so every loop sees a job's events in seq order whichever threads publish them.
public final class LocalProgressHub: ProgressHub, HubSubscriptionOwner {
    /// Where a job the hub does not hold comes from (storage, after a restart or an eviction).
    public typealias SnapshotProvider = @Sendable (String) -> HubUpdate?

    private let configuration: HubConfiguration
    private let encoders: [HubEncoder]
    private let formats: [String: HubFormat]
    private let provider: Mutex<SnapshotProvider?>
    private let state: Mutex<State>
    private let published = Atomic<Int>(0)
    private let subscriberCount = Atomic<Int>(0)

    /// Creates a hub; `encoders` are the transport encodings computed once per event.
    public init(configuration: HubConfiguration = HubConfiguration(), encoders: [HubEncoder] = [],
                snapshotProvider: SnapshotProvider? = nil) {
        self.configuration = configuration
        self.encoders = encoders
        var formats: [String: HubFormat] = [:]
        for (index, encoder) in encoders.enumerated() {
            formats[encoder.name] = HubFormat(index: index)
        }
        self.formats = formats
        self.provider = Mutex(snapshotProvider)
        self.state = Mutex(State())
    }

    /// Sets where unknown jobs are looked up; the wiring calls it once the store exists.
    public func setSnapshotProvider(_ provider: SnapshotProvider?) {
        self.provider.withLock { $0 = provider }
    }

    public func format(named name: String) -> HubFormat? { formats[name] }

    public var metrics: HubMetrics {
        var metrics = HubMetrics()
        metrics.published = published.load(ordering: .relaxed)
        metrics.subscribers = subscriberCount.load(ordering: .relaxed)
        let (jobs, counters) = state.withLock { state in
            (state.jobs.count, state.shards.values.map(\.counters))
        }
        metrics.jobs = jobs
        for counter in counters {
            metrics.delivered += counter.delivered.load(ordering: .relaxed)
            metrics.coalesced += counter.coalesced.load(ordering: .relaxed)
            metrics.resyncs += counter.resyncs.load(ordering: .relaxed)
        }
        return metrics
    }

    // MARK: Publishing

    public func publish(_ update: HubUpdate) throws(HubError) {
        // A producer may not claim the snapshot type: the hub sends snapshots itself.
        let type: HubEventType = update.type == .snapshot ? .state : update.type
        guard let event = HubEvent(job: update.job, seq: update.seq, type: type,
                                   isTerminal: update.isTerminal, isResync: false, state: update.state,
                                   snapshot: update.snapshot, encoders: encoders) else {
            throw .invalidSnapshot
        }
        let configuration = self.configuration
        try state.withLock { (state: inout State) throws(HubError) -> Void in
            let record: JobRecord
            if let existing = state.jobs[event.job] {
                record = existing
                if let latest = record.latest {
                    guard event.seq > latest.seq else { throw .staleSeq }
                    // A hole (another node's events, a restart): resuming across it needs a resync.
                    if event.seq != latest.seq + 1 { record.log.removeAll() }
                }
            } else {
                record = JobRecord(logCapacity: configuration.logCapacity)
                state.jobs[event.job] = record
            }
            record.append(event)
            if event.isTerminal { state.finished(event.job, configuration: configuration) }
            if state.jobs.count > configuration.maxJobs { state.evict(configuration: configuration) }

            for entry in record.shards { entry.shard.post(event) }
            for entry in state.allShards where !record.shards.contains(where: { $0.shard === entry.shard }) {
                entry.shard.post(event)
            }
        }
        published.add(1, ordering: .relaxed)
    }

    /// Subscribers that receive `job`'s events: its own and those of `*`. Takes the job
    /// table's lock briefly (never held while events are written to sockets); producers ask
    /// once per event they publish.
    public func subscriberCount(job: String) -> Int {
        state.withLock { state in
            var count = 0
            if let record = state.jobs[job] {
                for entry in record.shards { count += entry.count }
            }
            for entry in state.allShards { count += entry.count }
            return count
        }
    }

    // MARK: Subscribing

    public func subscribe(to topic: HubTopic, after: UInt64?, sink: any HubSink,
                          on loop: any HubLoop) -> HubSubscription? {
        assert(loop.inLoop, "subscribe must be called on the subscriber's loop")
        if case .job(let job) = topic { seedIfUnknown(job) }
        let encoders = self.encoders
        let capacity = configuration.mailboxCapacity
        let found: (HubShard, [HubEvent])? = state.withLock { state in
            let shard = state.shard(for: loop, owner: self, mailboxCapacity: capacity)
            switch topic {
            case .job(let job):
                guard let record = state.jobs[job] else { return nil }
                record.addShard(shard)
                let replay = after.map { record.replay(after: $0, encoders: encoders) }
                    ?? record.snapshotEvent(encoders: encoders).map { [$0] } ?? []
                return (shard, replay)
            case .all:
                state.allShards.add(shard)
                var snapshots: [HubEvent] = []
                for record in state.jobs.values {
                    guard let latest = record.latest, !latest.isTerminal,
                          let snapshot = record.snapshotEvent(encoders: encoders) else { continue }
                    snapshots.append(snapshot)
                }
                return (shard, snapshots)
            }
        }
        guard let (shard, replay) = found else { return nil }
        let subscription = HubSubscription(topic: topic, sink: sink, shard: shard)
        shard.add(subscription)
        subscriberCount.add(1, ordering: .relaxed)
        if replay.contains(where: \.isResync) {
            shard.counters.resyncs.add(1, ordering: .relaxed)
        }
        for event in replay { subscription.offer(event) }
        return subscription
    }

    public func replay(job: String, after: UInt64?) -> HubReplay {
        seedIfUnknown(job)
        let encoders = self.encoders
        return state.withLock { state in
            guard let record = state.jobs[job] else { return .unknownJob }
            guard let after else {
                return record.snapshotEvent(encoders: encoders).map { .events([$0]) } ?? .events([])
            }
            let events = record.replay(after: after, encoders: encoders)
            if events.count == 1, events[0].isResync { return .resync(events[0]) }
            return .events(events)
        }
    }

    public func latest(job: String) -> HubEvent? {
        if let event = state.withLock({ $0.jobs[job]?.latest }) { return event }
        seedIfUnknown(job)
        return state.withLock { $0.jobs[job]?.latest }
    }

    // MARK: HubSubscriptionOwner

    func resyncEvent(job: String) -> HubEvent? {
        seedIfUnknown(job)
        let encoders = self.encoders
        return state.withLock { $0.jobs[job]?.resyncEvent(encoders: encoders) }
    }

    func remove(_ subscription: HubSubscription) {
        let shard = subscription.shard
        state.withLock { state in
            switch subscription.topic {
            case .job(let job): state.jobs[job]?.removeShard(shard)
            case .all: state.allShards.remove(shard)
            }
        }
        shard.remove(subscription)
        subscriberCount.subtract(1, ordering: .relaxed)
    }

    /// Loads a job the hub does not hold from the provider, outside the lock (it may read
    /// storage); a concurrent publish wins over the loaded snapshot.
    private func seedIfUnknown(_ job: String) {
        guard !state.withLock({ $0.jobs[job] != nil }) else { return }
        guard let provider = provider.withLock({ $0 }), let update = provider(job), update.job == job,
              let event = HubEvent(job: update.job, seq: update.seq,
                                   type: update.type == .snapshot ? .state : update.type,
                                   isTerminal: update.isTerminal, isResync: false, state: update.state,
                                   snapshot: update.snapshot, encoders: encoders) else { return }
        let configuration = self.configuration
        state.withLock { state in
            guard state.jobs[job] == nil else { return }
            let record = JobRecord(logCapacity: configuration.logCapacity)
            record.append(event)
            state.jobs[job] = record
            if event.isTerminal { state.finished(job, configuration: configuration) }
            if state.jobs.count > configuration.maxJobs { state.evict(configuration: configuration) }
        }
    }
}

// MARK: - State under the hub's lock

/// A loop's share in a job's subscribers: the loop's shard and how many it holds.
struct ShardCount {
    let shard: HubShard
    var count: Int
}

extension [ShardCount] {
    mutating func add(_ shard: HubShard) {
        if let index = firstIndex(where: { $0.shard === shard }) {
            self[index].count += 1
        } else {
            append(ShardCount(shard: shard, count: 1))
        }
    }

    mutating func remove(_ shard: HubShard) {
        guard let index = firstIndex(where: { $0.shard === shard }) else { return }
        self[index].count -= 1
        if self[index].count <= 0 { remove(at: index) }
    }
}

struct State {
    var jobs: [String: JobRecord] = [:]
    var allShards: [ShardCount] = []
    var shards: [ObjectIdentifier: HubShard] = [:]
    /// Finished jobs, oldest first, from `finishedHead` on; may hold ids since dropped or rerun.
    var finishedOrder: [String] = []
    var finishedHead = 0

    mutating func shard(for loop: any HubLoop, owner: any HubSubscriptionOwner, mailboxCapacity: Int) -> HubShard {
        let key = ObjectIdentifier(loop)
        if let shard = shards[key] { return shard }
        let shard = HubShard(loop: loop, owner: owner, mailboxCapacity: mailboxCapacity)
        shards[key] = shard
        return shard
    }

    /// Notes a job's terminal event, and trims the whole logs of finished jobs past the limit.
    mutating func finished(_ job: String, configuration: HubConfiguration) {
        finishedOrder.append(job)
        let withLogs = finishedOrder.count - configuration.retainedFinishedLogs
        if withLogs > finishedHead, withLogs - 1 < finishedOrder.count {
            let old = finishedOrder[withLogs - 1]
            if let record = jobs[old], record.latest?.isTerminal == true { record.trimLog() }
        }
    }

    /// Drops the oldest finished jobs that nobody follows until the table fits again.
    mutating func evict(configuration: HubConfiguration) {
        var skipped: [String] = []
        while jobs.count > configuration.maxJobs, finishedHead < finishedOrder.count {
            let job = finishedOrder[finishedHead]
            finishedHead += 1
            guard let record = jobs[job], record.latest?.isTerminal == true else { continue }
            if record.shards.isEmpty {
                jobs[job] = nil
            } else {
                skipped.append(job)
            }
        }
        if finishedHead > 1024, finishedHead * 2 > finishedOrder.count {
            finishedOrder.removeFirst(finishedHead)
            finishedHead = 0
        }
        finishedOrder.append(contentsOf: skipped)
    }
}

/// One job's log and subscribers' loops; only touched under the hub's lock.
final class JobRecord {
    private(set) var latest: HubEvent?
    var log: HubRing
    var shards: [ShardCount] = []
    private var cachedSnapshot: HubEvent?
    private var cachedResync: HubEvent?

    init(logCapacity: Int) {
        log = HubRing(capacity: logCapacity)
    }

    func append(_ event: HubEvent) {
        log.append(event)
        latest = event
        cachedSnapshot = nil
        cachedResync = nil
    }

    func addShard(_ shard: HubShard) { shards.add(shard) }
    func removeShard(_ shard: HubShard) { shards.remove(shard) }

    func trimLog() {
        log.removeAll()
        if let latest { log.append(latest) }
    }

    /// The latest snapshot as a `snapshot` event, built once per seq and shared.
    func snapshotEvent(encoders: [HubEncoder]) -> HubEvent? {
        if let cachedSnapshot { return cachedSnapshot }
        cachedSnapshot = latest?.retyped(.snapshot, isResync: false, encoders: encoders)
        return cachedSnapshot
    }

    /// The latest snapshot marked `"resync":true`, built once per seq and shared.
    func resyncEvent(encoders: [HubEncoder]) -> HubEvent? {
        if let cachedResync { return cachedResync }
        cachedResync = latest?.retyped(.snapshot, isResync: true, encoders: encoders)
        return cachedResync
    }

    /// Exactly the events after `after`, or one resync snapshot when the log lost some of
    /// them or the client claims a seq the job never reached.
    func replay(after: UInt64, encoders: [HubEncoder]) -> [HubEvent] {
        guard let latest else { return [] }
        if after == latest.seq { return [] }
        if after < latest.seq, let oldest = log.first, oldest.seq <= after + 1 {
            return log.events(after: after)
        }
        return resyncEvent(encoders: encoders).map { [$0] } ?? []
    }
}

/// A fixed-capacity ring of events in seq order.
struct HubRing {
    private var storage: [HubEvent?]
    private var start = 0
    private(set) var count = 0

    init(capacity: Int) {
        storage = []
        storage.reserveCapacity(min(max(1, capacity), 64))
        self.capacity = max(1, capacity)
    }

    let capacity: Int

    var first: HubEvent? { count == 0 ? nil : storage[start] }

    mutating func append(_ event: HubEvent) {
        if storage.count < capacity {
            storage.append(event)
            count += 1
            return
        }
        let end = (start + count) % capacity
        storage[end] = event
        if count == capacity {
            start = (start + 1) % capacity
        } else {
            count += 1
        }
    }

    mutating func removeAll() {
        storage.removeAll(keepingCapacity: false)
        start = 0
        count = 0
    }

    /// The events with `seq > after`, in order.
    func events(after: UInt64) -> [HubEvent] {
        var result: [HubEvent] = []
        for offset in 0..<count {
            if let event = storage[(start + offset) % storage.count], event.seq > after {
                result.append(event)
            }
        }
        return result
    }
}

// MARK: - Per-loop delivery

/// The subscribers one loop holds, grouped by job; every member is touched only on that loop.
/// It is also what those subscriptions share (hub, loop, counters, mailbox capacity), so each
/// of them holds one reference instead of copies.
///
/// `@unchecked Sendable` because the hub must reach it from publishing threads, which only
/// ever call `post`: that hands the event to the loop, and all state is read and written
/// there (asserted with `loop.inLoop`).
final class HubShard: @unchecked Sendable {
    let loop: any HubLoop
    let counters = HubLoopCounters()
    /// The hub, weakly: the hub holds its shards.
    private(set) weak var owner: (any HubSubscriptionOwner)?
    /// Pending entries per subscription before its events collapse into a resync.
    let capacity: Int
    private var byJob: [String: [HubSubscription]] = [:]
    private var all: [HubSubscription] = []

    init(loop: any HubLoop, owner: any HubSubscriptionOwner, mailboxCapacity: Int) {
        self.loop = loop
        self.owner = owner
        self.capacity = max(1, mailboxCapacity)
    }

    /// Submits one task that delivers `event` to every subscriber of this loop.
    func post(_ event: HubEvent) {
        loop.execute { [self] in deliver(event) }
    }

    func deliver(_ event: HubEvent) {
        assert(loop.inLoop)
        if let subscribers = byJob[event.job] {
            for subscription in subscribers { subscription.offer(event) }
        }
        for subscription in all { subscription.offer(event) }
    }

    func add(_ subscription: HubSubscription) {
        assert(loop.inLoop)
        switch subscription.topic {
        case .job(let job):
            subscription.slot = Int32(byJob[job, default: []].count)
            byJob[job, default: []].append(subscription)
        case .all:
            subscription.slot = Int32(all.count)
            all.append(subscription)
        }
    }

    func remove(_ subscription: HubSubscription) {
        assert(loop.inLoop)
        switch subscription.topic {
        case .job(let job):
            guard var list = byJob[job] else { return }
            byJob[job] = nil
            HubShard.swapRemove(subscription, from: &list)
            if !list.isEmpty { byJob[job] = list }
        case .all:
            HubShard.swapRemove(subscription, from: &all)
        }
    }

    private static func swapRemove(_ subscription: HubSubscription, from list: inout [HubSubscription]) {
        let slot = Int(subscription.slot)
        guard slot >= 0, slot < list.count, list[slot] === subscription else { return }
        let last = list.removeLast()
        if slot < list.count {
            list[slot] = last
            last.slot = Int32(slot)
        }
        subscription.slot = -1
    }
}
