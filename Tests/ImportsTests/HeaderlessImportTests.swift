import Foundation
import Progress
import Storage
import Testing
@testable import Imports

/// Files without a header row (`ImportOptions.hasHeader == false`): every record is data, the
/// columns are named by the schema or `col1`…`colN`, and line numbers count from the first row.
@Suite(.serialized) struct HeaderlessImportTests {
    /// `numberedCSV` without its header line.
    private func rowsOnly(_ rows: Int, badEvery: Int = 0) -> String {
        String(numberedCSV(rows: rows, badEvery: badEvery).drop { $0 != "\n" }.dropFirst())
    }

    private func columns(_ service: ImportService, _ table: String) throws -> [String] {
        try service.store.database.read { c -> [String] in
            var out: [String] = []
            try c.query("SELECT name, type FROM pragma_table_info('\(table)') ORDER BY cid") { s in
                out.append("\(s.text(0) ?? "") \(s.text(1) ?? "")")
            }
            return out
        }
    }

    @Test func namesColumnsAfterTheSchemaAndCountsLinesFromTheFirstRow() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("orders.csv", rowsOnly(100, badEvery: 25) + "101,short\n")
        let service = try makeService(dir)
        defer { service.shutdown() }
        let job = try service.submit(path: file, options: ImportOptions(schema: numberedSchema, hasHeader: false))
        let done = try #require(try waitForEnd(service, job.id))
        #expect(done.state == .completed, "\(String(describing: done.error))")
        #expect(done.processed == 101 && done.succeeded == 96 && done.failed == 5)
        #expect(try columns(service, "orders") == ["id INTEGER", "name TEXT", "amount INTEGER"])
        #expect(try count(service, "SELECT COUNT(*) FROM orders WHERE id = 1 AND name = 'name 1' AND amount = 3") == 1)
        let errors = try service.errors(job.id, page: Page(limit: 100))
        // Row 25 is on line 25: there is no header line before it.
        #expect(errors.first == JobRowError(line: 25, column: "amount", code: "row.invalid_integer",
                                            message: errors.first?.message ?? "", raw: "oops"))
        #expect(errors.map(\.line) == [25, 50, 75, 100, 101])
        #expect(errors.last?.code == "csv.ragged_row")
    }

    @Test func namesColumnsByPositionWithoutASchema() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("plain.csv", "a,1,x\nb,2,y\n")
        let service = try makeService(dir)
        defer { service.shutdown() }
        let job = try service.submit(path: file, options: ImportOptions(hasHeader: false))
        let done = try #require(try waitForEnd(service, job.id))
        #expect(done.state == .completed && done.succeeded == 2)
        #expect(try columns(service, "plain") == ["col1 TEXT", "col2 TEXT", "col3 TEXT"])
        #expect(try count(service, "SELECT COUNT(*) FROM plain WHERE col1 = 'a' AND col2 = '1' AND col3 = 'x'") == 1)
    }

    @Test func fieldsBeyondTheSchemaFailTheFileUnlessIgnored() throws {
        let dir = ImportTempDirectory()
        let file = dir.write("wide.csv", "1,ann,3,extra\n2,bob,6,more\n")
        let service = try makeService(dir)
        defer { service.shutdown() }
        let refused = try service.submit(path: file, options: ImportOptions(schema: numberedSchema, hasHeader: false))
        let failed = try #require(try waitForEnd(service, refused.id))
        #expect(failed.state == .failed)
        #expect(failed.error?.code == "schema.unknown_column")
        #expect(failed.error?.message.contains("col4") == true)

        let ignoring = #"{"columns":[{"name":"id","type":"integer"},{"name":"name"}],"ignoreUnknownColumns":true}"#
        let other = dir.write("wide2.csv", "1,ann,3,extra\n2,bob,6,more\n")
        let job = try service.submit(path: other, options: ImportOptions(schema: ignoring, hasHeader: false))
        let done = try #require(try waitForEnd(service, job.id))
        #expect(done.state == .completed && done.succeeded == 2)
        #expect(try columns(service, "wide2") == ["id INTEGER", "name TEXT"])
    }

    @Test func resumesAfterARestartWithoutTakingTheFirstRowForAHeader() throws {
        let dir = ImportTempDirectory()
        // Ids 1…50 000 then 1…10 again: the duplicates come after the resume point, so the
        // unique set must be rebuilt from a prefix that starts with a data row.
        var text = rowsOnly(50_000)
        for i in 1...10 { text += "\(i),again,1\n" }
        let file = dir.write("u.csv", text)
        let id = try interruptedImport(dir, file: file,
                                       options: ImportOptions(schema: numberedSchema, batchSize: 300, hasHeader: false),
                                       afterRows: 300)
        let service = try makeService(dir)
        defer { service.shutdown() }
        let done = try #require(try waitForEnd(service, id))
        #expect(done.state == .completed, "\(String(describing: done.error))")
        #expect(done.processed == 50_010 && done.succeeded == 50_000 && done.failed == 10)
        #expect(try count(service, "SELECT COUNT(*) FROM u WHERE id = 1") == 1)
        let errors = try service.errors(id, page: Page(limit: 100))
        #expect(errors.allSatisfy { $0.code == "row.duplicate" })
        #expect(errors.map(\.line) == Array(50_001...50_010))
    }
}
