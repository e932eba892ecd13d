import Synchronization

/// A hub's counters at one instant, for `/metrics`.
public struct HubMetrics: Sendable, Equatable {
    /// Updates accepted by `publish`.
    public var published: Int = 0
    /// Events handed to sinks (one per subscriber per event).
    public var delivered: Int = 0
    /// Events a slow subscriber skipped because a later one replaced or covered them.
    public var coalesced: Int = 0
    /// Resync snapshots: a subscriber too far behind for the log or its mailbox.
    public var resyncs: Int = 0
    /// Live subscriptions.
    public var subscribers: Int = 0
    /// Jobs the hub holds a log for.
    public var jobs: Int = 0

    /// Creates zeroed metrics.
    public init() {}
}

/// Delivery counters of one loop: written only by that loop, so the atomics never contend.
final class HubLoopCounters: Sendable {
    let delivered = Atomic<Int>(0)
    let coalesced = Atomic<Int>(0)
    let resyncs = Atomic<Int>(0)
}
