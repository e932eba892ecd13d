import Testing
@testable import TallyApp

struct RateLimiterTests {
    private let second: UInt64 = 1_000_000_000

    @Test func allowsABurstThenRefusesWithRetryAfter() {
        let limiter = RateLimiter(policy: RateLimitPolicy(burst: 3, refillPerSecond: 1))
        let decisions = (0..<4).map { _ in limiter.check("a", now: 10 * second) }
        #expect(decisions.map(\.allowed) == [true, true, true, false])
        #expect(decisions.map(\.remaining) == [2, 1, 0, 0])
        let refused = decisions[3]
        #expect(refused.retryAfterSeconds == 1)
        #expect(refused.resetSeconds == 3)
        #expect(refused.headers.map(\.0) == ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"])
        #expect(decisions[0].headers.count == 3)
        #expect(APIError.rateLimited(refused).status == 429)
    }

    @Test func refillsWithTime() {
        let limiter = RateLimiter(policy: RateLimitPolicy(burst: 2, refillPerSecond: 2))
        _ = limiter.check("a", now: 0)
        _ = limiter.check("a", now: 0)
        #expect(!limiter.check("a", now: 0).allowed)
        #expect(!limiter.check("a", now: second / 4).allowed)
        #expect(limiter.check("a", now: second / 2 + second / 4).allowed)
        // It never grows past the burst.
        #expect(limiter.check("a", now: 100 * second).remaining == 1)
    }

    @Test func clientsHaveSeparateBuckets() {
        let limiter = RateLimiter(policy: RateLimitPolicy(burst: 1, refillPerSecond: 0.001))
        #expect(limiter.check("a", now: 0).allowed)
        #expect(!limiter.check("a", now: 0).allowed)
        #expect(limiter.check("b", now: 0).allowed)
        #expect(limiter.check("a", now: 0).retryAfterSeconds == 1000)
    }

    @Test func theClientTableStaysBounded() {
        let limiter = RateLimiter(policy: RateLimitPolicy(burst: 5, refillPerSecond: 1, maxClients: 1_000), shardCount: 4)
        for index in 0..<20_000 { _ = limiter.check("client-\(index)", now: 0) }
        #expect(limiter.trackedClients <= 1_000)
        // An idle client's full bucket is forgotten first, which changes nothing for it.
        #expect(limiter.check("client-1", now: 3_600 * second).allowed)
    }
}
