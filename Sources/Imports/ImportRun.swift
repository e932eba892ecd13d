import CSVCodec
import Progress
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// One run of one import on a worker thread, from its checkpoint to its end (or until it is
/// stopped). Not `Sendable`: it lives on the worker that runs it.
///
/// Durability: rows are inserted inside a transaction that also advances the job's checkpoint
/// (and, when an event is due, its published snapshot and `seq`); nothing about a batch is
/// visible or published before that transaction commits. The transaction commits every
/// `batchSize` rows, when a progress event is due, and before the next read of input, so no
/// database lock is ever held while waiting for the file. Rows go to the job's `ImportSink`;
/// an external sink commits right after the job store and holds the authoritative checkpoint
/// (see `PostgresSink`).
final class ImportRun {
    enum Outcome {
        case finished, stopped, abandoned
        /// The sink's connection broke: run again later from the sink's checkpoint.
        /// `madeProgress` when this run committed at least one batch.
        case retry(SinkError, madeProgress: Bool)
    }
    private enum BatchOutcome { case needMoreData, finished, stopped, abandoned }

    let service: ImportService
    let control: JobControl
    let logger: Logger
    let configuration: ImportConfiguration
    let options: ImportOptions
    let path: String
    // The run's mutable state is touched only by the worker thread that owns the run, and no
    // access to one of these properties is held across a call that touches it again, so the
    // per-row dynamic exclusivity checks (about 10 % of an import's CPU time) are waived.
    @exclusivity(unchecked) var snapshot: JobSnapshot
    @exclusivity(unchecked) var checkpoint: Checkpoint
    @exclusivity(unchecked) var reader: CSVReader
    @exclusivity(unchecked) var plan: TablePlan?
    @exclusivity(unchecked) var throttle: ProgressThrottle
    @exclusivity(unchecked) var rate = RateEstimator()
    @exclusivity(unchecked) var storedErrors: Int64 = 0
    @exclusivity(unchecked) var rowsInBatch = 0
    @exclusivity(unchecked) var transactionOpen = false
    @exclusivity(unchecked) var pendingEvent: JobEvent.EventType?
    var fd: Int32 = -1
    var schema: ImportSchema?
    let sink: any ImportSink
    var committedBatches = 0

    private init(service: ImportService, control: JobControl, record: ImportRecord, sink: any ImportSink) {
        self.service = service
        self.sink = sink
        self.control = control
        self.configuration = service.configuration
        self.logger = service.configuration.logger.with("job", record.snapshot.id)
        self.snapshot = record.snapshot
        self.checkpoint = record.checkpoint
        self.options = record.options
        self.path = record.sourcePath
        var csv = CSVConfiguration()
        csv.delimiter = record.options.delimiter
        csv.hasHeader = record.options.hasHeader ?? true
        if let header = record.checkpoint.header, let delimiter = record.checkpoint.delimiter, record.checkpoint.offset > 0 {
            reader = CSVReader(resumingAt: CSVPosition(offset: record.checkpoint.offset, line: record.checkpoint.line),
                               header: header, delimiter: delimiter, configuration: csv)
        } else {
            reader = CSVReader(configuration: csv)
            checkpoint = Checkpoint()
        }
        throttle = ProgressThrottle(policy: service.configuration.throttle, processed: checkpoint.processed)
    }

    deinit {
        if fd >= 0 { close(fd) }
        sink.close()
    }

    private var clock: Clock { configuration.clock }
    private var store: JobStore { service.store }

    /// Runs the import with id `control.id` until it ends, is stopped, or is taken over.
    static func run(service: ImportService, control: JobControl) -> Outcome {
        let logger = service.configuration.logger.with("job", control.id)
        do {
            let stored = try service.store.database.read { c in try service.store.importRecord(control.id, in: c) }
            guard var record = stored, !record.snapshot.state.isTerminal, !control.isAbandoned else { return .abandoned }
            let sink = try service.makeSink(for: record)
            do {
                if let authoritative = try sink.open(record) {
                    try service.store.database.write { c in
                        try c.transaction { c in try service.store.adoptCheckpoint(authoritative, job: control.id, in: c) }
                    }
                    record.checkpoint = authoritative
                }
            } catch let error as SinkError {
                sink.close()
                if error.leaseLost { return .abandoned }
                if error.isRetryable { return .retry(error, madeProgress: false) }
                throw error
            }
            let run = ImportRun(service: service, control: control, record: record, sink: sink)
            return run.execute()
        } catch {
            logger.error("import.load_failed", [("error", "\(error)")])
            service.finishFromOutside(control, state: .failed, error: JobError(code: code(of: error), message: "\(error)"))
            return .finished
        }
    }

