import CSVCodec
import Foundation
import Postgres
import Progress
import Storage

/// The PostgreSQL sink: rows stream into the table with `COPY … FROM STDIN`, and each batch's
/// transaction ends by writing the job's checkpoint into `tally_import_checkpoints` of the same
/// database, so data and checkpoint commit or vanish together.
///
/// ## Where the checkpoint lives
/// The PostgreSQL row is authoritative: a run starts from it (`open`), whatever the job store
/// says. The job store commits each batch first (row errors, its mirror of the checkpoint, the
/// snapshot about to be published), then PostgreSQL commits. A crash or a lost connection
/// between the two leaves the job store ahead by at most one batch; the next run reads the
/// PostgreSQL checkpoint, drops the row errors recorded past it and reads the file from there,
/// so every row lands exactly once and every row error is stored once. The event of a batch is
/// published only after both commits.
///
/// ## Row errors
/// Each batch's row errors go into `tally_import_errors` in the batch's transaction too, so the
/// database holds every row error of the import once, whichever nodes ran it, and any node
/// sharing the database lists them (`ImportService.errors`).
///
/// ## Ownership
/// The checkpoint row also carries a lease (`owner`, `lease_until`): `open` claims it when it
/// is free, already ours or expired, and every commit renews it *only if we still own it*. A
/// node that lost its lease (it stalled, another node took the job over) has its next commit
/// refused and its batch rolled back: two nodes can never both commit rows of one job.
final class PostgresSink: ImportSink {
    let url: String
    let owner: String
    let leaseSeconds: Int
    private var connection: PostgresConnection?
    private var encoder = CopyEncoder()
    private var transactionOpen = false
    private var copyingPlan: ObjectIdentifier?
    private var job = ""
    /// The checkpoint of the last PostgreSQL commit.
    private(set) var committed = Checkpoint()
    var committedCheckpoint: Checkpoint? { committed }
    private var copyBuffer: Int
    /// Row errors of the open batch, written at its commit.
    private var pendingErrors: [JobRowError] = []

    /// The table of checkpoints and leases, one row per import written to this database.
    static let checkpointTable = "tally_import_checkpoints"
    /// The row errors of the imports written to this database.
    static let errorTable = "tally_import_errors"

    init(url: String, owner: String, leaseSeconds: Int, copyBuffer: Int = 1 << 18) {
        self.url = url
        self.owner = owner
        self.leaseSeconds = max(1, leaseSeconds)
        self.copyBuffer = copyBuffer
    }

    deinit {
        close()
    }

