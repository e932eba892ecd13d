import Foundation
import Postgres
import Progress

/// An import whose node stopped renewing its lease in the shared PostgreSQL database (it died
/// or was cut off): another node may take it over and resume it from its checkpoint.
public struct OrphanedImport: Sendable {
    /// The job id (the same on every node).
    public var job: String
    /// The destination table.
    public var table: String
    /// The file being imported: on a directory every node reads (a shared spool).
    public var sourcePath: String
    /// The options the import was submitted with.
    public var options: ImportOptions
}

extension ImportService {
    /// The running imports of the server's PostgreSQL sink (`configuration.sink`) whose lease
    /// expired, oldest first (at most 100). Empty for the SQLite sink, or before any import
    /// created the checkpoint table.
    public func orphanedImports() throws -> [OrphanedImport] {
        guard case .postgres(let url) = try SinkKind(configuration.sink) else { return [] }
        let connection = try PostgresConnection(url: url)
        var rows: [[String?]] = []
        do throws(PostgresError) {
            rows = try connection.query("""
                SELECT job_id, table_name, source_path, options FROM \(PostgresSink.checkpointTable)
                WHERE state = 'running' AND lease_until < now() ORDER BY created_at LIMIT 100
                """).rows
        } catch {
            // No import has created the table yet: nothing to take over.
            if error.sqlState == "42P01" { return [] }
            throw error
        }
        var orphans: [OrphanedImport] = []
        for row in rows {
            guard row.count == 4, let job = row[0], let table = row[1], let path = row[2], let text = row[3],
                  JobID.isValid(job) else { continue }
            guard let options = try? JSONDecoder().decode(ImportOptions.self, from: Data(text.utf8)) else { continue }
            orphans.append(OrphanedImport(job: job, table: table, sourcePath: path, options: options))
        }
        return orphans
    }

    /// Runs an orphaned import on this node: records it in the job store with `snapshot` (the
    /// last one this node heard of, so its seq numbers go on where the other node stopped)
    /// unless the store has it already, and queues it. The run claims the lease before
    /// anything else, so when another node was quicker this one leaves the job alone.
    /// Returns false when the job is already running here or finished here.
    @discardableResult
    public func adopt(_ orphan: OrphanedImport, snapshot: JobSnapshot) throws -> Bool {
        guard snapshot.id == orphan.job else { throw ImportError(.badRequest, "The snapshot is of another job.") }
        let known = try store.job(orphan.job)
        if let known, known.state.isTerminal { return false }
        if known == nil {
            var adopted = snapshot
            adopted.kind = .import
            adopted.table = orphan.table
            if adopted.state.isTerminal || adopted.state == .pending { adopted.state = .running }
            try store.database.write { c in
                try c.transaction { c in
                    if try store.job(orphan.job, in: c) == nil {
                        try store.insert(adopted, sourcePath: orphan.sourcePath, options: orphan.options, in: c)
                    }
                }
            }
        }
        return enqueueIfIdle(orphan.job)
    }
}
