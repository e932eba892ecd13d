import Synchronization
@testable import Progress

/// A loop that runs its tasks only when the test says so, so tests control interleavings.
final class ManualLoop: HubLoop {
    private let tasks = Mutex<[@Sendable () -> Void]>([])

    func execute(_ work: @escaping @Sendable () -> Void) {
        tasks.withLock { $0.append(work) }
    }

    var inLoop: Bool { true }

    /// Tasks submitted and not yet run.
    var queued: Int { tasks.withLock { $0.count } }

    /// Runs every queued task, including tasks queued while running.
    func run() {
        while true {
            let batch = tasks.withLock { tasks -> [@Sendable () -> Void] in
                let batch = tasks
                tasks.removeAll()
                return batch
            }
            if batch.isEmpty { return }
            for task in batch { task() }
        }
    }
}

/// A sink that records what it receives and can pretend its connection is full.
final class Probe: HubSink {
    var isReady = true
    var received: [HubEvent] = []

    func receive(_ event: HubEvent, from subscription: HubSubscription) {
        received.append(event)
    }

    var seqs: [UInt64] { received.map(\.seq) }
    var texts: [String] { received.map { String(decoding: $0.json, as: UTF8.self) } }
}

/// A snapshot JSON object as a producer would encode it.
func snapshotJSON(job: String, seq: UInt64, state: String = "running", processed: Int = 0) -> [UInt8] {
    Array(#"{"id":"\#(job)","seq":\#(seq),"state":"\#(state)","processed":\#(processed)}"#.utf8)
}

func update(_ job: String, _ seq: UInt64, _ type: HubEventType = .progress,
            state: String = "running") -> HubUpdate {
    let terminal = ["completed", "failed", "cancelled"].contains(state)
    return HubUpdate(job: job, seq: seq, type: type, isTerminal: terminal, state: state,
                     snapshot: snapshotJSON(job: job, seq: seq, state: state, processed: Int(seq) * 10))
}

extension LocalProgressHub {
    /// Publishes seqs `range` of progress events for `job`.
    func publishProgress(_ job: String, _ range: ClosedRange<UInt64>) throws {
        for seq in range { try publish(update(job, seq)) }
    }
}

func hub(log: Int = 256, mailbox: Int = 16, encoders: [HubEncoder] = []) -> LocalProgressHub {
    var configuration = HubConfiguration()
    configuration.logCapacity = log
    configuration.mailboxCapacity = mailbox
    return LocalProgressHub(configuration: configuration, encoders: encoders)
}
