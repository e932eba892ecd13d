import Dispatch
import Glibc
import Imports
import Progress
import RedisHub
import Storage
import Synchronization

/// The API's own limits and behaviour, set by `tally serve` flags.
public struct APIConfiguration: Sendable {
    /// Largest upload body, in bytes (413 beyond). 1 GiB: files go to disk, never to memory.
    public var maxUploadBytes = 1 << 30
    /// Long-poll wait when the client gives none (seconds): under common 30 s proxy timeouts.
    public var longPollDefaultSeconds = 25.0
    /// Longest long-poll wait a client may ask for (seconds).
    public var longPollMaxSeconds = 60.0
    /// Rate limit of the snapshot and polling endpoints; nil turns it off.
    public var rateLimit: RateLimitPolicy? = RateLimitPolicy()
    /// Hub sizes (per-job log, mailbox).
    public var hub = HubConfiguration()
    /// Seconds between server pings on WebSockets.
    public var webSocketPingSeconds = 30.0
    /// Seconds between SSE comment lines that keep proxies from closing an idle stream.
    public var sseHeartbeatSeconds = 15.0
    /// Subscriptions one multiplexed WebSocket may hold.
    public var maxSubscriptionsPerSocket = 100
    /// Client messages one WebSocket may send per 10 s; past it the connection is closed with
    /// 1008. 500 lets a page subscribe to its 100 jobs at once several times over; a client
    /// flooding messages would otherwise keep its loop busy answering each one.
    public var maxSocketMessagesPerWindow = 500
    /// Kernel send buffer of each WebSocket and SSE subscriber's socket, in bytes (0: the
    /// kernel's autotuning, up to 4 MiB per socket): bounds what a client that stops reading
    /// costs in kernel memory and per-event work (`SubscriberSocket`).
    public var subscriberSendBuffer = 32 * 1024
    /// Shortest time between two progress events of an import (seconds): 0.1 is the
    /// ten a second a progress bar needs; load tests lower it for a bigger latency sample.
    public var progressInterval = 0.1
    /// Deliveries per second one job's progress events may cost before they are spaced
    /// further apart (at most to one per second); 0 turns the budget off.
    public var fanoutBudget = 10_000
    /// Where imports without a sink of their own write (`--sink`): nil for the embedded SQLite
    /// store, or a `postgres://` URL.
    public var sink: String?
    /// Redis shared by several nodes for progress (`--redis redis://host:port/db`); nil: this
    /// node's hub alone.
    public var redisURL: String?
    /// This node's name in import leases (`--node-id`); nil: kept in the data directory.
    public var nodeID: String?
    /// Where uploads are spooled (`--spool`); nil: `uploads` in the data directory. Several
    /// nodes share one directory so that any of them can take over another's import.
    public var spoolDirectory: String?
    /// Seconds between looks for imports whose node died (with a PostgreSQL `sink`).
    public var takeoverInterval = 2.0
    /// How long an import's lease outlives its node's last commit (`--lease`); nil: 15 s.
    public var leaseSeconds: Int?

    /// The defaults.
    public init() {}
}

/// What the API routes share: the engine, the hub, metrics, limits. Created once per server.
public final class APIContext: Sendable {
    /// The import engine.
    public let imports: ImportService
    /// This node's hub: the transports subscribe here (subscribers, logs, encodings).
    public let hub: LocalProgressHub
    /// The Redis hub around `hub` when `--redis` is given: the tracker publishes through it,
    /// and it keeps `hub` in step with the other nodes'.
    public let redis: RedisProgressHub?
    /// The loop the Redis connections run on.
    let redisLoops: EventLoopGroup?
    /// Adopts imports of dead nodes (with a PostgreSQL sink).
    let takeover: TakeoverWatcher?
    /// Transport-independent job logic.
    public let jobs: JobsAPI
    /// Metrics shown at `/metrics`.
    public let metrics: APIMetrics
    /// The rate limiter, nil when off.
    public let limiter: RateLimiter?
    /// Limits.
    public let configuration: APIConfiguration
    /// Where uploads are spooled.
    public let spoolDirectory: String
    /// The hub encodings of the transports.
    let sseFormat: HubFormat
    let webSocketFormat: HubFormat
    /// Store writes run here, never on an event loop.
    let blocking = DispatchQueue(label: "tally.api.blocking", attributes: .concurrent)
    /// The OpenAPI document and docs page, built once.
    let openAPIBytes: [UInt8]
    let docsHTML: [UInt8]

