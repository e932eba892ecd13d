import CSVCodec
import Storage

/// Why one row was rejected; the import records it and goes on.
public struct RowError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes. The `csv.*` ones come from the reader (`RowError(_:)`), the `row.*` ones
    /// from the validator.
    public enum Code: String, Sendable, CaseIterable {
        case invalidInteger = "row.invalid_integer"
        case invalidReal = "row.invalid_real"
        case invalidBoolean = "row.invalid_boolean"
        case invalidDate = "row.invalid_date"
        case invalidTimestamp = "row.invalid_timestamp"
        case required = "row.required"
        case tooLong = "row.too_long"
        case notAllowed = "row.not_allowed"
        case duplicate = "row.duplicate"
        case ragged = "row.ragged"
        case csvStrayQuote = "csv.stray_quote"
        case csvRaggedRow = "csv.ragged_row"
        case csvInvalidUTF8 = "csv.invalid_utf8"
        case csvFieldTooLarge = "csv.field_too_large"
        case csvRowTooLarge = "csv.row_too_large"
    }

    /// What is wrong.
    public let code: Code
    /// The physical line (1-based) where the record starts.
    public let line: Int
    /// The column name, when one column is at fault.
    public let column: String?
    /// For people.
    public let message: String
    /// The offending value (or the start of the raw record), at most 256 bytes, lossy UTF-8.
    public let rawValue: String

    /// Creates a row error.
    public init(code: Code, line: Int, column: String?, message: String, rawValue: String) {
        self.code = code
        self.line = line
        self.column = column
        self.message = message
        self.rawValue = rawValue
    }

    /// The row error for a record the reader rejected (a non-fatal `CSVError`).
    public init(_ error: CSVError, header: [String]? = nil) {
        let code: Code
        switch error.code {
        case .strayQuote: code = .csvStrayQuote
        case .raggedRow: code = .csvRaggedRow
        case .invalidUTF8: code = .csvInvalidUTF8
        case .fieldTooLarge: code = .csvFieldTooLarge
        default: code = .csvRowTooLarge
        }
        var column: String?
        if let header, error.column >= 1, error.column <= header.count, error.code != .raggedRow {
            column = header[error.column - 1]
        }
        self.init(code: code, line: error.recordLine, column: column, message: error.message, rawValue: error.excerptText)
    }

    public var description: String {
        "\(code.rawValue) line \(line)" + (column.map { " column \($0)" } ?? "") + ": " + message
    }
}

/// A validated cell, ready to bind: text is a view valid only during the call that gives it.
public enum BindableCell {
    case null
    case integer(Int64)
    case real(Double)
    case boolean(Bool)
    case text(UnsafeRawBufferPointer)
}

/// Checks records against a schema and holds the typed values of the last valid one.
///
/// ```swift
/// var validator = try RowValidator(schema: schema, header: header)
/// // for each record:
/// do {
///     try validator.validate(record)
///     try validator.bind(record, to: insert)      // parameters 0..<schema.columns.count
///     try insert.step(); insert.reset()
/// } catch let error as RowError { … }             // typed throws: catch the RowError
/// ```
///
/// Uniqueness is tracked with one 64-bit key per distinct value (about 8–16 bytes of memory
/// per row of each unique column, see `UniqueSet`): integers, dates and timestamps exactly,
/// other values by hash (two different values collide with probability ~n²/2⁶⁵).
/// A value is remembered only when its whole row is valid, so a rejected row never makes a
/// later row a duplicate. **On resume** the set must be rebuilt before validating the rows
/// after the checkpoint: either pass the records before the checkpoint through
/// `validate` again (it is deterministic, so the set ends exactly as it was at the commit),
/// or feed the values already in the table to `rememberUnique(column:value:)`. Both give the
/// same set because the table holds exactly the valid rows before the checkpoint.
///
/// Not `Sendable`: one validator per import worker. A validator is a handle on its working
/// memory and uniqueness sets: copies share them, so use only one copy.
public struct RowValidator {
    /// The schema, with columns in insert order.
    public let schema: ImportSchema
    /// The CSV header the validator was made for.
    public let header: [String]

    /// What to do with one schema column; plain data, so reading it costs no reference count.
    struct Plan {
        var field: Int
        var type: ColumnType
        var required: Bool
        var unique: Bool
        var hasAllowed: Bool
        var maxLength: Int
        var tag: UInt64
    }

