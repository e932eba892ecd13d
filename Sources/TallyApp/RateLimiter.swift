import Synchronization

/// How fast one client may call the rate-limited endpoints.
public struct RateLimitPolicy: Sendable, Equatable {
    /// Requests a client may make at once (the bucket size). 60 lets a dashboard open many
    /// job pages in a burst.
    public var burst: Int = 60
    /// Tokens added per second: 10 is a poll every 100 ms, far more than any honest client
    /// needs with long-polling or WebSocket.
    public var refillPerSecond: Double = 10
    /// Clients remembered at once; past it, idle ones are forgotten first. Bounds memory
    /// (about 100 bytes per client) whatever the number of addresses hitting the server.
    public var maxClients: Int = 100_000

    /// Creates the default policy.
    public init() {}

    /// Creates a policy.
    public init(burst: Int, refillPerSecond: Double, maxClients: Int = 100_000) {
        self.burst = burst
        self.refillPerSecond = refillPerSecond
        self.maxClients = maxClients
    }
}

/// The outcome of one check, with the headers of draft-ietf-httpapi-ratelimit-headers.
public struct RateLimitDecision: Sendable, Equatable {
    /// Whether the request may proceed.
    public let allowed: Bool
    /// The bucket size (`RateLimit-Limit`).
    public let limit: Int
    /// Whole requests left right now (`RateLimit-Remaining`).
    public let remaining: Int
    /// Seconds until the bucket is full again (`RateLimit-Reset`).
    public let resetSeconds: Int
    /// Seconds until the next request would be allowed (`Retry-After`); 0 when allowed.
    public let retryAfterSeconds: Int

    /// The headers to add to the response; `Retry-After` only on a refusal.
    public var headers: [(String, String)] {
        var headers = [("RateLimit-Limit", String(limit)), ("RateLimit-Remaining", String(remaining)),
                       ("RateLimit-Reset", String(resetSeconds))]
        if !allowed { headers.append(("Retry-After", String(retryAfterSeconds))) }
        return headers
    }
}

/// A token bucket per client key (API key or address), in a table of bounded size.
///
/// The table is split into shards with their own lock so that event loops checking different
/// clients rarely meet. Time is passed in (monotonic nanoseconds) so tests can move it.
public final class RateLimiter: Sendable {
    /// The policy in force.
    public let policy: RateLimitPolicy
    private let shards: [LockedShard]
    private let perShard: Int

    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    private struct Shard {
        var buckets: [String: Bucket] = [:]
    }

    private final class LockedShard: Sendable {
        let state = Mutex(Shard())
    }

    /// Creates a limiter; `shardCount` trades memory for less lock contention.
    public init(policy: RateLimitPolicy, shardCount: Int = 16) {
        self.policy = policy
        let count = max(1, shardCount)
        self.shards = (0..<count).map { _ in LockedShard() }
        self.perShard = max(1, policy.maxClients / count)
    }

    /// Clients currently remembered.
    public var trackedClients: Int {
        shards.reduce(0) { total, shard in total + shard.state.withLock { $0.buckets.count } }
    }

    /// Takes one token from `key`'s bucket if it has one.
    public func check(_ key: String, now: UInt64) -> RateLimitDecision {
        let policy = self.policy
        let capacity = Double(max(1, policy.burst))
        let rate = max(policy.refillPerSecond, 1e-9)
        let perShard = self.perShard
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        return shard.state.withLock { shard in
            var bucket: Bucket
            if let existing = shard.buckets[key] {
                bucket = existing
                let elapsed = now > bucket.updated ? Double(now - bucket.updated) / 1e9 : 0
                bucket.tokens = min(capacity, bucket.tokens + elapsed * rate)
            } else {
                if shard.buckets.count >= perShard {
                    RateLimiter.makeRoom(in: &shard, now: now, capacity: capacity, rate: rate, limit: perShard)
                }
                bucket = Bucket(tokens: capacity, updated: now)
            }
            bucket.updated = max(bucket.updated, now)
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            shard.buckets[key] = bucket
            let remaining = Int(bucket.tokens.rounded(.down))
            let reset = Int(((capacity - bucket.tokens) / rate).rounded(.up))
            let retry = allowed ? 0 : max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
            return RateLimitDecision(allowed: allowed, limit: Int(capacity), remaining: remaining,
                                     resetSeconds: reset, retryAfterSeconds: retry)
        }
    }

    /// Forgets clients whose bucket has refilled (forgetting them changes nothing); if that
    /// is not enough, forgets arbitrary ones down to 7/8 of the limit, so the sweep runs once
    /// per many insertions even under a flood of new addresses.
    private static func makeRoom(in shard: inout Shard, now: UInt64, capacity: Double, rate: Double, limit: Int) {
        shard.buckets = shard.buckets.filter { _, bucket in
            let elapsed = now > bucket.updated ? Double(now - bucket.updated) / 1e9 : 0
            return bucket.tokens + elapsed * rate < capacity
        }
        let target = limit - max(1, limit / 8)
        if shard.buckets.count > target {
            let excess = shard.buckets.count - target
            let victims = Array(shard.buckets.keys.prefix(excess))
            for key in victims { shard.buckets[key] = nil }
        }
    }
}
