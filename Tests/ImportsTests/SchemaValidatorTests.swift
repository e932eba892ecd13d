import Foundation
import Testing
import CSVCodec
import Storage
@testable import Imports

/// Reads `csv` and validates each record with a schema; returns values or row errors per row.
func validateAll(_ csv: String, schema: ImportSchema?) throws -> [Result<[CellValue], RowError>] {
    var reader = CSVReader(configuration: CSVConfiguration(delimiter: UInt8(ascii: ",")))
    reader.feed(Array(csv.utf8))
    reader.finish()
    var validator: RowValidator?
    var results: [Result<[CellValue], RowError>] = []
    while true {
        let step: CSVStep
        do {
            step = try reader.next()
        } catch {
            if error.isFatal { throw error }
            results.append(.failure(RowError(error, header: reader.header)))
            continue
        }
        switch step {
        case .header(let names):
            validator = try RowValidator(schema: schema ?? .text(header: names), header: names)
        case .record(let record):
            guard var v = validator else { return results }
            do {
                try v.validate(record)
                results.append(.success(v.values(of: record)))
            } catch {
                results.append(.failure(error))
            }
            validator = v
        case .needMoreData, .end:
            return results
        }
    }
}

func errorCodes(_ results: [Result<[CellValue], RowError>]) -> [String?] {
    results.map { if case .failure(let e) = $0 { return e.code.rawValue } else { return nil } }
}

struct SchemaValidatorTests {
    static let orders = """
    {"columns":[{"name":"id","type":"integer","required":true,"unique":true},
    {"name":"email","type":"text","maxLength":20},{"name":"status","type":"text","allowed":["new","paid"]},
    {"name":"amount","type":"real"},{"name":"active","type":"boolean"},{"name":"day","type":"date"},
    {"name":"at","type":"timestamp"}]}
    """

    @Test func typesValuesForBinding() throws {
        let schema = try ImportSchema.parse(json: Self.orders)
        let results = try validateAll(
            "id,email,status,amount,active,day,at\n 7 ,a@b.c,paid,-1.5e2,Yes,2024-02-29,2024-03-01T01:30:00+02:00\n8,,,,,,\n",
            schema: schema)
        #expect(try results[0].get() == [
            .integer(7), .text("a@b.c"), .text("paid"), .real(-150), .boolean(true), .text("2024-02-29"),
            .text("2024-02-29T23:30:00.000000Z"),
        ])
        #expect(try results[1].get() == [.integer(8), .null, .null, .null, .null, .null, .null])
    }

    @Test func rejectsEachRuleWithItsCode() throws {
        let schema = try ImportSchema.parse(json: Self.orders)
        let csv = """
        id,email,status,amount,active,day,at
        x,,,,,,
        ,,,,,,
        2,aaaaaaaaaaaaaaaaaaaaa,,,,,
        3,,old,,,,
        4,,,1.2.3,,,
        5,,,,maybe,,
        6,,,,,2023-02-29,
        7,,,,,,2024-01-01 25:00
        8,,,,,,
        8,,,,,,
        9,,,
        """
        let results = try validateAll(csv, schema: schema)
        #expect(errorCodes(results) == [
            "row.invalid_integer", "row.required", "row.too_long", "row.not_allowed", "row.invalid_real",
            "row.invalid_boolean", "row.invalid_date", "row.invalid_timestamp", nil, "row.duplicate", "csv.ragged_row",
        ])
        guard case .failure(let error) = results[0] else { return }
        #expect(error.line == 2)
        #expect(error.column == "id")
        #expect(error.rawValue == "x")
    }
}


struct SchemaValidatorRuleTests {
    func schema(_ json: String) throws -> ImportSchema { try ImportSchema.parse(json: json) }