    func open(_ record: ImportRecord) throws -> Checkpoint? {
        job = record.snapshot.id
        let c = try connect()
        try wrap { () throws(PostgresError) in
            // Two nodes creating the table at once can collide in the catalogue: serialize.
            try c.execute("BEGIN")
            try c.query("SELECT pg_advisory_xact_lock(746861)")
            try c.execute("""
                CREATE TABLE IF NOT EXISTS \(Self.checkpointTable) (
                  job_id text PRIMARY KEY,
                  table_name text NOT NULL,
                  source_path text,
                  options text,
                  state text NOT NULL DEFAULT 'running',
                  cp_offset bigint NOT NULL DEFAULT 0,
                  cp_line bigint NOT NULL DEFAULT 1,
                  processed bigint NOT NULL DEFAULT 0,
                  succeeded bigint NOT NULL DEFAULT 0,
                  failed bigint NOT NULL DEFAULT 0,
                  header text,
                  delimiter integer,
                  owner text,
                  lease_until timestamptz,
                  created_at timestamptz NOT NULL DEFAULT now(),
                  updated_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            try c.execute("""
                CREATE TABLE IF NOT EXISTS \(Self.errorTable) (
                  id bigserial PRIMARY KEY,
                  job_id text NOT NULL,
                  line bigint NOT NULL,
                  column_name text,
                  code text NOT NULL,
                  message text NOT NULL,
                  raw text
                )
                """)
            try c.execute("CREATE INDEX IF NOT EXISTS \(Self.errorTable)_by_job ON \(Self.errorTable) (job_id, id)")
            try c.execute("COMMIT")
        }
        let options = String(decoding: (try? JSONEncoder().encode(record.options)) ?? Data(), as: UTF8.self)
        let claimed = try wrap { () throws(PostgresError) -> PostgresRows in
            try c.query("""
                INSERT INTO \(Self.checkpointTable) AS t (job_id, table_name, source_path, options, owner, lease_until)
                VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::int))
                ON CONFLICT (job_id) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
                  state = 'running', updated_at = now()
                WHERE t.owner IS NULL OR t.owner = EXCLUDED.owner OR t.lease_until < now()
                RETURNING cp_offset, cp_line, processed, succeeded, failed, header, delimiter
                """, [job, record.snapshot.table ?? "", record.sourcePath, options, owner, String(leaseSeconds)])
        }
        guard let row = claimed.rows.first, row.count == 7 else {
            throw SinkError(code: "sink.lease_held", message: "Another node holds the lease of job \(job) in PostgreSQL.",
                            isRetryable: false, leaseLost: true)
        }
        var cp = Checkpoint()
        cp.offset = Int64(row[0] ?? "") ?? 0
        cp.line = Int(row[1] ?? "") ?? 1
        cp.processed = Int64(row[2] ?? "") ?? 0
        cp.succeeded = Int64(row[3] ?? "") ?? 0
        cp.failed = Int64(row[4] ?? "") ?? 0
        if let header = row[5] { cp.header = try? JSONDecoder().decode([String].self, from: Data(header.utf8)) }
        if let d = row[6].flatMap({ Int($0) }), let byte = UInt8(exactly: d) { cp.delimiter = byte }
        if cp.header == nil || cp.delimiter == nil { cp = Checkpoint() }
        // Row errors past the checkpoint are of rows about to be read again (none when every
        // batch committed its errors with its checkpoint; all of them when starting over).
        try wrap { () throws(PostgresError) in
            _ = try c.query("DELETE FROM \(Self.errorTable) WHERE job_id = $1 AND line >= $2", [job, String(cp.line)])
        }
        committed = cp
        return cp
    }

    func prepare(_ plan: TablePlan, in c: Connection) throws {
        let pg = try begin()
        try endCopy()
        try wrap { () throws(PostgresError) in try pg.execute(plan.postgresCreateSQL) }
    }

    func write(_ row: CSVRecord, plan: TablePlan, in c: Connection) throws -> SinkRejection? {
        let pg = try begin()
        if copyingPlan != ObjectIdentifier(plan) {
            try endCopy()
            try wrap { () throws(PostgresError) in try pg.startCopy(plan.postgresCopySQL) }
            copyingPlan = ObjectIdentifier(plan)
        }
        let mark = encoder.bytes.count
        var refused = false
        for column in 0..<plan.validator.schema.columns.count {
            plan.validator.withCell(at: column, of: row) { cell in
                switch cell {
                case .null: encoder.appendNull()
                case .integer(let v): encoder.append(v)
                case .real(let v): encoder.append(v)
                case .boolean(let v): encoder.append(v)
                case .text(let bytes):
                    if CopyEncoder.canEncode(bytes) { encoder.appendText(bytes) } else { refused = true }
                }
            }
            if refused { break }
        }
        if refused {
            encoder.discardRow(from: mark)
            return SinkRejection(code: "row.nul_character", message: "PostgreSQL text cannot hold the NUL character.")
        }
        encoder.endRow()
        if encoder.bytes.count >= copyBuffer { try flush() }
        return nil
    }

    func recordError(_ error: JobRowError) {
        pendingErrors.append(error)
    }

    func commit(_ checkpoint: Checkpoint, state: JobState) throws {
        let pg = try begin()
        try endCopy()
        try writeErrors(pg)
        let header = checkpoint.header.map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data("[]".utf8), as: UTF8.self) }
        let updated = try wrap { () throws(PostgresError) -> PostgresRows in
            try pg.query("""
                UPDATE \(Self.checkpointTable) SET cp_offset = $3, cp_line = $4, processed = $5, succeeded = $6, failed = $7,
                  header = $8, delimiter = $9, state = $10, updated_at = now(),
                  lease_until = now() + make_interval(secs => $11::int),
                  owner = CASE WHEN $10 = 'running' THEN owner END
                WHERE job_id = $1 AND owner = $2
                """, [job, owner, String(checkpoint.offset), String(checkpoint.line), String(checkpoint.processed),
                      String(checkpoint.succeeded), String(checkpoint.failed), header,
                      checkpoint.delimiter.map { String($0) }, state.rawValue, String(leaseSeconds)])
        }
        guard updated.affected == 1 else {
            pg.rollbackQuietly()
            transactionOpen = false
            throw SinkError(code: "sink.lease_lost", message: "Another node took job \(job) over; this node stops it.",
                            isRetryable: false, leaseLost: true)
        }
        try wrap { () throws(PostgresError) in try pg.execute("COMMIT") }
        transactionOpen = false
        committed = checkpoint
    }

    func close() {
        pendingErrors.removeAll()
        connection?.rollbackQuietly()
        connection = nil
        transactionOpen = false
        copyingPlan = nil
        encoder.removeAll()
    }

    /// Records that a job ended outside its run (cancelled, timed out, stalled), and frees its
    /// lease: no node takes a finished job over.
    static func markFinished(url: String, job: String, state: JobState) throws {
        let c = try PostgresConnection(url: url, connectTimeout: 3)
        do throws(PostgresError) {
            try c.query("UPDATE \(checkpointTable) SET state = $2, owner = NULL, updated_at = now() WHERE job_id = $1",
                        [job, state.rawValue])
        } catch {
            // No import of this database ever started: nothing to mark.
            if error.sqlState == "42P01" { return }
            throw error
        }
    }

    // MARK: Internals

    private func connect() throws -> PostgresConnection {
        if let connection, !connection.isBroken { return connection }
        connection = nil
        transactionOpen = false
        copyingPlan = nil
        let fresh = try wrap { () throws(PostgresError) -> PostgresConnection in try PostgresConnection(url: url) }
        connection = fresh
        return fresh
    }

    private func begin() throws -> PostgresConnection {
        guard let pg = connection, !pg.isBroken else {
            // A connection that broke between batches: the batch would lose its earlier rows
            // if we reconnected silently, so the run resumes from the checkpoint instead.
            throw SinkError(code: PostgresError.Code.connectionLost.rawValue, message: "The PostgreSQL connection broke.",
                            isRetryable: true)
        }
        if !transactionOpen {
            try wrap { () throws(PostgresError) in try pg.execute("BEGIN") }
            transactionOpen = true
            encoder.removeAll()
        }
        return pg
    }

    private func flush() throws {
        guard let pg = connection, !encoder.bytes.isEmpty else { return }
        let bytes = encoder.bytes
        try wrap { () throws(PostgresError) in
            // withUnsafeBytes rethrows untyped errors: carry the typed one out by hand.
            let failure: PostgresError? = bytes.withUnsafeBytes { raw in
                do throws(PostgresError) { try pg.copy(raw); return nil } catch { return error }
            }
            if let failure { throw failure }
        }
        encoder.removeAll()
    }

    /// The batch's row errors, by `COPY` into the open transaction.
    private func writeErrors(_ pg: PostgresConnection) throws {
        guard !pendingErrors.isEmpty else { return }
        var errors = CopyEncoder(capacity: pendingErrors.count * 128)
        for error in pendingErrors {
            errors.appendText(job)
            errors.append(Int64(error.line))
            for text in [error.column, error.code, error.message, error.raw] {
                // PostgreSQL text cannot hold NUL: a raw value with one keeps the rest.
                if let text { errors.appendText(text.contains("\0") ? text.replacingOccurrences(of: "\0", with: "") : text) } else { errors.appendNull() }
            }
            errors.endRow()
        }
        pendingErrors.removeAll()
        let bytes = errors.bytes
        try wrap { () throws(PostgresError) in
            try pg.startCopy("COPY \(Self.errorTable) (job_id, line, column_name, code, message, raw) FROM STDIN")
            let failure: PostgresError? = bytes.withUnsafeBytes { raw in
                do throws(PostgresError) { try pg.copy(raw); return nil } catch { return error }
            }
            if let failure { throw failure }
            _ = try pg.endCopy()
        }
    }

    private func endCopy() throws {
        guard copyingPlan != nil, let pg = connection else { return }
        try flush()
        copyingPlan = nil
        try wrap { () throws(PostgresError) in _ = try pg.endCopy() }
    }

    /// Turns a client error into a sink error: retryable when the connection is the problem.
    private func wrap<R>(_ body: () throws(PostgresError) -> R) throws(SinkError) -> R {
        do {
            return try body()
        } catch {
            connection?.rollbackQuietly()
            transactionOpen = false
            copyingPlan = nil
            encoder.removeAll()
            pendingErrors.removeAll()
            throw SinkError(code: error.code.rawValue, message: "PostgreSQL (\(PostgresConnection.redacted(url))): \(error.message)",
                            isRetryable: error.isConnectionProblem)
        }
    }
}

extension TablePlan {
    /// `CREATE TABLE IF NOT EXISTS` with PostgreSQL column types.
    var postgresCreateSQL: String {
        let columns = validator.schema.columns.map { column in
            PostgresConnection.quoteIdentifier(column.name) + " " + column.type.postgresType + (column.required ? " NOT NULL" : "")
        }.joined(separator: ", ")
        return "CREATE TABLE IF NOT EXISTS \(PostgresConnection.quoteIdentifier(table)) (\(columns))"
    }

    /// `COPY table (columns) FROM STDIN` in the validator's column order.
    var postgresCopySQL: String {
        let names = validator.schema.columns.map { PostgresConnection.quoteIdentifier($0.name) }.joined(separator: ", ")
        return "COPY \(PostgresConnection.quoteIdentifier(table)) (\(names)) FROM STDIN"
    }
}

extension ColumnType {
    /// The PostgreSQL type a new table gets for this column type.
    var postgresType: String {
        switch self {
        case .integer: "bigint"
        case .real: "double precision"
        case .text: "text"
        case .boolean: "boolean"
        case .date: "date"
        case .timestamp: "timestamptz"
        }
    }
}
