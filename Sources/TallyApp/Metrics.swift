import Synchronization

/// A monotonically increasing count, cheap to bump from any thread.
public final class MetricCounter: Sendable {
    private let value = Atomic<Int>(0)

    /// Adds `amount` (1 by default).
    public func increment(by amount: Int = 1) { value.add(amount, ordering: .relaxed) }

    /// The current count.
    public var count: Int { value.load(ordering: .relaxed) }
}

/// A value that goes up and down (open connections, parked requests).
public final class MetricGauge: Sendable {
    private let value = Atomic<Int>(0)

    /// Adds `amount`, which may be negative.
    public func add(_ amount: Int) { value.add(amount, ordering: .relaxed) }

    /// Sets the value.
    public func set(_ amount: Int) { value.store(amount, ordering: .relaxed) }

    /// The current value.
    public var current: Int { value.load(ordering: .relaxed) }
}

/// One line of a metric family computed at scrape time.
public struct MetricSample: Sendable {
    /// Label names and values, in order.
    public var labels: [(String, String)]
    /// The value.
    public var value: Double

    /// Creates a sample.
    public init(labels: [(String, String)] = [], value: Double) {
        self.labels = labels
        self.value = value
    }
}

/// The Prometheus metric types Tally exposes.
public enum MetricType: String, Sendable {
    case counter
    case gauge
}

/// Counters and gauges exposed at `/metrics` in the Prometheus text format (version 0.0.4).
///
/// Stored metrics are created once and bumped with atomics; values that already live
/// elsewhere (the hub's counters, jobs by state) are read by collectors at scrape time rather
/// than mirrored, so there is one source of truth for each figure.
public final class MetricsRegistry: Sendable {
    private struct Family {
        let name: String
        let help: String
        let type: MetricType
        var stored: [(labels: [(String, String)], value: Stored)] = []
        var collector: (@Sendable () -> [MetricSample])?
    }

    private enum Stored {
        case counter(MetricCounter)
        case gauge(MetricGauge)
    }

    private let families = Mutex<[Family]>([])

    /// Creates an empty registry.
    public init() {}

    /// The counter `name` with `labels`, created on first use; the same object afterwards.
    public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> MetricCounter {
        let made = MetricCounter()
        let stored = store(name, help: help, type: .counter, labels: labels, value: .counter(made))
        if case .counter(let counter) = stored { return counter }
        return made
    }

    /// The gauge `name` with `labels`, created on first use; the same object afterwards.
    public func gauge(_ name: String, help: String, labels: [(String, String)] = []) -> MetricGauge {
        let made = MetricGauge()
        let stored = store(name, help: help, type: .gauge, labels: labels, value: .gauge(made))
        if case .gauge(let gauge) = stored { return gauge }
        return made
    }

    /// Registers a family whose samples `collect` computes at each scrape.
    public func register(_ name: String, help: String, type: MetricType,
                         collect: @escaping @Sendable () -> [MetricSample]) {
        families.withLock { families in
            if let index = families.firstIndex(where: { $0.name == name }) {
                families[index].collector = collect
            } else {
                var family = Family(name: name, help: help, type: type)
                family.collector = collect
                families.append(family)
            }
        }
    }

    private func store(_ name: String, help: String, type: MetricType, labels: [(String, String)],
                       value: Stored) -> Stored {
        families.withLock { families in
            let index: Int
            if let existing = families.firstIndex(where: { $0.name == name }) {
                index = existing
            } else {
                families.append(Family(name: name, help: help, type: type))
                index = families.count - 1
            }
            if let found = families[index].stored.first(where: { MetricsRegistry.same($0.labels, labels) }) {
                return found.value
            }
            families[index].stored.append((labels, value))
            return value
        }
    }

    private static func same(_ a: [(String, String)], _ b: [(String, String)]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// The text exposition of every family, in registration order.
    public func exposition() -> String {
        let snapshot: [(String, String, MetricType, [MetricSample], (@Sendable () -> [MetricSample])?)] =
            families.withLock { families in
                families.map { family in
                    let samples = family.stored.map { entry -> MetricSample in
                        switch entry.value {
                        case .counter(let counter): MetricSample(labels: entry.labels, value: Double(counter.count))
                        case .gauge(let gauge): MetricSample(labels: entry.labels, value: Double(gauge.current))
                        }
                    }
                    return (family.name, family.help, family.type, samples, family.collector)
                }
            }
        var out = ""
        for (name, help, type, stored, collector) in snapshot {
            // Collectors run outside the registry's lock: they may take other locks.
            let samples = stored + (collector?() ?? [])
            out += "# HELP \(name) \(MetricsRegistry.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
            for sample in samples {
                out += name
                if !sample.labels.isEmpty {
                    out += "{"
                    out += sample.labels.map { "\($0.0)=\"\(MetricsRegistry.escapeLabel($0.1))\"" }.joined(separator: ",")
                    out += "}"
                }
                out += " " + MetricsRegistry.format(sample.value) + "\n"
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.rounded(.towardZero) == value, abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    private static func escapeHelp(_ text: String) -> String {
        text.replacingAll("\\", with: "\\\\").replacingAll("\n", with: "\\n")
    }

    private static func escapeLabel(_ text: String) -> String {
        escapeHelp(text).replacingAll("\"", with: "\\\"")
    }
}

extension String {
    /// `self` with every `target` replaced (Foundation-free).
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for character in self {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }
}
