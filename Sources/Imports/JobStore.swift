import Foundation
import Progress
import Storage

/// One rejected row as stored and as `GET /api/jobs/{id}/errors` lists it.
public struct JobRowError: Sendable, Equatable {
    /// The physical line (1-based) where the row starts.
    public var line: Int
    /// The column name, when one column is at fault.
    public var column: String?
    /// A stable code such as `csv.ragged_row` or `row.invalid_integer`.
    public var code: String
    public var message: String
    /// The offending value (or the start of the raw row), if any.
    public var raw: String?

    public init(line: Int, column: String?, code: String, message: String, raw: String?) {
        self.line = line
        self.column = column
        self.code = code
        self.message = message
        self.raw = raw
    }

    /// The stored form of a validator's or reader's row error.
    public init(_ error: RowError) {
        self.init(line: error.line, column: error.column, code: error.code.rawValue, message: error.message,
                  raw: error.rawValue.isEmpty ? nil : error.rawValue)
    }

    /// `{"line":…,"column":…,"code":…,"message":…,"raw":…}`.
    public func encode(into w: inout JSONWriter) {
        w.raw("{\"line\":"); w.int(Int64(line))
        w.raw(",\"column\":"); w.string(column)
        w.raw(",\"code\":"); w.string(code)
        w.raw(",\"message\":"); w.string(message)
        w.raw(",\"raw\":"); w.string(raw)
        w.endObject()
    }
}

/// Where an import resumes: the byte offset and line after the last committed row, the counts
/// at that point, and what was learned from the top of the file (header and delimiter).
public struct Checkpoint: Sendable, Equatable {
    public var offset: Int64 = 0
    public var line: Int = 1
    public var processed: Int64 = 0
    public var succeeded: Int64 = 0
    public var failed: Int64 = 0
    public var header: [String]?
    public var delimiter: UInt8?

    public init() {}
}

/// A page request: at most `limit` items after skipping `offset`.
public struct Page: Sendable, Equatable {
    public var limit: Int
    public var offset: Int

    /// `limit` is clamped to 1…1000 so one request never reads an unbounded list.
    public init(limit: Int = 50, offset: Int = 0) {
        self.limit = min(max(limit, 1), 1000)
        self.offset = max(offset, 0)
    }
}

/// What the job store keeps about an import besides its snapshot: enough to run it again
/// after a restart.
public struct ImportRecord: Sendable {
    public var snapshot: JobSnapshot
    public var sourcePath: String
    public var options: ImportOptions
    public var checkpoint: Checkpoint
}

/// The durable record of every job (imports and external ones) and their row errors, in the
/// same SQLite file as the imported tables so a batch and its checkpoint commit together.
///
/// Two column groups: the snapshot columns hold exactly the last *published* snapshot (so a
/// read of a job agrees with its `seq`), and the checkpoint columns advance with every batch.
public final class JobStore: Sendable {
    public let database: Database

    static let migrator = Migrator(component: "jobs", migrations: [
        .init(version: 1, sql: """
            CREATE TABLE tally_jobs(
              id TEXT PRIMARY KEY,
              seq INTEGER NOT NULL,
              kind TEXT NOT NULL,
              name TEXT NOT NULL,
              state TEXT NOT NULL,
              message TEXT,
              percent REAL,
              processed INTEGER NOT NULL,
              succeeded INTEGER NOT NULL,
              failed INTEGER NOT NULL,
              total INTEGER,
              total_exact INTEGER NOT NULL,
              bytes_read INTEGER,
              bytes_total INTEGER,
              rate REAL,
              eta REAL,
              created_at INTEGER NOT NULL,
              started_at INTEGER,
              updated_at INTEGER NOT NULL,
              finished_at INTEGER,
              error_code TEXT,
              error_message TEXT,
              table_name TEXT,
              data TEXT,
              source_path TEXT,
              options TEXT,
              cp_offset INTEGER NOT NULL DEFAULT 0,
              cp_line INTEGER NOT NULL DEFAULT 1,
              cp_processed INTEGER NOT NULL DEFAULT 0,
              cp_succeeded INTEGER NOT NULL DEFAULT 0,
              cp_failed INTEGER NOT NULL DEFAULT 0,
              cp_header TEXT,
              cp_delimiter INTEGER
            );
            CREATE INDEX tally_jobs_by_created ON tally_jobs(created_at DESC, id);
            CREATE INDEX tally_jobs_by_state ON tally_jobs(state, created_at DESC);
            CREATE TABLE tally_row_errors(
              id INTEGER PRIMARY KEY,
              job_id TEXT NOT NULL,
              line INTEGER NOT NULL,
              column_name TEXT,
              code TEXT NOT NULL,
              message TEXT NOT NULL,
              raw TEXT
            );
            CREATE INDEX tally_row_errors_by_job ON tally_row_errors(job_id, id);
            """),
    ])

