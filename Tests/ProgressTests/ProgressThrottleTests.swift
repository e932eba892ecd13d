import Testing
@testable import Progress

struct ProgressThrottleTests {
    /// Feeds rows one by one, moving the fake clock by `secondsPerRow`; returns the row
    /// numbers at which events were due.
    func emissions(rows: Int64, total: Int64?, secondsPerRow: Double, policy: ThrottlePolicy = ThrottlePolicy()) -> [Int64] {
        let clock = ManualClock()
        var throttle = ProgressThrottle(policy: policy)
        throttle.didEmit(processed: 0, total: total, at: clock.now)
        var out: [Int64] = []
        for row in 1...rows {
            clock.advance(seconds: secondsPerRow)
            if throttle.isDue(processed: row, total: total, clock: clock.clock) {
                out.append(row)
                throttle.didEmit(processed: row, total: total, at: clock.now)
            }
        }
        return out
    }

    @Test func every50RowsWhenSlow() {
        #expect(emissions(rows: 200, total: nil, secondsPerRow: 0.01) == [50, 100, 150, 200])
    }

    @Test func everyPercentWhenThatComesFirst() {
        // total 1000: 1 % is 10 rows, before 50.
        #expect(emissions(rows: 40, total: 1000, secondsPerRow: 0.02) == [10, 20, 30, 40])
    }

    @Test func atMostTenPerSecond() {
        // 1000 rows per second: rows would allow an event every 50 rows; time caps it at 10/s.
        let due = emissions(rows: 2000, total: nil, secondsPerRow: 0.001)
        #expect(due.count == 20)
        for (a, b) in zip(due, due.dropFirst()) { #expect(b - a >= 100) }
    }

    @Test func configurable() {
        let policy = ThrottlePolicy(everyRows: 5, everyFraction: 1, minInterval: 0)
        #expect(emissions(rows: 20, total: nil, secondsPerRow: 0, policy: policy) == [5, 10, 15, 20])
    }

    @Test func idleStartDoesNotDragTheFirstRateDown() {
        let clock = ManualClock()
        var rate = RateEstimator()
        rate.start(count: 0, at: clock.now)
        clock.advance(seconds: 5)
        rate.add(count: 0, at: clock.now)
        #expect(rate.rate == nil)
        clock.advance(seconds: 1)
        rate.add(count: 1000, at: clock.now)
        #expect(rate.rate == 1000)
    }

    @Test func rateIsSmoothedAndETAFollows() {
        let clock = ManualClock()
        var rate = RateEstimator(timeConstant: 3)
        rate.start(count: 0, at: clock.now)
        #expect(rate.rate == nil && rate.eta(remaining: 10) == nil)
        clock.advance(seconds: 1)
        rate.add(count: 100, at: clock.now)
        #expect(rate.rate == 100)
        #expect(rate.eta(remaining: 500) == 5)
        // A burst moves the rate part of the way, not all of it.
        clock.advance(seconds: 1)
        rate.add(count: 1100, at: clock.now)
        let r = rate.rate ?? 0
        #expect(r > 100 && r < 1000)
        // A steady rate converges.
        var count: Int64 = 1100
        for _ in 0..<100 {
            clock.advance(seconds: 0.5)
            count += 100
            rate.add(count: count, at: clock.now)
        }
        #expect(abs((rate.rate ?? 0) - 200) < 1)
    }
}
