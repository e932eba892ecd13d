import Foundation
import Postgres
import Progress

/// What every node sharing the server-wide PostgreSQL sink can read of the others' imports:
/// the checkpoint rows (one per import, with its counts and state) and the row errors each
/// batch committed. Job lists and row errors of imports run by another node come from here;
/// an external job or an import into SQLite stays known to its own node only.
extension ImportService {
    /// The server-wide PostgreSQL sink, nil with the embedded SQLite store.
    var sharedDatabaseURL: String? {
        guard case .postgres(let url)? = try? SinkKind(configuration.sink) else { return nil }
        return url
    }

    /// True when imports of other nodes can be read (a server-wide PostgreSQL sink).
    public var sharesImports: Bool { sharedDatabaseURL != nil }

    /// An import recorded in the shared database, as a snapshot built from its checkpoint row
    /// (counts, state, times); nil when it is not there, or without a PostgreSQL sink. The seq
    /// is 0: a node that heard the job's events (through Redis) has the real snapshot.
    public func sharedImport(_ id: String) throws -> JobSnapshot? {
        guard let url = sharedDatabaseURL, JobID.isValid(id) else { return nil }
        return try sharedImports(url: url, where: "job_id = $1", [id], limit: 1).first
    }

    /// Imports of the shared database, newest first, optionally only those in `state`.
    func sharedImports(state: JobState?, limit: Int) throws -> [JobSnapshot] {
        guard let url = sharedDatabaseURL else { return [] }
        if let state { return try sharedImports(url: url, where: "state = $1", [state.rawValue], limit: limit) }
        return try sharedImports(url: url, where: "true", [], limit: limit)
    }

    /// A page of an import's row errors from the shared database, nil when the database does
    /// not know the import.
    func sharedErrors(_ id: String, page: Page) throws -> [JobRowError]? {
        guard let url = sharedDatabaseURL else { return nil }
        let connection = try PostgresConnection(url: url, connectTimeout: 3)
        do throws(PostgresError) {
            let known = try connection.query("SELECT 1 FROM \(PostgresSink.checkpointTable) WHERE job_id = $1", [id])
            guard !known.rows.isEmpty else { return nil }
            let rows = try connection.query("""
                SELECT line, column_name, code, message, raw FROM \(PostgresSink.errorTable)
                WHERE job_id = $1 ORDER BY id LIMIT $2 OFFSET $3
                """, [id, String(page.limit), String(page.offset)]).rows
            return rows.compactMap { row in
                guard row.count == 5, let line = row[0].flatMap({ Int($0) }), let code = row[2], let message = row[3] else { return nil }
                return JobRowError(line: line, column: row[1], code: code, message: message, raw: row[4])
            }
        } catch {
            // No import has created the tables yet.
            if error.sqlState == "42P01" { return nil }
            throw error
        }
    }

    private func sharedImports(url: String, where condition: String, _ parameters: [String?], limit: Int) throws -> [JobSnapshot] {
        let connection = try PostgresConnection(url: url, connectTimeout: 3)
        let rows: [[String?]]
        do throws(PostgresError) {
            rows = try connection.query("""
                SELECT job_id, table_name, options, state, processed, succeeded, failed, owner,
                  (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM updated_at) * 1000)::bigint
                FROM \(PostgresSink.checkpointTable) WHERE \(condition)
                ORDER BY created_at DESC, job_id LIMIT \(max(1, min(limit, 10_000)))
                """, parameters).rows
        } catch {
            if error.sqlState == "42P01" { return [] }
            throw error
        }
        return rows.compactMap { row in
            guard row.count == 10, let id = row[0], JobID.isValid(id), let table = row[1],
                  let created = row[8].flatMap({ Int64($0) }) else { return nil }
            let options = row[2].flatMap { try? JSONDecoder().decode(ImportOptions.self, from: Data($0.utf8)) }
            var snapshot = JobSnapshot(id: id, kind: .import, name: options?.name ?? table,
                                       createdAt: Timestamp(milliseconds: created), table: table)
            snapshot.seq = 0
            snapshot.state = row[3].flatMap(JobState.init(rawValue:)) ?? .running
            snapshot.processed = row[4].flatMap { Int64($0) } ?? 0
            snapshot.succeeded = row[5].flatMap { Int64($0) } ?? 0
            snapshot.failed = row[6].flatMap { Int64($0) } ?? 0
            snapshot.updatedAt = row[9].flatMap { Int64($0) }.map(Timestamp.init(milliseconds:)) ?? snapshot.createdAt
            if snapshot.state.isTerminal { snapshot.finishedAt = snapshot.updatedAt }
            snapshot.message = row[7].map { "Running on node \($0)" }
            return snapshot
        }
    }
}