    private func execute() -> Outcome {
        let now = clock.now()
        control.startedAt.store(now.milliseconds, ordering: .relaxed)
        control.lastActivity.store(now.milliseconds, ordering: .relaxed)
        fd = open(path, O_RDONLY | O_CLOEXEC)
        let openError = fd < 0 ? String(cString: strerror(errno)) : ""
        var size: Int64?
        if fd >= 0 {
            var st = stat()
            if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { size = Int64(st.st_size) }
        }
        do {
            let started: Outcome? = try service.store.database.write { c -> Outcome? in
                if control.isAbandoned { return .abandoned }
                do {
                    try begin(c)
                    if fd < 0 {
                        try fail(JobError(code: ImportError.Code.fileNotFound.rawValue, message: "Cannot open \(path): \(openError)."), in: c)
                        return .finished
                    }
                    if let size, size < checkpoint.offset {
                        try fail(JobError(code: ImportError.Code.fileChanged.rawValue,
                                          message: "The file is shorter than when the import stopped (\(size) < \(checkpoint.offset) bytes); it cannot resume."), in: c)
                        return .finished
                    }
                    storedErrors = try store.errorCount(job: snapshot.id, in: c)
                    let resuming = checkpoint.offset > 0
                    if !resuming {
                        try store.resetCheckpoint(job: snapshot.id, in: c)
                        storedErrors = 0
                    }
                    snapshot.state = .running
                    snapshot.message = resuming ? "Resuming at line \(checkpoint.line)" : options.hasHeader == false ? "Reading rows" : "Reading header"
                    snapshot.error = nil
                    snapshot.finishedAt = nil
                    snapshot.startedAt = snapshot.startedAt ?? now
                    snapshot.bytesTotal = size
                    snapshot.totalExact = false
                    copyCheckpointCounts()
                    rate.start(count: checkpoint.processed, at: now)
                    pendingEvent = .state
                    try commit(c)
                    return nil
                } catch {
                    if transactionOpen { try? c.execute("ROLLBACK") }
                    transactionOpen = false
                    throw error
                }
            }
            if let started { return started }
            if let text = options.schema {
                do {
                    schema = try ImportSchema.parse(json: text)
                } catch {
                    return failWith(JobError(code: error.code.rawValue, message: "The schema is not usable: \(error.message)"))
                }
            }
            if let header = checkpoint.header, checkpoint.offset > 0 {
                do {
                    plan = try TablePlan(table: snapshot.table ?? TablePlan.defaultTableName(forFile: path), schema: schema, header: header)
                } catch {
                    return failWith(JobError(code: error.code.rawValue, message: "The header does not fit the schema: \(error.message)"))
                }
                if plan?.validator.hasUniqueColumns == true { try replayPrefix() }
            }
            if checkpoint.offset > 0, lseek(fd, off_t(checkpoint.offset), SEEK_SET) < 0 {
                throw ImportError(.readFailed, "Cannot seek to byte \(checkpoint.offset): \(String(cString: strerror(errno))).")
            }
            logger.info("import.running", [("path", path), ("offset", String(checkpoint.offset))])
            return try loop()
        } catch let error as SinkError {
            return sinkFailed(error)
        } catch {
            return failFromError(error)
        }
    }

    /// A sink failure: retry from the sink's checkpoint when a new connection may help, stop
    /// quietly when another node owns the job now, fail the job otherwise.
    private func sinkFailed(_ error: SinkError) -> Outcome {
        sink.close()
        if error.leaseLost {
            logger.warning("import.lease_lost", [("message", error.message)])
            return .abandoned
        }
        if error.isRetryable {
            logger.warning("import.sink_retry", [("code", error.code), ("message", error.message)])
            return .retry(error, madeProgress: committedBatches > 0)
        }
        // The job store may be a batch ahead of the sink: count only what the sink holds.
        if let committed = sink.committedCheckpoint {
            try? service.store.database.write { c in
                try c.transaction { c in try service.store.adoptCheckpoint(committed, job: snapshot.id, in: c) }
            }
        }
        return failFromError(error)
    }

