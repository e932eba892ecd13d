// The byte scanner behind `CSVReader.next()`: a resumable state machine whose hot paths are
// tight loops over a byte-class table. All state lives in the reader, so a scan can stop at
// any byte for lack of input and go on after `feed` with the same outcome.

extension CSVReader {
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let quoteByte: UInt8 = 0x22

    /// Scans until a record is complete, input runs out, or an error is found. A row error
    /// is returned only once the rejected record has been skipped entirely.
    mutating func scan() -> ScanResult {
        if discard != nil { return skipRejectedRecord() }
        let bytes = storage.bytes
        let classes = storage.classes
        let count = storage.count
        let maxField = configuration.limits.maxFieldBytes
        let maxRow = configuration.limits.maxRowBytes
        var p = pos
        var line = self.line

        while true {
            switch state {
            case .start:
                if p == count {
                    pos = p
                    self.line = line
                    if !isFinished { return .needMoreData }
                    if fieldCount == 0 && p == recordStart { return .endOfInput }
                    // A delimiter just before end of input: the last field is empty.
                    if fieldCount >= configuration.limits.maxFields {
                        return beginSkipping(.rowTooLarge, at: p, line: line, inQuotes: false, togglesQuotes: true, detail: "more than \(configuration.limits.maxFields) fields")
                    }
                    appendField(start: p, end: p, flags: 0)
                    return completeRecord(end: p, line: line)
                }
                let b = bytes[p]
                if fieldCount == 0 && p == recordStart {
                    if b == CSVReader.lf {
                        p += 1
                        line += 1
                        recordStart = p
                        continue
                    }
                    if b == CSVReader.cr {
                        if p + 1 == count && !isFinished {
                            pos = p
                            self.line = line
                            return .needMoreData
                        }
                        p += 1
                        if p < count && bytes[p] == CSVReader.lf { p += 1 }
                        line += 1
                        recordStart = p
                        continue
                    }
                    recordLine = line
                }
                if fieldCount >= configuration.limits.maxFields {
                    return beginSkipping(.rowTooLarge, at: p, line: line, inQuotes: false, togglesQuotes: true, detail: "more than \(configuration.limits.maxFields) fields")
                }
                if b == CSVReader.quoteByte {
                    quoteIndex = p
                    quoteLine = line
                    p += 1
                    fieldStart = p
                    fieldFlags = CSVFieldBounds.quoted
                    state = .quoted
                } else {
                    fieldStart = p
                    fieldFlags = 0
                    state = .unquoted
                }

            case .unquoted:
                let limit = min(count - fieldStart <= maxField ? count : fieldStart + maxField,
                                count - recordStart <= maxRow ? count : recordStart + maxRow)
                var high: UInt8 = 0
                while p < limit {
                    let c = classes[Int(bytes[p])]
                    if c > CSVStorage.high { break }
                    high |= c
                    p &+= 1
                }
                fieldFlags |= high
                if p == count {
                    pos = p
                    self.line = line
                    if !isFinished { return .needMoreData }
                    appendField(start: fieldStart, end: p, flags: fieldFlags)
                    return completeRecord(end: p, line: line)
                }
                switch classes[Int(bytes[p])] {
                case CSVStorage.delimiter:
                    appendField(start: fieldStart, end: p, flags: fieldFlags)
                    p += 1
                    state = .start
                case CSVStorage.lineFeed:
                    appendField(start: fieldStart, end: p, flags: fieldFlags)
                    return completeRecord(end: p + 1, line: line + 1)
                case CSVStorage.carriageReturn:
                    if p + 1 == count && !isFinished {
                        pos = p
                        self.line = line
                        return .needMoreData
                    }
                    appendField(start: fieldStart, end: p, flags: fieldFlags)
                    let end = (p + 1 < count && bytes[p + 1] == CSVReader.lf) ? p + 2 : p + 1
                    return completeRecord(end: end, line: line + 1)
                case CSVStorage.quote:
                    return beginSkipping(.strayQuote, at: p, line: line, inQuotes: false, togglesQuotes: false, skipCurrent: true)
                case CSVStorage.nul:
                    return binary(at: p, line: line)
                default:
                    return tooLarge(at: p, line: line, inQuotes: false)
                }

            case .quoted:
                let limit = min(count - fieldStart <= maxField ? count : fieldStart + maxField,
                                count - recordStart <= maxRow ? count : recordStart + maxRow)
                var high: UInt8 = 0
                while p < limit {
                    let c = classes[Int(bytes[p])]
                    if c > CSVStorage.delimiter { break }
                    high |= c
                    p &+= 1
                }
                fieldFlags |= high & CSVStorage.high
                if p == count {
                    pos = p
                    self.line = line
                    if !isFinished { return .needMoreData }
                    return .fatal(CSVError(
                        .unterminatedQuote, line: quoteLine, column: fieldCount + 1,
                        offset: baseOffset + Int64(quoteIndex), isFatal: true))
                }
                switch classes[Int(bytes[p])] {
                case CSVStorage.lineFeed:
                    // A CRLF inside quotes is one line end, counted at its CR.
                    if bytes[p - 1] != CSVReader.cr { line += 1 }
                    p += 1
                case CSVStorage.carriageReturn:
                    line += 1
                    p += 1
                case CSVStorage.quote:
                    if p + 1 == count {
                        if !isFinished {
                            pos = p
                            self.line = line
                            return .needMoreData
                        }
                        contentEnd = p
                        p += 1
                        state = .afterQuote
                    } else if bytes[p + 1] == CSVReader.quoteByte {
                        fieldFlags |= CSVFieldBounds.escaped
                        p += 2
                    } else {
                        contentEnd = p
                        p += 1
                        state = .afterQuote
                    }
                case CSVStorage.nul:
                    return binary(at: p, line: line)
                default:
                    return tooLarge(at: p, line: line, inQuotes: true)
                }

            case .afterQuote:
                if p == count {
                    pos = p
                    self.line = line
                    if !isFinished { return .needMoreData }
                    appendField(start: fieldStart, end: contentEnd, flags: fieldFlags)
                    return completeRecord(end: p, line: line)
                }
                switch classes[Int(bytes[p])] {
                case CSVStorage.delimiter:
                    appendField(start: fieldStart, end: contentEnd, flags: fieldFlags)
                    p += 1
                    state = .start
                case CSVStorage.lineFeed:
                    appendField(start: fieldStart, end: contentEnd, flags: fieldFlags)
                    return completeRecord(end: p + 1, line: line + 1)
                case CSVStorage.carriageReturn:
                    if p + 1 == count && !isFinished {
                        pos = p
                        self.line = line
                        return .needMoreData
                    }
                    appendField(start: fieldStart, end: contentEnd, flags: fieldFlags)
                    let end = (p + 1 < count && bytes[p + 1] == CSVReader.lf) ? p + 2 : p + 1
                    return completeRecord(end: end, line: line + 1)
                case CSVStorage.nul:
                    return binary(at: p, line: line)
                default:
                    return beginSkipping(.strayQuote, at: p, line: line, inQuotes: false, togglesQuotes: false, detail: "text after a closing quote")
                }
            }
        }
    }

