import Testing
@testable import Imports

func withBytes<R>(_ text: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    Array(text.utf8).withUnsafeBytes(body)
}

struct SchemaValueParserTests {
    @Test func integers() {
        let good: [(String, Int64)] = [
            ("0", 0), ("-0", 0), ("+5", 5), ("007", 7), ("9223372036854775807", .max),
            ("-9223372036854775808", .min), ("-42", -42),
        ]
        for (text, value) in good { #expect(withBytes(text) { CellParser.integer($0) } == value, "\(text)") }
        for text in ["", "-", "+", "9223372036854775808", "-9223372036854775809", "1.0", "1e3", "1_000", "0x10",
                     " 5", "5 ", "١", "99999999999999999999999"] {
            #expect(withBytes(text) { CellParser.integer($0) } == nil, "\(text)")
        }
    }

    @Test func realsMatchTheStandardLibrary() {
        let samples = ["0", "1", "-1", "1.", ".5", "-.5e-3", "3.14159", "1e22", "1e23", "123456789012345678901234567890",
                       "0.1", "0.30000000000000004", "2.2250738585072014e-308", "1e-400", "4.9e-324", "1.7976931348623157e308",
                       "+12.5E+2", "00012.500", "9007199254740993", "0.000000000000000000000001"]
        for text in samples {
            let parsed = withBytes(text) { CellParser.real($0) }
            #expect(parsed == Double(text), "\(text)")
        }
        for text in ["", ".", "-", "e5", "1e", "1e+", "1.2.3", "1,5", "nan", "inf", "-infinity", "1e400", "0x1p3", " 1", "1 "] {
            #expect(withBytes(text) { CellParser.real($0) } == nil, "\(text)")
        }
    }

    @Test func realsFromRandomDecimalsAreCorrectlyRounded() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let digits = Int.random(in: 1...22, using: &generator)
            var text = Bool.random(using: &generator) ? "-" : ""
            for k in 0..<digits {
                if k == Int.random(in: 0..<digits, using: &generator) && !text.contains(".") { text += "." }
                text += String(Int.random(in: 0...9, using: &generator))
            }
            if Bool.random(using: &generator) { text += "e\(Int.random(in: -30...30, using: &generator))" }
            if text.hasSuffix(".") || text == "-" { continue }
            #expect(withBytes(text) { CellParser.real($0) } == Double(text), "\(text)")
        }
    }

    @Test func booleans() {
        for text in ["true", "TRUE", "True", "t", "yes", "Y", "on", "1"] {
            #expect(withBytes(text) { CellParser.boolean($0) } == true, "\(text)")
        }
        for text in ["false", "F", "no", "n", "OFF", "0"] {
            #expect(withBytes(text) { CellParser.boolean($0) } == false, "\(text)")
        }
        for text in ["", "2", "tru", "yess", "oui", "truee", "-1"] {
            #expect(withBytes(text) { CellParser.boolean($0) } == nil, "\(text)")
        }
    }

    @Test func datesAreRealCalendarDays() {
        for text in ["2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31", "2023-04-30"] {
            #expect(withBytes(text) { CellParser.date($0) } != nil, "\(text)")
        }
        for text in ["2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "0000-01-01", "2024-1-01",
                     "2024/01/01", "2024-01-01T00:00", "24-01-01", "2024-01-0a"] {
            #expect(withBytes(text) { CellParser.date($0) } == nil, "\(text)")
        }
    }

    func utc(_ text: String) -> String? {
        withBytes(text) { bytes -> String? in
            guard let (seconds, micros) = CellParser.timestamp(bytes) else { return nil }
            var out = [UInt8](repeating: 0, count: 27)
            out.withUnsafeMutableBufferPointer { CellParser.formatTimestamp(seconds: seconds, micros: micros, into: $0.baseAddress!) }
            return String(decoding: out, as: UTF8.self)
        }
    }

    @Test func timestampsNormalizeToUTC() {
        #expect(utc("2024-03-01T01:30:00+02:00") == "2024-02-29T23:30:00.000000Z")
        #expect(utc("2024-03-01t01:30:00z") == "2024-03-01T01:30:00.000000Z")
        #expect(utc("2024-03-01 01:30") == "2024-03-01T01:30:00.000000Z")
        #expect(utc("2024-03-01T01:30:00.5-0530") == "2024-03-01T07:00:00.500000Z")
        #expect(utc("2024-03-01T01:30:00.123456789Z") == "2024-03-01T01:30:00.123456Z")
        #expect(utc("1969-12-31T23:59:59.25Z") == "1969-12-31T23:59:59.250000Z")
        #expect(utc("9999-12-31T23:59:59-00:00") == "9999-12-31T23:59:59.000000Z")
        #expect(utc("0001-01-01T00:30:00-01:00") == "0001-01-01T01:30:00.000000Z")
        for text in ["2024-03-01", "2024-03-01T24:00:00Z", "2024-03-01T12:60:00Z", "2024-03-01T12:00:60Z",
                     "2024-02-30T00:00:00Z", "2024-03-01T12:00:00.Z", "2024-03-01T12:00:00+25:00", "2024-03-01T12:00:00 Z",
                     "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "2024-03-01T1:00:00Z", "2024-03-01T12:00:00+0"] {
            #expect(utc(text) == nil, "\(text)")
        }
    }

    @Test func scalarCountAndHash() {
        #expect(withBytes("aé€😀") { CellParser.scalarCount($0) } == 4)
        let a = withBytes("hello world!") { CellParser.hash($0, tag: 1) }
        #expect(a == withBytes("hello world!") { CellParser.hash($0, tag: 1) })
        #expect(a != withBytes("hello world?") { CellParser.hash($0, tag: 1) })
        #expect(a != withBytes("hello world!") { CellParser.hash($0, tag: 2) })
        #expect(withBytes("") { CellParser.hash($0, tag: 0) } != withBytes("\u{1}") { CellParser.hash($0, tag: 0) })
    }
}
