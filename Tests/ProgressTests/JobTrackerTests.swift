import Synchronization
import Testing
@testable import Progress

struct JobTrackerTests {
    func snapshot(_ id: String, seq: Int64, state: JobState = .running) -> JobSnapshot {
        var s = JobSnapshot(id: id, kind: .import, name: "f", createdAt: Timestamp(milliseconds: 0))
        s.seq = seq
        s.state = state
        return s
    }

    @Test func deliversEveryEventInOrderAndRejectsStaleSeq() {
        let tracker = JobTracker()
        let seen = Mutex<[Int64]>([])
        tracker.addObserver { event in seen.withLock { $0.append(event.seq) } }
        #expect(tracker.publish(JobEvent(type: .state, snapshot: snapshot("aaaaaaaaaaaa", seq: 1))))
        #expect(tracker.publish(JobEvent(type: .progress, snapshot: snapshot("aaaaaaaaaaaa", seq: 2))))
        #expect(!tracker.publish(JobEvent(type: .progress, snapshot: snapshot("aaaaaaaaaaaa", seq: 2))))
        #expect(tracker.publish(JobEvent(type: .state, snapshot: snapshot("aaaaaaaaaaaa", seq: 3, state: .completed))))
        tracker.waitForDelivery()
        #expect(seen.withLock { $0 } == [1, 2, 3])
        #expect(tracker.latest("aaaaaaaaaaaa") == nil)
    }

    @Test func latestJSONIsTheLatestSnapshotsEncodingUntilTheNextEvent() {
        let tracker = JobTracker()
        #expect(tracker.latestJSON("aaaaaaaaaaaa") == nil)
        var first = snapshot("aaaaaaaaaaaa", seq: 1)
        first.processed = 10
        tracker.publish(JobEvent(type: .state, snapshot: first))
        #expect(tracker.latestJSON("aaaaaaaaaaaa") == first.json)
        #expect(tracker.latestJSON("aaaaaaaaaaaa") == first.json)
        var second = snapshot("aaaaaaaaaaaa", seq: 2)
        second.processed = 20
        tracker.publish(JobEvent(type: .progress, snapshot: second))
        #expect(tracker.latestJSON("aaaaaaaaaaaa") == second.json)
        #expect(first.json != second.json)
        tracker.publish(JobEvent(type: .state, snapshot: snapshot("aaaaaaaaaaaa", seq: 3, state: .completed)))
        #expect(tracker.latestJSON("aaaaaaaaaaaa") == nil)
    }

    @Test func slowObserverNeverBlocksPublisherAndKeepsStateEvents() {
        let tracker = JobTracker(maxPendingPerObserver: 20)
        let gate = Mutex(false)
        let seen = Mutex<[JobEvent.EventType]>([])
        tracker.addObserver { event in
            while !gate.withLock({ $0 }) { usleepShort() }
            seen.withLock { $0.append(event.type) }
        }
        let fast = Mutex<[Int64]>([])
        tracker.addObserver { event in fast.withLock { $0.append(event.seq) } }
        for seq in Int64(1)...100 {
            tracker.publish(JobEvent(type: seq % 10 == 0 ? .state : .progress, snapshot: snapshot("bbbbbbbbbbbb", seq: seq)))
        }
        // The publisher got here while the slow observer was stuck.
        gate.withLock { $0 = true }
        tracker.waitForDelivery()
        let fastSeqs = fast.withLock { $0 }
        #expect(fastSeqs == fastSeqs.sorted() && fastSeqs.last == 100)
        let slow = seen.withLock { $0 }
        #expect(slow.filter { $0 == .state }.count == 10)
        #expect(slow.count <= 30)
        #expect(tracker.droppedEvents >= 100 - slow.count)
    }

    @Test func removedObserverGetsNothingMore() {
        let tracker = JobTracker()
        let count = Mutex(0)
        let token = tracker.addObserver { _ in count.withLock { $0 += 1 } }
        tracker.publish(JobEvent(type: .state, snapshot: snapshot("cccccccccccc", seq: 1)))
        tracker.waitForDelivery()
        tracker.removeObserver(token)
        tracker.publish(JobEvent(type: .state, snapshot: snapshot("cccccccccccc", seq: 2)))
        tracker.waitForDelivery()
        #expect(count.withLock { $0 } == 1)
        #expect(tracker.latest("cccccccccccc")?.seq == 2)
    }
}

#if canImport(Glibc)
import Glibc
#endif
func usleepShort() { usleep(1000) }
