/// A failure from libpq or the server, with a stable string code for logs, metrics and the
/// JSON API, and the server's SQLSTATE when there is one.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// Stable codes; the raw value is what logs and the wire carry.
    public enum Code: String, Sendable {
        /// The connection could not be opened (server down, refused, bad credentials).
        case connectionFailed = "postgres.connection_failed"
        /// An open connection broke (server restart, network cut, administrator shutdown).
        case connectionLost = "postgres.connection_lost"
        /// A constraint of the table refused the data (SQLSTATE class 23).
        case constraint = "postgres.constraint"
        /// The data did not fit a column (SQLSTATE class 22: bad value, out of range).
        case invalidData = "postgres.invalid_data"
        /// Any other refused statement.
        case queryFailed = "postgres.query_failed"
        /// Our own misuse (a COPY call out of turn, an embedded NUL).
        case misuse = "postgres.misuse"
    }

    /// The stable code.
    public let code: Code
    /// The server's five-character SQLSTATE, or "" when the error did not come from the server.
    public let sqlState: String
    /// A human-readable explanation (the server's message and our context).
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String, sqlState: String = "") {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    /// Whether retrying on a new connection may succeed: the connection broke, or the server
    /// is shutting down or starting (SQLSTATE classes 08 and 57P0x).
    public var isConnectionProblem: Bool {
        code == .connectionFailed || code == .connectionLost
    }

    /// Maps a SQLSTATE (and whether the connection is still good) to the stable code; the one
    /// place server results become codes.
    static func code(sqlState: String, connectionIsBad: Bool) -> Code {
        if connectionIsBad || sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") { return .connectionLost }
        if sqlState.hasPrefix("23") { return .constraint }
        if sqlState.hasPrefix("22") { return .invalidData }
        return .queryFailed
    }

    public var description: String {
        "\(code.rawValue): \(message)" + (sqlState.isEmpty ? "" : " [\(sqlState)]")
    }
}
