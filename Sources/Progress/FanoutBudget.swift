import Synchronization

/// Caps the deliveries one job's progress events cost: events per second × the job's
/// subscribers stays under `deliveriesPerSecond`, by spacing a producer's progress events
/// further apart (never dropping them, so every event still gets its own seq and resuming
/// stays exact). State and terminal events are not spaced.
///
/// Why: with 10,000 subscribers, ten events per second are 100,000 sends per second, about a
/// core of server time that an import running on the same cores then lacks.
public final class FanoutBudget: Sendable {
    /// Deliveries per second one job's progress events may cost; 0 turns the budget off.
    public let deliveriesPerSecond: Int
    /// The longest spacing the budget imposes (1 s: watchers still see the job move).
    public let maxInterval: Double
    private let source: Mutex<(@Sendable (String) -> Int)?>

    /// Creates a budget; `subscribers` counts a job's subscribers (it may be set later, once
    /// the hub exists, with `setSubscriberSource`).
    public init(deliveriesPerSecond: Int = 0, maxInterval: Double = 1,
                subscribers: (@Sendable (String) -> Int)? = nil) {
        self.deliveriesPerSecond = max(0, deliveriesPerSecond)
        self.maxInterval = maxInterval
        self.source = Mutex(subscribers)
    }

    /// Sets where a job's subscriber count comes from.
    public func setSubscriberSource(_ subscribers: (@Sendable (String) -> Int)?) {
        source.withLock { $0 = subscribers }
    }

    /// Whether the budget can ever space events (on, with a subscriber source).
    public var isActive: Bool {
        deliveriesPerSecond > 0 && source.withLock { $0 != nil }
    }

    /// The shortest time between two progress events of `job` with `subscribers` watching:
    /// `base` (the producer's own spacing) unless the budget needs more, and never more than
    /// `maxInterval` on account of the budget.
    public func interval(subscribers: Int, base: Double) -> Double {
        guard deliveriesPerSecond > 0, subscribers > 0 else { return base }
        let needed = Double(subscribers) / Double(deliveriesPerSecond)
        return max(base, min(maxInterval, needed))
    }

    /// `interval(subscribers:base:)` with the job's current subscriber count. Producers ask
    /// once per event they publish, not per row.
    public func interval(job: String, base: Double) -> Double {
        guard deliveriesPerSecond > 0, let source = source.withLock({ $0 }) else { return base }
        return interval(subscribers: source(job), base: base)
    }
}
