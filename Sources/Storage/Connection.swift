import CSQLite

/// SQLite's "copy this buffer now" destructor sentinel, which Swift cannot import as a macro.
let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// One SQLite connection. Not `Sendable`: it is used by one thread at a time, inside the
/// closures of `Database`, which serializes access to it.
public final class Connection {
    let handle: OpaquePointer
    private var statementCache: [String: Statement] = [:]
    /// The path the connection was opened on (for messages).
    public let path: String
    /// Frames in the write-ahead log after this connection's last commit, while
    /// `reportWALSize()` is on (SQLite's own automatic checkpoint is off then).
    private(set) var walFrames: Int32 = 0

    /// Opens (creating if needed, unless `readOnly`) the database file at `path`.
    /// The connection uses SQLite's multi-thread mode: the caller serializes access.
    public init(path: String, readOnly: Bool = false) throws(StorageError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw StorageError(sqliteCode: rc, message: "cannot open \(path): \(message)")
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    /// Replaces SQLite's automatic checkpoint, which runs inside the `COMMIT` that crosses its
    /// threshold, with a count of the log's frames: the owner checkpoints when it chooses
    /// (`Database` does after the write's body, so a commit that carries a progress event is
    /// published before the checkpoint's I/O, not after it).
    func reportWALSize() {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(handle, { context, _, _, frames in
            guard let context else { return SQLITE_OK }
            Unmanaged<Connection>.fromOpaque(context).takeUnretainedValue().walFrames = frames
            return SQLITE_OK
        }, context)
    }

    /// Copies the log into the database file as far as readers allow, without waiting for any.
    /// Errors are left for the next attempt: a failed checkpoint loses nothing, the log only grows.
    func checkpointPassive() {
        walFrames = 0
        _ = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
    }

    deinit {
        sqlite3_wal_hook(handle, nil, nil)
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, _ context: String) -> StorageError {
        StorageError(sqliteCode: rc, message: "\(context): \(String(cString: sqlite3_errmsg(handle)))")
    }

    /// Runs one or more SQL statements that return no rows.
    public func execute(_ sql: String) throws(StorageError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw StorageError(sqliteCode: rc, message: text)
        }
    }

    /// Compiles one statement. The statement must not outlive the connection.
    public func prepare(_ sql: String) throws(StorageError) -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, "prepare '\(sql.prefix(120))'") }
        return Statement(stmt, connection: self)
    }

    /// A prepared statement kept for the life of the connection, reset and with its bindings
    /// cleared: statements run on every batch are compiled once.
    public func cached(_ sql: String) throws(StorageError) -> Statement {
        if let statement = statementCache[sql] {
            statement.reset()
            return statement
        }
        let statement = try prepare(sql)
        statementCache[sql] = statement
        return statement
    }

    /// Drops the cached statements (needed before schema changes to the tables they use).
    public func clearStatementCache() {
        statementCache.removeAll()
    }

    /// Runs `sql` with `bindings` and calls `row` for each result row.
    public func query(_ sql: String, _ bindings: [SQLValue] = [], row: (Statement) throws -> Void) throws {
        let statement = try cached(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() {
            try row(statement)
        }
    }

    /// Runs a statement that returns no rows, with `bindings`; returns the number of changed rows.
    @discardableResult
    public func run(_ sql: String, _ bindings: [SQLValue] = []) throws(StorageError) -> Int {
        let statement = try cached(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Runs a query and returns the first column of the first row as an integer, if any.
    public func scalarInt(_ sql: String, _ bindings: [SQLValue] = []) throws(StorageError) -> Int64? {
        let statement = try cached(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.int64(0)
    }

    /// The rowid of the last successful insert on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`; rolls back if it throws. IMMEDIATE takes
    /// the write lock up front, so a transaction never fails half-way on a lock upgrade.
    public func transaction<R>(_ body: (Connection) throws -> R) throws -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body(self)
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Sets the busy timeout: how long SQLite retries when another connection holds a lock.
    public func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    /// Quotes an identifier (table or column name) for SQL text: `"name"` with `"` doubled.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in self {
            if c == target { out += replacement } else { out.append(c) }
        }
        return out
    }
}