    enum Kind: UInt8 { case null, integer, real, boolean, fieldText, scratchText }
    struct Slot {
        var kind = Kind.null
        var bits: UInt64 = 0
        var lower = 0
        var upper = 0
        var hash: UInt64 = 0
    }

    /// The per-row working memory: the values of the last record and the normalized
    /// timestamps (32 bytes per column), allocated once.
    final class Buffers {
        let slots: UnsafeMutablePointer<Slot>
        let scratch: UnsafeMutablePointer<UInt8>
        init(columns: Int) {
            slots = .allocate(capacity: max(1, columns))
            slots.initialize(repeating: Slot(), count: max(1, columns))
            scratch = .allocate(capacity: max(1, columns) * 32)
            scratch.initialize(repeating: 0, count: max(1, columns) * 32)
        }
        deinit {
            slots.deallocate()
            scratch.deallocate()
        }
    }

    var plans: [Plan]
    var allowed: [[UInt64: [[UInt8]]]?]
    var seen: [UniqueSet?]
    var uniqueColumns: [Int]
    let buffers: Buffers
    var slots: UnsafeMutablePointer<Slot> { buffers.slots }
    var scratch: UnsafeMutablePointer<UInt8> { buffers.scratch }

    /// Matches the schema to the header: every required column must be present, every header
    /// column must be in the schema (unless `ignoreUnknownColumns`), and no header name may
    /// repeat. Optional schema columns absent from the header are stored as NULL.
    public init(schema: ImportSchema, header: [String]) throws(SchemaError) {
        self.schema = schema
        self.header = header
        var index: [String: Int] = [:]
        for (i, name) in header.enumerated() {
            if index.updateValue(i, forKey: name) != nil {
                throw SchemaError(.duplicateHeader, "the header names column \"\(name)\" twice", column: name)
            }
        }
        let names = Set(schema.columns.map(\.name))
        if !schema.ignoreUnknownColumns {
            let unknown = header.filter { !names.contains($0) }
            if !unknown.isEmpty {
                throw SchemaError(.unknownColumn, "the file has columns the schema does not list: " + unknown.joined(separator: ", "), column: unknown[0])
            }
        }
        let missing = schema.columns.filter { $0.required && index[$0.name] == nil }.map(\.name)
        if !missing.isEmpty {
            throw SchemaError(.missingColumn, "the file lacks required columns: " + missing.joined(separator: ", "), column: missing[0])
        }
        var plans: [Plan] = []
        var allowedTables: [[UInt64: [[UInt8]]]?] = []
        for (i, column) in schema.columns.enumerated() {
            var allowed: [UInt64: [[UInt8]]]?
            if let values = column.allowed {
                var table: [UInt64: [[UInt8]]] = [:]
                for value in values {
                    let bytes = Array(value.utf8)
                    let h = bytes.withUnsafeBytes { CellParser.hash($0, tag: 0) }
                    table[h, default: []].append(bytes)
                }
                allowed = table
            }
            allowedTables.append(allowed)
            plans.append(Plan(
                field: index[column.name] ?? -1, type: column.type, required: column.required, unique: column.unique,
                hasAllowed: allowed != nil, maxLength: column.maxLength ?? Int.max, tag: UInt64(i + 1)))
        }
        self.plans = plans
        self.allowed = allowedTables
        self.seen = plans.map { plan in
            plan.unique ? UniqueSet(isExact: plan.type == .integer || plan.type == .date || plan.type == .timestamp) : nil
        }
        self.uniqueColumns = plans.indices.filter { plans[$0].unique }
        self.buffers = Buffers(columns: plans.count)
    }

    /// Whether the schema has unique columns (and so resume must rebuild their sets).
    public var hasUniqueColumns: Bool { !uniqueColumns.isEmpty }

    /// Distinct values remembered so far across unique columns (for memory accounting).
    public var rememberedValueCount: Int { seen.reduce(0) { $0 + ($1?.count ?? 0) } }

