/// What `CSVReader.next()` produced.
public enum CSVStep {
    /// The header row's column names (trimmed of spaces and tabs), returned once, before the
    /// first record, when the configuration has a header and the reader starts at the top.
    case header([String])
    /// A record; valid until the next call on the reader.
    case record(CSVRecord)
    /// The buffered bytes end inside a record: `feed` more, or `finish` at end of input.
    case needMoreData
    /// The input is exhausted (after `finish`); every later call returns `.end` again.
    case end
}

/// A streaming RFC 4180 reader: feed it chunks of bytes, pull records.
///
/// ```swift
/// var reader = CSVReader()
/// reader.feed(chunk)                  // any split of the file, even byte by byte
/// loop: while true {
///     switch try reader.next() {      // a row error is thrown, then reading goes on
///     case .header(let names): …
///     case .record(let record): …     // bind its fields before the next call
///     case .needMoreData: break loop  // feed the next chunk, or finish() at end of input
///     case .end: break loop
///     }
/// }
/// ```
///
/// See Sources/CSVCodec/README.md for the whole loop with errors and resume.
///
/// Accepted: quoted fields with doubled quotes and embedded CR/LF; CRLF, LF and lone CR line
/// ends; a UTF-8 byte order mark at the start of the file; a missing line end after the last
/// record. Blank lines (no byte between two line ends) are skipped and do not count as
/// records, though they do count as lines. The result (records, errors, offsets, lines) is
/// the same however the input is cut into chunks.
///
/// Memory: the buffer holds the unfinished record plus the last chunk, so it is bounded by
/// `CSVLimits.maxRowBytes` plus the chunk size. A reader is a handle on that buffer: copies
/// of a `CSVReader` share it, so use only one copy.
///
/// Not `Sendable`: a reader belongs to the one import worker that drives it.
public struct CSVReader {
    /// The configuration the reader was made with.
    public let configuration: CSVConfiguration
    @usableFromInline let storage: CSVStorage

    /// The delimiter in use: the configured one, or the detected one once detection ran.
    public private(set) var delimiter: UInt8?
    /// The header's column names, once read (or as given when resuming).
    public private(set) var header: [String]?
    /// Where reading goes on after the last record or row error returned: the checkpoint.
    public private(set) var position: CSVPosition

    enum Phase { case byteOrderMark, detection, header, records, failed(CSVError), ended }
    enum FieldState { case start, unquoted, quoted, afterQuote }
    struct Discard {
        var error: CSVError
        var inQuotes: Bool
        var togglesQuotes: Bool
        var lastWasCR: Bool
    }
    enum ScanResult { case record(end: Int), needMoreData, endOfInput, rowError(CSVError), fatal(CSVError) }

    var phase: Phase
    var isFinished = false
    var resumed: Bool
    var sawRecord = false
    var expectedFields: Int?
    /// File offset of `storage.bytes[0]`.
    var baseOffset: Int64
    var state = FieldState.start
    var recordStart = 0
    var pos = 0
    var fieldStart = 0
    var contentEnd = 0
    var fieldFlags: UInt8 = 0
    var fieldCount = 0
    var line: Int
    var recordLine: Int
    var quoteIndex = 0
    var quoteLine = 0
    var discard: Discard?

    /// Creates a reader for a whole file, starting at byte 0.
    public init(configuration: CSVConfiguration = CSVConfiguration()) {
        self.configuration = configuration
        self.storage = CSVStorage()
        self.delimiter = configuration.delimiter
        self.position = .start
        self.phase = .byteOrderMark
        self.resumed = false
        self.baseOffset = 0
        self.line = 1
        self.recordLine = 1
        if let delimiter = configuration.delimiter { storage.setDelimiter(delimiter) }
    }

    /// Creates a reader that resumes at a checkpoint: feed it the file's bytes from
    /// `position.offset` on. No header row is read (`header` is the one read before) and no
    /// byte order mark is looked for; records must have `header.count` fields.
    ///
    /// - Parameters:
    ///   - position: a `CSVRecord.end` or `CSVError.resumeOffset`/`resumeLine` stored earlier.
    ///   - header: the column names read at the start of the file.
    ///   - delimiter: the delimiter used at the start (`CSVReader.delimiter`).
    public init(resumingAt position: CSVPosition, header: [String], delimiter: UInt8, configuration: CSVConfiguration = CSVConfiguration()) {
        var configuration = configuration
        configuration.delimiter = delimiter
        self.configuration = configuration
        self.storage = CSVStorage()
        self.delimiter = delimiter
        self.header = header
        self.position = position
        self.phase = .records
        self.resumed = true
        self.expectedFields = header.isEmpty ? nil : header.count
        self.baseOffset = position.offset
        self.line = position.line
        self.recordLine = position.line
        storage.setDelimiter(delimiter)
    }

