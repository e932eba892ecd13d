import Testing
@testable import Progress

struct FanoutBudgetTests {
    @Test func spacingFollowsSubscribersOverTheBudget() {
        let budget = FanoutBudget(deliveriesPerSecond: 20_000)
        // Under the budget: the producer's own 0.1 s.
        #expect(budget.interval(subscribers: 0, base: 0.1) == 0.1)
        #expect(budget.interval(subscribers: 2_000, base: 0.1) == 0.1)
        // 10,000 subscribers: 2 events/s keep 20,000 deliveries/s.
        #expect(budget.interval(subscribers: 10_000, base: 0.1) == 0.5)
        // Never slower than one event per second…
        #expect(budget.interval(subscribers: 1_000_000, base: 0.1) == 1)
        // …unless the producer itself asked for a longer spacing.
        #expect(budget.interval(subscribers: 1_000_000, base: 5) == 5)
    }

    @Test func zeroTurnsTheBudgetOff() {
        let budget = FanoutBudget(deliveriesPerSecond: 0, subscribers: { _ in 1_000_000 })
        #expect(budget.interval(subscribers: 1_000_000, base: 0.1) == 0.1)
        #expect(budget.interval(job: "j", base: 0.1) == 0.1)
        #expect(!budget.isActive)
    }

    @Test func asksTheSourceForTheJob() {
        let budget = FanoutBudget(deliveriesPerSecond: 1_000)
        #expect(budget.interval(job: "j", base: 0.1) == 0.1)
        budget.setSubscriberSource { $0 == "busy" ? 500 : 10 }
        #expect(budget.isActive)
        #expect(budget.interval(job: "busy", base: 0.1) == 0.5)
        #expect(budget.interval(job: "quiet", base: 0.1) == 0.1)
    }

    @Test func throttleSpacesEventsAsComputed() {
        // 1000 rows/s, 10,000 subscribers, budget 20,000: one event per 0.5 s, i.e. per 500 rows.
        let budget = FanoutBudget(deliveriesPerSecond: 20_000, subscribers: { _ in 10_000 })
        let clock = ManualClock()
        var throttle = ProgressThrottle()
        throttle.didEmit(processed: 0, total: nil, at: clock.now)
        throttle.minInterval = budget.interval(job: "j", base: throttle.policy.minInterval)
        var due: [Int64] = []
        for row in Int64(1)...2000 {
            clock.advance(seconds: 0.001)
            if throttle.isDue(processed: row, total: nil, clock: clock.clock) {
                due.append(row)
                throttle.didEmit(processed: row, total: nil, at: clock.now)
            }
        }
        #expect(due.count == 4)
        for (a, b) in zip(due, due.dropFirst()) { #expect(b - a >= 500 && b - a <= 550) }
    }

    @Test func hubCountsAJobsSubscribersAndThoseOfAll() throws {
        let hub = LocalProgressHub()
        let loop = ManualLoop()
        try hub.publishProgress("j", 1...1)
        try hub.publishProgress("k", 1...1)
        #expect(hub.subscriberCount(job: "j") == 0)
        var subscriptions: [HubSubscription] = []
        for _ in 0..<3 {
            subscriptions.append(try #require(hub.subscribe(to: .job("j"), after: nil, sink: Probe(), on: loop)))
        }
        subscriptions.append(try #require(hub.subscribe(to: .job("j"), after: nil, sink: Probe(), on: ManualLoop())))
        subscriptions.append(try #require(hub.subscribe(to: .all, after: nil, sink: Probe(), on: loop)))
        #expect(hub.subscriberCount(job: "j") == 5)
        #expect(hub.subscriberCount(job: "k") == 1)
        #expect(hub.subscriberCount(job: "unknown") == 1)
        subscriptions[0].cancel()
        #expect(hub.subscriberCount(job: "j") == 4)
        for subscription in subscriptions.dropFirst() { subscription.cancel() }
        #expect(hub.subscriberCount(job: "j") == 0)
    }
}
