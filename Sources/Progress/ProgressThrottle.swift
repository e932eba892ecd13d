/// How often progress events go out for one job.
public struct ThrottlePolicy: Sendable, Equatable {
    /// An event at least every this many rows… (50: a small file still moves visibly).
    public var everyRows: Int64 = 50
    /// …or every this fraction of the total, whichever comes first (1 %).
    public var everyFraction: Double = 0.01
    /// …but no two events closer than this many seconds (0.1 s: about ten per second, what a
    /// progress bar needs; more is wasted bandwidth to every subscriber).
    public var minInterval: Double = 0.1

    public init(everyRows: Int64 = 50, everyFraction: Double = 0.01, minInterval: Double = 0.1) {
        self.everyRows = everyRows
        self.everyFraction = everyFraction
        self.minInterval = minInterval
    }
}

/// Decides when a progress event is due. A value owned by the producer and asked on every row:
/// the common answer ("not yet") costs one integer comparison, and the clock is read at most
/// once per row step.
public struct ProgressThrottle: Sendable {
    public let policy: ThrottlePolicy
    /// The shortest time between two events now: `policy.minInterval`, or longer while a
    /// `FanoutBudget` spaces a much-watched job's events.
    public var minInterval: Double
    private var nextCheck: Int64
    private var lastEmit: Timestamp?

    public init(policy: ThrottlePolicy = ThrottlePolicy(), processed: Int64 = 0) {
        self.policy = policy
        self.minInterval = policy.minInterval
        self.nextCheck = processed + 1
        self.lastEmit = nil
    }

    /// Rows between events: `everyRows` or the fraction of `total`, whichever is smaller.
    public func step(total: Int64?) -> Int64 {
        var step = max(1, policy.everyRows)
        if let total, total > 0 {
            step = min(step, max(1, Int64(Double(total) * policy.everyFraction)))
        }
        return step
    }

    /// Whether an event is due with `processed` rows done. When it returns true the caller
    /// publishes and then calls `didEmit`.
    @inline(__always)
    public mutating func isDue(processed: Int64, total: Int64?, clock: Clock) -> Bool {
        if processed < nextCheck { return false }
        return isDueSlow(processed: processed, total: total, now: clock.now())
    }

    @usableFromInline
    mutating func isDueSlow(processed: Int64, total: Int64?, now: Timestamp) -> Bool {
        if let lastEmit, now.seconds(since: lastEmit) < minInterval {
            nextCheck = processed + step(total: total)
            return false
        }
        return true
    }

    /// Records that an event went out (progress or state) at `now` with `processed` rows.
    public mutating func didEmit(processed: Int64, total: Int64?, at now: Timestamp) {
        lastEmit = now
        nextCheck = processed + step(total: total)
    }
}

/// A smoothed rate (exponentially weighted moving average with a time constant, so irregular
/// sample intervals weigh correctly) and the ETA derived from it.
public struct RateEstimator: Sendable {
    /// Seconds over which older samples fade (3 s: steady enough to read, quick to follow).
    public var timeConstant: Double
    /// Units per second, or nil before two samples.
    public private(set) var rate: Double?
    private var lastCount: Int64?
    private var lastTime: Timestamp?

    public init(timeConstant: Double = 3) {
        self.timeConstant = timeConstant
    }

    /// Starts measuring from `count` at `time` (e.g. a resumed job's checkpoint).
    public mutating func start(count: Int64, at time: Timestamp) {
        lastCount = count
        lastTime = time
        rate = nil
    }

    /// Adds a sample: `count` units done at `time`.
    public mutating func add(count: Int64, at time: Timestamp) {
        guard let lastCount, let lastTime else {
            start(count: count, at: time)
            return
        }
        let dt = time.seconds(since: lastTime)
        guard dt > 0 else { return }
        if rate == nil && count == lastCount {
            // Nothing done yet (opening the file, reading the header): the rate measures work
            // from the first unit on, or it would start near zero and crawl up.
            self.lastTime = time
            return
        }
        let instant = Double(count - lastCount) / dt
        if let rate {
            let alpha = 1 - exp(-dt / max(timeConstant, 0.001))
            self.rate = rate + alpha * (instant - rate)
        } else {
            rate = instant
        }
        self.lastCount = count
        self.lastTime = time
    }

    /// Seconds to do `remaining` more units at the current rate, or nil when unknown.
    public func eta(remaining: Int64) -> Double? {
        guard let rate, rate > 0, remaining >= 0 else { return nil }
        return Double(remaining) / rate
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension JobSnapshot {
    /// Recomputes `total` (estimated from bytes until exact), `percent` and `eta` from the
    /// counts, the bytes and `rate`. Producers call it before publishing.
    public mutating func updateDerivedFields(rate: Double?) {
        self.rate = rate
        if !totalExact, let bytesRead, let bytesTotal, bytesTotal > 0 {
            if bytesRead > 0 && processed > 0 {
                let estimate = Double(processed) * Double(bytesTotal) / Double(bytesRead)
                total = max(processed, Int64(estimate.rounded()))
            }
            percent = min(100, Double(bytesRead) * 100 / Double(bytesTotal))
        } else if let total, total > 0 {
            percent = min(100, Double(processed) * 100 / Double(total))
        } else if totalExact, total == 0 {
            percent = 100
        }
        if state.isTerminal {
            eta = state == .completed ? 0 : nil
        } else if let total {
            let remaining = max(0, total - processed)
            eta = remaining == 0 ? 0 : rate.flatMap { $0 > 0 ? Double(remaining) / $0 : nil }
        } else {
            eta = nil
        }
    }
}