    @inline(__always)
    mutating func appendField(start: Int, end: Int, flags: UInt8) {
        if fieldCount == storage.fieldCapacity { storage.reserveFields(fieldCount + 1) }
        storage.fields[fieldCount] = CSVFieldBounds(start: start, end: end, flags: flags)
        fieldCount += 1
    }

    mutating func completeRecord(end: Int, line: Int) -> ScanResult {
        recordStartOfLastRecord = recordStart
        recordStart = end
        pos = end
        self.line = line
        state = .start
        return .record(end: end)
    }

    func binary(at p: Int, line: Int) -> ScanResult {
        .fatal(CSVError(.binaryFile, line: line, column: fieldCount + 1, offset: baseOffset + Int64(p), isFatal: true))
    }

    mutating func tooLarge(at p: Int, line: Int, inQuotes: Bool) -> ScanResult {
        if p - fieldStart >= configuration.limits.maxFieldBytes {
            return beginSkipping(.fieldTooLarge, at: p, line: line, inQuotes: inQuotes, togglesQuotes: true,
                                 detail: "more than \(configuration.limits.maxFieldBytes) bytes")
        }
        return beginSkipping(.rowTooLarge, at: p, line: line, inQuotes: inQuotes, togglesQuotes: true,
                             detail: "more than \(configuration.limits.maxRowBytes) bytes")
    }

    /// Rejects the current record: remembers the error, then skips to the record's end
    /// without buffering it. A size error keeps following quotes so that line ends inside
    /// later quoted fields are not taken for the record's end; a stray quote makes quoting
    /// unreliable, so the record ends at the next line end.
    mutating func beginSkipping(
        _ code: CSVError.Code, at p: Int, line: Int, inQuotes: Bool, togglesQuotes: Bool,
        skipCurrent: Bool = false, detail: String = ""
    ) -> ScanResult {
        let error = CSVError(
            code, line: line, recordLine: recordLine, column: fieldCount + 1, offset: baseOffset + Int64(p), isFatal: false,
            excerpt: excerpt(from: recordStart, to: p), detail: detail)
        let lastWasCR = p > 0 && storage.bytes[p - 1] == CSVReader.cr
        discard = Discard(error: error, inQuotes: inQuotes, togglesQuotes: togglesQuotes, lastWasCR: lastWasCR)
        pos = skipCurrent ? p + 1 : p
        self.line = line
        fieldCount = 0
        state = .start
        return skipRejectedRecord()
    }

    mutating func skipRejectedRecord() -> ScanResult {
        guard var skip = discard else { return .needMoreData }
        let bytes = storage.bytes
        let count = storage.count
        var p = pos
        var line = self.line
        var finished = false
        while p < count {
            let b = bytes[p]
            if b == 0 {
                discard = nil
                return binary(at: p, line: line)
            }
            if b == CSVReader.quoteByte && skip.togglesQuotes {
                skip.inQuotes.toggle()
            } else if b == CSVReader.lf {
                if skip.inQuotes {
                    if !skip.lastWasCR { line += 1 }
                } else {
                    p += 1
                    line += 1
                    finished = true
                    break
                }
            } else if b == CSVReader.cr {
                if skip.inQuotes {
                    line += 1
                } else {
                    if p + 1 == count && !isFinished { break }
                    p += (p + 1 < count && bytes[p + 1] == CSVReader.lf) ? 2 : 1
                    line += 1
                    finished = true
                    break
                }
            }
            skip.lastWasCR = b == CSVReader.cr
            p += 1
        }
        if !finished && p == count && isFinished {
            if skip.inQuotes {
                discard = nil
                pos = p
                self.line = line
                return .fatal(CSVError(.unterminatedQuote, line: skip.error.line, column: skip.error.column, offset: skip.error.offset, isFatal: true))
            }
            finished = true
        }
        pos = p
        self.line = line
        guard finished else {
            discard = skip
            return .needMoreData
        }
        discard = nil
        recordStart = p
        state = .start
        fieldCount = 0
        let e = skip.error
        return .rowError(CSVError(
            e.code, line: e.line, recordLine: e.recordLine, column: e.column, offset: e.offset, isFatal: false,
            resumeOffset: baseOffset + Int64(p), resumeLine: line, excerpt: e.excerpt, detail: e.detail))
    }
}
