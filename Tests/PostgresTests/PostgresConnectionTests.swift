import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Postgres

/// The server the tests use: `TALLY_TEST_POSTGRES_URL` (scripts/e2e/postgres.sh starts a
/// throwaway one and sets it). Without it these tests are skipped.
enum TestServer {
    static let url: String? = getenv("TALLY_TEST_POSTGRES_URL").map { String(cString: $0) }
    static var isAvailable: Bool { url != nil }

    static func connect() throws -> PostgresConnection {
        try PostgresConnection(url: url ?? "")
    }

    /// A table name no other test uses.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
    }
}

@Suite(.enabled(if: TestServer.isAvailable, "needs TALLY_TEST_POSTGRES_URL (scripts/e2e/postgres.sh)"))
struct PostgresConnectionTests {
    @Test func queriesWithTextParametersAndNulls() throws {
        let c = try TestServer.connect()
        let rows = try c.query("SELECT $1::bigint + 1, $2::text, $3::text IS NULL", ["41", "héllo", nil])
        #expect(rows.rows.count == 1)
        #expect(rows.rows[0] == ["42", "héllo", "t"])
        #expect(c.serverVersion >= 100000)
    }

    @Test func copiesRowsWithEveryEscapeIntact() throws {
        let c = try TestServer.connect()
        let table = TestServer.uniqueName("copy")
        try c.execute("CREATE TEMP TABLE \(table) (n bigint, x double precision, b boolean, t text)")
        var encoder = CopyEncoder()
        let awkward = "tab\there, newline\nand \\ backslash\r!"
        encoder.append(Int64(-7)); encoder.append(0.1); encoder.append(true); encoder.appendText(awkward); encoder.endRow()
        encoder.appendNull(); encoder.appendNull(); encoder.append(false); encoder.appendText(""); encoder.endRow()
        try c.execute("BEGIN")
        try c.startCopy("COPY \(table) FROM STDIN")
        // Split in the middle of an escape: the server must reassemble it.
        try encoder.bytes.withUnsafeBytes { bytes in
            try c.copy(UnsafeRawBufferPointer(rebasing: bytes[0..<13]))
            try c.copy(UnsafeRawBufferPointer(rebasing: bytes[13...]))
        }
        #expect(try c.endCopy() == 2)
        try c.execute("COMMIT")
        let rows = try c.query("SELECT n, x, b, t FROM \(table) ORDER BY n NULLS LAST").rows
        #expect(rows == [["-7", "0.1", "t", awkward], [nil, nil, "f", ""]])
    }

    @Test func refusedCopyAbortsTheTransactionWithAStableCode() throws {
        let c = try TestServer.connect()
        let table = TestServer.uniqueName("refuse")
        try c.execute("CREATE TEMP TABLE \(table) (n bigint PRIMARY KEY)")
        try c.execute("BEGIN")
        try c.startCopy("COPY \(table) FROM STDIN")
        var encoder = CopyEncoder()
        encoder.append(Int64(1)); encoder.endRow()
        encoder.append(Int64(1)); encoder.endRow()
        try encoder.bytes.withUnsafeBytes { try c.copy($0) }
        #expect { try c.endCopy() } throws: { ($0 as? PostgresError)?.code == .constraint }
        #expect(!c.isBroken)
        c.rollbackQuietly()
        #expect(try c.query("SELECT count(*) FROM \(table)").scalar == "0")

        #expect { try c.query("SELECT 'x'::bigint") } throws: { error in
            guard let e = error as? PostgresError else { return false }
            return e.code == .invalidData && e.sqlState == "22P02" && !e.isConnectionProblem
        }
    }

    @Test func aKilledBackendIsAConnectionLoss() throws {
        let c = try TestServer.connect()
        let killer = try TestServer.connect()
        guard let pid = try c.query("SELECT pg_backend_pid()").scalar else {
            Issue.record("no backend pid")
            return
        }
        try killer.query("SELECT pg_terminate_backend($1::int)", [pid])
        #expect { try c.query("SELECT 1") } throws: { ($0 as? PostgresError)?.isConnectionProblem == true }
        #expect(c.isBroken)
    }

    @Test func unreachableServerFailsToConnectQuickly() throws {
        #expect { try PostgresConnection(url: "postgres://tally@127.0.0.1:1/tally", connectTimeout: 2) } throws: { error in
            (error as? PostgresError)?.code == .connectionFailed
        }
    }
}

struct PostgresOfflineTests {
    @Test func redactsThePasswordOfAURL() {
        #expect(PostgresConnection.redacted("postgres://u:secret@h:5432/db") == "postgres://u:***@h:5432/db")
        #expect(PostgresConnection.redacted("postgres://u@h/db") == "postgres://u@h/db")
        #expect(PostgresConnection.redacted("host=h password=x") == "(connection string)")
    }

    @Test func encodesTheTextFormat() {
        var encoder = CopyEncoder()
        encoder.append(Int64(12)); encoder.appendNull(); encoder.appendText("a\tb\\c\nd"); encoder.append(true)
        encoder.endRow()
        #expect(String(decoding: encoder.bytes, as: UTF8.self) == "12\t\\N\ta\\tb\\\\c\\nd\tt\n")
        let mark = encoder.bytes.count
        encoder.append(Int64(1)); encoder.appendText("half")
        encoder.discardRow(from: mark)
        encoder.append(Int64(2)); encoder.endRow()
        #expect(String(decoding: encoder.bytes, as: UTF8.self) == "12\t\\N\ta\\tb\\\\c\\nd\tt\n2\n")
        #expect(!"a\u{0}b".utf8.withContiguousStorageIfAvailable { CopyEncoder.canEncode(UnsafeRawBufferPointer($0)) }!)
    }
}
