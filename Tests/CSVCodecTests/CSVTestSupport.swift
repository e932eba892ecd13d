import CSVCodec

/// One observable outcome of reading: what a test compares across chunkings.
enum Event: Equatable, CustomStringConvertible {
    case header([String])
    case record(line: Int, fields: [String], end: CSVPosition)
    case rowError(code: String, line: Int, column: Int, resume: CSVPosition)
    case fatal(code: String, line: Int, column: Int)

    var description: String {
        switch self {
        case .header(let names): return "header\(names)"
        case .record(let line, let fields, let end): return "record@\(line)\(fields)->\(end.offset)/\(end.line)"
        case .rowError(let code, let line, let column, let resume): return "\(code)@\(line):\(column)->\(resume.offset)/\(resume.line)"
        case .fatal(let code, let line, let column): return "FATAL \(code)@\(line):\(column)"
        }
    }
}

/// Drains a reader until it needs data, ends or fails, appending what it saw.
func drain(_ reader: inout CSVReader, into events: inout [Event]) -> Bool {
    while true {
        do {
            switch try reader.next() {
            case .header(let names): events.append(.header(names))
            case .record(let record): events.append(.record(line: record.line, fields: record.strings, end: record.end))
            case .needMoreData: return false
            case .end: return true
            }
        } catch {
            if error.isFatal {
                events.append(.fatal(code: error.code.rawValue, line: error.line, column: error.column))
                return true
            }
            events.append(.rowError(code: error.code.rawValue, line: error.line, column: error.column,
                                    resume: CSVPosition(offset: error.resumeOffset, line: error.resumeLine)))
        }
    }
}

/// Reads `input` cut at the given offsets (sorted, inside the input) and returns every event.
func read(_ input: [UInt8], cuts: [Int] = [], configuration: CSVConfiguration = CSVConfiguration()) -> [Event] {
    var reader = CSVReader(configuration: configuration)
    return read(input, cuts: cuts, with: &reader)
}

func read(_ input: [UInt8], cuts: [Int], with reader: inout CSVReader) -> [Event] {
    var events: [Event] = []
    var start = 0
    for cut in cuts + [input.count] {
        reader.feed(input[start..<cut])
        start = cut
        if drain(&reader, into: &events) { return events }
    }
    reader.finish()
    _ = drain(&reader, into: &events)
    return events
}

func read(_ text: String, cuts: [Int] = [], configuration: CSVConfiguration = CSVConfiguration()) -> [Event] {
    read(Array(text.utf8), cuts: cuts, configuration: configuration)
}

/// The records' fields only, for short assertions.
func rows(_ events: [Event]) -> [[String]] {
    events.compactMap { if case .record(_, let fields, _) = $0 { return fields } else { return nil } }
}

func codes(_ events: [Event]) -> [String] {
    events.compactMap {
        switch $0 {
        case .rowError(let code, _, _, _), .fatal(let code, _, _): return code
        default: return nil
        }
    }
}
