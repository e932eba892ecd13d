/// A problem found while reading CSV, with a stable code and where it happened.
///
/// Errors come in two kinds (see `isFatal`):
/// - **Row errors** reject one record and leave the reader ready for the next one: the
///   reader has already consumed the bad record, and `resumeOffset`/`resumeLine` say where
///   the next record starts (the checkpoint to store with the error). Codes:
///   `csv.stray_quote`, `csv.ragged_row`, `csv.invalid_utf8`, `csv.field_too_large`,
///   `csv.row_too_large`.
/// - **Fatal errors** end the file: every later call to `CSVReader.next()` throws the same
///   error again. Codes: `csv.unterminated_quote` (a quoted field still open at end of
///   input), `csv.binary_file` (a NUL byte anywhere), `csv.empty_file`, `csv.bad_header`,
///   and any error inside the header row.
public struct CSVError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable codes shared by logs, metrics and the JSON API.
    public enum Code: String, Sendable, CaseIterable {
        /// A quoted field is still open at the end of the input (fatal).
        case unterminatedQuote = "csv.unterminated_quote"
        /// A quote inside an unquoted field, or text after a closing quote (row).
        case strayQuote = "csv.stray_quote"
        /// A record with a different number of fields than the header (row).
        case raggedRow = "csv.ragged_row"
        /// A field that is not valid UTF-8 (row; fatal in the header).
        case invalidUTF8 = "csv.invalid_utf8"
        /// A field longer than `CSVLimits.maxFieldBytes` (row).
        case fieldTooLarge = "csv.field_too_large"
        /// A record longer than `CSVLimits.maxRowBytes` or with more than
        /// `CSVLimits.maxFields` fields (row).
        case rowTooLarge = "csv.row_too_large"
        /// The input holds no record at all (fatal).
        case emptyFile = "csv.empty_file"
        /// The input contains a NUL byte: a spreadsheet, archive or UTF-16 file (fatal).
        case binaryFile = "csv.binary_file"
        /// The header row has an empty or duplicate column name (fatal).
        case badHeader = "csv.bad_header"
    }

    /// What went wrong.
    public let code: Code
    /// The physical line (1-based) where the problem was found.
    public let line: Int
    /// The physical line (1-based) on which the rejected record starts (for fatal errors,
    /// the line of the record being read, or `line`).
    public let recordLine: Int
    /// The field number (1-based) where the problem was found; 0 when it concerns the file.
    public let column: Int
    /// The byte offset in the file of the offending byte (or of the record's start).
    public let offset: Int64
    /// Whether the whole file is rejected (true) or only this record (false).
    public let isFatal: Bool
    /// For a row error: the byte offset just after the rejected record, where reading
    /// goes on. For a fatal error: equal to `offset`.
    public let resumeOffset: Int64
    /// The physical line at `resumeOffset`.
    public let resumeLine: Int
    /// Up to 256 raw bytes of the rejected record, for the row error's raw value.
    public let excerpt: [UInt8]
    /// Extra human-readable detail (for example the names involved).
    public let detail: String

    /// Creates an error; `resumeOffset` defaults to `offset` (fatal errors do not resume).
    public init(
        _ code: Code, line: Int, recordLine: Int? = nil, column: Int, offset: Int64, isFatal: Bool,
        resumeOffset: Int64? = nil, resumeLine: Int? = nil, excerpt: [UInt8] = [], detail: String = ""
    ) {
        self.code = code
        self.line = line
        self.recordLine = recordLine ?? line
        self.column = column
        self.offset = offset
        self.isFatal = isFatal
        self.resumeOffset = resumeOffset ?? offset
        self.resumeLine = resumeLine ?? line
        self.excerpt = excerpt
        self.detail = detail
    }

    /// A one-line explanation for people, e.g. "unterminated quoted field (line 3, field 2)".
    public var message: String {
        var text: String
        switch code {
        case .unterminatedQuote: text = "quoted field is never closed"
        case .strayQuote: text = "quote character inside an unquoted field or after a closing quote"
        case .raggedRow: text = "record has a different number of fields than the header"
        case .invalidUTF8: text = "field is not valid UTF-8"
        case .fieldTooLarge: text = "field is larger than the limit"
        case .rowTooLarge: text = "record is larger than the limit"
        case .emptyFile: text = "the file contains no records"
        case .binaryFile: text = "the file is binary, not CSV text (NUL byte found)"
        case .badHeader: text = "the header row is not usable"
        }
        if !detail.isEmpty { text += ": " + detail }
        if column > 0 {
            text += " (line \(line), field \(column))"
        } else {
            text += " (line \(line))"
        }
        return text
    }

    /// The raw bytes of the rejected record as text (invalid UTF-8 replaced), for display.
    public var excerptText: String { String(decoding: excerpt, as: UTF8.self) }

    public var description: String { code.rawValue + ": " + message }
}
