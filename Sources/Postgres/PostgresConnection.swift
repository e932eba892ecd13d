import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// One blocking libpq connection. Not `Sendable`: it belongs to the thread that uses it (an
/// import worker), which may block on it; event loops never touch one.
///
/// Statements use the text protocol with `$1…` parameters; bulk data goes through
/// `COPY … FROM STDIN` (`startCopy`, `copy`, `endCopy`), which is several times faster than
/// row-by-row inserts and lets a batch and its checkpoint share one transaction.
public final class PostgresConnection {
    private let handle: OpaquePointer
    private var copying = false
    /// The URL the connection was opened with, without its password (for messages).
    public let displayURL: String

    /// Opens a connection. `url` is a libpq connection URI (`postgres://user@host:port/db`)
    /// or a `key=value` string; a password is better passed in `PGPASSWORD` or `~/.pgpass`
    /// than in the URL, which may end up in logs and in stored job options.
    ///
    /// `connectTimeout` (seconds) bounds how long a dead server can hold a worker; TCP
    /// keepalives after 10 s of silence notice a peer that vanished without closing.
    public init(url: String, connectTimeout: Int = 5, applicationName: String = "tally") throws(PostgresError) {
        displayURL = PostgresConnection.redacted(url)
        // Later parameters override earlier ones: our defaults first, then the URL (dbname with
        // expand_dbname=1 is parsed as a whole connection string).
        let keywords = ["connect_timeout", "application_name", "client_encoding", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "dbname"]
        let values = [String(connectTimeout), applicationName, "UTF8", "10", "5", "3", url]
        let connection: OpaquePointer? = withCStrings(keywords) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let connection else { throw PostgresError(.connectionFailed, "out of memory connecting to \(displayURL)") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = PostgresConnection.trimmed(String(cString: PQerrorMessage(connection)))
            PQfinish(connection)
            throw PostgresError(.connectionFailed, "cannot connect to \(displayURL): \(message)")
        }
        handle = connection
        // The default notice processor prints to stderr ("relation already exists, skipping").
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit {
        PQfinish(handle)
    }

    /// True when the connection broke: every later call fails; open a new one.
    public var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// The server's version as an integer (150004 for 15.4).
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// Runs one or more statements that return no rows (no parameters).
    public func execute(_ sql: String) throws(PostgresError) {
        try ensureNotCopying()
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, expecting: [PGRES_COMMAND_OK, PGRES_TUPLES_OK], context: sql)
    }

