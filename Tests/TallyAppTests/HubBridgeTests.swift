import Progress
import Testing
@testable import TallyApp

final class RecordingLoop: HubLoop {
    func execute(_ work: @escaping @Sendable () -> Void) { work() }
    var inLoop: Bool { true }
}

final class RecordingSink: HubSink {
    var isReady = true
    var events: [HubEvent] = []
    func receive(_ event: HubEvent, from subscription: HubSubscription) { events.append(event) }
}

struct HubBridgeTests {
    @Test func theHubHoldsAnEventOnceTheTrackerPublishReturns() throws {
        let tracker = JobTracker()
        let hub = LocalProgressHub()
        HubBridge.connect(tracker, to: hub)
        let snapshot = JobSnapshot(id: "abcdefghijkl", kind: .import, name: "a.csv", createdAt: Timestamp(milliseconds: 0))
        tracker.publish(JobEvent(type: .state, snapshot: snapshot))
        #expect(hub.latest(job: snapshot.id)?.seq == 1)
        #expect(hub.latest(job: snapshot.id)?.state == "pending")
    }

    @Test func trackerEventsReachTheHubInOrder() throws {
        let tracker = JobTracker()
        let hub = LocalProgressHub()
        HubBridge.connect(tracker, to: hub)
        var snapshot = JobSnapshot(id: "abcdefghijkl", kind: .import, name: "a.csv", createdAt: Timestamp(milliseconds: 0))
        tracker.publish(JobEvent(type: .state, snapshot: snapshot))
        tracker.waitForDelivery()
        let sink = RecordingSink()
        let subscription = try #require(hub.subscribe(to: .job(snapshot.id), after: 1, sink: sink, on: RecordingLoop()))
        for seq in Int64(2)...20 {
            snapshot.seq = seq
            snapshot.processed = seq * 10
            snapshot.state = seq == 20 ? .completed : .running
            tracker.publish(JobEvent(type: seq == 20 ? .state : .progress, snapshot: snapshot))
        }
        tracker.waitForDelivery()
        #expect(sink.events.map(\.seq) == Array(2...20))
        let last = try #require(sink.events.last)
        #expect(last.isTerminal)
        #expect(String(decoding: last.json, as: UTF8.self).hasPrefix(#"{"type":"state","id":"abcdefghijkl","seq":20,"#))
        subscription.cancel()
    }
}