    @Test func maxLengthCountsCharactersNotBytes() throws {
        let s = try schema(#"{"columns":[{"name":"t","maxLength":3}]}"#)
        #expect(errorCodes(try validateAll("t\néé€\néééé\nabc\nabcd\n", schema: s)) == [nil, "row.too_long", nil, "row.too_long"])
    }

    @Test func allowedIsExactAndEmptyIsNull() throws {
        let s = try schema(#"{"columns":[{"name":"s","allowed":["new","paid"]},{"name":"n"}]}"#)
        let results = try validateAll("s,n\nnew,1\nNew,2\n\"paid\",3\n,4\n\"\",5\n", schema: s)
        #expect(errorCodes(results) == [nil, "row.not_allowed", nil, nil, nil])
        #expect(try results[3].get() == [.null, .text("4")])
        #expect(try results[4].get() == [.null, .text("5")])
    }

    @Test func requiredRejectsEmptyAndBlankNonText() throws {
        let s = try schema(#"{"columns":[{"name":"i","type":"integer","required":true},{"name":"t","required":true}]}"#)
        #expect(errorCodes(try validateAll("i,t\n1,x\n  ,x\n2,\n3, \n", schema: s)) == [nil, "row.required", "row.required", nil])
    }

    @Test func optionalColumnMissingFromHeaderIsNull() throws {
        let s = try schema(#"{"columns":[{"name":"a","type":"integer"},{"name":"b","type":"boolean"}]}"#)
        #expect(try validateAll("a\n5\n", schema: s).map { try $0.get() } == [[.integer(5), .null]])
    }

    @Test func uniquenessComparesNormalizedValuesAndIgnoresRejectedRowsAndNulls() throws {
        let s = try schema(#"""
        {"columns":[{"name":"id","type":"integer","unique":true},{"name":"at","type":"timestamp","unique":true},
        {"name":"t","unique":true,"maxLength":5}]}
        """#)
        let csv = """
        id,at,t
        1,2024-01-01T00:00:00Z,a
        01,,b
        2,2024-01-01T01:00:00+01:00,c
        3,,toolong
        3,,d
        ,,e
        ,,f
        4,,a
        5,,A
        """
        #expect(errorCodes(try validateAll(csv, schema: s)) == [
            nil, "row.duplicate", "row.duplicate", "row.too_long", nil, nil, nil, "row.duplicate", nil,
        ])
    }

    @Test func resumeRebuildsUniquenessEitherWay() throws {
        let s = try schema(#"{"columns":[{"name":"id","type":"integer","unique":true},{"name":"k","unique":true}]}"#)
        let header = ["id", "k"]
        var fresh = try RowValidator(schema: s, header: header)
        #expect(fresh.hasUniqueColumns)
        let remembered = [
            fresh.rememberUnique(column: "id", value: "007"), fresh.rememberUnique(column: "k", value: "x"),
            fresh.rememberUnique(column: "id", value: "seven"), fresh.rememberUnique(column: "nope", value: "1"),
        ]
        #expect(remembered == [true, true, false, false])
        #expect(fresh.rememberedValueCount == 2)
        let outcomes = try validateRows("id,k\n7,y\n8,x\n9,z\n", with: &fresh)
        #expect(outcomes == ["row.duplicate", "row.duplicate", nil])
    }

    func validateRows(_ csv: String, with validator: inout RowValidator) throws -> [String?] {
        var reader = CSVReader(configuration: CSVConfiguration(delimiter: UInt8(ascii: ",")))
        reader.feed(Array(csv.utf8))
        reader.finish()
        var outcomes: [String?] = []
        while true {
            switch try reader.next() {
            case .record(let record):
                do {
                    try validator.validate(record)
                    outcomes.append(nil)
                } catch {
                    outcomes.append(error.code.rawValue)
                }
            case .header: continue
            case .needMoreData, .end: return outcomes
            }
        }
    }

    @Test func bindsTypedValuesIntoARealSQLiteTable() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schema-bind-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let connection = try Connection(path: directory.appendingPathComponent("t.sqlite").path)
        let s = try ImportSchema.parse(json: SchemaValidatorTests.orders)
        let columns = s.columns.map { Connection.quoteIdentifier($0.name) + " " + $0.type.sqlType }.joined(separator: ", ")
        try connection.execute("CREATE TABLE orders (\(columns))")
        let insert = try connection.prepare("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)")

        var reader = CSVReader()
        reader.feed(Array("id,email,status,amount,active,day,at\n1,\"a\"\"b@c\",paid,2.5,no,2024-02-29,2024-03-01T00:00:00-01:00\n2,,,,,,\n".utf8))
        reader.finish()
        var validator: RowValidator?
        loop: while true {
            switch try reader.next() {
            case .header(let names): validator = try RowValidator(schema: s, header: names)
            case .record(let record):
                try validator?.validate(record)
                try validator?.bind(record, to: insert)
                try insert.step()
                insert.reset()
            case .needMoreData, .end: break loop
            }
        }
        var rows: [[SQLValue]] = []
        try connection.query("SELECT * FROM orders ORDER BY id") { row in rows.append((0..<7).map { row.value($0) }) }
        #expect(rows == [
            [.integer(1), .text("a\"b@c"), .text("paid"), .real(2.5), .integer(0), .text("2024-02-29"), .text("2024-03-01T01:00:00.000000Z")],
            [.integer(2), .null, .null, .null, .null, .null, .null],
        ])
    }
}
