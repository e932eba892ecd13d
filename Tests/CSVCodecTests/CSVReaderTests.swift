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