    private func loop() throws -> Outcome {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(4096, configuration.readSize), alignment: 16)
        defer { buffer.deallocate() }
        while true {
            if control.isStopRequested { return .stopped }
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ImportError(.readFailed, "Reading \(path) failed: \(String(cString: strerror(errno))).")
            }
            control.lastActivity.store(clock.now().milliseconds, ordering: .relaxed)
            if n == 0 {
                reader.finish()
            } else {
                reader.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
            let outcome = try service.store.database.write { c -> BatchOutcome in
                if control.isAbandoned { return .abandoned }
                do {
                    return try processBuffered(c)
                } catch {
                    if transactionOpen { try? c.execute("ROLLBACK") }
                    transactionOpen = false
                    throw error
                }
            }
            switch outcome {
            case .needMoreData: continue
            case .finished: return .finished
            case .stopped: return .stopped
            case .abandoned: return .abandoned
            }
        }
    }

    /// Consumes every complete record buffered in the reader; called with the write lock held.
    private func processBuffered(_ c: Connection) throws -> BatchOutcome {
        while true {
            if control.isStopRequested {
                try commit(c)
                return .stopped
            }
            let step: CSVStep
            switch nextStep() {
            case .success(let next):
                step = next
            case .failure(let error):
                try begin(c)
                if error.isFatal {
                    try fail(JobError(code: error.code.rawValue, message: "The file cannot be imported: \(error.message)."), in: c)
                    return .finished
                }
                checkpoint.processed += 1
                checkpoint.failed += 1
                checkpoint.offset = error.resumeOffset
                checkpoint.line = error.resumeLine
                try record(JobRowError(RowError(error, header: checkpoint.header)), c)
                if try afterRow(c) { return .finished }
                continue
            }
            switch step {
            case .header(let names):
                try begin(c)
                guard try adoptHeader(names, c) else { return .finished }
                try commit(c)
            case .record(let row):
                try begin(c)
                if plan == nil, options.hasHeader == false {
                    // No header row: the first record says how many columns there are.
                    let names = ImportOptions.columnNames(fieldCount: row.count, schema: schema)
                    guard try adoptHeader(names, c) else { return .finished }
                }
                guard let plan else { throw ImportError(.badSchema, "A record came before the header.") }
                checkpoint.processed += 1
                if let rowError = plan.validate(row) {
                    checkpoint.failed += 1
                    try record(JobRowError(rowError), c)
                } else if let rejection = try sink.write(row, plan: plan, in: c) {
                    checkpoint.failed += 1
                    try record(JobRowError(line: row.line, column: nil, code: rejection.code, message: rejection.message, raw: nil), c)
                } else {
                    checkpoint.succeeded += 1
                }
                checkpoint.offset = row.end.offset
                checkpoint.line = row.end.line
                if try afterRow(c) { return .finished }
            case .needMoreData:
                if rowsInBatch > 0 && configuration.publishesProgress
                    && throttle.isDue(processed: checkpoint.processed, total: snapshot.total, clock: clock) {
                    pendingEvent = pendingEvent ?? .progress
                }
                try commit(c)
                return .needMoreData
            case .end:
                try begin(c)
                if let exceeded = errorThresholdExceeded(atEnd: true) {
                    try fail(exceeded, in: c)
                } else {
                    try complete(c)
                }
                return .finished
            }
        }
    }

    /// Plans the table for the file's column names (its header row, or the names given to a
    /// file without one) and records them in the checkpoint; false when they do not fit the
    /// schema, in which case the job has failed.
    private func adoptHeader(_ names: [String], _ c: Connection) throws -> Bool {
        let table = snapshot.table ?? TablePlan.defaultTableName(forFile: path)
        let newPlan: TablePlan
        do {
            newPlan = try TablePlan(table: table, schema: schema, header: names)
        } catch {
            let what = options.hasHeader == false ? "The file's columns do not fit the schema" : "The header does not fit the schema"
            try fail(JobError(code: error.code.rawValue, message: "\(what): \(error.message)"), in: c)
            return false
        }
        try sink.prepare(newPlan, in: c)
        plan = newPlan
        checkpoint.header = names
        checkpoint.delimiter = reader.delimiter
        if options.hasHeader != false {
            checkpoint.offset = reader.position.offset
            checkpoint.line = reader.position.line
        }
        try store.saveHeader(names, delimiter: reader.delimiter ?? UInt8(ascii: ","), job: snapshot.id, in: c)
        snapshot.message = "Importing rows"
        pendingEvent = .state
        return true
    }

    private func nextStep() -> Result<CSVStep, CSVError> {
        do {
            return .success(try reader.next())
        } catch {
            return .failure(error)
        }
    }

    /// After each row: checks the error threshold and whether the batch should commit.
    /// Returns true when the job ended.
    private func afterRow(_ c: Connection) throws -> Bool {
        rowsInBatch += 1
        if let exceeded = errorThresholdExceeded(atEnd: false) {
            try fail(exceeded, in: c)
            return true
        }
        if configuration.publishesProgress && throttle.isDue(processed: checkpoint.processed, total: snapshot.total, clock: clock) {
            pendingEvent = pendingEvent ?? .progress
            try commit(c)
        } else if rowsInBatch >= max(1, options.batchSize) {
            try commit(c)
        }
        return false
    }

    private func errorThresholdExceeded(atEnd: Bool) -> JobError? {
        let failed = checkpoint.failed
        if let max = options.maxErrors, failed > max {
            return JobError(code: ImportError.Code.tooManyErrors.rawValue,
                            message: "\(failed) rows were rejected, more than the limit of \(max).")
        }
        if let fraction = options.maxErrorFraction, checkpoint.processed > 0, atEnd || checkpoint.processed >= 100,
           Double(failed) / Double(checkpoint.processed) > fraction {
            return JobError(code: ImportError.Code.tooManyErrors.rawValue,
                            message: "\(failed) of \(checkpoint.processed) rows were rejected, more than the limit of \(fraction * 100) %.")
        }
        return nil
    }

    private func record(_ error: JobRowError, _ c: Connection) throws {
        if storedErrors < configuration.maxStoredRowErrors {
            try store.insertRowError(error, job: snapshot.id, in: c)
            sink.recordError(error)
            storedErrors += 1
        }
    }

    private func begin(_ c: Connection) throws {
        if !transactionOpen {
            try c.execute("BEGIN IMMEDIATE")
            transactionOpen = true
        }
    }

    /// Commits the open batch with the checkpoint, and with the snapshot when an event is due,
    /// then publishes that event.
    private func commit(_ c: Connection) throws {
        guard transactionOpen else { return }
        try store.saveCheckpoint(checkpoint, job: snapshot.id, in: c)
        let now = clock.now()
        var event: JobEvent?
        if let type = pendingEvent {
            copyCheckpointCounts()
            rate.add(count: checkpoint.processed, at: now)
            event = try prepareEvent(type, at: now, in: c)
        }
        try c.execute("COMMIT")
        transactionOpen = false
        try sink.commit(checkpoint, state: snapshot.state)
        committedBatches += 1
        rowsInBatch = 0
        pendingEvent = nil
        control.lastActivity.store(now.milliseconds, ordering: .relaxed)
        if let event {
            service.tracker.publish(event)
            throttle.didEmit(processed: checkpoint.processed, total: snapshot.total, at: now)
            if configuration.fanout.deliveriesPerSecond > 0 {
                throttle.minInterval = configuration.fanout.interval(job: snapshot.id, base: configuration.throttle.minInterval)
            }
        }
    }

    private func copyCheckpointCounts() {
        snapshot.processed = checkpoint.processed
        snapshot.succeeded = checkpoint.succeeded
        snapshot.failed = checkpoint.failed
        if snapshot.bytesTotal != nil { snapshot.bytesRead = checkpoint.offset }
    }

    /// Advances seq and saves the snapshot in the current transaction; returns the event.
    private func prepareEvent(_ type: JobEvent.EventType, at now: Timestamp, in c: Connection) throws -> JobEvent {
        snapshot.seq += 1
        snapshot.updatedAt = now
        snapshot.updateDerivedFields(rate: rate.rate)
        try store.save(snapshot, in: c)
        return JobEvent(type: type, snapshot: snapshot)
    }

    private func complete(_ c: Connection) throws {
        let now = clock.now()
        copyCheckpointCounts()
        rate.add(count: checkpoint.processed, at: now)
        snapshot.state = .completed
        snapshot.total = checkpoint.processed
        snapshot.totalExact = true
        if let total = snapshot.bytesTotal { snapshot.bytesRead = max(checkpoint.offset, total) }
        snapshot.finishedAt = now
        snapshot.message = "Imported \(checkpoint.succeeded) rows" + (checkpoint.failed > 0 ? ", rejected \(checkpoint.failed)" : "")
        pendingEvent = .state
        try commit(c)
        logger.info("import.completed", [("processed", String(checkpoint.processed)), ("succeeded", String(checkpoint.succeeded)), ("failed", String(checkpoint.failed))])
    }

    /// Ends the job as failed, committing the current batch with it.
    private func fail(_ error: JobError, in c: Connection) throws {
        let now = clock.now()
        copyCheckpointCounts()
        snapshot.state = .failed
        snapshot.error = error
        snapshot.finishedAt = now
        snapshot.message = "Failed"
        try begin(c)
        pendingEvent = .state
        try commit(c)
        logger.error("import.failed", [("code", error.code), ("message", error.message)])
    }

    /// Rebuilds the validator's memory of unique values by validating the records before the
    /// checkpoint again (deterministic, so it ends exactly as it was at the last commit).
    private func replayPrefix() throws {
        guard let current = plan, let header = checkpoint.header else { return }
        let file = open(path, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { throw ImportError(.fileNotFound, "Cannot reopen \(path).") }
        defer { close(file) }
        var csv = CSVConfiguration()
        csv.delimiter = checkpoint.delimiter
        csv.hasHeader = options.hasHeader ?? true
        var prefix = CSVReader(configuration: csv)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(4096, configuration.readSize), alignment: 16)
        defer { buffer.deallocate() }
        var remaining = checkpoint.offset
        var done = false
        while !done {
            let n = remaining > 0 ? read(file, buffer.baseAddress, Int(min(Int64(buffer.count), remaining))) : 0
            if n < 0 {
                if errno == EINTR { continue }
                throw ImportError(.readFailed, "Reading \(path) failed: \(String(cString: strerror(errno))).")
            }
            remaining -= Int64(n)
            if n == 0 { prefix.finish() } else { prefix.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
            loop: while true {
                do {
                    switch try prefix.next() {
                    case .record(let row): current.remember(row)
                    case .header(let names) where names != header:
                        throw ImportError(.fileChanged, "The header of \(path) changed since the import stopped; it cannot resume.")
                    case .header: continue
                    case .needMoreData: break loop
                    case .end: done = true; break loop
                    }
                } catch let error as CSVError where !error.isFatal {
                    continue
                }
            }
        }
    }

    private func failWith(_ error: JobError) -> Outcome {
        do {
            let outcome = try service.store.database.write { c -> Outcome in
                if control.isAbandoned { return .abandoned }
                try fail(error, in: c)
                return .finished
            }
            return outcome
        } catch let error as SinkError {
            return sinkFailed(error)
        } catch {
            return failFromError(error)
        }
    }

    private func failFromError(_ error: Error) -> Outcome {
        if control.isAbandoned { return .abandoned }
        logger.error("import.error", [("error", "\(error)")])
        let message = (error as? ImportError)?.message ?? "\(error)"
        service.finishFromOutside(control, state: .failed, error: JobError(code: ImportRun.code(of: error), message: message))
        return .finished
    }

    static func code(of error: Error) -> String {
        if let e = error as? ImportError { return e.code.rawValue }
        if let e = error as? StorageError { return e.code.rawValue }
        if let e = error as? CSVError { return e.code.rawValue }
        if let e = error as? SchemaError { return e.code.rawValue }
        if let e = error as? SinkError { return e.code }
        return "import.internal"
    }
}
