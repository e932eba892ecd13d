/// Applies numbered schema migrations once, recording each in the `tally_schema_version`
/// table under a component name, so several components (the job store, a sink) can keep
/// their own migration lists in one file.
public struct Migrator: Sendable {
    /// One step: its version (1, 2, 3…) and the SQL that applies it.
    public struct Migration: Sendable {
        public let version: Int
        public let sql: String
        public init(version: Int, sql: String) {
            self.version = version
            self.sql = sql
        }
    }

    /// The component name, for example `jobs`.
    public let component: String
    /// Migrations in increasing version order.
    public let migrations: [Migration]

    public init(component: String, migrations: [Migration]) {
        self.component = component
        self.migrations = migrations
    }

    /// Applies the missing migrations, each in its own transaction; returns the version the
    /// database is at afterwards. Fails with `storage.migration` when the database is newer
    /// than this code knows.
    @discardableResult
    public func migrate(_ database: Database) throws -> Int {
        try database.write { connection in
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS tally_schema_version(
                  component TEXT NOT NULL, version INTEGER NOT NULL,
                  applied_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
                  PRIMARY KEY(component, version))
                """)
            var current = try currentVersion(connection)
            let known = migrations.last?.version ?? 0
            if current > known {
                throw StorageError(.migration, message: "database schema '\(component)' is at version \(current), newer than this build (\(known))")
            }
            for migration in migrations where migration.version > current {
                try connection.transaction { c in
                    try c.execute(migration.sql)
                    try c.run("INSERT INTO tally_schema_version(component, version) VALUES (?, ?)",
                              [.text(component), .integer(Int64(migration.version))])
                }
                current = migration.version
            }
            return current
        }
    }

    /// The highest applied version of this component (0 when none).
    public func currentVersion(_ connection: Connection) throws(StorageError) -> Int {
        Int(try connection.scalarInt("SELECT MAX(version) FROM tally_schema_version WHERE component = ?", [.text(component)]) ?? 0)
    }
}
