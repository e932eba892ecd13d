import CSVCodec
import Storage

/// How one file's records become rows of one table: the CREATE and INSERT statements from the
/// schema (typed columns), and the validator that checks each record and binds its values
/// straight from the reader's buffer.
final class TablePlan {
    let table: String
    /// Used by the one worker that owns the plan, one call at a time (see `ImportRun`), so
    /// the per-row dynamic exclusivity checks are waived.
    @exclusivity(unchecked) var validator: RowValidator

    /// Matches `schema` (or text columns named after the header) to the header.
    init(table: String, schema: ImportSchema?, header: [String]) throws(SchemaError) {
        self.table = table
        self.validator = try RowValidator(schema: schema ?? ImportSchema.text(header: header), header: header)
    }

    var createSQL: String {
        let cols = validator.schema.columns.map { column in
            Connection.quoteIdentifier(column.name) + " " + column.type.sqlType + (column.required ? " NOT NULL" : "")
        }.joined(separator: ", ")
        return "CREATE TABLE IF NOT EXISTS \(Connection.quoteIdentifier(table)) (\(cols))"
    }

    var insertSQL: String {
        let columns = validator.schema.columns
        let names = columns.map { Connection.quoteIdentifier($0.name) }.joined(separator: ", ")
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        return "INSERT INTO \(Connection.quoteIdentifier(table)) (\(names)) VALUES (\(marks))"
    }

    /// Validates the record; returns the row error when it is rejected. On success the typed
    /// values wait in the validator for the sink (`validator.bind`, `validator.withCell`).
    func validate(_ record: CSVRecord) -> RowError? {
        do {
            try validator.validate(record)
            return nil
        } catch {
            return error
        }
    }

    /// Validates a record only for its effect on the unique-value sets (replay on resume).
    func remember(_ record: CSVRecord) {
        try? validator.validate(record)
    }

    /// A table name made from a file name: the base name without extension, with anything but
    /// letters, digits and `_` turned into `_`.
    static func defaultTableName(forFile path: String) -> String {
        var base = Substring(path)
        if let slash = base.lastIndex(of: "/") { base = base[base.index(after: slash)...] }
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { base = base[..<dot] }
        var name = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        if name.isEmpty { name = "import" }
        if let first = name.first, first.isNumber { name = "t_" + name }
        return name
    }
}
