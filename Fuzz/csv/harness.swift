// libFuzzer harness for the CSV reader (built by scripts/fuzz.sh with Sources/CSVCodec).
// The first byte picks the configuration; the rest is the file. Besides "never traps", it
// checks three oracles: the same events whatever the chunking (whole vs. a chunk size taken
// from the input), resuming at a checkpoint gives the rest of the events, and every record's
// fields are valid UTF-8 with offsets that only move forward within the input.

enum FuzzEvent: Equatable {
    case header([[UInt8]])
    case record(Int, Int, UInt64, Int64, Int)
    case error(String, Int, Int, Int64, Int, Bool)
}

func collect(_ input: UnsafeRawBufferPointer, chunk: Int, reader: inout CSVReader) -> [FuzzEvent] {
    var events: [FuzzEvent] = []
    var offset = 0
    var lastEnd: Int64 = -1
    var finished = false
    while true {
        if offset < input.count {
            let n = min(chunk, input.count - offset)
            reader.feed(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + n)]))
            offset += n
        } else {
            reader.finish()
            finished = true
        }
        inner: while true {
            let step: CSVStep
            do throws(CSVError) {
                step = try reader.next()
            } catch {
                events.append(.error(error.code.rawValue, error.line, error.column, error.resumeOffset, error.resumeLine, error.isFatal))
                if error.isFatal { return events }
                if error.resumeOffset <= lastEnd { fatalError("row error did not move forward") }
                lastEnd = error.resumeOffset
                continue
            }
            switch step {
            case .header(let names):
                events.append(.header(names.map { Array($0.utf8) }))
            case .record(let record):
                // Fields are compared through a checksum of their bytes: no copy per field.
                var checksum: UInt64 = 0xCBF2_9CE4_8422_2325
                for i in 0..<record.count {
                    record.withBytes(at: i) { bytes in
                        if !CSVDialect.isValidUTF8(bytes) { fatalError("record field is not valid UTF-8") }
                        for b in bytes { checksum = (checksum ^ UInt64(b)) &* 0x100_0000_01B3 }
                        checksum = (checksum ^ 0xFF) &* 0x100_0000_01B3 ^ UInt64(bytes.count)
                    }
                }
                if record.endOffset <= lastEnd { fatalError("record end did not move forward") }
                lastEnd = record.endOffset
                events.append(.record(record.line, record.count, checksum, record.end.offset, record.end.line))
            case .needMoreData:
                if finished { fatalError("needMoreData after finish") }
                break inner
            case .end:
                return events
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count >= 2 else { return 0 }
    let control = data.load(as: UInt8.self)
    let input = UnsafeRawBufferPointer(start: data + 1, count: count - 1)
    let delimiters: [UInt8?] = [nil, 0x2C, 0x3B, 0x09]
    let limits = control & 0x08 != 0 ? CSVLimits(maxFieldBytes: 7, maxRowBytes: 20, maxFields: 4) : CSVLimits()
    let configuration = CSVConfiguration(
        delimiter: delimiters[Int(control & 0x03)], hasHeader: control & 0x04 == 0, limits: limits,
        sampleBytes: control & 0x10 != 0 ? 5 : 64 * 1024)
    let chunk = Int(control >> 5) + 1

    var whole = CSVReader(configuration: configuration)
    let expected = collect(input, chunk: input.count + 1, reader: &whole)
    var pieces = CSVReader(configuration: configuration)
    let chunked = collect(input, chunk: chunk, reader: &pieces)
    if expected != chunked { fatalError("chunking changed the events: \(expected) vs \(chunked)") }

    // Resume at the middle checkpoint, when the header and delimiter are known.
    guard configuration.hasHeader, let header = whole.header, let delimiter = whole.delimiter else { return 0 }
    let checkpoints = expected.indices.compactMap { k -> (Int, CSVPosition)? in
        switch expected[k] {
        case .record(_, _, _, let offset, let line): return (k, CSVPosition(offset: offset, line: line))
        case .error(_, _, _, let offset, let line, false): return (k, CSVPosition(offset: offset, line: line))
        default: return nil
        }
    }
    guard !checkpoints.isEmpty else { return 0 }
    let (k, position) = checkpoints[checkpoints.count / 2]
    var resumed = CSVReader(resumingAt: position, header: header, delimiter: delimiter, configuration: configuration)
    let rest = UnsafeRawBufferPointer(rebasing: input[Int(position.offset)...])
    let tail = collect(rest, chunk: chunk, reader: &resumed)
    if tail != Array(expected[(k + 1)...]) { fatalError("resume at \(position) changed the events") }
    return 0
}
