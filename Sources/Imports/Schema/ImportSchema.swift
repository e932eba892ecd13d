import Foundation

/// The type of an imported column, which decides how its text is checked and bound.
public enum ColumnType: String, Sendable, CaseIterable, Codable {
    /// A signed 64-bit integer: optional sign and decimal digits.
    case integer
    /// A double: decimal with optional fraction and exponent (no inf or nan).
    case real
    /// UTF-8 text, stored as given.
    case text
    /// true/false, t/f, yes/no, y/n, 1/0 (any case), stored as 1 or 0.
    case boolean
    /// A calendar date `YYYY-MM-DD`, stored as that text.
    case date
    /// An RFC 3339 / ISO 8601 date and time, stored as UTC text `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    case timestamp

    /// The SQLite column type the sink should declare for it.
    public var sqlType: String {
        switch self {
        case .integer, .boolean: return "INTEGER"
        case .real: return "REAL"
        case .text, .date, .timestamp: return "TEXT"
        }
    }
}

/// One column of an import schema (see docs/SCHEMA.md).
public struct SchemaColumn: Sendable, Equatable {
    /// The column name, matched exactly against the CSV header.
    public var name: String
    /// The value type.
    public var type: ColumnType
    /// Whether an empty value rejects the row (otherwise it is stored as NULL).
    public var required: Bool
    /// Whether a value may appear only once in the file (NULLs excepted).
    public var unique: Bool
    /// The most Unicode scalars a text value may have.
    public var maxLength: Int?
    /// The only values a text column accepts (compared byte for byte).
    public var allowed: [String]?

    /// Creates a column; the defaults make an optional text column.
    public init(name: String, type: ColumnType = .text, required: Bool = false, unique: Bool = false, maxLength: Int? = nil, allowed: [String]? = nil) {
        self.name = name
        self.type = type
        self.required = required
        self.unique = unique
        self.maxLength = maxLength
        self.allowed = allowed
    }
}

/// The columns an import expects, from a JSON schema or from the CSV header.
public struct ImportSchema: Sendable, Equatable {
    /// The columns, in the order of the table and of the insert's parameters.
    public var columns: [SchemaColumn]
    /// Whether header columns that the schema does not name are ignored (true) or reject
    /// the file with `schema.unknown_column` (false, the default).
    public var ignoreUnknownColumns: Bool

    /// Creates a schema after checking it (names non-empty and distinct, rules that fit the
    /// types).
    public init(columns: [SchemaColumn], ignoreUnknownColumns: Bool = false) throws(SchemaError) {
        self.columns = columns
        self.ignoreUnknownColumns = ignoreUnknownColumns
        try check()
    }

    /// A schema of optional text columns named after the header: what an import without a
    /// schema uses.
    public static func text(header: [String]) -> ImportSchema {
        var schema = ImportSchema(unchecked: header.map { SchemaColumn(name: $0) })
        schema.ignoreUnknownColumns = false
        return schema
    }

    init(unchecked columns: [SchemaColumn]) {
        self.columns = columns
        self.ignoreUnknownColumns = false
    }

    /// Parses a JSON schema: `{"columns":[{"name":"id","type":"integer","required":true}, …]}`.
    /// Unknown keys are rejected so that a misspelt rule is not silently ignored.
    public static func parse(json: [UInt8]) throws(SchemaError) -> ImportSchema {
        let document: SchemaDocument
        do {
            document = try JSONDecoder().decode(SchemaDocument.self, from: Data(json))
        } catch let error as SchemaError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            throw SchemaError(.invalidJSON, context.debugDescription + Self.path(context.codingPath))
        } catch let DecodingError.keyNotFound(key, context) {
            throw SchemaError(.invalidColumn, "missing \"\(key.stringValue)\"" + Self.path(context.codingPath))
        } catch let DecodingError.typeMismatch(_, context) {
            throw SchemaError(.invalidColumn, "wrong type" + Self.path(context.codingPath))
        } catch let DecodingError.valueNotFound(_, context) {
            throw SchemaError(.invalidColumn, "missing value" + Self.path(context.codingPath))
        } catch {
            throw SchemaError(.invalidJSON, "not a JSON schema")
        }
        return try ImportSchema(columns: document.columns, ignoreUnknownColumns: document.ignoreUnknownColumns ?? false)
    }

    /// Parses a JSON schema held in a String.
    public static func parse(json: String) throws(SchemaError) -> ImportSchema {
        try parse(json: Array(json.utf8))
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        guard !codingPath.isEmpty else { return "" }
        return " at " + codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
    }

    func check() throws(SchemaError) {
        guard !columns.isEmpty else { throw SchemaError(.noColumns, "the schema has no columns") }
        var seen = Set<String>()
        for column in columns {
            if column.name.isEmpty || column.name.utf8.contains(0) {
                throw SchemaError(.invalidColumn, "a column has an empty name")
            }
            if !seen.insert(column.name).inserted {
                throw SchemaError(.duplicateColumn, "column \"\(column.name)\" appears twice", column: column.name)
            }
            if let maxLength = column.maxLength {
                if maxLength < 1 { throw SchemaError(.invalidColumn, "maxLength must be at least 1", column: column.name) }
                if column.type != .text { throw SchemaError(.invalidColumn, "maxLength applies to text columns only", column: column.name) }
            }
            if let allowed = column.allowed {
                if allowed.isEmpty { throw SchemaError(.invalidColumn, "allowed must list at least one value", column: column.name) }
                if column.type != .text { throw SchemaError(.invalidColumn, "allowed applies to text columns only", column: column.name) }
            }
        }
    }
}

