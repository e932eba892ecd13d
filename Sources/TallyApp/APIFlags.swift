/// A `tally serve` flag with a bad value.
public struct APIFlagError: Error, Sendable, CustomStringConvertible {
    /// What was wrong, for the operator.
    public let description: String
}

extension APIConfiguration {
    /// The API flags' help text for `tally serve --help`.
    public static let usage = """
      --max-upload BYTES       largest upload (default 1073741824); bigger ones get 413
      --long-poll-wait S       long-poll wait when the client gives none (default 25)
      --long-poll-max S        longest long-poll wait a client may ask for (default 60)
      --rate-limit N/S         snapshot and polling requests per client: a burst of N, refilled
                               at S per second (default 60/10); `off` turns it off
      --rate-limit-clients N   clients the rate limiter remembers (default 100000)
      --event-log N            events kept per job for resuming clients (default 256)
      --mailbox N              pending events per slow subscriber before a resync (default 16)
      --ws-ping S              seconds between WebSocket pings (default 30)
      --sse-heartbeat S        seconds between SSE keep-alive comments (default 15)
      --max-subscriptions N    subscriptions per multiplexed WebSocket (default 100)
      --ws-message-limit N     client messages per WebSocket per 10 s before it is closed with
                               1008 (default 500)
      --progress-interval S    shortest time between an import's progress events (default 0.1)
      --fanout-budget N        deliveries per second a job's progress events may cost: with
                               many subscribers an import's events are spaced up to 1 s apart
                               (default 10000; 0: off)
      --subscriber-send-buffer BYTES
                               kernel send buffer per WebSocket/SSE subscriber (default 32768;
                               0: kernel autotuning)
    """

    private static let flags: Set<String> = [
        "--max-upload", "--long-poll-wait", "--long-poll-max", "--rate-limit", "--rate-limit-clients",
        "--event-log", "--mailbox", "--ws-ping", "--sse-heartbeat", "--max-subscriptions", "--progress-interval",
        "--subscriber-send-buffer", "--ws-message-limit", "--fanout-budget",
    ]

    /// Takes the API flags out of `arguments` (`--flag value` or `--flag=value`), returning
    /// the configuration and the arguments it did not recognize, in order.
    public static func parse(_ arguments: [String]) throws(APIFlagError) -> (APIConfiguration, [String]) {
        var configuration = APIConfiguration()
        var rest: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            var name = argument
            var value: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            guard flags.contains(name) else {
                rest.append(argument)
                continue
            }
            if value == nil {
                guard index < arguments.count else { throw APIFlagError(description: "\(name) needs a value") }
                value = arguments[index]
                index += 1
            }
            try configuration.apply(name, value ?? "")
        }
        guard configuration.longPollDefaultSeconds <= configuration.longPollMaxSeconds else {
            throw APIFlagError(description: "--long-poll-wait must not exceed --long-poll-max")
        }
        return (configuration, rest)
    }

    private mutating func apply(_ name: String, _ value: String) throws(APIFlagError) {
        func count(_ range: ClosedRange<Int>) throws(APIFlagError) -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw APIFlagError(description: "\(name) needs a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        func seconds(_ range: ClosedRange<Double>) throws(APIFlagError) -> Double {
            guard let number = Double(value), number.isFinite, range.contains(number) else {
                throw APIFlagError(description: "\(name) needs seconds from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        switch name {
        case "--max-upload": maxUploadBytes = try count(1...(1 << 40))
        case "--long-poll-wait": longPollDefaultSeconds = try seconds(0...3600)
        case "--long-poll-max": longPollMaxSeconds = try seconds(0...3600)
        case "--rate-limit":
            if value == "off" {
                rateLimit = nil
                return
            }
            let parts = value.split(separator: "/")
            guard parts.count == 2, let burst = Int(parts[0]), burst >= 1, let refill = Double(parts[1]),
                  refill > 0, refill.isFinite else {
                throw APIFlagError(description: "--rate-limit needs BURST/PER_SECOND (e.g. 60/10) or off")
            }
            let clients = rateLimit?.maxClients ?? RateLimitPolicy().maxClients
            rateLimit = RateLimitPolicy(burst: burst, refillPerSecond: refill, maxClients: clients)
        case "--rate-limit-clients":
            let clients = try count(16...10_000_000)
            rateLimit?.maxClients = clients
        case "--event-log": hub.logCapacity = try count(1...100_000)
        case "--mailbox": hub.mailboxCapacity = try count(1...100_000)
        case "--ws-ping": webSocketPingSeconds = try seconds(1...3600)
        case "--sse-heartbeat": sseHeartbeatSeconds = try seconds(1...3600)
        case "--max-subscriptions": maxSubscriptionsPerSocket = try count(1...100_000)
        case "--ws-message-limit": maxSocketMessagesPerWindow = try count(1...1_000_000)
        case "--progress-interval": progressInterval = try seconds(0.001...60)
        case "--fanout-budget": fanoutBudget = try count(0...1_000_000_000)
        case "--subscriber-send-buffer": subscriberSendBuffer = try count(0...(64 << 20))
        default: break
        }
    }
}
