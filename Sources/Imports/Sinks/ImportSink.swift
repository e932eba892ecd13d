import CSVCodec
import Postgres
import Progress
import Storage

/// Where an import's valid rows go, and who holds the authoritative checkpoint.
///
/// `ImportRun` drives one sink per run, always inside the job store's write lock: rows are
/// written between the store's `BEGIN` and `COMMIT`, and `commit` follows the store's commit of
/// the same batch, before the batch's event is published. The SQLite sink writes into the job
/// store's own transaction (so `commit` has nothing left to do); an external sink such as
/// PostgreSQL commits its rows together with its own copy of the checkpoint, which is then the
/// one a resumed run starts from.
///
/// Not `Sendable`: a sink belongs to the worker running the import.
protocol ImportSink: AnyObject {
    /// Prepares a run of `record`. Returns the checkpoint to resume from when the sink holds
    /// the authoritative one (nil: the job store's checkpoint stands).
    func open(_ record: ImportRecord) throws -> Checkpoint?
    /// Creates the destination table of `plan` if it does not exist (in the header's batch).
    func prepare(_ plan: TablePlan, in c: Connection) throws
    /// Writes the row the plan just validated. Returns a rejection when the sink refuses this
    /// row alone (a constraint of an existing table); the import records it and goes on.
    func write(_ row: CSVRecord, plan: TablePlan, in c: Connection) throws -> SinkRejection?
    /// Keeps a row error of the current batch where every node can read it (the PostgreSQL
    /// sink commits it with the batch); the SQLite sink has the job store's copy already.
    func recordError(_ error: JobRowError)
    /// Makes the rows written since the last commit durable together with `checkpoint` and the
    /// job's `state`; called right after the job store committed the same batch.
    func commit(_ checkpoint: Checkpoint, state: JobState) throws
    /// The checkpoint of the sink's last commit when the sink holds the authoritative one.
    var committedCheckpoint: Checkpoint? { get }
    /// Abandons rows written since the last commit, and lets go of connections.
    func close()
}

extension ImportSink {
    func recordError(_ error: JobRowError) {}
}

/// A row the sink refused, recorded as a row error with `code`.
struct SinkRejection {
    var code: String
    var message: String
}

/// A sink failure that is not about one row; `isRetryable` when a new connection may succeed
/// (the import then resumes from the sink's checkpoint instead of failing).
struct SinkError: Error, CustomStringConvertible {
    /// A stable code (`postgres.connection_lost`, `sink.lease_lost`, …).
    var code: String
    var message: String
    var isRetryable: Bool
    /// Set when another node took the job over: this run must stop without touching the job.
    var leaseLost = false

    var description: String { "\(code): \(message)" }
}

/// The default sink: rows go into the job store's SQLite file, in the batch's transaction.
final class SQLiteSink: ImportSink {
    private var insert: (plan: ObjectIdentifier, connection: ObjectIdentifier, statement: Statement)?

    func open(_ record: ImportRecord) throws -> Checkpoint? { nil }

    func prepare(_ plan: TablePlan, in c: Connection) throws {
        try c.execute(plan.createSQL)
        insert = nil
    }

    func write(_ row: CSVRecord, plan: TablePlan, in c: Connection) throws -> SinkRejection? {
        let statement: Statement
        if let insert, insert.plan == ObjectIdentifier(plan), insert.connection == ObjectIdentifier(c) {
            statement = insert.statement
        } else {
            statement = try c.cached(plan.insertSQL)
            insert = (ObjectIdentifier(plan), ObjectIdentifier(c), statement)
        }
        try plan.validator.bind(row, to: statement)
        defer { statement.reset() }
        do {
            try statement.step()
            return nil
        } catch {
            // A table constraint (a UNIQUE index of an existing table) rejects the row only.
            if error.code == .constraint {
                return SinkRejection(code: "row.constraint", message: "The row violates a table constraint: \(error.message).")
            }
            throw error
        }
    }

    func commit(_ checkpoint: Checkpoint, state: JobState) throws {}

    var committedCheckpoint: Checkpoint? { nil }

    func close() {
        insert = nil
    }
}

/// Which sink an import writes to, from its stored options.
enum SinkKind {
    case sqlite
    case postgres(url: String)

    /// Parses `--sink`: nil, "" or "sqlite" for the embedded store, a `postgres://` or
    /// `postgresql://` URL for PostgreSQL.
    init(_ text: String?) throws(ImportError) {
        guard let text, !text.isEmpty, text != "sqlite" else {
            self = .sqlite
            return
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            throw ImportError(.badRequest, "The sink must be 'sqlite' or a postgres:// URL.")
        }
        self = .postgres(url: text)
    }
}

extension ImportOptions {
    /// The sink for messages and logs, with any password hidden; nil for SQLite.
    public var sinkDescription: String? {
        guard case .postgres(let url)? = try? SinkKind(sink) else { return nil }
        return "PostgreSQL " + PostgresConnection.redacted(url)
    }
}