    /// Opens the store on `database`, creating or migrating its tables.
    public init(database: Database) throws {
        self.database = database
        try Self.migrator.migrate(database)
    }

    static let snapshotColumns = """
        id, seq, kind, name, state, message, percent, processed, succeeded, failed, total, \
        total_exact, bytes_read, bytes_total, rate, eta, created_at, started_at, updated_at, \
        finished_at, error_code, error_message, table_name, data
        """

    // MARK: Writing (inside a write transaction of `database`)

    /// Inserts a new job.
    public func insert(_ s: JobSnapshot, sourcePath: String? = nil, options: ImportOptions? = nil, in c: Connection) throws {
        let statement = try c.cached("INSERT INTO tally_jobs(\(Self.snapshotColumns), source_path, options) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
        try bindSnapshot(s, statement)
        if let sourcePath { try statement.bind(sourcePath, at: 24) } else { try statement.bindNull(at: 24) }
        if let options {
            try statement.bind(String(decoding: try JSONEncoder().encode(options), as: UTF8.self), at: 25)
        } else {
            try statement.bindNull(at: 25)
        }
        try statement.step()
        statement.reset()
    }

    /// Overwrites the snapshot columns with `s` (the snapshot about to be published).
    public func save(_ s: JobSnapshot, in c: Connection) throws {
        let statement = try c.cached("""
            UPDATE tally_jobs SET seq=?2, kind=?3, name=?4, state=?5, message=?6, percent=?7, processed=?8,
              succeeded=?9, failed=?10, total=?11, total_exact=?12, bytes_read=?13, bytes_total=?14, rate=?15,
              eta=?16, created_at=?17, started_at=?18, updated_at=?19, finished_at=?20, error_code=?21,
              error_message=?22, table_name=?23, data=?24 WHERE id=?1
            """)
        try bindSnapshot(s, statement)
        try statement.step()
        statement.reset()
        if c.changes != 1 {
            throw ImportError(.notFound, "No job with id '\(s.id)'.")
        }
    }

    /// Advances the checkpoint of an import.
    public func saveCheckpoint(_ cp: Checkpoint, job id: String, in c: Connection) throws {
        let statement = try c.cached("""
            UPDATE tally_jobs SET cp_offset=?2, cp_line=?3, cp_processed=?4, cp_succeeded=?5, cp_failed=?6
            WHERE id=?1
            """)
        try statement.bind(id, at: 0)
        try statement.bind(cp.offset, at: 1)
        try statement.bind(Int64(cp.line), at: 2)
        try statement.bind(cp.processed, at: 3)
        try statement.bind(cp.succeeded, at: 4)
        try statement.bind(cp.failed, at: 5)
        try statement.step()
        statement.reset()
    }

    /// Records what the top of the file told (header, delimiter); written once per import.
    public func saveHeader(_ header: [String], delimiter: UInt8, job id: String, in c: Connection) throws {
        let json = String(decoding: try JSONEncoder().encode(header), as: UTF8.self)
        try c.run("UPDATE tally_jobs SET cp_header=?, cp_delimiter=? WHERE id=?", [.text(json), .integer(Int64(delimiter)), .text(id)])
    }

    /// Replaces the checkpoint with one an external sink holds (it committed the rows), and
    /// drops the row errors recorded past it: the rows from there on will be read again.
    public func adoptCheckpoint(_ cp: Checkpoint, job id: String, in c: Connection) throws {
        try saveCheckpoint(cp, job: id, in: c)
        if let header = cp.header, let delimiter = cp.delimiter {
            try saveHeader(header, delimiter: delimiter, job: id, in: c)
        } else {
            try c.run("UPDATE tally_jobs SET cp_header=NULL, cp_delimiter=NULL WHERE id=?", [.text(id)])
        }
        try c.run("DELETE FROM tally_row_errors WHERE job_id=? AND line>=?", [.text(id), .integer(Int64(cp.line))])
    }

    /// Forgets the checkpoint (a job started over from the top of the file).
    public func resetCheckpoint(job id: String, in c: Connection) throws {
        try c.run("UPDATE tally_jobs SET cp_offset=0, cp_line=1, cp_processed=0, cp_succeeded=0, cp_failed=0, cp_header=NULL, cp_delimiter=NULL WHERE id=?", [.text(id)])
        try c.run("DELETE FROM tally_row_errors WHERE job_id=?", [.text(id)])
    }

    /// Appends a row error.
    public func insertRowError(_ e: JobRowError, job id: String, in c: Connection) throws {
        let statement = try c.cached("INSERT INTO tally_row_errors(job_id, line, column_name, code, message, raw) VALUES (?,?,?,?,?,?)")
        try statement.bind(id, at: 0)
        try statement.bind(Int64(e.line), at: 1)
        if let column = e.column { try statement.bind(column, at: 2) } else { try statement.bindNull(at: 2) }
        try statement.bind(e.code, at: 3)
        try statement.bind(e.message, at: 4)
        if let raw = e.raw { try statement.bind(raw, at: 5) } else { try statement.bindNull(at: 5) }
        try statement.step()
        statement.reset()
    }

    // MARK: Reading

    /// A job's last published snapshot.
    public func job(_ id: String) throws -> JobSnapshot? {
        try database.read { c in try job(id, in: c) }
    }

    /// A job's snapshot, read on `c` (a reader, or the writer inside a transaction).
    public func job(_ id: String, in c: Connection) throws -> JobSnapshot? {
        var result: JobSnapshot?
        try c.query("SELECT \(Self.snapshotColumns) FROM tally_jobs WHERE id=?", [.text(id)]) { result = Self.snapshot(from: $0) }
        return result
    }

    /// Jobs, newest first, optionally only those in `state`.
    public func jobs(state: JobState? = nil, page: Page = Page()) throws -> [JobSnapshot] {
        try database.read { c in
            var out: [JobSnapshot] = []
            if let state {
                try c.query("SELECT \(Self.snapshotColumns) FROM tally_jobs WHERE state=? ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                            [.text(state.rawValue), .integer(Int64(page.limit)), .integer(Int64(page.offset))]) { out.append(Self.snapshot(from: $0)) }
            } else {
                try c.query("SELECT \(Self.snapshotColumns) FROM tally_jobs ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                            [.integer(Int64(page.limit)), .integer(Int64(page.offset))]) { out.append(Self.snapshot(from: $0)) }
            }
            return out
        }
    }

    /// A job's row errors in file order.
    public func errors(job id: String, page: Page = Page()) throws -> [JobRowError] {
        try database.read { c in
            var out: [JobRowError] = []
            try c.query("SELECT line, column_name, code, message, raw FROM tally_row_errors WHERE job_id=? ORDER BY id LIMIT ? OFFSET ?",
                        [.text(id), .integer(Int64(page.limit)), .integer(Int64(page.offset))]) { s in
                out.append(JobRowError(line: Int(s.int64(0)), column: s.text(1), code: s.text(2) ?? "", message: s.text(3) ?? "", raw: s.text(4)))
            }
            return out
        }
    }

    /// Number of stored row errors of a job.
    public func errorCount(job id: String, in c: Connection) throws -> Int64 {
        try c.scalarInt("SELECT COUNT(*) FROM tally_row_errors WHERE job_id=?", [.text(id)]) ?? 0
    }

    /// Ids of the jobs of `kind` in one of `states`, oldest first (recovery order).
    public func jobIDs(kind: JobKind, states: [JobState]) throws -> [String] {
        try database.read { c in
            var out: [String] = []
            let list = states.map { "'\($0.rawValue)'" }.joined(separator: ",")
            try c.query("SELECT id FROM tally_jobs WHERE kind=? AND state IN (\(list)) ORDER BY created_at, id", [.text(kind.rawValue)]) { s in
                if let id = s.text(0) { out.append(id) }
            }
            return out
        }
    }

    /// Everything needed to run an import, read on `c`.
    public func importRecord(_ id: String, in c: Connection) throws -> ImportRecord? {
        guard let snapshot = try job(id, in: c) else { return nil }
        var record: ImportRecord?
        try c.query("SELECT source_path, options, cp_offset, cp_line, cp_processed, cp_succeeded, cp_failed, cp_header, cp_delimiter FROM tally_jobs WHERE id=?", [.text(id)]) { s in
            guard let path = s.text(0), let optionsText = s.text(1),
                  let options = try? JSONDecoder().decode(ImportOptions.self, from: Data(optionsText.utf8)) else { return }
            var cp = Checkpoint()
            cp.offset = s.int64(2)
            cp.line = Int(s.int64(3))
            cp.processed = s.int64(4)
            cp.succeeded = s.int64(5)
            cp.failed = s.int64(6)
            if let header = s.text(7) { cp.header = try? JSONDecoder().decode([String].self, from: Data(header.utf8)) }
            if let d = s.optionalInt64(8), let byte = UInt8(exactly: d) { cp.delimiter = byte }
            record = ImportRecord(snapshot: snapshot, sourcePath: path, options: options, checkpoint: cp)
        }
        return record
    }

    // MARK: Mapping

    private func bindSnapshot(_ s: JobSnapshot, _ st: Statement) throws {
        func int(_ v: Int64?, _ i: Int) throws { if let v { try st.bind(v, at: i) } else { try st.bindNull(at: i) } }
        func real(_ v: Double?, _ i: Int) throws { if let v, v.isFinite { try st.bind(v, at: i) } else { try st.bindNull(at: i) } }
        func text(_ v: String?, _ i: Int) throws { if let v { try st.bind(v, at: i) } else { try st.bindNull(at: i) } }
        try st.bind(s.id, at: 0)
        try st.bind(s.seq, at: 1)
        try st.bind(s.kind.rawValue, at: 2)
        try st.bind(s.name, at: 3)
        try st.bind(s.state.rawValue, at: 4)
        try text(s.message, 5)
        try real(s.percent, 6)
        try st.bind(s.processed, at: 7)
        try st.bind(s.succeeded, at: 8)
        try st.bind(s.failed, at: 9)
        try int(s.total, 10)
        try st.bind(Int64(s.totalExact ? 1 : 0), at: 11)
        try int(s.bytesRead, 12)
        try int(s.bytesTotal, 13)
        try real(s.rate, 14)
        try real(s.eta, 15)
        try st.bind(s.createdAt.milliseconds, at: 16)
        try int(s.startedAt?.milliseconds, 17)
        try st.bind(s.updatedAt.milliseconds, at: 18)
        try int(s.finishedAt?.milliseconds, 19)
        try text(s.error?.code, 20)
        try text(s.error?.message, 21)
        try text(s.table, 22)
        try text(s.data?.raw, 23)
    }

    static func snapshot(from s: Statement) -> JobSnapshot {
        let kind = JobKind(rawValue: s.text(2) ?? "") ?? .external
        var snap = JobSnapshot(id: s.text(0) ?? "", kind: kind, name: s.text(3) ?? "",
                               createdAt: Timestamp(milliseconds: s.int64(16)))
        snap.seq = s.int64(1)
        snap.state = JobState(rawValue: s.text(4) ?? "") ?? .failed
        snap.message = s.text(5)
        snap.percent = s.optionalDouble(6)
        snap.processed = s.int64(7)
        snap.succeeded = s.int64(8)
        snap.failed = s.int64(9)
        snap.total = s.optionalInt64(10)
        snap.totalExact = s.int64(11) != 0
        snap.bytesRead = s.optionalInt64(12)
        snap.bytesTotal = s.optionalInt64(13)
        snap.rate = s.optionalDouble(14)
        snap.eta = s.optionalDouble(15)
        snap.startedAt = s.optionalInt64(17).map { Timestamp(milliseconds: $0) }
        snap.updatedAt = Timestamp(milliseconds: s.int64(18))
        snap.finishedAt = s.optionalInt64(19).map { Timestamp(milliseconds: $0) }
        if let code = s.text(20) { snap.error = JobError(code: code, message: s.text(21) ?? "") }
        snap.table = s.text(22)
        snap.data = s.text(23).flatMap { JSONText(validating: $0) }
        return snap
    }
}

extension JobStore {
    /// The unfinished (pending or running) import of `sourcePath` into `table`, if any: what
    /// running the same import command again resumes instead of starting over.
    public func unfinishedImport(sourcePath: String, table: String) throws -> String? {
        try database.read { c in
            var id: String?
            try c.query("SELECT id FROM tally_jobs WHERE kind='import' AND state IN ('pending','running') AND source_path=? AND table_name=? ORDER BY created_at LIMIT 1",
                        [.text(sourcePath), .text(table)]) { id = $0.text(0) }
            return id
        }
    }
}
