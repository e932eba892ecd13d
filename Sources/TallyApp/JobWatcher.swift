#if canImport(Glibc)
import Glibc
#endif
import Progress

/// Follows one job over WebSocket until it finishes, reconnecting with `after=` the last seq
/// seen so that a dropped connection loses no event (`tally watch`).
public struct JobWatcher {
    /// How watching ended.
    public enum Outcome: Sendable, Equatable {
        /// The job reached a terminal state; the last snapshot.
        case finished(JobState)
        /// The server refused or does not know the job.
        case refused(String)
        /// The server could not be reached (after the retries).
        case unreachable(String)
    }

    /// The server's base URL.
    public var server: ServerURL
    /// The job id.
    public var job: String
    /// A subscribe token or API key, sent as `Authorization: Bearer`.
    public var token: String?
    /// Connection attempts in a row before giving up.
    public var maxAttempts = 6
    /// Seconds to wait for any message (the server pings every 30 s by default).
    public var readTimeout: Double = 75

    /// Creates a watcher.
    public init(server: ServerURL, job: String, token: String? = nil) {
        self.server = server
        self.job = job
        self.token = token
    }

    /// Runs until the job finishes; `show` receives every snapshot in order.
    public func run(show: (JobSnapshot) -> Void, note: (String) -> Void = { _ in }) -> Outcome {
        var lastSeq: UInt64?
        var failures = 0
        var delay = 0.25
        while true {
            guard server.scheme == "http" || server.scheme == "ws" else {
                return .unreachable("\(server.scheme):// is not supported by this client; use http:// or ws://.")
            }
            var path = server.path + "/ws/jobs/" + job
            if let lastSeq { path += "?after=\(lastSeq)" }
            let headers = token.map { [("Authorization", "Bearer " + $0)] } ?? []
            let client: WebSocketClient
            do {
                client = try WebSocketClient.connect(host: server.host, port: server.port, path: path, headers: headers)
            } catch {
                if error.code == "client.handshake" { return .refused(error.message) }
                failures += 1
                if failures >= maxAttempts { return .unreachable(error.message) }
                note("connection failed (\(error.message)); retrying in \(delay) s")
                usleep(UInt32(delay * 1_000_000))
                delay = min(delay * 2, 5)
                continue
            }
            defer { client.close() }
            receiving: while true {
                let message: WebSocketClient.Message
                do {
                    message = try client.receive(timeout: readTimeout)
                } catch {
                    note("connection lost (\(error.message)); resuming")
                    break receiving
                }
                switch message {
                case .text(let text):
                    guard let (value, data) = try? JSONParser().parse(Array(text.utf8), keepingTextOf: "data") else { continue }
                    if value["type"]?.stringValue == "error" {
                        return .refused(value["message"]?.stringValue ?? "error")
                    }
                    guard let snapshot = JobSnapshot.decode(value, dataText: data) else { continue }
                    failures = 0
                    delay = 0.25
                    lastSeq = UInt64(snapshot.seq)
                    show(snapshot)
                    if snapshot.state.isTerminal { return .finished(snapshot.state) }
                case .binary:
                    continue
                case .close(let code):
                    if code == 1008 || code == 1003 { return .refused("closed by the server (\(code))") }
                    note("the server closed the connection (\(code)); resuming")
                    break receiving
                }
            }
            failures += 1
            if failures >= maxAttempts { return .unreachable("the connection kept dropping") }
            usleep(UInt32(delay * 1_000_000))
            delay = min(delay * 2, 5)
        }
    }
}
