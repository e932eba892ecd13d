import Synchronization

/// What a subscription needs from the hub that made it (through its loop's shard).
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
///
/// Thousands sit idle on a popular job, so an idle one-job subscription is a few words: what
/// its loop's subscriptions share (hub, loop, counters, capacity) is one reference to the
/// shard, and the mailbox is allocated only while events wait (and freed once drained).
public final class HubSubscription {
    /// What the subscription follows.
    public let topic: HubTopic
    /// Whether `cancel()` was called (by its owner, or by a sink on a terminal event).
    public private(set) var isCancelled = false
    /// Position in the loop shard's list, for O(1) removal; -1 when not in it.
    var slot: Int32 = -1
    /// The sink; kept strongly until `cancel()`.
    public private(set) var sink: (any HubSink)?
    /// The hub's share of this loop: the owner, the loop, the counters, the mailbox capacity.
    let shard: HubShard
    /// Highest seq delivered for a single-job topic (duplicate guard).
    private var lastSeq: UInt64 = 0
    /// Pending entries and, for `*`, the seqs delivered per job; nil while nothing waits on a
    /// one-job subscription.
    private var mailbox: Mailbox?

    /// Pending entries in order, from `head` on, and for `*` the highest seq delivered per job
    /// and whether it was terminal (finished jobs are forgotten once the table grows, so it
    /// stays as small as the set of live jobs).
    final class Mailbox {
        var entries: [Entry] = []
        var head = 0
        var lastSeqByJob: [String: (seq: UInt64, terminal: Bool)] = [:]
        var finishedInTable = 0

        var isEmpty: Bool { head == entries.count }
    }

    static let finishedTableLimit = 1024

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

    init(topic: HubTopic, sink: any HubSink, shard: HubShard) {
        self.topic = topic
        self.sink = sink
        self.shard = shard
        if case .all = topic { mailbox = Mailbox() }
    }

    /// The loop the subscription belongs to.
    var loop: any HubLoop { shard.loop }

    /// Events waiting for the sink to drain.
    public var pendingCount: Int { mailbox.map { $0.entries.count - $0.head } ?? 0 }

    /// Highest seq delivered so far for `job`, 0 before the first.
    public func lastDelivered(job: String) -> UInt64 {
        switch topic {
        case .job: lastSeq
        case .all: mailbox?.lastSeqByJob[job]?.seq ?? 0
        }
    }

    /// Delivers pending events while the sink is ready; call when the sink has drained.
    public func flush() {
        guard let mailbox else { return }
        while mailbox.head < mailbox.entries.count, !isCancelled, let sink, sink.isReady {
            let entry = mailbox.entries[mailbox.head]
            mailbox.head += 1
            switch entry {
            case .event(let event):
                hand(event, to: sink)
            case .resync(let job):
                if let event = shard.owner?.resyncEvent(job: job), event.seq > lastDelivered(job: job) {
                    hand(event, to: sink)
                }
            }
        }
        guard !isCancelled, mailbox.isEmpty else { return }
        if case .job = topic {
            // Drained: an idle subscription holds no mailbox.
            self.mailbox = nil
        } else {
            mailbox.entries.removeAll(keepingCapacity: mailbox.entries.count <= 16)
            mailbox.head = 0
        }
    }

    /// Stops deliveries and lets go of the sink and the mailbox; safe to call twice.
    public func cancel() {
        guard !isCancelled else { return }
        isCancelled = true
        mailbox = nil
        shard.owner?.remove(self)
        sink = nil
    }

    /// Offers one event: straight to the sink when it is ready and nothing is waiting,
    /// otherwise into the mailbox under the coalescing rules.
    func offer(_ event: HubEvent) {
        guard !isCancelled, let sink else { return }
        guard event.seq > lastDelivered(job: event.job) else { return }
        if mailbox?.isEmpty ?? true, sink.isReady {
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
            if let mailbox {
                mailbox.lastSeqByJob[event.job] = (event.seq, event.isTerminal)
                if event.isTerminal {
                    mailbox.finishedInTable += 1
                    if mailbox.finishedInTable > HubSubscription.finishedTableLimit {
                        mailbox.lastSeqByJob = mailbox.lastSeqByJob.filter { !$0.value.terminal }
                        mailbox.finishedInTable = 0
                    }
                }
            }
        }
        shard.counters.delivered.add(1, ordering: .relaxed)
        sink.receive(event, from: self)
    }

    private func enqueue(_ event: HubEvent) {
        let mailbox: Mailbox
        if let existing = self.mailbox {
            mailbox = existing
        } else {
            mailbox = Mailbox()
            self.mailbox = mailbox
        }
        if let index = lastIndex(of: event.job, in: mailbox) {
            switch mailbox.entries[index] {
            case .resync:
                // The marker resolves to the latest snapshot at drain time: it already covers this.
                shard.counters.coalesced.add(1, ordering: .relaxed)
                return
            case .event(let pending):
                if event.type == .progress, pending.type == .progress, !pending.isTerminal {
                    mailbox.entries[index] = .event(event)
                    shard.counters.coalesced.add(1, ordering: .relaxed)
                    return
                }
            }
        }
        mailbox.entries.append(.event(event))
        if mailbox.entries.count - mailbox.head > shard.capacity { collapse(mailbox) }
    }

    private func lastIndex(of job: String, in mailbox: Mailbox) -> Int? {
        var index = mailbox.entries.count - 1
        while index >= mailbox.head {
            if mailbox.entries[index].job == job { return index }
            index -= 1
        }
        return nil
    }

    /// Replaces each job's pending entries with one resync marker, keeping the jobs' order.
    private func collapse(_ mailbox: Mailbox) {
        shard.counters.resyncs.add(1, ordering: .relaxed)
        var kept: [Entry] = []
        var seen = Set<String>()
        for entry in mailbox.entries[mailbox.head...] {
            if seen.insert(entry.job).inserted {
                kept.append(.resync(entry.job))
            } else {
                shard.counters.coalesced.add(1, ordering: .relaxed)
            }
        }
        mailbox.entries = kept
        mailbox.head = 0
    }
}
