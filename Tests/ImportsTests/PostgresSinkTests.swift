import Foundation
import Postgres
import Progress
import Storage
import Synchronization
import Testing
@testable import Imports

/// The PostgreSQL server of these tests: `TALLY_TEST_POSTGRES_URL` (scripts/e2e/postgres.sh
/// starts a throwaway one and sets it); without it the suite is skipped.
enum PostgresTestServer {
    static let url: String? = ProcessInfo.processInfo.environment["TALLY_TEST_POSTGRES_URL"]
    static var isAvailable: Bool { url != nil }

    static func connect() throws -> PostgresConnection {
        try PostgresConnection(url: url ?? "")
    }

    static func value(_ sql: String, _ parameters: [String?] = []) throws -> String? {
        try connect().query(sql, parameters).scalar
    }

    /// A table name no other test (or earlier run) uses.
    static func uniqueTable(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
    }
}

@Suite(.serialized, .enabled(if: PostgresTestServer.isAvailable, "needs TALLY_TEST_POSTGRES_URL (scripts/e2e/postgres.sh)"))
struct PostgresSinkTests {
    let url = PostgresTestServer.url ?? ""

    @Test func importsExactlyTheValidRowsTypedWithTheCheckpointInPostgres() throws {
        let dir = ImportTempDirectory()
        let table = PostgresTestServer.uniqueTable("orders")
        let file = dir.write("orders.csv", numberedCSV(rows: 500, badEvery: 50) + "501,x\n499,dup,1\n"
                                + "502,\"tab\there \\\\ and\nnewline\",7\n")
        let service = try makeService(dir)
        let log = EventLog(service.tracker)
        let job = try service.submit(path: file, options: ImportOptions(table: table, schema: numberedSchema, batchSize: 64, sink: url))
        let done = try #require(try waitForEnd(service, job.id))
        #expect(done.state == .completed, "\(String(describing: done.error))")
        #expect(done.processed == 503 && done.succeeded == 491 && done.failed == 12)
        #expect(try PostgresTestServer.value("SELECT count(*) FROM \(table)") == "491")
        #expect(try PostgresTestServer.value("SELECT count(DISTINCT id) FROM \(table)") == "491")
        #expect(try PostgresTestServer.value("SELECT bool_and(amount = id * 3) FROM \(table) WHERE id <= 500") == "t")
        #expect(try PostgresTestServer.value("SELECT name FROM \(table) WHERE id = 502") == "tab\there \\\\ and\nnewline")
        #expect(try PostgresTestServer.value("SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = 'amount'", [table]) == "bigint")
        let checkpoint = try PostgresTestServer.connect().query(
            "SELECT state, processed, succeeded, failed, owner IS NULL FROM tally_import_checkpoints WHERE job_id = $1", [job.id]).rows
        #expect(checkpoint == [["completed", "503", "491", "12", "t"]])
        #expect(try service.errors(job.id, page: Page(limit: 100)).count == 12)
        // Nothing went into SQLite.
        #expect(try count(service, "SELECT COUNT(*) FROM sqlite_master WHERE name = '\(table)'") == 0)
        service.tracker.waitForDelivery()
        let seqs = log.of(job.id).map(\.seq)
        #expect(seqs == Array(1...Int64(seqs.count)))
    }

    @Test func theServerSinkAppliesToImportsWithoutOne() throws {
        let dir = ImportTempDirectory()
        let table = PostgresTestServer.uniqueTable("defaults")
        let file = dir.write("d.csv", numberedCSV(rows: 20))
        let service = try makeService(dir) { $0.sink = url }
        let job = try service.submit(path: file, options: ImportOptions(table: table))
        #expect(try waitForEnd(service, job.id)?.state == .completed)
        #expect(try PostgresTestServer.value("SELECT count(*) FROM \(table)") == "20")
        #expect(throws: ImportError.self) { try service.submit(path: file, options: ImportOptions(sink: "mysql://x")) }
    }