/// The JSON shape of a schema document.
struct SchemaDocument: Decodable {
    var columns: [SchemaColumn]
    var ignoreUnknownColumns: Bool?

    enum Keys: String, CodingKey, CaseIterable { case columns, ignoreUnknownColumns }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys where Keys(rawValue: key.stringValue) == nil {
            throw SchemaError(.invalidJSON, "unknown key \"\(key.stringValue)\" in the schema")
        }
        let keyed = try decoder.container(keyedBy: Keys.self)
        columns = try keyed.decode([SchemaColumn].self, forKey: .columns)
        ignoreUnknownColumns = try keyed.decodeIfPresent(Bool.self, forKey: .ignoreUnknownColumns)
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension SchemaColumn: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case name, type, required, unique, maxLength, allowed }

    /// Decodes one column object; `type` defaults to text, unknown keys are errors.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let keyed = try decoder.container(keyedBy: Keys.self)
        let name = try keyed.decode(String.self, forKey: .name)
        for key in container.allKeys where Keys(rawValue: key.stringValue) == nil {
            throw SchemaError(.invalidColumn, "unknown key \"\(key.stringValue)\"", column: name)
        }
        let typeName = try keyed.decodeIfPresent(String.self, forKey: .type) ?? "text"
        guard let type = ColumnType(rawValue: typeName) else {
            throw SchemaError(.unknownType, "unknown type \"\(typeName)\" (integer, real, text, boolean, date, timestamp)", column: name)
        }
        self.init(
            name: name, type: type,
            required: try keyed.decodeIfPresent(Bool.self, forKey: .required) ?? false,
            unique: try keyed.decodeIfPresent(Bool.self, forKey: .unique) ?? false,
            maxLength: try keyed.decodeIfPresent(Int.self, forKey: .maxLength),
            allowed: try keyed.decodeIfPresent([String].self, forKey: .allowed))
    }
}

/// A schema that cannot be used, or a header that does not fit the schema: the import fails
/// as a whole with this error.
public struct SchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes.
    public enum Code: String, Sendable, CaseIterable {
        /// The schema is not valid JSON, or has unknown top-level keys.
        case invalidJSON = "schema.invalid_json"
        /// A column object is malformed (missing name, wrong value type, unknown key, a rule
        /// that does not fit the type).
        case invalidColumn = "schema.invalid_column"
        /// A column has a type other than integer, real, text, boolean, date, timestamp.
        case unknownType = "schema.unknown_type"
        /// The schema lists no column.
        case noColumns = "schema.no_columns"
        /// The schema names a column twice.
        case duplicateColumn = "schema.duplicate_column"
        /// A required schema column is absent from the CSV header.
        case missingColumn = "schema.missing_column"
        /// The CSV header has a column the schema does not name.
        case unknownColumn = "schema.unknown_column"
        /// The CSV header names a column twice.
        case duplicateHeader = "schema.duplicate_header"
    }

    /// What is wrong.
    public let code: Code
    /// For people.
    public let message: String
    /// The column concerned, if one.
    public let column: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, column: String? = nil) {
        self.code = code
        self.message = message
        self.column = column
    }

    public var description: String { code.rawValue + ": " + message }
}