    /// Appends the next chunk of input. Invalidates records returned before.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        precondition(!isFinished, "CSVReader.feed after finish")
        compact()
        storage.append(chunk)
    }

    /// Appends the next chunk of input. Invalidates records returned before.
    public mutating func feed(_ chunk: [UInt8]) {
        chunk.withUnsafeBytes { feed($0) }
    }

    /// Appends the next chunk of input. Invalidates records returned before.
    public mutating func feed(_ chunk: ArraySlice<UInt8>) {
        chunk.withUnsafeBytes { feed($0) }
    }

    /// Marks the end of input: the last record may lack a line end, and an open quote
    /// becomes `csv.unterminated_quote`.
    public mutating func finish() {
        isFinished = true
    }

    /// How many bytes are buffered (for memory accounting and tests).
    public var bufferedBytes: Int { storage.count }

    /// Returns the next header, record, `.needMoreData` or `.end`.
    ///
    /// Throws a row error (`isFatal == false`) for a rejected record; the reader is then
    /// positioned after it and `next()` may be called again. Throws a fatal error when the
    /// file cannot be read on; later calls throw it again.
    public mutating func next() throws(CSVError) -> CSVStep {
        while true {
            switch phase {
            case .failed(let error):
                throw error
            case .ended:
                return .end
            case .byteOrderMark:
                let available = storage.count
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                var matched = 0
                while matched < 3, matched < available, storage.bytes[matched] == bom[matched] { matched += 1 }
                if matched == 3 {
                    recordStart = 3
                    pos = 3
                    position = CSVPosition(offset: 3, line: 1)
                } else if matched == available && !isFinished {
                    return .needMoreData
                }
                phase = delimiter == nil ? .detection : (configuration.hasHeader ? .header : .records)
            case .detection:
                let available = storage.count - pos
                if available < configuration.sampleBytes && !isFinished { return .needMoreData }
                let length = min(available, configuration.sampleBytes)
                let sample = UnsafeRawBufferPointer(start: storage.bytes + pos, count: length)
                let detected = CSVDialect.detectDelimiter(in: sample, isComplete: length == available && isFinished)
                delimiter = detected
                storage.setDelimiter(detected)
                phase = configuration.hasHeader ? .header : .records
            case .header, .records:
                let result = scan()
                switch result {
                case .needMoreData:
                    return .needMoreData
                case .endOfInput:
                    position = CSVPosition(offset: baseOffset + Int64(pos), line: line)
                    if !sawRecord && !resumed {
                        return try fail(CSVError(.emptyFile, line: line, column: 0, offset: baseOffset + Int64(pos), isFatal: true))
                    }
                    phase = .ended
                    return .end
                case .fatal(let error):
                    return try fail(error)
                case .rowError(let error):
                    position = CSVPosition(offset: error.resumeOffset, line: error.resumeLine)
                    if case .header = phase {
                        return try fail(error.asFatal())
                    }
                    sawRecord = true
                    throw error
                case .record(let end):
                    sawRecord = true
                    let count = fieldCount
                    fieldCount = 0
                    let endPosition = CSVPosition(offset: baseOffset + Int64(end), line: line)
                    let startOffset = baseOffset + Int64(recordStartOfLastRecord)
                    position = endPosition
                    if case .header = phase {
                        if let error = checkUTF8(count: count, recordStart: recordStartOfLastRecord, end: end, resume: endPosition) {
                            return try fail(error.asFatal())
                        }
                        unescape(count: count)
                        let record = CSVRecord(storage: storage, count: count, line: recordLine, end: endPosition)
                        var names: [String] = []
                        names.reserveCapacity(count)
                        for i in 0..<count { names.append(trimmed(record.string(at: i))) }
                        if let error = headerError(names, line: recordLine, offset: startOffset) {
                            return try fail(error)
                        }
                        header = names
                        expectedFields = count
                        phase = .records
                        return .header(names)
                    }
                    if let expected = expectedFields {
                        if count != expected {
                            throw rowError(
                                .raggedRow, line: recordLine, column: min(count, expected) + 1, offset: startOffset,
                                recordStart: recordStartOfLastRecord, end: end, resume: endPosition,
                                detail: "expected \(expected) fields, found \(count)")
                        }
                    } else {
                        expectedFields = count
                    }
                    if let error = checkUTF8(count: count, recordStart: recordStartOfLastRecord, end: end, resume: endPosition) {
                        throw error
                    }
                    unescape(count: count)
                    return .record(CSVRecord(storage: storage, count: count, line: recordLine, end: endPosition))
                }
            }
        }
    }

    /// Where the record just completed began (the scan moves `recordStart` on at once).
    var recordStartOfLastRecord = 0

    mutating func fail(_ error: CSVError) throws(CSVError) -> CSVStep {
        phase = .failed(error)
        throw error
    }

    /// Keeps only the bytes still needed: the unfinished record (or nothing while skipping).
    mutating func compact() {
        switch phase {
        case .byteOrderMark, .detection: return
        default: break
        }
        let keep = discard != nil ? pos : recordStart
        guard keep > 0 else { return }
        storage.discardPrefix(keep)
        baseOffset += Int64(keep)
        recordStart -= keep
        recordStartOfLastRecord = 0
        pos -= keep
        fieldStart = max(0, fieldStart - keep)
        contentEnd = max(0, contentEnd - keep)
        quoteIndex = max(0, quoteIndex - keep)
        if discard == nil {
            for i in 0..<fieldCount {
                storage.fields[i].start -= keep
                storage.fields[i].end -= keep
            }
        }
    }

    func trimmed(_ name: String) -> String {
        var scalars = Substring(name)
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }

    func headerError(_ names: [String], line: Int, offset: Int64) -> CSVError? {
        var seen = Set<String>()
        for (i, name) in names.enumerated() {
            if name.isEmpty {
                return CSVError(.badHeader, line: line, column: i + 1, offset: offset, isFatal: true, detail: "column \(i + 1) has no name")
            }
            if !seen.insert(name).inserted {
                return CSVError(.badHeader, line: line, column: i + 1, offset: offset, isFatal: true, detail: "duplicate column name \"\(name)\"")
            }
        }
        return nil
    }

    func excerpt(from start: Int, to end: Int) -> [UInt8] {
        let lower = max(0, min(start, storage.count))
        let upper = max(lower, min(end, storage.count, lower + 256))
        return Array(UnsafeBufferPointer(start: storage.bytes + lower, count: upper - lower))
    }

    func rowError(
        _ code: CSVError.Code, line: Int, column: Int, offset: Int64, recordStart: Int, end: Int,
        resume: CSVPosition, detail: String = ""
    ) -> CSVError {
        CSVError(
            code, line: line, recordLine: recordLine, column: column, offset: offset, isFatal: false, resumeOffset: resume.offset,
            resumeLine: resume.line, excerpt: excerpt(from: recordStart, to: lineContentEnd(recordStart: recordStart, end: end)), detail: detail)
    }

    /// The end of a record's content, without its line end.
    func lineContentEnd(recordStart: Int, end: Int) -> Int {
        var e = end
        if e > recordStart, storage.bytes[e - 1] == 0x0A { e -= 1 }
        if e > recordStart, storage.bytes[e - 1] == 0x0D { e -= 1 }
        return e
    }

    func checkUTF8(count: Int, recordStart: Int, end: Int, resume: CSVPosition) -> CSVError? {
        for i in 0..<count {
            let field = storage.fields[i]
            guard field.flags & CSVFieldBounds.nonASCII != 0 else { continue }
            if let bad = CSVDialect.firstInvalidUTF8(storage.bytes, from: field.start, to: field.end) {
                return rowError(
                    .invalidUTF8, line: recordLine + linesBetween(recordStart, bad), column: i + 1,
                    offset: baseOffset + Int64(bad), recordStart: recordStart, end: end, resume: resume)
            }
        }
        return nil
    }

    /// Line ends between two buffer indexes (only needed on the rare error path).
    func linesBetween(_ from: Int, _ to: Int) -> Int {
        var lines = 0
        var i = from
        while i < to {
            let b = storage.bytes[i]
            if b == 0x0D || (b == 0x0A && (i == 0 || storage.bytes[i - 1] != 0x0D)) { lines += 1 }
            i += 1
        }
        return lines
    }

    /// Undoes doubled quotes in place, in the fields that have them. Safe because the
    /// record is complete: its bytes are never scanned again.
    func unescape(count: Int) {
        let bytes = storage.bytes
        for i in 0..<count {
            let field = storage.fields[i]
            guard field.flags & CSVFieldBounds.escaped != 0 else { continue }
            var read = field.start
            var write = field.start
            while read < field.end {
                let b = bytes[read]
                bytes[write] = b
                write += 1
                read += (b == 0x22 && read + 1 < field.end && bytes[read + 1] == 0x22) ? 2 : 1
            }
            storage.fields[i].end = write
        }
    }
}

extension CSVError {
    func asFatal() -> CSVError {
        CSVError(code, line: line, recordLine: recordLine, column: column, offset: offset, isFatal: true, excerpt: excerpt, detail: detail.isEmpty ? "in the header row" : detail + " (header row)")
    }
}

extension CSVStep: Equatable {
    /// Steps compare by kind and content (records by line, end and field bytes).
    public static func == (lhs: CSVStep, rhs: CSVStep) -> Bool {
        switch (lhs, rhs) {
        case (.header(let a), .header(let b)): return a == b
        case (.needMoreData, .needMoreData), (.end, .end): return true
        case (.record(let a), .record(let b)):
            return a.line == b.line && a.end == b.end && a.strings == b.strings
        default: return false
        }
    }
}
