import Progress
#if canImport(Glibc)
import Glibc
#endif

/// Renders a job snapshot as one line of text for a terminal:
/// `[########------------]  42.5%  4,250/~10,000  failed 50  1,234 rows/s  ETA 0:05  Importing rows`.
/// Pure (no I/O), so `tally import` and `tally watch` share it and tests check it.
public struct ProgressBar: Sendable {
    /// Cells of the bar itself.
    public var barWidth: Int

    public init(barWidth: Int = 24) {
        self.barWidth = barWidth
    }

    /// The line for `s`, cut to `columns` characters when given.
    public func render(_ s: JobSnapshot, columns: Int? = nil) -> String {
        var line = "["
        if let percent = s.percent {
            let filled = max(0, min(barWidth, Int((percent / 100 * Double(barWidth)).rounded(.down))))
            line += String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled)
        } else {
            line += String(repeating: "?", count: barWidth)
        }
        line += "] "
        line += s.percent.map { Self.pad(Self.fixed($0, 1) + "%", 6) } ?? "   ?% "
        line += "  " + Self.grouped(s.processed)
        if let total = s.total { line += "/" + (s.totalExact ? "" : "~") + Self.grouped(total) }
        if s.failed > 0 { line += "  failed " + Self.grouped(s.failed) }
        if let rate = s.rate, !s.state.isTerminal { line += "  " + Self.grouped(Int64(rate.rounded())) + " rows/s" }
        if let eta = s.eta, !s.state.isTerminal { line += "  ETA " + Self.duration(eta) }
        line += "  " + (s.state == .running || s.state == .pending ? (s.message ?? s.state.rawValue) : s.state.rawValue)
        if let error = s.error { line += ": " + error.message }
        if let columns, columns > 0, line.count > columns { line = String(line.prefix(columns)) }
        return line
    }

    /// 1234567 → "1,234,567".
    public static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// Seconds as `m:ss` or `h:mm:ss`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let total = Int(seconds.rounded(.up))
        let h = total / 3600, m = total / 60 % 60, s = total % 60
        let ss = s < 10 ? "0\(s)" : "\(s)"
        if h > 0 { return "\(h):" + (m < 10 ? "0\(m)" : "\(m)") + ":" + ss }
        return "\(m):" + ss
    }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((value * scale).rounded())
        let whole = scaled / Int64(scale), fraction = scaled % Int64(scale)
        var f = String(fraction)
        while f.count < decimals { f = "0" + f }
        return decimals > 0 ? "\(whole).\(f)" : "\(whole)"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

/// Draws a `ProgressBar` on a file descriptor: redrawn in place (carriage return, clear to end
/// of line) on a terminal, and as plain lines at most every `plainInterval` seconds (and on
/// every state change) otherwise, so logs of a piped run stay readable.
public final class TerminalProgress {
    private let fd: Int32
    private let bar: ProgressBar
    public let isTerminal: Bool
    private let plainInterval: Double
    private var lastPlain: Timestamp?
    private var lastState: JobState?
    private var lastMessage: String?
    private var lastLine = ""
    private let clock: Clock

    public init(fd: Int32 = 2, bar: ProgressBar = ProgressBar(), plainInterval: Double = 2, clock: Clock = .system) {
        self.fd = fd
        self.bar = bar
        self.isTerminal = isatty(fd) == 1
        self.plainInterval = plainInterval
        self.clock = clock
    }

    /// Shows `snapshot`; call it as often as you like.
    public func show(_ snapshot: JobSnapshot) {
        let line = bar.render(snapshot, columns: isTerminal ? columns() : nil)
        if isTerminal {
            guard line != lastLine else { return }
            emit("\r" + line + "\u{1B}[K")
        } else {
            let now = clock.now()
            let changed = snapshot.state != lastState || snapshot.message != lastMessage
            let due = lastPlain.map { now.seconds(since: $0) >= plainInterval } ?? true
            guard changed || due, line != lastLine else { return }
            lastPlain = now
            emit(line + "\n")
        }
        lastLine = line
        lastState = snapshot.state
        lastMessage = snapshot.message
    }

    /// Ends the in-place line (call once after the last `show`).
    public func finish() {
        if isTerminal && !lastLine.isEmpty { emit("\n") }
    }

    private func columns() -> Int? {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) - 1 }
        return nil
    }

    private func emit(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
