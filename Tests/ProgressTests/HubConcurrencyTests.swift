import Foundation
import Synchronization
import Testing
@testable import Progress

/// A loop on its own thread, like the server's, for the one test that needs real threads.
final class ThreadLoop: HubLoop, @unchecked Sendable {
    private let condition = NSCondition()
    private var tasks: [@Sendable () -> Void] = []
    private var stopped = false
    private var thread: Thread?
    private let threadID = Mutex<ObjectIdentifier?>(nil)

    init() {
        let thread = Thread { [unowned self] in self.runLoop() }
        self.thread = thread
        thread.start()
    }

    func execute(_ work: @escaping @Sendable () -> Void) {
        condition.lock()
        tasks.append(work)
        condition.signal()
        condition.unlock()
    }

    var inLoop: Bool { threadID.withLock { $0 } == ObjectIdentifier(Thread.current) }

    /// Runs `work` on the loop and waits for it.
    func sync<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        execute {
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }!
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func runLoop() {
        threadID.withLock { $0 = ObjectIdentifier(Thread.current) }
        while true {
            condition.lock()
            while tasks.isEmpty && !stopped { condition.wait() }
            if tasks.isEmpty && stopped {
                condition.unlock()
                return
            }
            let batch = tasks
            tasks.removeAll()
            condition.unlock()
            for task in batch { task() }
        }
    }
}

/// Hands loop-bound values to the loop that owns them.
final class LoopBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

struct HubConcurrencyTests {
    @Test func publishersOnManyThreadsReachSubscribersOnManyLoopsInOrder() throws {
        let hub = LocalProgressHub()
        let loops = [ThreadLoop(), ThreadLoop()]
        defer { for loop in loops { loop.stop() } }
        let jobs = ["a", "b", "c", "d"]
        for job in jobs { try hub.publish(update(job, 1)) }
        var boxes: [LoopBox<Probe>] = []
        var subscriptions: [(ThreadLoop, LoopBox<HubSubscription>)] = []
        for loop in loops {
            for topic in jobs.map(HubTopic.job) + [.all] {
                let probe = LoopBox(Probe())
                boxes.append(probe)
                let subscription = loop.sync {
                    LoopBox(hub.subscribe(to: topic, after: topic == .all ? nil : 1, sink: probe.value, on: loop))
                }
                let box = try #require(subscription.value)
                subscriptions.append((loop, LoopBox(box)))
            }
        }
        let count: UInt64 = 2_000
        DispatchQueue.concurrentPerform(iterations: jobs.count) { index in
            for seq in UInt64(2)...count { try? hub.publish(update(jobs[index], seq)) }
        }
        // A task queued after every delivery task: once it ran, every event has arrived.
        for loop in loops { _ = loop.sync { true } }
        for (loop, subscription) in subscriptions {
            loop.sync { subscription.value.cancel() }
        }
        for box in boxes {
            var byJob: [String: [UInt64]] = [:]
            for event in box.value.received where !(event.type == .snapshot) {
                byJob[event.job, default: []].append(event.seq)
            }
            for (_, seqs) in byJob { #expect(seqs == Array(2...count)) }
        }
        #expect(hub.metrics.published == jobs.count * Int(count))
        #expect(hub.metrics.delivered == loops.count * (jobs.count * 2 * Int(count - 1)) + loops.count * jobs.count)
        #expect(hub.metrics.subscribers == 0)
    }
}
