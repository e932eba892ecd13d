import CSQLite

/// A valid pointer for empty text (SQLite treats a NULL pointer as SQL NULL); never written.
nonisolated(unsafe) private let emptyText: UnsafePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    p.initialize(to: 0)
    return UnsafePointer(p)
}()

/// A value to bind or read, for the convenience paths (job store, tests). The hot import path
/// binds typed values directly with `Statement.bind(_:at:)` overloads instead.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A compiled SQL statement. Not `Sendable`: used by the thread that holds its connection.
/// Parameter and column indexes are zero-based here (SQLite's parameters are one-based).
public final class Statement {
    let handle: OpaquePointer
    unowned let connection: Connection

    init(_ handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    /// Number of parameters the statement takes.
    public var parameterCount: Int { Int(sqlite3_bind_parameter_count(handle)) }

    private func check(_ rc: Int32, _ what: String) throws(StorageError) {
        if rc != SQLITE_OK { throw connection.error(rc, what) }
    }

    /// Binds NULL to parameter `index` (zero-based).
    public func bindNull(at index: Int) throws(StorageError) {
        try check(sqlite3_bind_null(handle, Int32(index + 1)), "bind null")
    }

    /// Binds an integer.
    public func bind(_ value: Int64, at index: Int) throws(StorageError) {
        try check(sqlite3_bind_int64(handle, Int32(index + 1), value), "bind integer")
    }

    /// Binds a real.
    public func bind(_ value: Double, at index: Int) throws(StorageError) {
        try check(sqlite3_bind_double(handle, Int32(index + 1), value), "bind real")
    }

    /// Binds text (SQLite copies it).
    public func bind(_ value: String, at index: Int) throws(StorageError) {
        var copy = value
        let rc = copy.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                sqlite3_bind_text(handle, Int32(index + 1), chars.baseAddress ?? emptyText, Int32(chars.count), sqliteTransient)
            }
        }
        try check(rc, "bind text")
    }

    /// Binds UTF-8 text straight from raw bytes without making a `String` or a copy.
    /// The bytes must stay valid and unchanged until the statement is stepped and reset
    /// (SQLITE_STATIC): that is how the import binds fields from its read buffer.
    public func bindText(noCopy bytes: UnsafeRawBufferPointer, at index: Int) throws(StorageError) {
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        let rc = sqlite3_bind_text(handle, Int32(index + 1), base ?? emptyText, Int32(bytes.count), nil)
        try check(rc, "bind text")
    }

    /// Binds UTF-8 text from raw bytes; SQLite copies them, so the buffer may be reused at once.
    public func bindText(copying bytes: UnsafeRawBufferPointer, at index: Int) throws(StorageError) {
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        let rc = sqlite3_bind_text(handle, Int32(index + 1), base ?? emptyText, Int32(bytes.count), sqliteTransient)
        try check(rc, "bind text")
    }

    /// Binds a blob (copied).
    public func bind(blob: [UInt8], at index: Int) throws(StorageError) {
        let rc = blob.withUnsafeBytes { bytes in
            sqlite3_bind_blob(handle, Int32(index + 1), bytes.baseAddress, Int32(bytes.count), sqliteTransient)
        }
        try check(rc, "bind blob")
    }

    /// Binds a value of any kind.
    public func bind(_ value: SQLValue, at index: Int) throws(StorageError) {
        switch value {
        case .null: try bindNull(at: index)
        case .integer(let v): try bind(v, at: index)
        case .real(let v): try bind(v, at: index)
        case .text(let v): try bind(v, at: index)
        case .blob(let v): try bind(blob: v, at: index)
        }
    }

    /// Binds `values` to parameters 0, 1, 2, …
    public func bind(_ values: [SQLValue]) throws(StorageError) {
        for (i, value) in values.enumerated() {
            try bind(value, at: i)
        }
    }

    /// Executes one step: `true` when a row is available, `false` when done.
    @discardableResult
    public func step() throws(StorageError) -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.error(rc, "step")
    }

    /// Resets the statement so it can run again; bindings are kept until overwritten.
    public func reset() {
        sqlite3_reset(handle)
    }

    /// Clears all bindings to NULL.
    public func clearBindings() {
        sqlite3_clear_bindings(handle)
    }

    /// Whether column `index` (zero-based) of the current row is NULL.
    public func isNull(_ index: Int) -> Bool {
        sqlite3_column_type(handle, Int32(index)) == SQLITE_NULL
    }

    /// Column `index` as an integer.
    public func int64(_ index: Int) -> Int64 {
        sqlite3_column_int64(handle, Int32(index))
    }

    /// Column `index` as an integer, or nil when NULL.
    public func optionalInt64(_ index: Int) -> Int64? {
        isNull(index) ? nil : int64(index)
    }

    /// Column `index` as a real.
    public func double(_ index: Int) -> Double {
        sqlite3_column_double(handle, Int32(index))
    }

    /// Column `index` as a real, or nil when NULL.
    public func optionalDouble(_ index: Int) -> Double? {
        isNull(index) ? nil : double(index)
    }

    /// Column `index` as text, or nil when NULL.
    public func text(_ index: Int) -> String? {
        guard let pointer = sqlite3_column_text(handle, Int32(index)) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, Int32(index)))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// Column `index` as a value of whatever kind it holds.
    public func value(_ index: Int) -> SQLValue {
        switch sqlite3_column_type(handle, Int32(index)) {
        case SQLITE_INTEGER: return .integer(int64(index))
        case SQLITE_FLOAT: return .real(double(index))
        case SQLITE_TEXT: return .text(text(index) ?? "")
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, Int32(index)))
            guard let pointer = sqlite3_column_blob(handle, Int32(index)), count > 0 else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default: return .null
        }
    }

    /// Number of columns in a result row.
    public var columnCount: Int { Int(sqlite3_column_count(handle)) }
}
