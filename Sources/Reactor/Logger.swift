import Glibc

/// A small structured logger: one line per event, `key=value` pairs, written to a sink in one
/// call so lines from different threads never interleave. A value, passed in, never global.
public struct Logger: Sendable {
    /// Severity, lowest first.
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        case debug, info, warning, error

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .debug: return "debug"
            case .info: return "info"
            case .warning: return "warn"
            case .error: return "error"
            }
        }
    }

    /// Events below this level are dropped before any formatting happens.
    public var level: Level
    /// Fields added to every line (for example `component=http`).
    public var metadata: [(String, String)]
    private let sink: @Sendable (String) -> Void

    /// Creates a logger writing complete lines (with a trailing newline) to `sink`.
    public init(level: Level = .info, metadata: [(String, String)] = [], sink: @escaping @Sendable (String) -> Void) {
        self.level = level
        self.metadata = metadata
        self.sink = sink
    }

    /// A logger writing to standard error with one `write(2)` per line.
    public static func standardError(level: Level = .info) -> Logger {
        Logger(level: level) { line in
            var text = line
            text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
        }
    }

    /// A logger that drops everything.
    public static var disabled: Logger {
        var logger = Logger(level: .error) { _ in }
        logger.enabled = false
        return logger
    }

    private var enabled = true

    /// A copy with extra fields on every line.
    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata.append((key, value))
        return copy
    }

    /// Whether events at `level` are written.
    @inline(__always)
    public func isEnabled(_ level: Level) -> Bool { enabled && level >= self.level }

    /// Logs `event` (a stable dotted name such as `http.bad_request`) with fields.
    public func log(_ level: Level, _ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        guard isEnabled(level) else { return }
        var line = "ts=" + Logger.timestamp() + " level=" + level.description + " event=" + event
        for (key, value) in metadata { Logger.append(key, value, to: &line) }
        for (key, value) in fields { Logger.append(key, value, to: &line) }
        line += "\n"
        sink(line)
    }

    public func debug(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.debug, event, fields) }
    public func info(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.info, event, fields) }
    public func warning(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.warning, event, fields) }
    public func error(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.error, event, fields) }

    private static func append(_ key: String, _ value: String, to line: inout String) {
        line += " " + key + "="
        let needsQuotes = value.isEmpty || value.utf8.contains { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D || $0 < 0x20 }
        guard needsQuotes else { line += value; return }
        line += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            default:
                if scalar.value < 0x20 { line += "\\u{\(String(scalar.value, radix: 16))}" } else { line.unicodeScalars.append(scalar) }
            }
        }
        line += "\""
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2)
            + "T" + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2)
            + "." + pad(Int32(spec.tv_nsec / 1_000_000), 3) + "Z"
    }
}
