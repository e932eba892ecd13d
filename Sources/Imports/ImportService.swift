import Foundation
import Progress
import Storage

/// The import engine's façade: submit CSV files, cancel and retry them, read jobs and their
/// row errors, and create and update external jobs. Imports run on a bounded pool of worker
/// threads (never on an event loop); every published change goes through `tracker`.
///
/// Thread-safe: `lock` guards the queue and the table of active jobs.
public final class ImportService: @unchecked Sendable {
    /// The durable job store (and its database, which holds the imported tables too).
    public let store: JobStore
    /// Where every job event is published.
    public let tracker: JobTracker
    public let configuration: ImportConfiguration

    private let lock = NSCondition()
    private var queue: [String] = []
    private var queueHead = 0
    private var controls: [String: JobControl] = [:]
    private var running = 0
    private var liveThreads = 0
    private var shuttingDown = false
    private var held = false
    private var externalRates: [String: RateEstimator] = [:]
    private var sinkAttempts: [String: Int] = [:]
    private var lockFile: Int32 = -1
    private var logger: Logger { configuration.logger }

    /// Opens (or creates) `tally.db` in `dataDirectory`, then starts the workers and resumes
    /// the imports that were pending or running when the process stopped.
    public convenience init(dataDirectory: String, configuration: ImportConfiguration = ImportConfiguration(),
                            tracker: JobTracker = JobTracker()) throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        // Two processes recovering the same running jobs would import them twice: one owner
        // per data directory. The kernel drops the lock when the process dies, even by SIGKILL.
        let lockPath = dataDirectory + "/tally.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ImportError(.dataDirectoryInUse, "Cannot open \(lockPath): \(String(cString: strerror(errno))).")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ImportError(.dataDirectoryInUse, "Another Tally process is using the data directory \(dataDirectory).")
        }
        var configuration = configuration
        configuration.nodeID = ImportService.nodeID(in: dataDirectory) ?? configuration.nodeID
        do {
            let database = try Database(path: dataDirectory + "/tally.db")
            try self.init(database: database, configuration: configuration, tracker: tracker)
        } catch {
            close(fd)
            throw error
        }
        lockFile = fd
    }

    /// Uses `database` for the job store and the imported tables (one file, so a batch and its
    /// checkpoint commit in one transaction).
    public init(database: Database, configuration: ImportConfiguration = ImportConfiguration(),
                tracker: JobTracker = JobTracker()) throws {
        self.store = try JobStore(database: database)
        self.tracker = tracker
        self.configuration = configuration
        try recover()
        startThreads()
    }

    deinit {
        shutdown()
    }

    // MARK: Imports

    /// Queues the import of the CSV file at `path`; returns the new job (state pending).
    public func submit(path: String, options: ImportOptions = ImportOptions()) throws -> JobSnapshot {
        var options = options
        options.sink = options.sink ?? configuration.sink
        _ = try SinkKind(options.sink)
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ImportError(.fileNotFound, "Cannot open \(path): \(String(cString: strerror(errno))).")
        }
        guard options.batchSize > 0 else { throw ImportError(.badRequest, "The batch size must be at least 1.") }
        if let schema = options.schema {
            do {
                _ = try ImportSchema.parse(json: schema)
            } catch {
                throw ImportError(.badSchema, "The schema is not usable: \(error.message)")
            }
        }
        let table = options.table ?? TablePlan.defaultTableName(forFile: path)
        let lowered = table.lowercased()
        guard !table.isEmpty, !lowered.hasPrefix("sqlite_"), !lowered.hasPrefix("tally_") else {
            throw ImportError(.badRequest, "The table name '\(table)' is reserved.")
        }
        let name = options.name ?? String(path.split(separator: "/").last ?? Substring(path))
        let now = configuration.clock.now()
        let isRegular = (info.st_mode & S_IFMT) == S_IFREG
        let snapshot = JobSnapshot(id: JobID.generate(), kind: .import, name: name, createdAt: now, message: "Queued",
                                   table: table, bytesTotal: isRegular ? Int64(info.st_size) : nil)
        try withLock {
            if shuttingDown { throw ImportError(.shuttingDown, "The import service is shutting down.") }
            if queue.count - queueHead >= configuration.queueCapacity {
                throw ImportError(.queueFull, "Too many imports are waiting; try again later.")
            }
        }
        try store.database.write { c in
            try c.transaction { c in try store.insert(snapshot, sourcePath: path, options: options, in: c) }
            tracker.publish(JobEvent(type: .state, snapshot: snapshot))
        }
        logger.with("job", snapshot.id).info("import.submitted", [("path", path), ("table", table)])
        enqueue(snapshot.id)
        return snapshot
    }

    /// Cancels a pending or running job (import or external). Rows committed so far stay.
    @discardableResult
    public func cancel(_ id: String) throws -> JobSnapshot {
        let control = withLock { controls[id] }
        control?.requestStop(.cancel)
        return try store.database.write { c in
            guard let current = try store.job(id, in: c) else { throw ImportError(.notFound, "No job with id '\(id)'.") }
            guard !current.state.isTerminal else {
                throw ImportError(.invalidState, "Job '\(id)' is already \(current.state.rawValue).")
            }
            let result = try finish(id, state: .cancelled, error: nil, message: "Cancelled", in: c)
            control?.abandon()
            logger.with("job", id).info("job.cancelled")
            return result ?? current
        }
    }

    /// Runs a failed or cancelled import again from its checkpoint.
    @discardableResult
    public func retry(_ id: String) throws -> JobSnapshot {
        let snapshot = try store.database.write { c -> JobSnapshot in
            guard var s = try store.job(id, in: c) else { throw ImportError(.notFound, "No job with id '\(id)'.") }
            guard s.kind == .import, s.state == .failed || s.state == .cancelled else {
                throw ImportError(.invalidState, "Only a failed or cancelled import can be retried; job '\(id)' is \(s.state.rawValue).")
            }
            let now = configuration.clock.now()
            s.state = .pending
            s.error = nil
            s.finishedAt = nil
            s.message = "Queued for retry"
            s.seq += 1
            s.updatedAt = now
            s.rate = nil
            s.eta = nil
            try c.transaction { c in try store.save(s, in: c) }
            tracker.publish(JobEvent(type: .state, snapshot: s))
            return s
        }
        logger.with("job", id).info("import.retried")
        enqueue(id)
        return snapshot
    }

    /// A job's latest snapshot: the tracker's for active jobs, the store's otherwise.
    public func job(_ id: String) throws -> JobSnapshot? {
        if let live = tracker.latest(id) { return live }
        return try store.job(id)
    }

    /// Jobs, newest first. With a server-wide PostgreSQL sink, the imports other nodes recorded
    /// there are listed too (`sharedImport`); this node's own record of a job wins. When that
    /// database cannot be reached, the list is this node's alone.
    public func jobs(state: JobState? = nil, page: Page = Page()) throws -> [JobSnapshot] {
        // Pages deeper than the store's largest page are this node's alone.
        let depth = page.offset + page.limit
        guard sharesImports, depth <= 1000 else { return try store.jobs(state: state, page: page) }
        let mine = try store.jobs(state: state, page: Page(limit: depth, offset: 0))
        guard let shared = try? sharedImports(state: state, limit: depth) else { return Array(mine.dropFirst(page.offset)) }
        // The first `depth` of each list hold the first `depth` of both together.
        var merged = mine
        for job in shared where try store.job(job.id) == nil { merged.append(job) }
        merged.sort { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id < $1.id }
        return Array(merged.dropFirst(page.offset).prefix(page.limit))
    }

    /// A job's row errors in file order. An import into the server-wide PostgreSQL database
    /// has them there, from every node that ran it; otherwise they are in this node's store.
    public func errors(_ id: String, page: Page = Page()) throws -> [JobRowError] {
        let local = try store.database.read { c in try store.importRecord(id, in: c) }
        let usesShared: Bool
        if let local {
            if case .postgres(let url) = try SinkKind(local.options.sink ?? configuration.sink) {
                usesShared = url == sharedDatabaseURL
            } else {
                usesShared = false
            }
        } else {
            usesShared = true
        }
        if usesShared, let shared = try sharedErrors(id, page: page) {
            // An import that ran before the database kept row errors has them here only.
            if shared.isEmpty, page.offset == 0, local != nil { return try store.errors(job: id, page: page) }
            return shared
        }
        guard try store.job(id) != nil else { throw ImportError(.notFound, "No job with id '\(id)'.") }
        return try store.errors(job: id, page: page)
    }

    // MARK: External jobs

    /// Creates a job run by another system, which then publishes its progress with
    /// `updateExternalJob`. It starts running (or pending when `state` says so).
    public func createExternalJob(_ spec: ExternalJobSpec) throws -> JobSnapshot {
        guard spec.state == .pending || spec.state == .running else {
            throw ImportError(.badRequest, "A new job must be pending or running.")
        }
        if let data = spec.data, !data.isObject { throw ImportError(.badRequest, "'data' must be a JSON object.") }
        let now = configuration.clock.now()
        var s = JobSnapshot(id: JobID.generate(), kind: .external, name: spec.name, createdAt: now, message: spec.message,
                            total: spec.total, totalExact: spec.total != nil, data: spec.data)
        s.state = spec.state
        if s.state == .running { s.startedAt = now }
        s.updateDerivedFields(rate: nil)
        try store.database.write { c in
            try c.transaction { c in try store.insert(s, in: c) }
            tracker.publish(JobEvent(type: .state, snapshot: s))
        }
        withLock { externalRates[s.id] = { var r = RateEstimator(); r.start(count: 0, at: now); return r }() }
        return s
    }

    /// Applies a progress update of an external job; every update gets the next `seq`.
    @discardableResult
    public func updateExternalJob(_ id: String, _ update: ExternalJobUpdate) throws -> JobSnapshot {
        if let data = update.data, !data.isObject { throw ImportError(.badRequest, "'data' must be a JSON object.") }
        for value in [update.processed, update.succeeded, update.failed, update.total] {
            if let value, value < 0 { throw ImportError(.badRequest, "Counts must not be negative.") }
        }
        return try store.database.write { c in
            guard var s = try store.job(id, in: c) else { throw ImportError(.notFound, "No job with id '\(id)'.") }
            guard s.kind == .external else { throw ImportError(.invalidState, "Job '\(id)' is an import; only external jobs take updates.") }
            guard !s.state.isTerminal else { throw ImportError(.invalidState, "Job '\(id)' is already \(s.state.rawValue).") }
            let now = configuration.clock.now()
            let before = (s.state, s.message)
            if let v = update.processed { s.processed = v }
            if let v = update.succeeded { s.succeeded = v }
            if let v = update.failed { s.failed = v }
            if let v = update.total { s.total = v; s.totalExact = true }
            if let v = update.message { s.message = v }
            if let v = update.data { s.data = v }
            if let state = update.state {
                if state == .pending && s.state == .running {
                    throw ImportError(.badRequest, "A running job cannot go back to pending.")
                }
                s.state = state
                if state == .running, s.startedAt == nil { s.startedAt = now }
                if state.isTerminal { s.finishedAt = now }
                if state == .failed {
                    s.error = update.error ?? JobError(code: "job.failed", message: update.message ?? "The job failed.")
                }
            }
            let rate = withLock { () -> Double? in
                var estimator = externalRates[id] ?? RateEstimator()
                estimator.add(count: s.processed, at: now)
                externalRates[id] = s.state.isTerminal ? nil : estimator
                return estimator.rate
            }
            s.seq += 1
            s.updatedAt = now
            s.updateDerivedFields(rate: rate)
            try c.transaction { c in try store.save(s, in: c) }
            let type: JobEvent.EventType = (before.0 != s.state || before.1 != s.message) ? .state : .progress
            tracker.publish(JobEvent(type: type, snapshot: s))
            return s
        }
    }

    // MARK: Lifecycle

    /// Stops the workers, waiting at most 10 s for them (see `shutdown(timeout:)`).
    public func shutdown() {
        shutdown(timeout: 10)
    }

    /// Stops the workers: running imports commit their current batch and stay `running`, so
    /// the next start resumes them. Waits for the threads to end (at most `timeout` seconds:
    /// a worker blocked reading a pipe that never delivers cannot be interrupted), then
    /// releases the data directory.
    public func shutdown(timeout: Double) {
        let active: [JobControl] = withLock {
            shuttingDown = true
            lock.broadcast()
            return Array(controls.values)
        }
        for control in active { control.requestStop(.shutdown) }
        lock.lock()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while liveThreads > 0 {
            if !lock.wait(until: deadline) {
                logger.warning("import.shutdown_timeout", [("threads", String(liveThreads))])
                break
            }
        }
        if lockFile >= 0 {
            close(lockFile)
            lockFile = -1
        }
        lock.unlock()
    }

    /// Stops starting queued imports (running ones go on): submitted jobs stay `pending` until
    /// `releaseQueue()`. The import-under-load benchmark uses it so that its subscribers are
    /// all following a job before the job's first row is read.
    public func holdQueue() {
        withLock { held = true }
    }

    /// Lets the workers start queued imports again after `holdQueue()`.
    public func releaseQueue() {
        withLock {
            held = false
            lock.broadcast()
        }
    }

    /// Waits until no import is queued or running (tests, the CLI).
    public func waitUntilIdle() {
        lock.lock()
        while running > 0 || queue.count > queueHead { lock.wait() }
        lock.unlock()
    }

    private func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Queues a job unless it is queued or running here already; false when it is.
    func enqueueIfIdle(_ id: String) -> Bool {
        let busy = withLock { controls[id] != nil || shuttingDown }
        if busy { return false }
        enqueue(id)
        return true
    }

    private func enqueue(_ id: String) {
        withLock {
            if shuttingDown { return }
            controls[id] = JobControl(id: id)
            queue.append(id)
            lock.broadcast()
        }
    }

    private func recover() throws {
        let ids = try store.jobIDs(kind: .import, states: [.running, .pending])
        for id in ids {
            logger.with("job", id).info("import.recovered")
            controls[id] = JobControl(id: id)
            queue.append(id)
        }
    }

    private func startThreads() {
        let count = max(1, configuration.workers)
        liveThreads = count + 1
        for n in 0..<count {
            let thread = Thread { [self] in
                ImportService.nameThread("tally-import-\(n)")
                self.workerLoop()
            }
            thread.name = "tally-import-\(n)"
            thread.start()
        }
        let watchdog = Thread { [self] in
            ImportService.nameThread("tally-watchdog")
            self.watchdogLoop()
        }
        watchdog.name = "tally-import-watchdog"
        watchdog.start()
    }

    /// Names the calling thread for the kernel (`top -H`, `/proc/PID/task/*/comm`, at most 15
    /// bytes): Foundation's `Thread.name` does not reach it on Linux.
    private static func nameThread(_ name: String) {
        // pthread_setname_np is not visible without a C shim; the kernel's file says the same.
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var text = String(name.utf8.prefix(15)) ?? name
        text.withUTF8 { bytes in _ = write(fd, bytes.baseAddress, bytes.count) }
    }

    private func workerLoop() {
        while true {
            lock.lock()
            while (queue.count == queueHead || held) && !shuttingDown { lock.wait() }
            if shuttingDown {
                liveThreads -= 1
                lock.broadcast()
                lock.unlock()
                return
            }
            let id = queue[queueHead]
            queueHead += 1
            if queueHead > 1024 && queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            let control = controls[id]
            running += 1
            lock.unlock()
            if let control, control.claim() {
                if case .retry(let error, let madeProgress) = ImportRun.run(service: self, control: control) {
                    scheduleRetry(id, error: error, madeProgress: madeProgress)
                } else {
                    withLock { _ = sinkAttempts.removeValue(forKey: id) }
                }
            }
            lock.lock()
            running -= 1
            if let control, controls[id] === control { controls.removeValue(forKey: id) }
            lock.broadcast()
            lock.unlock()
        }
    }

    private func watchdogLoop() {
        while true {
            lock.lock()
            if shuttingDown {
                liveThreads -= 1
                lock.broadcast()
                lock.unlock()
                return
            }
            _ = lock.wait(until: Date(timeIntervalSinceNow: configuration.watchdogInterval))
            let active = Array(controls.values)
            lock.unlock()
            let now = configuration.clock.now().milliseconds
            for control in active {
                let started = control.startedAt.load(ordering: .relaxed)
                guard started > 0, !control.isAbandoned else { continue }
                if let max = configuration.maxDuration, Double(now - started) / 1000 > max {
                    control.requestStop(.timeout)
                    finishFromOutside(control, state: .failed, error: JobError(
                        code: ImportError.Code.timeout.rawValue,
                        message: "The import ran longer than the maximum duration of \(Self.seconds(max)) and was stopped."))
                } else if let stall = configuration.stallTimeout,
                          Double(now - control.lastActivity.load(ordering: .relaxed)) / 1000 > stall {
                    control.requestStop(.stalled)
                    finishFromOutside(control, state: .failed, error: JobError(
                        code: ImportError.Code.stalled.rawValue,
                        message: "The import made no progress for \(Self.seconds(stall)) (stall timeout) and was stopped."))
                }
            }
        }
    }

    /// The sink a job's stored options name.
    func makeSink(for record: ImportRecord) throws -> any ImportSink {
        switch try SinkKind(record.options.sink) {
        case .sqlite:
            return SQLiteSink()
        case .postgres(let url):
            return PostgresSink(url: url, owner: configuration.nodeID, leaseSeconds: configuration.leaseSeconds)
        }
    }

    /// Runs an import again after its sink's connection broke, with backoff; fails it once
    /// the retries are spent. The job stays `running` meanwhile (and through a restart).
    private func scheduleRetry(_ id: String, error: SinkError, madeProgress: Bool) {
        let attempt: Int? = withLock {
            if shuttingDown { return nil }
            let n = madeProgress ? 1 : (sinkAttempts[id] ?? 0) + 1
            sinkAttempts[id] = n
            return n
        }
        guard let attempt else { return }
        guard attempt <= configuration.sinkRetries else {
            withLock { _ = sinkAttempts.removeValue(forKey: id) }
            finishFromOutside(JobControl(id: id), state: .failed, error: JobError(
                code: error.code, message: "Gave up after \(configuration.sinkRetries) attempts: \(error.message)"))
            return
        }
        let delay = min(15, 0.25 * Double(1 << min(attempt - 1, 6)))
        logger.with("job", id).warning("import.retry_scheduled", [("attempt", String(attempt)), ("delay", String(delay))])
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self else { return }
            let cancelled = (try? self.store.job(id))?.map { $0.state.isTerminal } ?? true
            if !cancelled { self.enqueue(id) }
        }
    }

    /// The node id kept in `directory/node-id`, created on first use; nil when unreadable.
    static func nodeID(in directory: String) -> String? {
        let path = directory + "/node-id"
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return text }
        }
        let id = "node-" + JobID.generate()
        guard FileManager.default.createFile(atPath: path, contents: Data((id + "\n").utf8)) else { return nil }
        return id
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }

    /// Ends a job from outside its worker (timeout, stall, an error the worker could not
    /// record): takes the write lock, so the worker is between batches, and marks the job
    /// abandoned so the worker leaves it alone.
    func finishFromOutside(_ control: JobControl, state: JobState, error: JobError?) {
        do {
            try store.database.write { c in
                if control.isAbandoned { return }
                _ = try finish(control.id, state: state, error: error, message: state == .failed ? "Failed" : "Cancelled", in: c)
                control.abandon()
            }
            if let error { logger.with("job", control.id).error("import.failed", [("code", error.code), ("message", error.message)]) }
        } catch {
            logger.with("job", control.id).error("job.finish_failed", [("error", "\(error)")])
        }
    }

    /// Moves a job to a terminal state with the counts of its last committed checkpoint, in one
    /// transaction, and publishes it. Called with the write lock held.
    private func finish(_ id: String, state: JobState, error: JobError?, message: String, in c: Connection) throws -> JobSnapshot? {
        var sink: String?
        let finished = try c.transaction { c -> JobSnapshot? in
            guard var s = try store.job(id, in: c), !s.state.isTerminal else { return nil }
            if s.kind == .import, let record = try store.importRecord(id, in: c) {
                sink = record.options.sink
                s.processed = record.checkpoint.processed
                s.succeeded = record.checkpoint.succeeded
                s.failed = record.checkpoint.failed
                if s.bytesTotal != nil { s.bytesRead = record.checkpoint.offset }
            }
            let now = configuration.clock.now()
            s.state = state
            s.error = error
            s.message = message
            s.finishedAt = now
            s.updatedAt = now
            s.seq += 1
            s.updateDerivedFields(rate: s.rate)
            try store.save(s, in: c)
            return s
        }
        if let finished { tracker.publish(JobEvent(type: .state, snapshot: finished)) }
        // A shared sink must hear of it too, or another node would take the job over once its
        // lease expires and run it again.
        if finished != nil, case .postgres(let url)? = try? SinkKind(sink) {
            do {
                try PostgresSink.markFinished(url: url, job: id, state: state)
            } catch {
                logger.with("job", id).error("import.sink_finish_failed", [("error", "\(error)")])
            }
        }
        return finished
    }
}

/// A new external job.
public struct ExternalJobSpec: Sendable {
    public var name: String
    public var total: Int64?
    public var message: String?
    public var data: JSONText?
    /// `.running` (default) or `.pending`.
    public var state: JobState

    public init(name: String, total: Int64? = nil, message: String? = nil, data: JSONText? = nil, state: JobState = .running) {
        self.name = name
        self.total = total
        self.message = message
        self.data = data
        self.state = state
    }
}

/// A progress update of an external job; nil fields stay as they were.
public struct ExternalJobUpdate: Sendable {
    public var processed: Int64?
    public var succeeded: Int64?
    public var failed: Int64?
    public var total: Int64?
    public var message: String?
    public var state: JobState?
    public var data: JSONText?
    /// For `state: .failed`: why.
    public var error: JobError?

    public init(processed: Int64? = nil, succeeded: Int64? = nil, failed: Int64? = nil, total: Int64? = nil,
                message: String? = nil, state: JobState? = nil, data: JSONText? = nil, error: JobError? = nil) {
        self.processed = processed
        self.succeeded = succeeded
        self.failed = failed
        self.total = total
        self.message = message
        self.state = state
        self.data = data
        self.error = error
    }
}