    /// The backend is killed over and over while rows stream in: every break ends in a retry
    /// from the PostgreSQL checkpoint, and the table ends with each valid row exactly once.
    @Test func connectionLossMidImportRetriesFromTheCheckpointWithoutDuplicates() throws {
        let dir = ImportTempDirectory()
        let table = PostgresTestServer.uniqueTable("flaky")
        let rows = 60_000
        let file = dir.write("flaky.csv", numberedCSV(rows: rows, badEvery: 97))
        let service = try makeService(dir) {
            $0.readSize = 4096
            $0.sinkRetries = 50
        }
        let job = try service.submit(path: file, options: ImportOptions(table: table, schema: numberedSchema, batchSize: 500, sink: url))
        let killer = try PostgresTestServer.connect()
        var kills = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, kills < 6 {
            if let state = try service.job(job.id)?.state, state.isTerminal { break }
            let killed = try killer.query("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE application_name = 'tally' AND pid <> pg_backend_pid() AND state <> 'idle'
                """).scalar
            if killed != "0" { kills += 1 }
            usleep(150_000)
        }
        let done = try #require(try waitForEnd(service, job.id, timeout: 60))
        #expect(done.state == .completed, "\(String(describing: done.error))")
        #expect(kills > 0)
        let bad = rows / 97
        #expect(done.processed == Int64(rows) && done.succeeded == Int64(rows - bad) && done.failed == Int64(bad))
        #expect(try PostgresTestServer.value("SELECT count(*) FROM \(table)") == String(rows - bad))
        #expect(try PostgresTestServer.value("SELECT count(DISTINCT id) FROM \(table)") == String(rows - bad))
        #expect(try service.errors(job.id, page: Page(limit: 1000)).count == bad)
        // Each batch's row errors committed with it: once each in PostgreSQL despite the kills.
        #expect(try PostgresTestServer.value("SELECT count(DISTINCT line) || ' ' || count(*) FROM tally_import_errors WHERE job_id = $1",
                                             [job.id]) == "\(bad) \(bad)")
    }

    /// Two nodes share the PostgreSQL sink: the second lists the first one's import, with its
    /// counts, and its row errors, which it never had in its own store.
    @Test func anotherNodeSeesTheImportsAndRowErrorsOfTheSharedDatabase() throws {
        let table = PostgresTestServer.uniqueTable("shared")
        let dirA = ImportTempDirectory(), dirB = ImportTempDirectory()
        let file = dirA.write("shared.csv", numberedCSV(rows: 400, badEvery: 40))
        let a = try makeService(dirA) { $0.sink = url }
        let b = try makeService(dirB) { $0.sink = url }
        let job = try a.submit(path: file, options: ImportOptions(table: table, schema: numberedSchema, batchSize: 64))
        #expect(try waitForEnd(a, job.id)?.state == .completed)
        #expect(try b.store.job(job.id) == nil)
        let seen = try #require(try b.sharedImport(job.id))
        #expect(seen.state == .completed && seen.processed == 400 && seen.succeeded == 390 && seen.failed == 10)
        #expect(seen.table == table && seen.kind == .import)
        #expect(try b.jobs(page: Page(limit: 1000)).contains { $0.id == job.id })
        #expect(try b.jobs(state: .completed, page: Page(limit: 1000)).contains { $0.id == job.id })
        #expect(try !b.jobs(state: .failed, page: Page(limit: 1000)).contains { $0.id == job.id })
        let errors = try b.errors(job.id, page: Page(limit: 100))
        #expect(errors == (try a.errors(job.id, page: Page(limit: 100))))
        #expect(errors.map(\.line) == (1...10).map { $0 * 40 + 1 })
        #expect(try b.errors(job.id, page: Page(limit: 3, offset: 8)).count == 2)
        // A job of B's own store comes first when newer, and paging walks both lists.
        let own = try b.submit(path: dirB.write("own.csv", numberedCSV(rows: 5)),
                               options: ImportOptions(table: PostgresTestServer.uniqueTable("own")))
        #expect(try waitForEnd(b, own.id)?.state == .completed)
        let firstTwo = try b.jobs(page: Page(limit: 2)).map(\.id)
        #expect(firstTwo.first == own.id)
        let secondPage = try b.jobs(page: Page(limit: 1, offset: 1)).map(\.id)
        #expect(secondPage == [firstTwo[1]])
        #expect(throws: ImportError.self) { try b.errors("j_unknown_\(UInt32.random(in: 0...UInt32.max))", page: Page()) }
    }

    /// The job store committed a batch that PostgreSQL never did (a crash between the two
    /// commits): the next run starts from PostgreSQL's checkpoint and stores each row error once.
    @Test func resumesFromThePostgresCheckpointWhenTheStoreIsAhead() throws {
        let dir = ImportTempDirectory()
        let table = PostgresTestServer.uniqueTable("ahead")
        let file = dir.write("ahead.csv", numberedCSV(rows: 3000, badEvery: 10))
        let id: String
        do {
            let service = try makeService(dir)
            id = try service.submit(path: file, options: ImportOptions(table: table, schema: numberedSchema, batchSize: 100, sink: url)).id
            #expect(try waitForEnd(service, id)?.state == .completed)
            service.shutdown()
        }
        // Roll PostgreSQL back to a checkpoint after row 1000 and mark the job running again,
        // as if the process had died right after the job store's commit.
        let pg = try PostgresTestServer.connect()
        try pg.execute("BEGIN")
        try pg.query("DELETE FROM \(table) WHERE id > 1000")
        let offset = Int64(Array(numberedCSV(rows: 1000, badEvery: 10).utf8).count)
        try pg.query("""
            UPDATE tally_import_checkpoints SET cp_offset = $2, cp_line = 1002, processed = 1000, succeeded = 900,
              failed = 100, state = 'running' WHERE job_id = $1
            """, [id, String(offset)])
        try pg.execute("COMMIT")
        let database = try Database(path: dir.path + "/data/tally.db")
        try database.write { c in try c.run("UPDATE tally_jobs SET state='running' WHERE id=?", [.text(id)]) }

        let service = try makeService(dir)
        let done = try #require(try waitForEnd(service, id))
        #expect(done.state == .completed)
        #expect(done.processed == 3000 && done.succeeded == 2700 && done.failed == 300, "\(done.processed) \(done.succeeded) \(done.failed)")
        #expect(try PostgresTestServer.value("SELECT count(*) FROM \(table)") == "2700")
        #expect(try PostgresTestServer.value("SELECT count(DISTINCT id) FROM \(table)") == "2700")
        let errors = try service.errors(id, page: Page(limit: 1000))
        #expect(errors.count == 300)
        #expect(Set(errors.map(\.line)).count == 300)
    }

    /// A cancelled import is marked in PostgreSQL, so no other node takes it over.
    @Test func aCancelledImportIsNotLeftForTakeover() throws {
        let dir = ImportTempDirectory()
        let table = PostgresTestServer.uniqueTable("cancelled")
        let file = dir.write("c.csv", numberedCSV(rows: 200_000))
        let service = try makeService(dir) {
            $0.readSize = 4096
            $0.sink = url
        }
        let job = try service.submit(path: file, options: ImportOptions(table: table, batchSize: 500))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, (try service.job(job.id))?.processed ?? 0 < 1000 { usleep(10_000) }
        try service.cancel(job.id)
        service.waitUntilIdle()
        #expect(try PostgresTestServer.value("SELECT state || ' ' || (owner IS NULL)::text FROM tally_import_checkpoints WHERE job_id = $1",
                                             [job.id]) == "cancelled true")
        try PostgresTestServer.connect().query(
            "UPDATE tally_import_checkpoints SET lease_until = now() - interval '1 second' WHERE job_id = $1", [job.id])
        #expect(try service.orphanedImports().allSatisfy { $0.job != job.id })
    }

    /// Another live node holds the lease: this node leaves the job alone; once the lease
    /// expires it takes the job and finishes it.
    @Test func aLeaseHeldElsewhereIsRespectedUntilItExpires() throws {
        let dir = ImportTempDirectory()
        let table = PostgresTestServer.uniqueTable("leased")
        let file = dir.write("leased.csv", numberedCSV(rows: 200))
        let pg = try PostgresTestServer.connect()
        let service = try makeService(dir)
        let job = try service.submit(path: file, options: ImportOptions(table: table, sink: url))
        _ = try waitForEnd(service, job.id)
        try pg.query("""
            UPDATE tally_import_checkpoints SET owner = 'other-node', lease_until = now() + interval '1 hour',
              state = 'running' WHERE job_id = $1
            """, [job.id])
        let sink = PostgresSink(url: url, owner: "this-node", leaseSeconds: 2)
        let record = try #require(try service.store.database.read { c in try service.store.importRecord(job.id, in: c) })
        #expect { try sink.open(record) } throws: { ($0 as? SinkError)?.leaseLost == true }
        try pg.query("UPDATE tally_import_checkpoints SET lease_until = now() - interval '1 second' WHERE job_id = $1", [job.id])
        #expect(try sink.open(record) != nil)
        // Another node takes the job over: this node's next commit is refused.
        try pg.query("UPDATE tally_import_checkpoints SET owner = 'other-node' WHERE job_id = $1", [job.id])
        #expect { try sink.commit(Checkpoint(), state: .running) } throws: { ($0 as? SinkError)?.leaseLost == true }
        #expect(try PostgresTestServer.value("SELECT processed FROM tally_import_checkpoints WHERE job_id = $1", [job.id]) == "200")
        sink.close()
    }
}
