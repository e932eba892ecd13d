import CSQLite

/// A database file: one writer connection whose use is serialized by a lock, and a small pool
/// of read-only connections. In WAL mode readers see the last committed state and never block
/// the writer, so API reads do not slow an import down.
public final class Database: @unchecked Sendable {
    /// How commits reach the disk (see the README for why NORMAL is the default).
    public enum Synchronous: String, Sendable {
        case normal = "NORMAL"
        case full = "FULL"
    }

    /// Connection settings.
    public struct Options: Sendable {
        /// `NORMAL` by default: crash-safe with WAL (see README).
        public var synchronous: Synchronous = .normal
        /// How long a connection waits for another's lock before `storage.busy`; 5 s covers a
        /// long batch commit of another process (the CLI next to a server) without hanging.
        public var busyTimeoutMilliseconds: Int32 = 5000
        /// Read connections kept open at most; more concurrent readers wait for one.
        public var maxReaders: Int = 4
        /// Page cache per connection in KiB (SQLite's default is 2 MiB); a bigger writer cache
        /// keeps index pages of the import table in memory.
        public var writerCacheKiB: Int = 16384
        /// Page size of a database created by this open (an existing file keeps its own).
        /// 16 KiB instead of SQLite's 4: an import writes every page twice in WAL mode (to the
        /// log, then at a checkpoint into the file) and reads it back in between, one system
        /// call each, so bigger pages cut the kernel time of a 1,000,000-row import by ~40 %
        /// and its wall time by ~15 % (docs/BENCHMARKS.md).
        public var pageSize: Int = 16384
        /// Log frames after which the writer checkpoints, once the write that crossed the mark
        /// has returned (SQLite's default threshold, 1,000 pages, moved out of `COMMIT`).
        public var checkpointFrames: Int32 = 1000
        public init() {}
    }

    /// The file path.
    public let path: String
    private let options: Options
    // The lock guards `writer`; `readerLock` guards `idleReaders` and `openReaders`.
    // That is what makes the class safe to share (hence @unchecked).
    private let writer: Connection
    private let writeLock = PlainLock()
    private let readerLock = PlainLock()
    private var idleReaders: [Connection] = []
    private var openReaders = 0

    /// Opens (creating if needed) the database at `path` with WAL journaling.
    public init(path: String, options: Options = Options()) throws(StorageError) {
        self.path = path
        self.options = options
        let connection = try Connection(path: path)
        connection.setBusyTimeout(milliseconds: options.busyTimeoutMilliseconds)
        // Only takes effect while the file is still empty, so it must precede the WAL switch.
        try connection.execute("PRAGMA page_size=\(options.pageSize)")
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=\(options.synchronous.rawValue)")
        try connection.execute("PRAGMA foreign_keys=ON")
        try connection.execute("PRAGMA temp_store=MEMORY")
        try connection.execute("PRAGMA cache_size=-\(options.writerCacheKiB)")
        connection.reportWALSize()
        self.writer = connection
    }

    /// Runs `body` with the writer connection, holding the write lock (no transaction).
    public func write<R>(_ body: (Connection) throws -> R) throws -> R {
        writeLock.lock()
        defer {
            checkpointIfDue()
            writeLock.unlock()
        }
        return try body(writer)
    }

    /// Runs `body` in one `BEGIN IMMEDIATE … COMMIT` transaction on the writer connection;
    /// everything it does commits together or not at all.
    public func transaction<R>(_ body: (Connection) throws -> R) throws -> R {
        writeLock.lock()
        defer {
            checkpointIfDue()
            writeLock.unlock()
        }
        return try writer.transaction(body)
    }

    /// Runs with the write lock held, after the body: whatever the body published went out
    /// before this I/O.
    private func checkpointIfDue() {
        if options.checkpointFrames > 0 && writer.walFrames >= options.checkpointFrames {
            writer.checkpointPassive()
        }
    }

    /// Runs `body` with a read-only connection (concurrently with the writer and other readers).
    public func read<R>(_ body: (Connection) throws -> R) throws -> R {
        let connection = try checkoutReader()
        defer { withReaderLock { idleReaders.append(connection) } }
        return try body(connection)
    }

    private func withReaderLock<R>(_ body: () -> R) -> R {
        readerLock.lock()
        defer { readerLock.unlock() }
        return body()
    }

    private func checkoutReader() throws(StorageError) -> Connection {
        while true {
            let result: (Connection?, Bool) = withReaderLock {
                if let c = idleReaders.popLast() { return (c, false) }
                if openReaders < options.maxReaders { openReaders += 1; return (nil, true) }
                return (nil, false)
            }
            if let connection = result.0 { return connection }
            if result.1 {
                do {
                    let connection = try Connection(path: path, readOnly: true)
                    connection.setBusyTimeout(milliseconds: options.busyTimeoutMilliseconds)
                    try connection.execute("PRAGMA query_only=1")
                    return connection
                } catch {
                    withReaderLock { openReaders -= 1 }
                    throw error
                }
            }
            // All readers busy: they are held only for one query, so a short sleep is enough.
            usleep(200)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex. `Synchronization.Mutex` wants the guarded value inside it, which does not
/// fit a non-`Sendable` connection handed to a caller's closure; this guards code instead.
final class PlainLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}
