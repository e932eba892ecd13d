import Foundation
import Testing
@testable import Storage

struct DatabaseTests {
    @Test func opensInWALModeWithChosenSynchronous() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        let mode = try db.write { c -> String? in
            var mode: String?
            try c.query("PRAGMA journal_mode") { mode = $0.text(0) }
            return mode
        }
        #expect(mode == "wal")
        let sync = try db.write { try $0.scalarInt("PRAGMA synchronous") }
        #expect(sync == 1)  // NORMAL
    }

    @Test func newFilesGetTheChosenPageSizeAndOldFilesKeepTheirs() throws {
        let dir = TempDirectory()
        let fresh = try Database(path: dir.file("new.db"))
        #expect(try fresh.write { try $0.scalarInt("PRAGMA page_size") } == 16384)
        var small = Database.Options()
        small.pageSize = 4096
        let old = try Database(path: dir.file("old.db"), options: small)
        try old.write { try $0.execute("CREATE TABLE t(a)") }
        let reopened = try Database(path: dir.file("old.db"))
        #expect(try reopened.write { try $0.scalarInt("PRAGMA page_size") } == 4096)
        #expect(try reopened.write { try $0.scalarInt("SELECT COUNT(*) FROM t") } == 0)
    }

    @Test func checkpointsAfterTheWriteThatCrossedTheMarkNotInsideItsCommits() throws {
        let dir = TempDirectory()
        var options = Database.Options()
        options.checkpointFrames = 8
        let path = dir.file("a.db")
        let db = try Database(path: path, options: options)
        func fileSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1 }
        let before = fileSize()
        let framesInside = try db.write { c -> Int32 in
            try c.execute("CREATE TABLE t(a TEXT)")
            for _ in 0..<20 {
                try c.execute("BEGIN IMMEDIATE")
                try c.run("INSERT INTO t VALUES (?)", [.text(String(repeating: "x", count: 20_000))])
                try c.execute("COMMIT")
            }
            // Every commit is in the log and none was copied into the file yet.
            #expect(fileSize() == before)
            return c.walFrames
        }
        #expect(framesInside >= 8)
        #expect(fileSize() > before + 20 * 20_000)
        #expect(try db.read { try $0.scalarInt("SELECT COUNT(*) FROM t") } == 20)
    }

    @Test func bindsAndReadsEveryType() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        try db.write { c in
            try c.execute("CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)")
            try c.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                      [.integer(-42), .real(2.5), .text("héllo \"q\""), .blob([0, 1, 255]), .null])
        }
        let row = try db.read { c -> [SQLValue] in
            var values: [SQLValue] = []
            try c.query("SELECT i, r, s, b, n FROM t") { s in values = (0..<5).map { s.value($0) } }
            return values
        }
        #expect(row == [.integer(-42), .real(2.5), .text("héllo \"q\""), .blob([0, 1, 255]), .null])
    }

    @Test func bindsTextFromRawBytesWithoutCopy() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        let bytes: [UInt8] = Array("abc,défg".utf8)
        try db.write { c in
            try c.execute("CREATE TABLE t(s TEXT)")
            let insert = try c.prepare("INSERT INTO t VALUES (?)")
            try bytes.withUnsafeBytes { raw in
                try insert.bindText(noCopy: UnsafeRawBufferPointer(rebasing: raw[4...]), at: 0)
                try insert.step()
                insert.reset()
                try insert.bindText(noCopy: UnsafeRawBufferPointer(rebasing: raw[0..<0]), at: 0)
                try insert.step()
                insert.reset()
            }
        }
        var texts: [String?] = []
        try db.read { c in try c.query("SELECT s FROM t ORDER BY rowid") { texts.append($0.text(0)) } }
        #expect(texts == ["défg", ""])
    }

    @Test func transactionRollsBackWhenBodyThrows() throws {
        struct Boom: Error {}
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        try db.write { try $0.execute("CREATE TABLE t(x INTEGER)") }
        #expect(throws: Boom.self) {
            try db.transaction { c in
                try c.run("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        try db.transaction { try $0.run("INSERT INTO t VALUES (2)") }
        let sum = try db.read { try $0.scalarInt("SELECT SUM(x) FROM t") }
        #expect(sum == 2)
    }

    @Test func constraintViolationHasStableCode() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        try db.write { try $0.execute("CREATE TABLE t(x INTEGER PRIMARY KEY)") }
        try db.write { try $0.run("INSERT INTO t VALUES (1)") }
        do {
            try db.write { try $0.run("INSERT INTO t VALUES (1)") }
            Issue.record("expected a constraint error")
        } catch let error as StorageError {
            #expect(error.code == .constraint)
            #expect(error.code.rawValue == "storage.constraint")
        }
    }

    @Test func syntaxErrorAndBadFileHaveCodes() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        #expect(throws: StorageError.self) { try db.write { try $0.execute("SELEKT 1") } }
        do {
            _ = try Database(path: dir.path + "/missing-dir/x.db")
            Issue.record("expected cant_open")
        } catch let error as StorageError {
            #expect(error.code == .cantOpen)
        }
        let garbage = dir.file("garbage.db")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: garbage))
        do {
            _ = try Database(path: garbage)
            Issue.record("expected corrupt")
        } catch let error as StorageError {
            #expect(error.code == .corrupt)
        }
    }

    @Test func readerDoesNotBlockWriterAndSeesCommittedState() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        try db.write { try $0.execute("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1)") }
        // A read transaction stays open while the writer commits; the reader keeps its view.
        try db.read { r in
            try r.execute("BEGIN")
            #expect(try r.scalarInt("SELECT COUNT(*) FROM t") == 1)
            try db.transaction { try $0.run("INSERT INTO t VALUES (2)") }
            #expect(try r.scalarInt("SELECT COUNT(*) FROM t") == 1)
            try r.execute("COMMIT")
            #expect(try r.scalarInt("SELECT COUNT(*) FROM t") == 2)
        }
    }

    @Test func readConnectionsAreReadOnly() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        try db.write { try $0.execute("CREATE TABLE t(x INTEGER)") }
        do {
            try db.read { try $0.run("INSERT INTO t VALUES (1)") }
            Issue.record("expected readonly")
        } catch let error as StorageError {
            #expect(error.code == .readonly)
        }
    }

    @Test func quotesIdentifiers() {
        #expect(Connection.quoteIdentifier("a\"b") == "\"a\"\"b\"")
    }
}
