import Testing
import CSVCodec
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
