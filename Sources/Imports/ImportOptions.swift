import Progress

/// Per-import options, stored with the job so a restarted process runs it the same way.
public struct ImportOptions: Sendable, Codable, Equatable {
    /// Display name (defaults to the file name).
    public var name: String?
    /// The table to write into (defaults to the file name without extension, made safe).
    public var table: String?
    /// The JSON schema document (column types and rules); nil: columns from the header, text.
    public var schema: String?
    /// The delimiter byte, or nil to detect it.
    public var delimiter: UInt8?
    /// Whether the first row names the columns; nil means true (and is what options stored
    /// before this setting existed decode to). Without a header row the columns are named by
    /// the schema, in its order, or `col1`…`colN` without one; every row is data.
    public var hasHeader: Bool?
    /// Rows per transaction. 10 000: large enough that commit cost vanishes, small enough that a
    /// cancel or a crash redoes little work. Progress events may commit a batch earlier.
    public var batchSize: Int
    /// Fail the job when more rows than this are rejected (nil: no count limit).
    public var maxErrors: Int64?
    /// Fail the job when more than this fraction of rows is rejected (nil: no limit). Judged
    /// once 100 rows were read, and at the end.
    public var maxErrorFraction: Double?
    /// Where the rows go: nil for the embedded SQLite store, or a `postgres://` URL. Fixed at
    /// submit (from `ImportConfiguration.sink` when not given), so a job keeps its sink across
    /// restarts. Stored with the job: pass a password in `PGPASSWORD` or `~/.pgpass`, not here.
    public var sink: String?

    public init(name: String? = nil, table: String? = nil, schema: String? = nil, delimiter: UInt8? = nil,
                batchSize: Int = 10_000, maxErrors: Int64? = nil, maxErrorFraction: Double? = nil, sink: String? = nil,
                hasHeader: Bool? = nil) {
        self.sink = sink
        self.hasHeader = hasHeader
        self.name = name
        self.table = table
        self.schema = schema
        self.delimiter = delimiter
        self.batchSize = batchSize
        self.maxErrors = maxErrors
        self.maxErrorFraction = maxErrorFraction
    }
}

/// Service-wide settings of the import engine.
public struct ImportConfiguration: Sendable {
    /// Import worker threads. 2: one per core here; imports are CPU- and SQLite-bound, and the
    /// database has one writer, so more workers only interleave.
    public var workers: Int = 2
    /// Most pending imports waiting for a worker before `submit` refuses with `import.queue_full`.
    public var queueCapacity: Int = 1000
    /// An import running longer than this fails with `import.timeout` (nil: no limit).
    public var maxDuration: Double? = 6 * 3600
    /// An import that reads no byte and writes no row for this long fails with
    /// `import.stalled` (nil: never).
    public var stallTimeout: Double? = 120
    /// How often the watchdog looks for timed-out and stalled imports.
    public var watchdogInterval: Double = 0.25
    /// When progress events go out.
    public var throttle = ThrottlePolicy()
    /// Spaces the progress events of much-watched jobs (off unless configured).
    public var fanout = FanoutBudget()
    /// Whether imports publish progress events (state events are always published).
    public var publishesProgress = true
    /// Row errors stored per job at most (the `failed` count stays exact beyond it), so a file
    /// of garbage cannot fill the disk with error rows.
    public var maxStoredRowErrors: Int64 = 10_000
    /// Bytes read from the file at a time. Transactions also commit before each read, so that
    /// no database lock is held while waiting for input.
    public var readSize: Int = 1 << 20
    public var clock: Clock = .system
    public var logger: Logger = .discard
    /// The sink of imports submitted without one (`--sink`): nil for SQLite, or a
    /// `postgres://` URL.
    public var sink: String?
    /// This process's name in the leases of external sinks. `ImportService(dataDirectory:)`
    /// keeps one per data directory (`node-id`), so a restarted node takes its own leases
    /// back at once; another node waits until they expire.
    public var nodeID: String = "node-" + JobID.generate()
    /// How long a node's lease on an import lasts without a commit renewing it. 15 s: many
    /// commits renew it every second, so only a dead or cut-off node lets it lapse.
    public var leaseSeconds: Int = 15
    /// Retries of an import whose sink connection broke, with backoff from 0.25 s doubling to
    /// 15 s, before it fails; a run that commits a batch starts the count again.
    public var sinkRetries: Int = 12

    public init() {}
}

extension ImportOptions {
    /// The names of the columns of a file without a header row whose first record has
    /// `fieldCount` fields: the schema's column names in order, then `colK` (1-based position)
    /// for fields beyond them, which the schema then refuses as unknown columns unless it
    /// ignores them; `col1`…`colN` without a schema.
    public static func columnNames(fieldCount: Int, schema: ImportSchema?) -> [String] {
        let named = schema?.columns.map(\.name) ?? []
        return (0..<fieldCount).map { $0 < named.count ? named[$0] : "col\($0 + 1)" }
    }

    /// The table an import of `path` writes to when no table is given: the file's base name
    /// without extension, with anything but ASCII letters, digits and `_` turned into `_`.
    public static func defaultTable(forFile path: String) -> String {
        TablePlan.defaultTableName(forFile: path)
    }
}
