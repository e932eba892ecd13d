import Foundation
import Progress
import Storage
import Testing
@testable import Imports

/// The stored seq of a job, read without starting a service.
func makeStoreSeq(_ dir: ImportTempDirectory, _ id: String) throws -> Int64? {
    let store = try JobStore(database: Database(path: dir.path + "/data/tally.db"))
    return try store.job(id)?.seq
}

@Suite(.serialized) struct ImportServiceTests {
    @Test func importsValidRowsTypedAndRecordsRowErrors() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("orders.csv", numberedCSV(rows: 500, badEvery: 50) + "501,x\n499,dup,1\n")
        let service = try makeService(dir)
        defer { service.shutdown() }
        let log = EventLog(service.tracker)
        let job = try service.submit(path: file, options: ImportOptions(schema: numberedSchema, batchSize: 64))
        #expect(job.state == .pending && job.table == "orders" && job.seq == 1)
        let done = try #require(try waitForEnd(service, job.id))
        #expect(done.state == .completed)
        #expect(done.processed == 502 && done.succeeded == 490 && done.failed == 12)
        #expect(done.total == 502 && done.totalExact && done.percent == 100)
        #expect(try count(service, "SELECT COUNT(*) FROM orders") == 490)
        #expect(try count(service, "SELECT SUM(typeof(amount) = 'integer') FROM orders") == 490)
        // The sink created the table from the schema: typed columns, required ones NOT NULL.
        let columns = try service.store.database.read { c -> [String] in
            var out: [String] = []
            try c.query("SELECT name, type, \"notnull\" FROM pragma_table_info('orders') ORDER BY cid") { s in
                out.append("\(s.text(0) ?? "") \(s.text(1) ?? "") \(s.int64(2))")
            }
            return out
        }
        #expect(columns == ["id INTEGER 1", "name TEXT 0", "amount INTEGER 0"])
        let errors = try service.errors(job.id, page: Page(limit: 100))
        #expect(errors.count == 12)
        #expect(errors.first == JobRowError(line: 51, column: "amount", code: "row.invalid_integer",
                                            message: errors.first?.message ?? "", raw: "oops"))
        #expect(errors.contains { $0.code == "csv.ragged_row" && $0.line == 502 })
        #expect(errors.contains { $0.code == "row.duplicate" && $0.line == 503 })
        service.tracker.waitForDelivery()
        let seqs = log.of(job.id).map(\.seq)
        #expect(seqs == Array(1...Int64(seqs.count)))
        #expect(log.of(job.id).last?.snapshot == done)
        #expect(try service.store.job(job.id) == done)
    }

    @Test func progressEventsAreThrottledAndPersistedWithTheirSeq() throws {
        let (done, events) = try throttledImport()
        let progress = events.filter { $0.type == .progress }
        // Every 500 rows, with the total estimated from bytes on the way.
        #expect(progress.map(\.snapshot.processed) == [500, 1000, 1500, 2000, 2500, 3000])
        #expect(progress.allSatisfy { !$0.snapshot.totalExact && ($0.snapshot.total ?? 0) >= $0.snapshot.processed })
        #expect(events.map(\.type) == [.state, .state, .state] + Array(repeating: .progress, count: 6) + [.state])
        #expect(done.seq == Int64(events.count))
    }

    /// Imports 3,000 rows with a progress event due every 500 and a clock that never moves,
    /// with a fan-out `budget` (nil: the default configuration's) and `subscribers` watching;
    /// returns the stored end state and the job's events.
    func throttledImport(budget: Int? = nil, subscribers: Int = 0) throws -> (done: JobSnapshot, events: [JobEvent]) {
        let dir = ImportTempDirectory()
        let file = dir.write("p.csv", numberedCSV(rows: 3000))
        let clock = ManualClock()
        let service = try makeService(dir) {
            $0.clock = clock.clock
            $0.throttle = ThrottlePolicy(everyRows: 500, everyFraction: 1, minInterval: 0)
            if let budget { $0.fanout = FanoutBudget(deliveriesPerSecond: budget, subscribers: { _ in subscribers }) }
        }
        defer { service.shutdown() }
        let log = EventLog(service.tracker)
        let job = try service.submit(path: file, options: ImportOptions(batchSize: 100_000))
        let done = try #require(try waitForEnd(service, job.id))
        service.tracker.waitForDelivery()
        return (done, log.of(job.id))
    }

    /// `throttledImport` under a fan-out budget; the import completes and its seqs have no hole.
    func importEvents(budget: Int, subscribers: Int) throws -> [JobEvent] {
        let (done, events) = try throttledImport(budget: budget, subscribers: subscribers)
        #expect(done.state == .completed && done.processed == 3000)
        #expect(events.map(\.seq) == Array(1...Int64(events.count)))
        return events
    }

    @Test func aFanoutBudgetSpacesProgressButNotStateEvents() throws {
        // 10,000 subscribers over a budget of 20,000/s: 0.5 s between events, and the fake
        // clock never moves, so after the first state event no progress event is ever due;
        // the state events (through running, then completed) still all go out at once.
        let spaced = try importEvents(budget: 20_000, subscribers: 10_000)
        #expect(spaced.map(\.type) == [.state, .state, .state, .state])
        #expect(spaced.last?.snapshot.state == .completed && spaced.last?.snapshot.processed == 3000)
        // Under the budget, or with the budget off, nothing changes.
        for (budget, subscribers) in [(20_000, 0), (0, 10_000)] {
            let events = try importEvents(budget: budget, subscribers: subscribers)
            #expect(events.filter { $0.type == .progress }.map(\.snapshot.processed) == [500, 1000, 1500, 2000, 2500, 3000])
            #expect(events.map(\.type) == [.state, .state, .state] + Array(repeating: .progress, count: 6) + [.state])
        }
    }

    @Test func aHeldQueueKeepsJobsPendingUntilReleased() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("held.csv", numberedCSV(rows: 200))
        let service = try makeService(dir)
        defer { service.shutdown() }
        service.holdQueue()
        let job = try service.submit(path: file, options: ImportOptions(schema: numberedSchema))
        // Long enough for an idle worker to have picked the job up, were the queue open.
        usleep(300_000)
        #expect(try service.job(job.id)?.state == .pending)
        #expect(try service.job(job.id)?.seq == 1)
        service.releaseQueue()
        let done = try #require(try waitForEnd(service, job.id))
        #expect(done.state == .completed && done.succeeded == 200)
    }

    @Test func progressOffPublishesOnlyStateChanges() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("p.csv", numberedCSV(rows: 2000))
        let service = try makeService(dir) { $0.publishesProgress = false }
        defer { service.shutdown() }
        let log = EventLog(service.tracker)
        let job = try service.submit(path: file, options: ImportOptions(batchSize: 100))
        #expect(try waitForEnd(service, job.id)?.state == .completed)
        service.tracker.waitForDelivery()
        #expect(log.of(job.id).allSatisfy { $0.type == .state })
        #expect(try count(service, "SELECT COUNT(*) FROM p") == 2000)
    }

    @Test func errorThresholdFailsTheJob() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("e.csv", numberedCSV(rows: 1000, badEvery: 10))
        let service = try makeService(dir)
        defer { service.shutdown() }
        let byCount = try service.submit(path: file, options: ImportOptions(table: "a", schema: numberedSchema, maxErrors: 5))
        let a = try #require(try waitForEnd(service, byCount.id))
        #expect(a.state == .failed && a.error?.code == "import.too_many_errors")
        #expect(a.failed == 6 && a.processed == 60)
        let byFraction = try service.submit(path: file, options: ImportOptions(table: "b", schema: numberedSchema, maxErrorFraction: 0.05))
        let b = try #require(try waitForEnd(service, byFraction.id))
        #expect(b.state == .failed && b.error?.code == "import.too_many_errors")
        #expect(b.processed == 100)
        #expect(b.error?.message.contains("5.0 %") == true)
    }

    @Test func storedRowErrorsAreCappedButCountsStayExact() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("c.csv", numberedCSV(rows: 300, badEvery: 2))
        let service = try makeService(dir) { $0.maxStoredRowErrors = 20 }
        defer { service.shutdown() }
        let done = try #require(try waitForEnd(service, try service.submit(path: file, options: ImportOptions(schema: numberedSchema)).id))
        #expect(done.state == .completed && done.failed == 150 && done.succeeded == 150)
        #expect(try service.errors(done.id, page: Page(limit: 1000)).count == 20)
    }

    @Test func unparseableFilesFailWithAClearMessage() throws {
        let dir = ImportTempDirectory()
        let empty = dir.write("empty.csv", "")
        var binary = Data([0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x08, 0x00])
        binary.append(Data(repeating: 0, count: 100))
        let zip = dir.path + "/book.csv"
        FileManager.default.createFile(atPath: zip, contents: binary)
        let badHeader = dir.write("h.csv", "a,b\n1,2\n")
        let service = try makeService(dir)
        defer { service.shutdown() }
        let e = try #require(try waitForEnd(service, try service.submit(path: empty).id))
        #expect(e.state == .failed && e.error?.code == "csv.empty_file")
        let z = try #require(try waitForEnd(service, try service.submit(path: zip).id))
        #expect(z.state == .failed && z.error?.code == "csv.binary_file")
        #expect(z.error?.message.hasPrefix("The file cannot be imported") == true)
        let h = try #require(try waitForEnd(service, try service.submit(path: badHeader, options: ImportOptions(schema: numberedSchema)).id))
        #expect(h.state == .failed && h.error?.code.hasPrefix("schema.") == true)
        #expect(throws: ImportError.self) { try service.submit(path: dir.path + "/missing.csv") }
        #expect(throws: ImportError.self) { try service.submit(path: empty, options: ImportOptions(schema: "{\"columns\":5}")) }
        #expect(throws: ImportError.self) { try service.submit(path: empty, options: ImportOptions(table: "tally_jobs")) }
    }

    @Test func cancelStopsWithinABatchAndKeepsCommittedRows() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("big.csv", numberedCSV(rows: 200_000))
        let service = try makeService(dir)
        defer { service.shutdown() }
        let job = try service.submit(path: file, options: ImportOptions(batchSize: 200))
        while (try service.job(job.id)?.processed ?? 0) == 0 { usleep(1000) }
        let cancelled = try service.cancel(job.id)
        #expect(cancelled.state == .cancelled)
        let done = try #require(try waitForEnd(service, job.id))
        #expect(done.state == .cancelled && done.processed < 200_000)
        service.waitUntilIdle()
        #expect(try count(service, "SELECT COUNT(*) FROM big") == done.succeeded)
        #expect(throws: ImportError.self) { try service.cancel(job.id) }

        // Retry resumes from the checkpoint: every row once.
        let retried = try service.retry(job.id)
        #expect(retried.state == .pending && retried.seq == done.seq + 1)
        let finished = try #require(try waitForEnd(service, job.id))
        #expect(finished.state == .completed && finished.processed == 200_000 && finished.succeeded == 200_000)
        #expect(try count(service, "SELECT COUNT(*) FROM big") == 200_000)
        #expect(try count(service, "SELECT COUNT(DISTINCT id) FROM big") == 200_000)
        #expect(throws: ImportError.self) { try service.retry(job.id) }
    }

    @Test func recoveryResumesRunningImportsAfterRestart() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("r.csv", numberedCSV(rows: 100_000, badEvery: 1000))
        var id = ""
        do {
            let service = try makeService(dir)
            defer { service.shutdown() }
            id = try service.submit(path: file, options: ImportOptions(schema: numberedSchema, batchSize: 500)).id
            while (try service.job(id)?.processed ?? 0) < 1000 { usleep(1000) }
            service.shutdown()
            let stopped = try #require(try service.store.job(id))
            #expect(stopped.state == .running)
        }
        let stoppedSeq = try #require(try makeStoreSeq(dir, id))
        let tracker = JobTracker()
        let log = EventLog(tracker)
        let service = try makeService(dir, tracker: tracker)
        defer { service.shutdown() }
        let done = try #require(try waitForEnd(service, id))
        #expect(done.state == .completed)
        #expect(done.processed == 100_000 && done.failed == 100 && done.succeeded == 99_900)
        // seq goes on from the last published one: no reuse and no hole across the restart.
        service.tracker.waitForDelivery()
        let seqs = log.of(id).map(\.seq)
        #expect(seqs.first == stoppedSeq + 1 && seqs == Array(seqs.indices.map { stoppedSeq + 1 + Int64($0) }))
        #expect(try count(service, "SELECT COUNT(*) FROM r") == 99_900)
        #expect(try count(service, "SELECT COUNT(DISTINCT id) FROM r") == 99_900)
        #expect(try service.errors(id, page: Page(limit: 1000)).count == 100)
    }

    @Test func uniquenessSurvivesResume() throws {
        let dir = ImportTempDirectory()
        // Ids 1…50 000 then again 1…10: the duplicates come after the resume point.
        var text = numberedCSV(rows: 50_000)
        for i in 1...10 { text += "\(i),again,1\n" }
        let file = dir.write("u.csv", text)
        let id = try interruptedImport(dir, file: file, options: ImportOptions(schema: numberedSchema, batchSize: 300),
                                       afterRows: 300)
        let service = try makeService(dir)
        defer { service.shutdown() }
        let done = try #require(try waitForEnd(service, id))
        #expect(done.state == .completed && done.succeeded == 50_000 && done.failed == 10)
        #expect(try service.errors(id, page: Page(limit: 100)).allSatisfy { $0.code == "row.duplicate" })
    }

    @Test func stalledImportFails() throws {
        let dir = ImportTempDirectory()
        let fifo = dir.path + "/slow.csv"
        #expect(mkfifo(fifo, 0o600) == 0)
        let service = try makeService(dir) { $0.stallTimeout = 0.3; $0.watchdogInterval = 0.05 }
        defer { service.shutdown() }
        let job = try service.submit(path: fifo)
        let writer = open(fifo, O_WRONLY)
        defer { close(writer) }
        let head = "a,b\n1,2\n"
        _ = head.withCString { write(writer, $0, strlen($0)) }
        let done = try #require(try waitForEnd(service, job.id, timeout: 10))
        #expect(done.state == .failed && done.error?.code == "import.stalled")
        #expect(done.error?.message.contains("stall") == true)
    }

    @Test func timedOutImportFails() throws {
        let dir = ImportTempDirectory()
        let fifo = dir.path + "/trickle.csv"
        #expect(mkfifo(fifo, 0o600) == 0)
        let service = try makeService(dir) { $0.maxDuration = 0.4; $0.stallTimeout = 5; $0.watchdogInterval = 0.05 }
        defer { service.shutdown() }
        let job = try service.submit(path: fifo)
        let writer = open(fifo, O_WRONLY)
        defer { close(writer) }
        _ = "a,b\n".withCString { write(writer, $0, strlen($0)) }
        for i in 0..<200 {
            if (try service.job(job.id))?.state.isTerminal == true { break }
            _ = "\(i),x\n".withCString { write(writer, $0, strlen($0)) }
            usleep(10_000)
        }
        let done = try #require(try waitForEnd(service, job.id, timeout: 10))
        #expect(done.state == .failed && done.error?.code == "import.timeout")
        #expect(done.error?.message.contains("maximum duration") == true)
    }

    @Test func oneProcessOwnsADataDirectory() throws {
        let dir = ImportTempDirectory()
        let first = try makeService(dir)
        do {
            _ = try makeService(dir)
            Issue.record("a second service opened the same data directory")
        } catch let error as ImportError {
            #expect(error.code == .dataDirectoryInUse)
        }
        first.shutdown()
    }

    @Test func externalJobsShareStoreSeqAndTracker() throws {
        let dir = ImportTempDirectory()
        let service = try makeService(dir)
        defer { service.shutdown() }
        let log = EventLog(service.tracker)
        let job = try service.createExternalJob(ExternalJobSpec(name: "nightly sync", total: 200, message: "Starting",
                                                                data: JSONText(validating: "{\"source\":\"crm\"}")))
        #expect(job.kind == .external && job.state == .running && job.seq == 1)
        let moved = try service.updateExternalJob(job.id, ExternalJobUpdate(processed: 50, succeeded: 50))
        #expect(moved.seq == 2 && moved.percent == 25)
        let renamed = try service.updateExternalJob(job.id, ExternalJobUpdate(message: "Copying"))
        #expect(renamed.seq == 3)
        let done = try service.updateExternalJob(job.id, ExternalJobUpdate(processed: 200, succeeded: 200, state: .completed))
        #expect(done.state == .completed && done.finishedAt != nil && done.seq == 4)
        #expect(throws: ImportError.self) { try service.updateExternalJob(job.id, ExternalJobUpdate(processed: 1)) }
        #expect(throws: ImportError.self) { try service.updateExternalJob("nosuchjob000", ExternalJobUpdate(processed: 1)) }
        #expect(throws: ImportError.self) {
            try service.createExternalJob(ExternalJobSpec(name: "x", data: JSONText(validating: "[1]")))
        }
        service.tracker.waitForDelivery()
        #expect(log.of(job.id).map(\.type) == [.state, .progress, .state, .state])
        #expect(try service.store.job(job.id) == done)
        let failing = try service.createExternalJob(ExternalJobSpec(name: "y"))
        let failed = try service.updateExternalJob(failing.id, ExternalJobUpdate(state: .failed, error: JobError(code: "crm.down", message: "CRM unreachable")))
        #expect(failed.error?.code == "crm.down")
        let listed = try service.jobs(state: .failed)
        #expect(listed.map(\.id) == [failing.id])
    }
}
