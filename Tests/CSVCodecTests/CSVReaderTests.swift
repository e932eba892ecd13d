import Testing
import CSVCodec

struct CSVReaderTests {
    @Test func readsHeaderAndRecords() {
        let events = read("id,name\n1,ann\n2,bob\n")
        #expect(events == [
            .header(["id", "name"]),
            .record(line: 2, fields: ["1", "ann"], end: CSVPosition(offset: 14, line: 3)),
            .record(line: 3, fields: ["2", "bob"], end: CSVPosition(offset: 20, line: 4)),
        ])
    }

    @Test func unquotesDoubledQuotesAndEmbeddedLineEnds() {
        let events = read("a,b\n\"x \"\"y\"\"\",\"1\r\n2\"\n3,4")
        #expect(rows(events) == [["x \"y\"", "1\r\n2"], ["3", "4"]])
        #expect(events.last == .record(line: 4, fields: ["3", "4"], end: CSVPosition(offset: 24, line: 4)))
    }
}

struct CSVReaderDialectTests {
    @Test func detectsEachDelimiterFromTheSample() {
        #expect(rows(read("a;b;c\n1;2,5;3\n")) == [["1", "2,5", "3"]])
        #expect(rows(read("a\tb\n1\t\"x,y\"\n")) == [["1", "x,y"]])
        #expect(rows(read("a|b|c\n1|2|3\n4|5|6\n")) == [["1", "2", "3"], ["4", "5", "6"]])
        #expect(rows(read("a,b\n1,2\n")) == [["1", "2"]])
        // Delimiters inside quotes do not vote.
        #expect(CSVDialect.detectDelimiter(in: Array("\"a;b;c\",d\n\"x;y;z\",w\n".utf8), isComplete: true) == UInt8(ascii: ","))
        // One column: nothing to detect, comma.
        #expect(CSVDialect.detectDelimiter(in: Array("name\nann\n".utf8), isComplete: true) == UInt8(ascii: ","))
        // Consistency beats frequency: semicolons split every line the same way.
        #expect(CSVDialect.detectDelimiter(in: Array("a;b\n1,5;2,5,7\n3;4\n".utf8), isComplete: true) == UInt8(ascii: ";"))
    }

    @Test func overrideBeatsDetection() {
        let events = read("a;b,c\n1;2,3\n", configuration: CSVConfiguration(delimiter: UInt8(ascii: ";")))
        #expect(events.first == .header(["a", "b,c"]))
        #expect(rows(events) == [["1", "2,3"]])
    }

    @Test func detectionWaitsForTheSampleOrTheEnd() throws {
        var reader = CSVReader(configuration: CSVConfiguration(sampleBytes: 8))
        reader.feed(Array("a;b\n1".utf8))
        #expect(try reader.next() == .needMoreData)
        reader.feed(Array(";2\n".utf8))
        #expect(try reader.next() == .header(["a", "b"]))
        #expect(reader.delimiter == UInt8(ascii: ";"))
    }

    @Test func byteOrderMarkIsSkippedButCounted() {
        let events = read("\u{FEFF}id\n7\n")
        #expect(events == [.header(["id"]), .record(line: 2, fields: ["7"], end: CSVPosition(offset: 8, line: 3))])
        // A BOM-like prefix later in the file is data.
        #expect(rows(read("id\n\u{FEFF}7\n")) == [["\u{FEFF}7"]])
    }

    @Test func lineEndsOfEveryKind() {
        #expect(rows(read("a,b\r1,2\r3,4")) == [["1", "2"], ["3", "4"]])
        #expect(rows(read("a,b\r\n1,2\r\n")) == [["1", "2"]])
        #expect(read("a\n\n\nx\n").last == .record(line: 4, fields: ["x"], end: CSVPosition(offset: 6, line: 5)))
    }

    @Test func headerlessFilesTakeTheFirstRecordsFieldCount() {
        let events = read("1,2\n3,4,5\n", configuration: CSVConfiguration(hasHeader: false))
        #expect(events.first == .record(line: 1, fields: ["1", "2"], end: CSVPosition(offset: 4, line: 2)))
        #expect(codes(events) == ["csv.ragged_row"])
    }