    /// Opens the import engine on `dataDirectory` and creates the context over it.
    static func open(dataDirectory: String, configuration: APIConfiguration) throws(TallyStartError) -> APIContext {
        var redisLoops: EventLoopGroup?
        if let url = configuration.redisURL {
            do throws(RedisError) {
                try RedisProgressHub.validate(url: url)
            } catch {
                throw TallyStartError(code: error.code.rawValue, message: error.message)
            }
            do {
                redisLoops = try EventLoopGroup(count: 1)
            } catch {
                throw TallyStartError(code: "server.start_failed", message: error.description)
            }
        }
        var importConfiguration = ImportConfiguration()
        importConfiguration.sink = configuration.sink
        importConfiguration.throttle.minInterval = configuration.progressInterval
        importConfiguration.fanout = FanoutBudget(deliveriesPerSecond: configuration.fanoutBudget)
        if let nodeID = configuration.nodeID { importConfiguration.nodeID = nodeID }
        if let lease = configuration.leaseSeconds { importConfiguration.leaseSeconds = lease }
        if let sink = configuration.sink, sink != "sqlite", !sink.hasPrefix("postgres://"), !sink.hasPrefix("postgresql://") {
            throw TallyStartError(code: "server.bad_sink", message: "--sink must be 'sqlite' or a postgres:// URL")
        }
        let imports: ImportService
        do {
            imports = try ImportService(dataDirectory: dataDirectory, configuration: importConfiguration)
        } catch {
            throw TallyStartError(code: "server.import_engine", message: String(describing: error))
        }
        redisLoops?.start()
        var spool = configuration.spoolDirectory ?? dataDirectory + "/uploads"
        // Stored with each job and read by whichever node runs it: never relative.
        if !spool.hasPrefix("/"), let cwd = getcwd(nil, 0) {
            spool = String(cString: cwd) + "/" + spool
            free(cwd)
        }
        return APIContext(imports: imports, configuration: configuration, spoolDirectory: spool,
                          webSocketEncoder: JobSocket.encoder, redisLoops: redisLoops)
    }

    /// Creates the context over an open import service; connects the tracker to a new hub.
    public init(imports: ImportService, configuration: APIConfiguration, spoolDirectory: String,
                webSocketEncoder: HubEncoder, redisLoops: EventLoopGroup? = nil) {
        self.imports = imports
        self.configuration = configuration
        self.spoolDirectory = spoolDirectory
        let sse = HubEncoder(name: "sse") { draft in
            // Framed as one HTTP chunk, so a stream writes the shared bytes as they are.
            HubBytesBuffer(chunked: EventEncoding.sse(draft))
        }
        let hub = LocalProgressHub(configuration: configuration.hub, encoders: [sse, webSocketEncoder])
        self.hub = hub
        self.redisLoops = redisLoops
        // Only this node's subscribers count: with Redis, other nodes' watchers are not seen.
        imports.configuration.fanout.setSubscriberSource { [weak hub] job in hub?.subscriberCount(job: job) ?? 0 }
        // The URL and the library were checked by `open`; only a broken loop group fails here.
        if let url = configuration.redisURL, let loop = redisLoops?.loops.first {
            redis = try? RedisProgressHub(url: url, local: hub, loop: loop, nodeID: imports.configuration.nodeID,
                                          streamLength: configuration.hub.logCapacity, logger: .standardError(level: .info))
        } else {
            redis = nil
        }
        if let sink = imports.configuration.sink, sink.hasPrefix("postgres") {
            takeover = TakeoverWatcher(imports: imports, hub: hub, interval: configuration.takeoverInterval,
                                       logger: .standardError(level: .info))
        } else {
            takeover = nil
        }
        takeover?.start()
        guard let sseFormat = hub.format(named: "sse"), let webSocketFormat = hub.format(named: webSocketEncoder.name) else {
            preconditionFailure("the hub was created with both encoders")
        }
        self.sseFormat = sseFormat
        self.webSocketFormat = webSocketFormat
        let store = imports.store
        // A job of another node this one never heard of (it started after the job's last
        // event) is in Redis; weak: the Redis hub holds `hub`, which holds this closure.
        hub.setSnapshotProvider { [weak redis] id in
            guard let snapshot = try? store.job(id) else { return redis?.storedLatest(job: id) }
            return HubBridge.update(for: snapshot)
        }
        HubBridge.connect(imports.tracker, to: redis ?? hub)
        self.jobs = JobsAPI(imports: imports, hub: hub)
        self.limiter = configuration.rateLimit.map { RateLimiter(policy: $0) }
        self.metrics = APIMetrics()
        self.openAPIBytes = OpenAPI.document().bytes
        self.docsHTML = Array(DocsPage.html().utf8)
        metrics.registerCollectors(hub: hub, imports: imports)
    }
}

