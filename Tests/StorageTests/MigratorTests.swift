import Testing
@testable import Storage

struct MigratorTests {
    @Test func appliesEachMigrationOnceAndRecordsVersion() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        let v1 = Migrator(component: "jobs", migrations: [.init(version: 1, sql: "CREATE TABLE a(x)")])
        #expect(try v1.migrate(db) == 1)
        #expect(try v1.migrate(db) == 1)
        let v2 = Migrator(component: "jobs", migrations: [
            .init(version: 1, sql: "CREATE TABLE a(x)"),
            .init(version: 2, sql: "CREATE TABLE b(y)"),
        ])
        #expect(try v2.migrate(db) == 2)
        let other = Migrator(component: "other", migrations: [.init(version: 1, sql: "CREATE TABLE c(z)")])
        #expect(try other.migrate(db) == 1)
        #expect(try db.read { try $0.scalarInt("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN ('a','b','c')") } == 3)
    }

    @Test func failedMigrationLeavesVersionUnchanged() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        let bad = Migrator(component: "jobs", migrations: [
            .init(version: 1, sql: "CREATE TABLE a(x)"),
            .init(version: 2, sql: "CREATE TABLE b(y); NOT SQL"),
        ])
        #expect(throws: StorageError.self) { try bad.migrate(db) }
        #expect(try db.write { try bad.currentVersion($0) } == 1)
        #expect(try db.read { try $0.scalarInt("SELECT COUNT(*) FROM sqlite_master WHERE name='b'") } == 0)
    }

    @Test func refusesDatabaseNewerThanCode() throws {
        let dir = TempDirectory()
        let db = try Database(path: dir.file("a.db"))
        try Migrator(component: "jobs", migrations: [.init(version: 1, sql: "SELECT 1"), .init(version: 2, sql: "SELECT 1")]).migrate(db)
        do {
            try Migrator(component: "jobs", migrations: [.init(version: 1, sql: "SELECT 1")]).migrate(db)
            Issue.record("expected migration error")
        } catch let error as StorageError {
            #expect(error.code == .migration)
        }
    }
}
