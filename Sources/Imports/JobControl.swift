import Synchronization

/// Why an import should stop before its end.
enum StopReason: UInt8 {
    case none = 0
    case cancel = 1
    case timeout = 2
    case stalled = 3
    case shutdown = 4
}

/// The shared handle on one active import: the worker reads the stop request on every row,
/// the watchdog reads the activity times, and whoever finishes the job from outside the worker
/// (cancel, timeout, stall) sets `abandoned` while holding the database write lock, which the
/// worker checks under the same lock before each batch.
final class JobControl: Sendable {
    let id: String
    private let stop = Atomic<UInt8>(0)
    private let abandonedFlag = Atomic<Bool>(false)
    private let claimed = Atomic<Bool>(false)
    /// When the worker started running it (ms), 0 before.
    let startedAt = Atomic<Int64>(0)
    /// Last time the worker read input or wrote rows (ms).
    let lastActivity = Atomic<Int64>(0)

    init(id: String) {
        self.id = id
    }

    /// Asks the worker to stop; the first reason wins.
    func requestStop(_ reason: StopReason) {
        _ = stop.compareExchange(expected: 0, desired: reason.rawValue, ordering: .relaxed)
    }

    var stopReason: StopReason {
        StopReason(rawValue: stop.load(ordering: .relaxed)) ?? .none
    }

    @inline(__always) var isStopRequested: Bool { stop.load(ordering: .relaxed) != 0 }

    /// Set (under the write lock) when the job was finished by someone else.
    var isAbandoned: Bool { abandonedFlag.load(ordering: .acquiring) }
    func abandon() { abandonedFlag.store(true, ordering: .releasing) }

    /// The worker takes the job once; false when another worker already has it.
    func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