extension APIContext {
    /// Stops the Redis connections and their loop (at shutdown).
    func stopRedis() {
        takeover?.stop()
        redis?.stop()
        redisLoops?.shutdown(graceMilliseconds: 0)
        redisLoops?.join()
    }
}

/// The metrics of `/metrics`: stored counters and gauges bumped by the transports, and
/// collectors that read the hub and the store at scrape time.
public final class APIMetrics: Sendable {
    /// The registry behind `/metrics`.
    public let registry = MetricsRegistry()
    /// Open WebSocket connections.
    public let webSockets: MetricGauge
    /// Open SSE streams.
    public let sseStreams: MetricGauge
    /// Parked long-poll requests.
    public let longPolls: MetricGauge
    /// Requests refused by the rate limiter.
    public let rateLimited: MetricCounter
    /// Malformed client messages on WebSockets.
    public let badMessages: MetricCounter
    /// WebSockets closed for sending messages faster than `--ws-message-limit` allows.
    public let floodingSockets: MetricCounter

    init() {
        let help = "Open connections by transport."
        webSockets = registry.gauge("tally_connections", help: help, labels: [("transport", "websocket")])
        sseStreams = registry.gauge("tally_connections", help: help, labels: [("transport", "sse")])
        longPolls = registry.gauge("tally_connections", help: help, labels: [("transport", "longpoll")])
        rateLimited = registry.counter("tally_rate_limited_total", help: "Requests refused with 429.")
        badMessages = registry.counter("tally_ws_bad_messages_total", help: "Malformed WebSocket client messages.")
        floodingSockets = registry.counter("tally_ws_flood_closed_total", help: "WebSockets closed (1008) for sending more messages than --ws-message-limit allows.")
    }

    /// Counters of `tally_http_requests_total` by status, kept once made: finding one in the
    /// registry builds its label and searches the families on every request.
    private let responseCounters = Mutex<[Int: MetricCounter]>([:])

    /// Counts one API response by status.
    public func countResponse(status: Int) {
        if let counter = responseCounters.withLock({ $0[status] }) {
            counter.increment()
            return
        }
        let counter = registry.counter("tally_http_requests_total", help: "API requests by response status.",
                                       labels: [("status", String(status))])
        responseCounters.withLock { $0[status] = counter }
        counter.increment()
    }

    func registerCollectors(hub: LocalProgressHub, imports: ImportService) {
        registry.register("tally_subscribers", help: "Live hub subscriptions (every transport).", type: .gauge) {
            [MetricSample(value: Double(hub.metrics.subscribers))]
        }
        registry.register("tally_events_published_total", help: "Events accepted by the hub.", type: .counter) {
            [MetricSample(value: Double(hub.metrics.published))]
        }
        registry.register("tally_events_delivered_total", help: "Events handed to subscribers.", type: .counter) {
            [MetricSample(value: Double(hub.metrics.delivered))]
        }
        registry.register("tally_events_coalesced_total", help: "Events a slow subscriber skipped for a later one.", type: .counter) {
            [MetricSample(value: Double(hub.metrics.coalesced))]
        }
        registry.register("tally_events_resyncs_total", help: "Resync snapshots sent to subscribers too far behind.", type: .counter) {
            [MetricSample(value: Double(hub.metrics.resyncs))]
        }
        let store = imports.store
        registry.register("tally_jobs", help: "Jobs by state.", type: .gauge) {
            var counts: [String: Int64] = [:]
            try? store.database.read { c in
                try c.query("SELECT state, COUNT(*) FROM tally_jobs GROUP BY state") { row in
                    if let state = row.text(0) { counts[state] = row.int64(1) }
                }
            }
            return JobState.allCases.map { MetricSample(labels: [("state", $0.rawValue)], value: Double(counts[$0.rawValue] ?? 0)) }
        }
        registry.register("tally_rows_imported_total", help: "Rows written by imports.", type: .counter) {
            let rows = try? store.database.read { c in
                try c.scalarInt("SELECT COALESCE(SUM(succeeded), 0) FROM tally_jobs WHERE kind = 'import'")
            }
            return [MetricSample(value: Double(rows.flatMap { $0 } ?? 0))]
        }
    }
}

/// Bytes a transport writes as they are, shared by every subscriber.
final class HubBytesBuffer: HubPayload {
    let buffer: SharedBuffer

    /// The bytes framed as one HTTP/1.1 chunk.
    init(chunked bytes: [UInt8]) {
        var framed = Array(String(bytes.count, radix: 16).utf8) + [13, 10]
        framed += bytes
        framed += [13, 10]
        buffer = SharedBuffer(framed)
    }
}