    /// Checks `record`; on success the typed values are ready for `withCell`/`bind` until the
    /// next call. Throws the row's first problem, in column order (uniqueness last).
    public mutating func validate(_ record: CSVRecord) throws(RowError) {
        guard record.count == header.count else {
            throw RowError(
                code: .ragged, line: record.line, column: nil,
                message: "expected \(header.count) fields, found \(record.count)", rawValue: rawRecord(record))
        }
        for c in 0..<plans.count {
            let field = plans[c].field
            guard field >= 0 else {
                slots[c].kind = .null
                continue
            }
            let failure = record.withBytes(at: field) { bytes in checkCell(c, bytes, isASCII: record.isASCII(at: field)) }
            if let failure {
                throw RowError(
                    code: failure.code, line: record.line, column: schema.columns[c].name,
                    message: failure.message, rawValue: rawValue(record, field))
            }
        }
        guard !uniqueColumns.isEmpty else { return }
        for c in uniqueColumns where slots[c].kind != .null && seen[c]?.contains(slots[c].hash) == true {
            let field = max(0, plans[c].field)
            throw RowError(
                code: .duplicate, line: record.line, column: schema.columns[c].name,
                message: "value already appears in an earlier row", rawValue: rawValue(record, field))
        }
        for c in uniqueColumns where slots[c].kind != .null {
            seen[c]?.insert(slots[c].hash)
        }
    }

    /// Remembers a value of unique column `column` (a schema column name) as already
    /// imported, e.g. read back from the table on resume. Returns false when the value does
    /// not parse as the column's type or the column is not unique.
    @discardableResult
    public mutating func rememberUnique(column: String, value: UnsafeRawBufferPointer) -> Bool {
        guard let c = schema.columns.firstIndex(where: { $0.name == column }), plans[c].unique else { return false }
        let saved = plans[c]
        plans[c].required = false
        plans[c].maxLength = Int.max
        plans[c].hasAllowed = false
        let failure = checkCell(c, value, isASCII: false)
        plans[c] = saved
        guard failure == nil, slots[c].kind != .null else { return false }
        seen[c]?.insert(slots[c].hash)
        return true
    }

    /// Remembers a value given as a String (see `rememberUnique(column:value:)`).
    @discardableResult
    public mutating func rememberUnique(column: String, value: String) -> Bool {
        var copy = value
        return copy.withUTF8 { rememberUnique(column: column, value: UnsafeRawBufferPointer($0)) }
    }

    struct Failure {
        var code: RowError.Code
        var message: String
    }

    mutating func checkCell(_ c: Int, _ raw: UnsafeRawBufferPointer, isASCII: Bool) -> Failure? {
        let plan = plans[c]
        if plan.type == .text {
            if raw.isEmpty {
                if plan.required { return Failure(code: .required, message: "a value is required") }
                slots[c].kind = .null
                return nil
            }
            if plan.maxLength != Int.max {
                let length = isASCII ? raw.count : CellParser.scalarCount(raw)
                if length > plan.maxLength {
                    return Failure(code: .tooLong, message: "\(length) characters, at most \(plan.maxLength) allowed")
                }
            }
            let h = plan.unique || plan.hasAllowed ? CellParser.hash(raw, tag: 0) : 0
            if plan.hasAllowed {
                guard let candidates = allowed[c]?[h], candidates.contains(where: { $0.withUnsafeBytes { $0.elementsEqual(raw) } }) else {
                    return Failure(code: .notAllowed, message: "not one of the allowed values")
                }
            }
            slots[c] = Slot(kind: .fieldText, bits: 0, lower: 0, upper: raw.count, hash: h ^ plan.tag)
            return nil
        }
        let bytes = CellParser.trimmed(raw)
        if bytes.isEmpty {
            if plan.required { return Failure(code: .required, message: "a value is required") }
            slots[c].kind = .null
            return nil
        }
        switch plan.type {
        case .integer:
            guard let value = CellParser.integer(bytes) else { return Failure(code: .invalidInteger, message: "not a 64-bit integer") }
            slots[c].kind = .integer
            slots[c].bits = UInt64(bitPattern: value)
            // Integers are their own exact key: no collision is possible.
            if plan.unique { slots[c].hash = UInt64(bitPattern: value) }
        case .real:
            guard let value = CellParser.real(bytes) else { return Failure(code: .invalidReal, message: "not a finite decimal number") }
            slots[c].kind = .real
            slots[c].bits = value.bitPattern
            if plan.unique { slots[c].hash = CellParser.hash((value == 0 ? 0.0 : value).bitPattern, tag: plan.tag) }
        case .boolean:
            guard let value = CellParser.boolean(bytes) else {
                return Failure(code: .invalidBoolean, message: "not a boolean (true/false, yes/no, 1/0)")
            }
            slots[c].kind = .boolean
            slots[c].bits = value ? 1 : 0
            if plan.unique { slots[c].hash = CellParser.hash(value ? 1 : 0, tag: plan.tag) }
        case .date:
            guard let (year, month, day) = CellParser.date(bytes), let base = raw.baseAddress, let start = bytes.baseAddress else {
                return Failure(code: .invalidDate, message: "not a calendar date YYYY-MM-DD")
            }
            let lower = start - base
            // Dates are their own exact key: days since 1970.
            slots[c] = Slot(kind: .fieldText, bits: 0, lower: lower, upper: lower + bytes.count,
                            hash: plan.unique ? UInt64(bitPattern: Int64(CellParser.daysFromCivil(year, month, day))) : UInt64(0))
        case .timestamp:
            guard let (seconds, micros) = CellParser.timestamp(bytes) else {
                return Failure(code: .invalidTimestamp, message: "not an RFC 3339 timestamp")
            }
            CellParser.formatTimestamp(seconds: seconds, micros: micros, into: scratch + c * 32)
            slots[c] = Slot(kind: .scratchText, bits: 0, lower: c * 32, upper: c * 32 + 27,
                            hash: plan.unique ? UInt64(bitPattern: seconds &* 1_000_000 &+ Int64(micros)) : UInt64(0))
        case .text:
            break
        }
        return nil
    }