    /// Runs one statement with text parameters (`$1`, `$2`, … ; nil is NULL) and returns its
    /// rows, every value as text (nil for NULL).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        try ensureNotCopying()
        let result = try run(sql, parameters)
        defer { PQclear(result) }
        try check(result, expecting: [PGRES_COMMAND_OK, PGRES_TUPLES_OK], context: sql)
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var row: [String?] = []
            row.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) != 0 {
                    row.append(nil)
                } else if let value = PQgetvalue(result, Int32(r), Int32(c)) {
                    row.append(String(cString: value))
                } else {
                    row.append(nil)
                }
            }
            rows.append(row)
        }
        let affected = PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
        return PostgresRows(rows: rows, affected: affected)
    }

    /// Starts `COPY … FROM STDIN`; send data with `copy(_:)`, then `endCopy()`.
    public func startCopy(_ sql: String) throws(PostgresError) {
        try ensureNotCopying()
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, expecting: [PGRES_COPY_IN], context: sql)
        copying = true
    }

    /// Sends COPY data (any split: rows may straddle calls).
    public func copy(_ bytes: UnsafeRawBufferPointer) throws(PostgresError) {
        guard copying else { throw PostgresError(.misuse, "copy data sent outside a COPY") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        // PQputCopyData takes an Int32 length: send huge buffers in pieces.
        while offset < bytes.count {
            let length = min(bytes.count - offset, 1 << 30)
            let rc = PQputCopyData(handle, (base + offset).assumingMemoryBound(to: CChar.self), Int32(length))
            if rc != 1 {
                copying = false
                throw connectionError("sending COPY data")
            }
            offset += length
        }
    }

    /// Ends the COPY; returns how many rows the server took. On failure the transaction is
    /// aborted (roll it back).
    @discardableResult
    public func endCopy() throws(PostgresError) -> Int {
        guard copying else { throw PostgresError(.misuse, "endCopy outside a COPY") }
        copying = false
        if PQputCopyEnd(handle, nil) != 1 { throw connectionError("ending COPY") }
        return try drainCopyResults()
    }

    /// Abandons a COPY in progress (the server discards its rows and aborts the transaction).
    public func abortCopy(_ reason: String) {
        guard copying else { return }
        copying = false
        if PQputCopyEnd(handle, reason) == 1 { _ = try? drainCopyResults() }
    }

    /// Rolls back whatever is open, ignoring failures (the connection may be broken).
    public func rollbackQuietly() {
        abortCopy("rolled back")
        guard !isBroken, PQtransactionStatus(handle) != PQTRANS_IDLE else { return }
        let result = PQexec(handle, "ROLLBACK")
        PQclear(result)
    }

    /// Quotes an identifier for SQL (`"name"`, doubling inner quotes).
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    /// The URL with any password replaced by `***`.
    public static func redacted(_ url: String) -> String {
        // postgres://user:password@host/db → postgres://user:***@host/db
        let bytes = Array(url.utf8)
        guard let scheme = (0..<max(0, bytes.count - 2)).first(where: {
            bytes[$0] == UInt8(ascii: ":") && bytes[$0 + 1] == UInt8(ascii: "/") && bytes[$0 + 2] == UInt8(ascii: "/")
        }) else {
            return url.contains("password") ? "(connection string)" : url
        }
        let rest = scheme + 3
        guard let at = bytes[rest...].firstIndex(of: UInt8(ascii: "@")),
              let colon = bytes[rest..<at].firstIndex(of: UInt8(ascii: ":")) else { return url }
        return String(decoding: bytes[..<(colon + 1)], as: UTF8.self) + "***" + String(decoding: bytes[at...], as: UTF8.self)
    }

    // MARK: Internals

    private func ensureNotCopying() throws(PostgresError) {
        if copying { throw PostgresError(.misuse, "a statement was sent during a COPY") }
    }

    private func run(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> OpaquePointer? {
        for value in parameters {
            if let value, value.utf8.contains(0) { throw PostgresError(.misuse, "a parameter contains a NUL byte") }
        }
        if parameters.isEmpty { return PQexecParams(handle, sql, 0, nil, nil, nil, nil, 0) }
        let copies: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.flatMap { strdup($0) } }
        defer { for pointer in copies { free(pointer) } }
        let values = copies.map { $0.map { UnsafePointer($0) } }
        return values.withUnsafeBufferPointer { buffer in
            PQexecParams(handle, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }
    }

    private func drainCopyResults() throws(PostgresError) -> Int {
        var failure: PostgresError?
        var rows = 0
        while let result = PQgetResult(handle) {
            if failure == nil {
                do throws(PostgresError) {
                    try check(result, expecting: [PGRES_COMMAND_OK], context: "COPY")
                    rows = PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
                } catch {
                    failure = error
                }
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return rows
    }

    private func check(_ result: OpaquePointer?, expecting: [ExecStatusType], context: String) throws(PostgresError) {
        guard let result else { throw connectionError(String(context.prefix(80))) }
        let status = PQresultStatus(result)
        if expecting.contains(status) { return }
        let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        var message = PQresultErrorMessage(result).map { String(cString: $0) } ?? ""
        if message.isEmpty { message = String(cString: PQerrorMessage(handle)) }
        let code = PostgresError.code(sqlState: sqlState, connectionIsBad: isBroken || status == PGRES_FATAL_ERROR && sqlState.isEmpty)
        throw PostgresError(code, PostgresConnection.trimmed(message) + " (in: \(context.prefix(80)))", sqlState: sqlState)
    }

    private func connectionError(_ context: String) -> PostgresError {
        let message = PostgresConnection.trimmed(String(cString: PQerrorMessage(handle)))
        return PostgresError(.connectionLost, "\(context): \(message.isEmpty ? "connection lost" : message)")
    }

    private static func trimmed(_ message: String) -> String {
        var text = Substring(message)
        while let last = text.last, last == "\n" || last == " " { text = text.dropLast() }
        return String(text)
    }
}

/// The rows of a query, every value as text (nil for NULL).
public struct PostgresRows: Sendable {
    /// The rows in server order.
    public let rows: [[String?]]
    /// Rows affected by an INSERT/UPDATE/DELETE (or returned by a SELECT).
    public let affected: Int

    /// The first column of the first row, if any.
    public var scalar: String? { rows.first?.first ?? nil }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { for pointer in copies { free(pointer) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for character in self {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }
}
