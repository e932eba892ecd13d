import Synchronization

/// Counts failed authentications per client address and locks an address out for a window
/// once it has failed `maxFailures` times within one, so credentials cannot be guessed at the
/// request rate (every refusal is cheap, but 401s are answers an attacker learns from).
///
/// A locked-out address gets 429 with `Retry-After` for any request that shows credentials,
/// right ones included (otherwise a lucky guess would stand out), without the credentials
/// being verified. Requests without credentials are unaffected: they guess nothing.
///
/// Shared by every loop, so the table is sharded behind mutexes. Time is passed in
/// (monotonic milliseconds) so tests can move it.
public final class AuthFailureLimiter: Sendable {
    /// The policy in force.
    public let policy: AuthFailurePolicy
    private let shards: [LockedShard]
    private let perShard: Int
    private let lockouts = Atomic<Int>(0)

    private struct Entry {
        var windowStart: UInt64
        var failures: Int
        var blockedUntil: UInt64
    }

    private final class LockedShard: Sendable {
        let table = Mutex<[String: Entry]>([:])
    }

    /// Creates a limiter.
    public init(policy: AuthFailurePolicy, shardCount: Int = 16) {
        self.policy = policy
        let count = max(1, shardCount)
        shards = (0..<count).map { _ in LockedShard() }
        perShard = max(1, policy.maxAddresses / count)
    }

    private var windowMilliseconds: UInt64 { UInt64(max(1, policy.windowSeconds)) * 1000 }

    /// Seconds until `address` may authenticate again, or nil when it may now.
    public func retryAfter(_ address: String, now: UInt64) -> Int? {
        shard(for: address).table.withLock { table in
            guard let entry = table[address], entry.blockedUntil > now else { return nil }
            return Self.seconds(entry.blockedUntil - now)
        }
    }

    /// Counts a failed authentication from `address`; returns the seconds it is now locked
    /// out for when this failure reached the limit.
    @discardableResult
    public func recordFailure(_ address: String, now: UInt64) -> Int? {
        let window = windowMilliseconds
        let limit = max(1, policy.maxFailures)
        let perShard = self.perShard
        let blocked = shard(for: address).table.withLock { table -> Int? in
            var entry = table[address] ?? Entry(windowStart: now, failures: 0, blockedUntil: 0)
            if table[address] == nil, table.count >= perShard {
                Self.makeRoom(in: &table, now: now, window: window, limit: perShard)
            }
            if now >= entry.windowStart &+ window {
                entry.windowStart = now
                entry.failures = 0
            }
            entry.failures += 1
            var locked: Int?
            if entry.failures >= limit, entry.blockedUntil <= now {
                entry.blockedUntil = now &+ window
                entry.windowStart = now
                entry.failures = 0
                locked = Self.seconds(window)
            }
            table[address] = entry
            return locked
        }
        if blocked != nil { lockouts.add(1, ordering: .relaxed) }
        return blocked
    }

    /// Addresses locked out at `now`.
    public func blockedAddresses(now: UInt64) -> Int {
        shards.reduce(0) { sum, shard in
            sum + shard.table.withLock { table in table.values.reduce(0) { $0 + ($1.blockedUntil > now ? 1 : 0) } }
        }
    }

    /// Addresses remembered (with recent failures or a lockout).
    public var trackedAddresses: Int {
        shards.reduce(0) { sum, shard in sum + shard.table.withLock { $0.count } }
    }

    /// Lockouts since start.
    public var lockoutCount: Int { lockouts.load(ordering: .relaxed) }

    private static func seconds(_ milliseconds: UInt64) -> Int {
        Int(clamping: max(1, (milliseconds + 999) / 1000))
    }

    /// Forgets addresses whose window and lockout have both passed (they would start afresh
    /// anyway); if that is not enough, arbitrary ones down to 7/8 of the limit, so the sweep
    /// runs once per many insertions even under a flood of new addresses. Locked-out
    /// addresses go last.
    private static func makeRoom(in table: inout [String: Entry], now: UInt64, window: UInt64, limit: Int) {
        table = table.filter { _, entry in entry.blockedUntil > now || now < entry.windowStart &+ window }
        let target = limit - max(1, limit / 8)
        guard table.count > target else { return }
        var excess = table.count - target
        for (key, entry) in table where excess > 0 && entry.blockedUntil <= now {
            table[key] = nil
            excess -= 1
        }
        for key in table.keys.prefix(excess) { table[key] = nil }
    }

    private func shard(for address: String) -> LockedShard {
        var hash: UInt32 = 2_166_136_261
        for byte in address.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return shards[Int(hash % UInt32(shards.count))]
    }
}