    func rawValue(_ record: CSVRecord, _ field: Int) -> String {
        record.withBytes(at: field) { String(decoding: UnsafeRawBufferPointer(rebasing: $0.prefix(256)), as: UTF8.self) }
    }

    func rawRecord(_ record: CSVRecord) -> String {
        String((0..<record.count).map { record.string(at: $0) }.joined(separator: ",").prefix(256))
    }

    /// Calls `body` with the validated value of schema column `column` (0-based, insert
    /// order) of the record just validated. Text is a view valid during the call only.
    @inlinable
    public func withCell<R, E: Error>(at column: Int, of record: CSVRecord, _ body: (BindableCell) throws(E) -> R) throws(E) -> R {
        try withCellImpl(at: column, of: record, body)
    }

    @usableFromInline
    func withCellImpl<R, E: Error>(at column: Int, of record: CSVRecord, _ body: (BindableCell) throws(E) -> R) throws(E) -> R {
        let slot = slots[column]
        switch slot.kind {
        case .null: return try body(.null)
        case .integer: return try body(.integer(Int64(bitPattern: slot.bits)))
        case .real: return try body(.real(Double(bitPattern: slot.bits)))
        case .boolean: return try body(.boolean(slot.bits != 0))
        case .scratchText:
            return try body(.text(UnsafeRawBufferPointer(start: scratch + slot.lower, count: slot.upper - slot.lower)))
        case .fieldText:
            let field = max(0, plans[column].field)
            return try record.withBytes(at: field) { bytes throws(E) -> R in
                try body(.text(UnsafeRawBufferPointer(rebasing: bytes[slot.lower..<slot.upper])))
            }
        }
    }

    /// Binds the record just validated to `statement`'s parameters 0..<columns.count, in
    /// schema order: integers and booleans as INTEGER, reals as REAL, the rest as TEXT bound
    /// without copying (valid until the reader moves on, so step before reading further).
    public func bind(_ record: CSVRecord, to statement: Statement) throws(StorageError) {
        for c in 0..<plans.count {
            try withCellImpl(at: c, of: record) { cell throws(StorageError) in
                switch cell {
                case .null: try statement.bindNull(at: c)
                case .integer(let v): try statement.bind(v, at: c)
                case .real(let v): try statement.bind(v, at: c)
                case .boolean(let v): try statement.bind(Int64(v ? 1 : 0), at: c)
                case .text(let bytes): try statement.bindText(noCopy: bytes, at: c)
                }
            }
        }
    }

    /// The validated values of the last record, allocating Strings (for tests and small
    /// paths).
    public func values(of record: CSVRecord) -> [CellValue] {
        (0..<plans.count).map { c in
            withCellImpl(at: c, of: record) { cell in
                switch cell {
                case .null: return CellValue.null
                case .integer(let v): return .integer(v)
                case .real(let v): return .real(v)
                case .boolean(let v): return .boolean(v)
                case .text(let bytes): return .text(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
    }
}

/// An owned validated value (see `RowValidator.values(of:)`).
public enum CellValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case boolean(Bool)
    case text(String)
}
