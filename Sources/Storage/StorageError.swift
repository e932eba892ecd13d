import CSQLite

/// A failure from SQLite or from this wrapper, with a stable string code for logs, metrics
/// and the JSON API.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// Stable codes; the raw value is what logs and the wire carry.
    public enum Code: String, Sendable {
        case busy = "storage.busy"
        case constraint = "storage.constraint"
        case corrupt = "storage.corrupt"
        case full = "storage.full"
        case io = "storage.io"
        case cantOpen = "storage.cant_open"
        case readonly = "storage.readonly"
        case misuse = "storage.misuse"
        case interrupted = "storage.interrupted"
        case schema = "storage.schema"
        case migration = "storage.migration"
        case error = "storage.error"
    }

    /// The stable code.
    public let code: Code
    /// SQLite's extended result code, or 0 when the error did not come from SQLite.
    public let sqliteCode: Int32
    /// A human-readable explanation (SQLite's message and the statement's context).
    public let message: String

    /// Creates an error.
    public init(_ code: Code, message: String, sqliteCode: Int32 = 0) {
        self.code = code
        self.message = message
        self.sqliteCode = sqliteCode
    }

    /// Maps an SQLite result code to the stable code; the one place C results become errors.
    init(sqliteCode: Int32, message: String) {
        let code: Code
        switch sqliteCode & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: code = .busy
        case SQLITE_CONSTRAINT: code = .constraint
        case SQLITE_CORRUPT, SQLITE_NOTADB: code = .corrupt
        case SQLITE_FULL: code = .full
        case SQLITE_IOERR: code = .io
        case SQLITE_CANTOPEN: code = .cantOpen
        case SQLITE_READONLY: code = .readonly
        case SQLITE_MISUSE, SQLITE_RANGE: code = .misuse
        case SQLITE_INTERRUPT: code = .interrupted
        case SQLITE_SCHEMA: code = .schema
        default: code = .error
        }
        self.init(code, message: message, sqliteCode: sqliteCode)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
