#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A point in wall-clock time, in whole milliseconds since the Unix epoch: the resolution of
/// the wire format (RFC 3339 with milliseconds) and of the job store.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var milliseconds: Int64

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    public func seconds(since earlier: Timestamp) -> Double {
        Double(milliseconds - earlier.milliseconds) / 1000
    }

    /// This time moved by `seconds`.
    public func adding(seconds: Double) -> Timestamp {
        Timestamp(milliseconds: milliseconds + Int64((seconds * 1000).rounded()))
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-12-04T16:00:05.120Z`.
    public var rfc3339: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the RFC 3339 form to `bytes` without building a String.
    public func appendRFC3339(to bytes: inout [UInt8]) {
        var ms = milliseconds % 1000
        var secs = milliseconds / 1000
        if ms < 0 { ms += 1000; secs -= 1 }
        var days = secs / 86400
        var rem = secs % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        // Civil-from-days (H. Hinnant): proleptic Gregorian calendar.
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func digits(_ value: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var v = max(0, value)
            while divisor > 0 {
                bytes.append(UInt8(truncatingIfNeeded: 48 + (v / divisor) % 10))
                v %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); bytes.append(UInt8(ascii: "-"))
        digits(month, 2); bytes.append(UInt8(ascii: "-"))
        digits(day, 2); bytes.append(UInt8(ascii: "T"))
        digits(rem / 3600, 2); bytes.append(UInt8(ascii: ":"))
        digits(rem / 60 % 60, 2); bytes.append(UInt8(ascii: ":"))
        digits(rem % 60, 2); bytes.append(UInt8(ascii: "."))
        digits(ms, 3); bytes.append(UInt8(ascii: "Z"))
    }
}

/// Where time comes from: the system's wall clock in production, a `ManualClock` in tests.
public struct Clock: Sendable {
    /// Returns the current time.
    public let now: @Sendable () -> Timestamp

    public init(now: @escaping @Sendable () -> Timestamp) {
        self.now = now
    }

    /// The system's real-time clock.
    public static let system = Clock {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(milliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
}

/// A clock that moves only when told to, so tests of throttling, rates and timeouts are exact.
public final class ManualClock: Sendable {
    private let current: Mutex<Timestamp>

    /// Starts at `start` (by default 2026-12-04T16:00:00Z).
    public init(start: Timestamp = Timestamp(milliseconds: 1_796_400_000_000)) {
        current = Mutex(start)
    }

    /// The current time.
    public var now: Timestamp { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(seconds: Double) {
        current.withLock { $0 = $0.adding(seconds: seconds) }
    }

    /// A `Clock` reading this one.
    public var clock: Clock {
        Clock { [self] in self.now }
    }
}