    @Test func headerOnlyFileHasNoRecordsAndNoError() {
        #expect(read("a,b\n") == [.header(["a", "b"])])
        #expect(read("a,b") == [.header(["a", "b"])])
    }

    @Test func trailingDelimiterMakesAnEmptyLastField() {
        #expect(rows(read("a,b\n1,\n2,")) == [["1", ""], ["2", ""]])
    }

    @Test func headerNamesAreTrimmed() {
        #expect(read("  id ,\tname\n").first == .header(["id", "name"]))
    }

    @Test func quotedFieldsAreMarked() throws {
        var reader = CSVReader()
        reader.feed(Array("a,b\n\"\",\n".utf8))
        reader.finish()
        _ = try reader.next()
        guard case .record(let record) = try reader.next() else {
            Issue.record("no record")
            return
        }
        #expect(record.isQuoted(at: 0))
        #expect(!record.isQuoted(at: 1))
        #expect(record.byteCount(at: 0) == 0)
        #expect(record.isASCII(at: 0))
    }
}

struct CSVReaderErrorTests {
    @Test func errorsCarryLineColumnOffsetAndExcerpt() throws {
        var reader = CSVReader()
        reader.feed(Array("a,b\n1,2\n\"x\ny\",z\"q\n3,4\n".utf8))
        reader.finish()
        #expect(try reader.next() == .header(["a", "b"]))
        _ = try reader.next()
        do {
            _ = try reader.next()
            Issue.record("expected a stray quote")
        } catch {
            #expect(error.code == .strayQuote)
            #expect(error.line == 4)
            #expect(error.recordLine == 3)
            #expect(error.column == 2)
            #expect(error.offset == 15)
            #expect(!error.isFatal)
            #expect(error.excerptText == "\"x\ny\",z")
            #expect(error.resumeOffset == 18)
            #expect(error.resumeLine == 5)
            #expect(error.description.hasPrefix("csv.stray_quote: "))
        }
        #expect(reader.position == CSVPosition(offset: 18, line: 5))
        guard case .record(let record) = try reader.next() else {
            Issue.record("expected the next record")
            return
        }
        #expect(record.strings == ["3", "4"])
    }

    @Test func fieldLimitIsCheckedAtTheExceedingByteAndMemoryStaysBounded() throws {
        var reader = CSVReader(configuration: CSVConfiguration(delimiter: UInt8(ascii: ","), limits: CSVLimits(maxFieldBytes: 1000, maxRowBytes: 5000)))
        reader.feed(Array("a,b\n1,\"".utf8))
        #expect(try reader.next() == .header(["a", "b"]))
        var caught: CSVError?
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
        for _ in 0..<1000 {
            reader.feed(chunk)
            #expect(reader.bufferedBytes <= 1200)
            do {
                _ = try reader.next()
            } catch {
                caught = error
                break
            }
        }
        #expect(caught == nil, "the error comes once the record is skipped")
        reader.feed(Array("\",2\n3,4\n".utf8))
        do {
            _ = try reader.next()
            Issue.record("expected csv.field_too_large")
        } catch {
            #expect(error.code == .fieldTooLarge)
            #expect(error.offset == 7 + 1000)
            #expect(error.resumeOffset == 7 + 100_000 + 4)
        }
        guard case .record(let record) = try reader.next() else {
            Issue.record("expected the record after the skipped one")
            return
        }
        #expect(record.strings == ["3", "4"])
    }

    @Test func errorsInTheHeaderAreFatal() {
        #expect(read("a,\"b\"x\n1,2\n") == [.fatal(code: "csv.stray_quote", line: 1, column: 2)])
        #expect(read("a,a\n") == [.fatal(code: "csv.bad_header", line: 1, column: 2)])
    }

    @Test func everyCodeHasAMessage() {
        for code in CSVError.Code.allCases {
            let error = CSVError(code, line: 1, column: 0, offset: 0, isFatal: true)
            #expect(!error.message.isEmpty)
            #expect(code.rawValue.hasPrefix("csv."))
        }
    }
}
