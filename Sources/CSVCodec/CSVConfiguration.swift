/// Size limits that keep a reader's memory bounded whatever the input.
///
/// Each limit is checked at the byte that exceeds it, before more of the record is buffered;
/// the offending record is then skipped and reported as a row error.
public struct CSVLimits: Sendable, Equatable {
    /// Largest field in bytes (raw, including doubled quotes). Default 1 MiB: far above any
    /// sane cell, small enough that a runaway quoted field is caught early.
    public var maxFieldBytes: Int
    /// Largest record in bytes (raw, without its line end). Default 4 MiB.
    public var maxRowBytes: Int
    /// Most fields in one record. Default 4,096 (SQLite's default column limit is 2,000).
    public var maxFields: Int

    /// Creates limits; the defaults suit imports into SQLite.
    public init(maxFieldBytes: Int = 1 << 20, maxRowBytes: Int = 4 << 20, maxFields: Int = 4096) {
        self.maxFieldBytes = max(1, maxFieldBytes)
        self.maxRowBytes = max(1, maxRowBytes)
        self.maxFields = max(1, maxFields)
    }
}

/// How a `CSVReader` reads its input.
public struct CSVConfiguration: Sendable, Equatable {
    /// The field delimiter, or nil to detect one of `,` `;` tab `|` from the first
    /// `sampleBytes` of the input (see `CSVDialect.detectDelimiter`).
    public var delimiter: UInt8?
    /// Whether the first record is a header row of column names. Default true.
    public var hasHeader: Bool
    /// Size limits.
    public var limits: CSVLimits
    /// How many bytes delimiter detection looks at. Default 64 KiB: enough lines for a
    /// stable vote, small enough to wait for before the first record.
    public var sampleBytes: Int

    /// Creates a configuration. Defaults: detect the delimiter, header row, default limits.
    public init(delimiter: UInt8? = nil, hasHeader: Bool = true, limits: CSVLimits = CSVLimits(), sampleBytes: Int = 64 * 1024) {
        self.delimiter = delimiter
        self.hasHeader = hasHeader
        self.limits = limits
        self.sampleBytes = max(1, sampleBytes)
    }
}

/// A place in the input: the checkpoint an import stores to resume from.
public struct CSVPosition: Sendable, Equatable, Hashable {
    /// Byte offset from the start of the file (BOM included).
    public var offset: Int64
    /// The physical line (1-based) that starts at `offset`.
    public var line: Int

    /// Creates a position.
    public init(offset: Int64, line: Int) {
        self.offset = offset
        self.line = line
    }

    /// The start of a file.
    public static let start = CSVPosition(offset: 0, line: 1)
}
