import Synchronization

/// What a subscription needs from the hub that made it; lets another hub reuse the mailbox.
protocol HubSubscriptionOwner: AnyObject, Sendable {
    /// The latest snapshot of `job` marked as a resync, or nil when the job is gone.
    func resyncEvent(job: String) -> HubEvent?
    /// Forgets the subscription; called on its loop.
    func remove(_ subscription: HubSubscription)
}

/// One sink's subscription to a job or to all jobs, with its small mailbox.
///
/// Bound to the loop it was created on: every method must be called there. While the sink is
/// ready, events go straight through. While it is not, they wait in a mailbox that never
/// grows past `capacity` entries per job: a progress event replaces the job's pending
/// progress event, state and terminal events are kept, and when the mailbox overflows the
/// job's entries collapse into one resync marker, resolved to the job's latest snapshot when
/// the sink drains. So a subscriber that never reads costs a bounded amount of memory, and
/// it always learns the final state.
public final class HubSubscription {
    /// What the subscription follows.
    public let topic: HubTopic
    /// The sink; kept strongly until `cancel()`.
    public private(set) var sink: (any HubSink)?

    let owner: any HubSubscriptionOwner
    let loop: any HubLoop
    let capacity: Int
    /// Position in the loop shard's list, for O(1) removal.
    var slot = -1
    /// Pending entries in order, from `head` on.
    private var entries: [Entry] = []
    private var head = 0
    /// Highest seq delivered for a single-job topic (duplicate guard).
    private var lastSeq: UInt64 = 0
    /// Highest seq delivered per job for `*`, and whether it was terminal; finished jobs are
    /// forgotten once the table grows, so it stays as small as the set of live jobs.
    private var lastSeqByJob: [String: (seq: UInt64, terminal: Bool)] = [:]
    private var finishedInTable = 0
    static let finishedTableLimit = 1024
    /// Whether `cancel()` was called (by its owner, or by a sink on a terminal event).
    public private(set) var isCancelled = false
    /// The loop's delivery counters, shared by the loop's subscriptions.
    let counters: HubLoopCounters

    enum Entry {
        case event(HubEvent)
        case resync(String)

        var job: String {
            switch self {
            case .event(let event): event.job
            case .resync(let job): job
            }
        }
    }

    init(topic: HubTopic, sink: any HubSink, owner: any HubSubscriptionOwner, loop: any HubLoop,
         capacity: Int, counters: HubLoopCounters) {
        self.topic = topic
        self.counters = counters
        self.sink = sink
        self.owner = owner
        self.loop = loop
        self.capacity = max(1, capacity)
    }

    /// Events waiting for the sink to drain.
    public var pendingCount: Int { entries.count - head }

    /// Highest seq delivered so far for `job`, 0 before the first.
    public func lastDelivered(job: String) -> UInt64 {
        switch topic {
        case .job: lastSeq
        case .all: lastSeqByJob[job]?.seq ?? 0
        }
    }

    /// Delivers pending events while the sink is ready; call when the sink has drained.
    public func flush() {
        while head < entries.count, !isCancelled, let sink, sink.isReady {
            let entry = entries[head]
            head += 1
            switch entry {
            case .event(let event):
                hand(event, to: sink)
            case .resync(let job):
                if let event = owner.resyncEvent(job: job), event.seq > lastDelivered(job: job) {
                    hand(event, to: sink)
                }
            }
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: entries.count <= 16)
            head = 0
        }
    }

    /// Stops deliveries and lets go of the sink and the mailbox; safe to call twice.
    public func cancel() {
        guard !isCancelled else { return }
        isCancelled = true
        entries = []
        head = 0
        lastSeqByJob = [:]
        owner.remove(self)
        sink = nil
    }

    /// Offers one event: straight to the sink when it is ready and nothing is waiting,
    /// otherwise into the mailbox under the coalescing rules.
    func offer(_ event: HubEvent) {
        guard !isCancelled, let sink else { return }
        guard event.seq > lastDelivered(job: event.job) else { return }
        if head == entries.count, sink.isReady {
            hand(event, to: sink)
            return
        }
        enqueue(event)
    }

    private func hand(_ event: HubEvent, to sink: any HubSink) {
        switch topic {
        case .job:
            lastSeq = event.seq
        case .all:
            lastSeqByJob[event.job] = (event.seq, event.isTerminal)
            if event.isTerminal {
                finishedInTable += 1
                if finishedInTable > HubSubscription.finishedTableLimit {
                    lastSeqByJob = lastSeqByJob.filter { !$0.value.terminal }
                    finishedInTable = 0
                }
            }
        }
        counters.delivered.add(1, ordering: .relaxed)
        sink.receive(event, from: self)
    }

    private func enqueue(_ event: HubEvent) {
        if let index = lastIndex(of: event.job) {
            switch entries[index] {
            case .resync:
                // The marker resolves to the latest snapshot at drain time: it already covers this.
                counters.coalesced.add(1, ordering: .relaxed)
                return
            case .event(let pending):
                if event.type == .progress, pending.type == .progress, !pending.isTerminal {
                    entries[index] = .event(event)
                    counters.coalesced.add(1, ordering: .relaxed)
                    return
                }
            }
        }
        entries.append(.event(event))
        if entries.count - head > capacity { collapse() }
    }

    private func lastIndex(of job: String) -> Int? {
        var index = entries.count - 1
        while index >= head {
            if entries[index].job == job { return index }
            index -= 1
        }
        return nil
    }

    /// Replaces each job's pending entries with one resync marker, keeping the jobs' order.
    private func collapse() {
        counters.resyncs.add(1, ordering: .relaxed)
        var kept: [Entry] = []
        var seen = Set<String>()
        for entry in entries[head...] {
            if seen.insert(entry.job).inserted {
                kept.append(.resync(entry.job))
            } else {
                counters.coalesced.add(1, ordering: .relaxed)
            }
        }
        entries = kept
        head = 0
    }
}
