import Testing
@testable import Progress

struct LocalProgressHubTests {
    @Test func sendsASnapshotFirstThenEveryEventInOrder() throws {
        let hub = hub()
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...3)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: nil, sink: probe, on: loop))
        #expect(probe.received.map(\.type) == [.snapshot])
        #expect(probe.received.first?.state == "running")
        #expect(probe.seqs == [3])
        try hub.publishProgress("j", 4...6)
        loop.run()
        #expect(probe.seqs == [3, 4, 5, 6])
        #expect(probe.received.dropFirst().allSatisfy { $0.type == .progress })
        subscription.cancel()
    }

    @Test func resumingGivesExactlyTheMissedEvents() throws {
        let hub = hub()
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...10)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 4, sink: probe, on: loop))
        #expect(probe.seqs == [5, 6, 7, 8, 9, 10])
        #expect(probe.received.allSatisfy { !$0.isResync && $0.type == .progress })
        try hub.publishProgress("j", 11...12)
        loop.run()
        #expect(probe.seqs == Array(5...12))
        subscription.cancel()
    }

    @Test func resumingWhenUpToDateSendsNothing() throws {
        let hub = hub()
        try hub.publishProgress("j", 1...5)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 5, sink: probe, on: ManualLoop()))
        #expect(probe.received.isEmpty)
        subscription.cancel()
    }

    @Test func resumingFromBeyondTheLogGivesOneResyncSnapshot() throws {
        let hub = hub(log: 8)
        try hub.publishProgress("j", 1...20)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 3, sink: probe, on: ManualLoop()))
        #expect(probe.seqs == [20])
        #expect(probe.received.first?.isResync == true)
        #expect(probe.texts.first?.hasPrefix(#"{"type":"snapshot","resync":true,"#) == true)
        subscription.cancel()
        // The oldest seq still in the log is 13, so after=12 is the furthest exact resume.
        let exact = Probe()
        let resumed = try #require(hub.subscribe(to: .job("j"), after: 12, sink: exact, on: ManualLoop()))
        #expect(exact.seqs == Array(13...20))
        resumed.cancel()
        #expect(hub.metrics.resyncs == 1)
    }

    @Test func aSeqFromTheFutureGetsAResync() throws {
        let hub = hub()
        try hub.publishProgress("j", 1...3)
        guard case .resync(let event) = hub.replay(job: "j", after: 99) else {
            Issue.record("expected a resync")
            return
        }
        #expect(event.seq == 3)
    }

    @Test func replayAnswersLongPolls() throws {
        let hub = hub()
        #expect({ if case .unknownJob = hub.replay(job: "nope", after: 0) { true } else { false } }())
        try hub.publishProgress("j", 1...4)
        guard case .events(let events) = hub.replay(job: "j", after: 2) else {
            Issue.record("expected events")
            return
        }
        #expect(events.map(\.seq) == [3, 4])
        guard case .events(let none) = hub.replay(job: "j", after: 4) else {
            Issue.record("expected no events")
            return
        }
        #expect(none.isEmpty)
    }

    @Test func refusesStaleAndMalformedUpdates() throws {
        let hub = hub()
        try hub.publishProgress("j", 1...3)
        #expect(throws: HubError.staleSeq) { try hub.publish(update("j", 3)) }
        #expect(throws: HubError.staleSeq) { try hub.publish(update("j", 1)) }
        #expect(throws: HubError.invalidSnapshot) {
            try hub.publish(HubUpdate(job: "j", seq: 4, type: .progress, isTerminal: false, snapshot: Array("[1]".utf8)))
        }
        #expect(HubError.staleSeq.code == "hub.stale_seq")
        #expect(hub.metrics.published == 3)
    }

    @Test func aHoleInTheSeqsForcesResumersToResync() throws {
        let hub = hub()
        try hub.publishProgress("j", 1...3)
        try hub.publish(update("j", 7))
        guard case .resync(let event) = hub.replay(job: "j", after: 3) else {
            Issue.record("expected a resync across the hole")
            return
        }
        #expect(event.seq == 7)
    }

    @Test func unknownJobsComeFromTheSnapshotProvider() throws {
        let hub = hub()
        let probe = Probe()
        #expect(hub.subscribe(to: .job("stored"), after: nil, sink: probe, on: ManualLoop()) == nil)
        hub.setSnapshotProvider { job in
            job == "stored" ? update(job, 42, .state, state: "completed") : nil
        }
        let subscription = try #require(hub.subscribe(to: .job("stored"), after: nil, sink: probe, on: ManualLoop()))
        #expect(probe.seqs == [42])
        #expect(probe.received.first?.isTerminal == true)
        #expect(hub.latest(job: "stored")?.seq == 42)
        #expect(hub.latest(job: "other") == nil)
        subscription.cancel()
    }

    @Test func deliversWithOneTaskPerLoopPerEvent() throws {
        let hub = hub()
        let loops = [ManualLoop(), ManualLoop(), ManualLoop()]
        try hub.publishProgress("j", 1...1)
        var probes: [Probe] = []
        var subscriptions: [HubSubscription] = []
        for loop in loops {
            for _ in 0..<100 {
                let probe = Probe()
                probes.append(probe)
                subscriptions.append(try #require(hub.subscribe(to: .job("j"), after: 1, sink: probe, on: loop)))
            }
        }
        let star = Probe()
        subscriptions.append(try #require(hub.subscribe(to: .all, after: nil, sink: star, on: loops[0])))
        try hub.publish(update("j", 2))
        #expect(loops.map(\.queued) == [1, 1, 1])
        try hub.publish(update("other", 1))
        #expect(loops.map(\.queued) == [2, 1, 1])
        for loop in loops { loop.run() }
        #expect(probes.allSatisfy { $0.seqs == [2] })
        #expect(star.received.map(\.job) == ["j", "j", "other"])
        #expect(hub.metrics.delivered == 300 + 3)
        #expect(hub.metrics.subscribers == 301)
        for subscription in subscriptions { subscription.cancel() }
        #expect(hub.metrics.subscribers == 0)
        try hub.publish(update("j", 3))
        #expect(loops.map(\.queued) == [0, 0, 0])
    }

    @Test func everySubscriberGetsTheSameBytes() throws {
        let ws = HubEncoder(name: "ws") { draft in HubBytes([0x81, UInt8(draft.json.count)] + draft.json) }
        let hub = hub(encoders: [ws])
        let format = try #require(hub.format(named: "ws"))
        #expect(hub.format(named: "nope") == nil)
        try hub.publishProgress("j", 1...1)
        let loop = ManualLoop()
        let first = Probe(), second = Probe()
        let a = try #require(hub.subscribe(to: .job("j"), after: 1, sink: first, on: loop))
        let b = try #require(hub.subscribe(to: .job("j"), after: 1, sink: second, on: loop))
        try hub.publish(update("j", 2))
        loop.run()
        let x = try #require(first.received.first), y = try #require(second.received.first)
        #expect(x === y)
        #expect((x.encoded(format) as? HubBytes)?.bytes.first == 0x81)
        a.cancel()
        b.cancel()
    }

    @Test func allJobsSubscribersStartWithTheActiveJobs() throws {
        let hub = hub()
        try hub.publishProgress("a", 1...2)
        try hub.publish(update("b", 1, .state, state: "completed"))
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .all, after: nil, sink: probe, on: ManualLoop()))
        #expect(probe.received.map(\.job) == ["a"])
        #expect(probe.received.first?.type == .snapshot)
        subscription.cancel()
    }

    @Test func cancelStopsDeliveryEvenForQueuedTasks() throws {
        let hub = hub()
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...1)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 1, sink: probe, on: loop))
        try hub.publish(update("j", 2))
        subscription.cancel()
        subscription.cancel()
        loop.run()
        #expect(probe.received.isEmpty)
        #expect(subscription.sink == nil)
    }

    @Test func dropsTheOldestFinishedJobsPastTheLimit() throws {
        var configuration = HubConfiguration()
        configuration.maxJobs = 10
        configuration.retainedFinishedLogs = 2
        let hub = LocalProgressHub(configuration: configuration)
        for index in 0..<30 {
            try hub.publishProgress("j\(index)", 1...3)
            try hub.publish(update("j\(index)", 4, .state, state: "completed"))
        }
        #expect(hub.metrics.jobs <= 10)
        #expect(hub.latest(job: "j29")?.isTerminal == true)
        #expect(hub.latest(job: "j0") == nil)
        // Recent finished jobs keep their log; older ones only their final event.
        guard case .events(let recent) = hub.replay(job: "j29", after: 1) else {
            Issue.record("expected events")
            return
        }
        #expect(recent.map(\.seq) == [2, 3, 4])
        guard case .resync(let old) = hub.replay(job: "j25", after: 1) else {
            Issue.record("expected a resync for a trimmed log")
            return
        }
        #expect(old.seq == 4)
    }
}
