import Testing
@testable import Imports

struct SchemaDocumentTests {
    @Test func parsesTheDocumentedExample() throws {
        let schema = try ImportSchema.parse(json: SchemaValidatorTests.orders)
        #expect(schema.columns.map(\.name) == ["id", "email", "status", "amount", "active", "day", "at"])
        #expect(schema.columns[0] == SchemaColumn(name: "id", type: .integer, required: true, unique: true))
        #expect(schema.columns[2].allowed == ["new", "paid"])
        #expect(schema.columns.map(\.type.sqlType) == ["INTEGER", "TEXT", "TEXT", "REAL", "INTEGER", "TEXT", "TEXT"])
        #expect(!schema.ignoreUnknownColumns)
    }

    @Test func typeDefaultsToText() throws {
        let schema = try ImportSchema.parse(json: #"{"columns":[{"name":"note"}],"ignoreUnknownColumns":true}"#)
        #expect(schema.columns == [SchemaColumn(name: "note")])
        #expect(schema.ignoreUnknownColumns)
    }

    @Test(arguments: [
        ("not json", "schema.invalid_json"),
        ("[]", "schema.invalid_column"),
        (#"{"columns":[]}"#, "schema.no_columns"),
        (#"{"cols":[{"name":"a"}]}"#, "schema.invalid_json"),
        (#"{"columns":[{"name":"a"}],"extra":1}"#, "schema.invalid_json"),
        (#"{"columns":[{"type":"text"}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":"a","type":"money"}]}"#, "schema.unknown_type"),
        (#"{"columns":[{"name":"a","maxlength":3}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":"a","required":"yes"}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":"a","type":"integer","maxLength":3}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":"a","type":"integer","allowed":["1"]}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":"a","allowed":[]}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":"a","maxLength":0}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":""}]}"#, "schema.invalid_column"),
        (#"{"columns":[{"name":"a"},{"name":"a"}]}"#, "schema.duplicate_column"),
    ])
    func rejectsBadSchemas(_ json: String, _ code: String) {
        do {
            _ = try ImportSchema.parse(json: json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.code.rawValue == code, "\(json): \(error.message)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func headerMustFitTheSchema() throws {
        let schema = try ImportSchema.parse(json: #"{"columns":[{"name":"id","required":true},{"name":"note"}]}"#)
        #expect(try RowValidator(schema: schema, header: ["note", "id"]).header == ["note", "id"])
        #expect(try RowValidator(schema: schema, header: ["id"]).schema == schema)
        #expect(throws: SchemaError(.missingColumn, "the file lacks required columns: id", column: "id")) {
            try RowValidator(schema: schema, header: ["note"])
        }
        do {
            _ = try RowValidator(schema: schema, header: ["id", "note", "extra", "more"])
            Issue.record("accepted unknown columns")
        } catch {
            #expect(error.code == .unknownColumn)
            #expect(error.message.contains("extra, more"))
        }
        #expect(throws: SchemaError.self) { try RowValidator(schema: schema, header: ["id", "id"]) }
        var lenient = schema
        lenient.ignoreUnknownColumns = true
        #expect(try RowValidator(schema: lenient, header: ["extra", "id"]).header == ["extra", "id"])
    }
}
