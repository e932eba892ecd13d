import Testing
@testable import Progress

struct HubSubscriptionTests {
    @Test func slowSubscribersGetTheLatestProgressAndEveryStateChange() throws {
        let hub = hub()
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...1)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 1, sink: probe, on: loop))
        probe.isReady = false
        try hub.publishProgress("j", 2...10)
        try hub.publish(update("j", 11, .state))
        try hub.publishProgress("j", 12...20)
        loop.run()
        #expect(subscription.pendingCount == 3)
        #expect(probe.received.isEmpty)
        probe.isReady = true
        subscription.flush()
        #expect(probe.seqs == [10, 11, 20])
        #expect(probe.received.map(\.type) == [.progress, .state, .progress])
        #expect(hub.metrics.coalesced == 16)
        #expect(subscription.pendingCount == 0)
        subscription.cancel()
    }

    @Test func theTerminalEventIsNeverLostWhenTheMailboxOverflows() throws {
        let hub = hub(mailbox: 4)
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...1)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 1, sink: probe, on: loop))
        probe.isReady = false
        for seq in UInt64(2)...30 { try hub.publish(update("j", seq, .state)) }
        try hub.publish(update("j", 31, .state, state: "completed"))
        loop.run()
        #expect(subscription.pendingCount <= 4)
        probe.isReady = true
        subscription.flush()
        let last = try #require(probe.received.last)
        #expect(last.seq == 31)
        #expect(last.isTerminal)
        #expect(probe.texts.last?.contains(#""state":"completed""#) == true)
        // Whatever was collapsed is announced as a resync, never as a silent hole in state events.
        #expect(probe.received.contains { $0.isResync })
        subscription.cancel()
    }

    @Test func aTerminalEventWaitingBehindProgressIsDelivered() throws {
        let hub = hub()
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...1)
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 1, sink: probe, on: loop))
        probe.isReady = false
        try hub.publishProgress("j", 2...5)
        try hub.publish(update("j", 6, .progress, state: "completed"))
        loop.run()
        probe.isReady = true
        subscription.flush()
        #expect(probe.seqs == [6])
        #expect(probe.received.last?.isTerminal == true)
        subscription.cancel()
    }

    @Test func aSubscriberThatNeverDrainsStaysBoundedWhileOthersGetEverything() throws {
        let hub = hub(mailbox: 8)
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...1)
        let stuck = Probe()
        stuck.isReady = false
        let healthy = Probe()
        let star = Probe()
        let a = try #require(hub.subscribe(to: .job("j"), after: 1, sink: stuck, on: loop))
        let b = try #require(hub.subscribe(to: .job("j"), after: 1, sink: healthy, on: loop))
        let c = try #require(hub.subscribe(to: .all, after: nil, sink: star, on: loop))
        var maxPending = 0
        for seq in UInt64(2)...10_000 {
            try hub.publish(update("j", seq, seq % 100 == 0 ? .state : .progress))
            if seq % 50 == 0 {
                loop.run()
                maxPending = max(maxPending, a.pendingCount)
            }
        }
        loop.run()
        #expect(maxPending <= 8)
        #expect(stuck.received.isEmpty)
        #expect(healthy.seqs == Array(2...10_000))
        #expect(star.seqs == [1] + Array(2...10_000))
        a.cancel()
        b.cancel()
        c.cancel()
    }

    @Test func duplicatesAfterAResyncAreDropped() throws {
        let hub = hub(mailbox: 2)
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...1)
        let probe = Probe()
        probe.isReady = false
        let subscription = try #require(hub.subscribe(to: .job("j"), after: 1, sink: probe, on: loop))
        for seq in UInt64(2)...6 { try hub.publish(update("j", seq, .state)) }
        loop.run()
        // The marker resolves to the latest published snapshot, including one whose task is
        // still queued; that task must then not deliver it a second time.
        try hub.publish(update("j", 7, .state))
        probe.isReady = true
        subscription.flush()
        loop.run()
        #expect(probe.seqs == [7])
        #expect(probe.received.first?.isResync == true)
        subscription.cancel()
    }

    @Test func allJobsSubscribersCoalescePerJob() throws {
        let hub = hub()
        let loop = ManualLoop()
        let probe = Probe()
        let subscription = try #require(hub.subscribe(to: .all, after: nil, sink: probe, on: loop))
        probe.isReady = false
        for seq in UInt64(1)...5 {
            try hub.publish(update("a", seq))
            try hub.publish(update("b", seq))
        }
        loop.run()
        #expect(subscription.pendingCount == 2)
        probe.isReady = true
        subscription.flush()
        #expect(probe.received.map { "\($0.job)\($0.seq)" } == ["a5", "b5"])
        #expect(subscription.lastDelivered(job: "a") == 5)
        subscription.cancel()
    }
}
