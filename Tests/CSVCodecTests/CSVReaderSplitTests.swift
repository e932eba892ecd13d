import Testing
import CSVCodec

/// Files chosen to put every awkward byte at some chunk boundary: BOM, CRLF and lone CR,
/// doubled quotes, line ends inside quotes, blank lines, a missing final line end, errors.
enum TrickyFiles {
    static let all: [(name: String, bytes: [UInt8])] = [
        ("bom-semicolon-crlf", Array("\u{FEFF}id;name;note\r\n1;\"a;b\";\"x\"\"y\"\r\n\r\n2;;\"multi\r\nline\"\r3;c;d".utf8)),
        ("errors", Array("a,b\n1,2,3\n\"x\"y,2\n4,5\nk\"q,1\n\"é\",\"\"\n\"un".utf8)),
        ("quotes-at-edges", Array("\"\",\"\"\"\"\n\"a\"\"\",b\r\n\"\r\",\"\n\"\r\r\n,\n".utf8)),
        ("tabs-and-utf8", Array("x\ty\tz\nü\t\"€\t\"\t😀\n\n\n1\t2\t3".utf8)),
        ("invalid-utf8-rows", [0x61, 0x2C, 0x62, 0x0A, 0x31, 0x2C, 0xC3, 0x0A, 0x32, 0x2C, 0xE2, 0x82, 0xAC, 0x0D, 0x0A, 0x22, 0xFF, 0x22, 0x2C, 0x33, 0x0D]),
    ]
}

struct CSVReaderSplitTests {
    @Test(arguments: TrickyFiles.all.map(\.name))
    func everyTwoAndThreeChunkSplitGivesTheSameEvents(_ name: String) throws {
        let input = try #require(TrickyFiles.all.first { $0.name == name }).bytes
        let expected = read(input)
        #expect(!expected.isEmpty)
        for i in 0...input.count {
            #expect(read(input, cuts: [i]) == expected, "cut at \(i)")
            for j in i...input.count {
                let events = read(input, cuts: [i, j])
                if events != expected {
                    Issue.record("\(name): cuts at \(i), \(j): \(events) != \(expected)")
                    return
                }
            }
        }
    }

    @Test(arguments: TrickyFiles.all.map(\.name))
    func everyChunkSizeGivesTheSameEvents(_ name: String) throws {
        let input = try #require(TrickyFiles.all.first { $0.name == name }).bytes
        let expected = read(input)
        for size in 1...input.count {
            let cuts = Array(stride(from: size, to: input.count, by: size))
            #expect(read(input, cuts: cuts) == expected, "chunk size \(size)")
        }
    }

    @Test func trickyFilesReadAsExpected() {
        #expect(read(TrickyFiles.all[0].bytes) == [
            .header(["id", "name", "note"]),
            .record(line: 2, fields: ["1", "a;b", "x\"y"], end: CSVPosition(offset: 33, line: 3)),
            .record(line: 4, fields: ["2", "", "multi\r\nline"], end: CSVPosition(offset: 52, line: 6)),
            .record(line: 6, fields: ["3", "c", "d"], end: CSVPosition(offset: 57, line: 6)),
        ])
        #expect(read(TrickyFiles.all[1].bytes) == [
            .header(["a", "b"]),
            .rowError(code: "csv.ragged_row", line: 2, column: 3, resume: CSVPosition(offset: 10, line: 3)),
            .rowError(code: "csv.stray_quote", line: 3, column: 1, resume: CSVPosition(offset: 17, line: 4)),
            .record(line: 4, fields: ["4", "5"], end: CSVPosition(offset: 21, line: 5)),
            .rowError(code: "csv.stray_quote", line: 5, column: 1, resume: CSVPosition(offset: 27, line: 6)),
            .record(line: 6, fields: ["é", ""], end: CSVPosition(offset: 35, line: 7)),
            .fatal(code: "csv.unterminated_quote", line: 7, column: 1),
        ])
        #expect(read(TrickyFiles.all[2].bytes, configuration: CSVConfiguration(hasHeader: false)) == [
            .record(line: 1, fields: ["", "\""], end: CSVPosition(offset: 8, line: 2)),
            .record(line: 2, fields: ["a\"", "b"], end: CSVPosition(offset: 17, line: 3)),
            .record(line: 3, fields: ["\r", "\n"], end: CSVPosition(offset: 25, line: 6)),
            .record(line: 7, fields: ["", ""], end: CSVPosition(offset: 29, line: 8)),
        ])
        #expect(read(TrickyFiles.all[3].bytes) == [
            .header(["x", "y", "z"]),
            .record(line: 2, fields: ["ü", "€\t", "😀"], end: CSVPosition(offset: 21, line: 3)),
            .record(line: 5, fields: ["1", "2", "3"], end: CSVPosition(offset: 28, line: 5)),
        ])
        #expect(read(TrickyFiles.all[4].bytes) == [
            .header(["a", "b"]),
            .rowError(code: "csv.invalid_utf8", line: 2, column: 2, resume: CSVPosition(offset: 8, line: 3)),
            .record(line: 3, fields: ["2", "€"], end: CSVPosition(offset: 15, line: 4)),
            .rowError(code: "csv.invalid_utf8", line: 4, column: 1, resume: CSVPosition(offset: 21, line: 5)),
        ])
    }

    /// Resuming a fresh reader at any record end (or row error's resume point) gives exactly
    /// the events that followed it, with the same lines and offsets.
    @Test(arguments: TrickyFiles.all.map(\.name))
    func resumingAtEveryCheckpointGivesTheRest(_ name: String) throws {
        let input = try #require(TrickyFiles.all.first { $0.name == name }).bytes
        var full = CSVReader()
        let expected = read(input, cuts: [], with: &full)
        guard let header = full.header, let delimiter = full.delimiter else { return }
        for (k, event) in expected.enumerated() {
            let position: CSVPosition
            switch event {
            case .record(_, _, let end): position = end
            case .rowError(_, _, _, let resume): position = resume
            default: continue
            }
            let rest = Array(input[Int(position.offset)...])
            for size in [1, 2, 5, rest.count + 1] {
                var reader = CSVReader(resumingAt: position, header: header, delimiter: delimiter)
                let cuts = Array(stride(from: size, to: rest.count, by: size))
                let events = read(rest, cuts: cuts, with: &reader)
                #expect(events == Array(expected[(k + 1)...]), "\(name) resumed at \(position), chunk \(size)")
            }
        }
    }
}
