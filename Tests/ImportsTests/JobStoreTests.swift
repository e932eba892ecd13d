import Foundation
import Progress
import Storage
import Testing
@testable import Imports

struct JobStoreTests {
    func makeStore(_ dir: ImportTempDirectory) throws -> JobStore {
        try JobStore(database: Database(path: dir.path + "/jobs.db"))
    }

    @Test func roundTripsEverySnapshotField() throws {
        let dir = ImportTempDirectory()
        let store = try makeStore(dir)
        var s = JobSnapshot(id: "k3v9q2m8x4c7", kind: .external, name: "naïve \"name\"", createdAt: Timestamp(milliseconds: 1000),
                            message: "Working", table: "t", total: 10, totalExact: true, bytesTotal: 500,
                            data: JSONText(validating: "{\"a\":1}"))
        try store.database.transaction { try store.insert(s, in: $0) }
        #expect(try store.job(s.id) == s)
        s.seq = 9; s.state = .failed; s.percent = 12.5; s.processed = 3; s.succeeded = 2; s.failed = 1
        s.bytesRead = 40; s.rate = 1.5; s.eta = 4.25; s.startedAt = Timestamp(milliseconds: 1500)
        s.updatedAt = Timestamp(milliseconds: 2000); s.finishedAt = Timestamp(milliseconds: 2500)
        s.error = JobError(code: "x.y", message: "why")
        try store.database.transaction { try store.save(s, in: $0) }
        #expect(try store.job(s.id) == s)
        #expect(try store.job("nosuchjob000") == nil)
        var ghost = s
        ghost.id = "nosuchjob000"
        #expect(throws: ImportError.self) { try store.database.transaction { try store.save(ghost, in: $0) } }
    }

    @Test func checkpointAndImportRecordSurviveReopen() throws {
        let dir = ImportTempDirectory()
        var s = JobSnapshot(id: "aaaaaaaaaaaa", kind: .import, name: "f.csv", createdAt: Timestamp(milliseconds: 0), table: "f")
        s.state = .running
        do {
            let store = try makeStore(dir)
            try store.database.transaction { c in
                try store.insert(s, sourcePath: "/x/f.csv", options: ImportOptions(table: "f", delimiter: 59, batchSize: 7, maxErrors: 3), in: c)
                var cp = Checkpoint()
                cp.offset = 1234; cp.line = 56; cp.processed = 55; cp.succeeded = 50; cp.failed = 5
                try store.saveCheckpoint(cp, job: s.id, in: c)
                try store.saveHeader(["a", "b"], delimiter: 59, job: s.id, in: c)
                try store.insertRowError(JobRowError(line: 3, column: "b", code: "row.invalid_integer", message: "m", raw: "x\u{0}y"), job: s.id, in: c)
            }
        }
        let store = try makeStore(dir)
        let record = try #require(try store.database.read { try store.importRecord(s.id, in: $0) })
        #expect(record.sourcePath == "/x/f.csv")
        #expect(record.options == ImportOptions(table: "f", delimiter: 59, batchSize: 7, maxErrors: 3))
        #expect(record.checkpoint.offset == 1234 && record.checkpoint.line == 56)
        #expect(record.checkpoint.processed == 55 && record.checkpoint.succeeded == 50 && record.checkpoint.failed == 5)
        #expect(record.checkpoint.header == ["a", "b"] && record.checkpoint.delimiter == 59)
        #expect(try store.errors(job: s.id) == [JobRowError(line: 3, column: "b", code: "row.invalid_integer", message: "m", raw: "x\u{0}y")])
        #expect(try store.jobIDs(kind: .import, states: [.running]) == [s.id])
        #expect(try store.unfinishedImport(sourcePath: "/x/f.csv", table: "f") == s.id)
        #expect(try store.unfinishedImport(sourcePath: "/x/f.csv", table: "g") == nil)
    }

    @Test func listsNewestFirstWithStateFilterAndPages() throws {
        let dir = ImportTempDirectory()
        let store = try makeStore(dir)
        try store.database.transaction { c in
            for i in 0..<30 {
                var s = JobSnapshot(id: String(format: "job%09d", i), kind: .external, name: "j\(i)", createdAt: Timestamp(milliseconds: Int64(i)))
                s.state = i % 3 == 0 ? .completed : .running
                try store.insert(s, in: c)
            }
        }
        let first = try store.jobs(page: Page(limit: 10))
        #expect(first.map(\.name) == (20..<30).reversed().map { "j\($0)" })
        let second = try store.jobs(page: Page(limit: 10, offset: 10))
        #expect(second.first?.name == "j19")
        let completed = try store.jobs(state: .completed, page: Page(limit: 100))
        #expect(completed.count == 10 && completed.allSatisfy { $0.state == .completed })
        #expect(Page(limit: 1_000_000).limit == 1000 && Page(limit: -1, offset: -5) == Page(limit: 1, offset: 0))
    }
}
