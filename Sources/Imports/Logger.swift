import Progress
#if canImport(Glibc)
import Glibc
#endif

/// A small structured logger: one JSON object per line, carrying metadata such as the job id.
/// It is a value: `logger.with("job", id)` makes a logger for one job.
public struct Logger: Sendable {
    /// Severity.
    public enum Level: String, Sendable, Comparable {
        case debug, info, warning, error
        var rank: Int {
            switch self {
            case .debug: 0
            case .info: 1
            case .warning: 2
            case .error: 3
            }
        }
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    }

    private let sink: @Sendable ([UInt8]) -> Void
    private let minimum: Level
    private let clock: Clock
    /// Key-value pairs written on every line.
    public private(set) var metadata: [(String, String)]

    /// A logger writing lines to `sink`, dropping those below `minimum`.
    public init(minimum: Level = .info, clock: Clock = .system, sink: @escaping @Sendable ([UInt8]) -> Void) {
        self.sink = sink
        self.minimum = minimum
        self.clock = clock
        self.metadata = []
    }

    /// Writes to standard error (fd 2) with one `write` per line, so lines never interleave.
    public static func standardError(minimum: Level = .info) -> Logger {
        Logger(minimum: minimum) { line in
            line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        }
    }

    /// A logger that drops everything.
    public static let discard = Logger(minimum: .error) { _ in }

    /// This logger with one more metadata pair.
    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata.append((key, value))
        return copy
    }

    /// Logs `event` (a stable name such as `import.failed`) with extra fields.
    public func log(_ level: Level, _ event: String, _ fields: [(String, String)] = []) {
        guard level >= minimum else { return }
        var w = JSONWriter(capacity: 256)
        w.raw("{\"ts\":\"")
        clock.now().appendRFC3339(to: &w.bytes)
        w.raw("\",\"level\":")
        w.string(level.rawValue)
        w.raw(",\"event\":")
        w.string(event)
        for (key, value) in metadata + fields {
            w.comma()
            w.key(key)
            w.string(value)
        }
        w.raw("}\n")
        sink(w.bytes)
    }

    public func info(_ event: String, _ fields: [(String, String)] = []) { log(.info, event, fields) }
    public func warning(_ event: String, _ fields: [(String, String)] = []) { log(.warning, event, fields) }
    public func error(_ event: String, _ fields: [(String, String)] = []) { log(.error, event, fields) }
}
