/// An error of the import service, with a stable code shared by logs and the JSON API.
public struct ImportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes.
    public enum Code: String, Sendable {
        /// No job with that id.
        case notFound = "job.not_found"
        /// The job is in a state that does not allow the operation (e.g. retry of a completed job).
        case invalidState = "job.invalid_state"
        /// A request that makes no sense (bad option, bad update).
        case badRequest = "job.bad_request"
        /// The queue of pending imports is full; try later.
        case queueFull = "import.queue_full"
        /// Another process runs imports from the same data directory.
        case dataDirectoryInUse = "import.data_directory_in_use"
        /// The service is shutting down.
        case shuttingDown = "import.shutting_down"
        /// The file to import does not exist or cannot be opened.
        case fileNotFound = "import.file_not_found"
        /// Reading the file failed.
        case readFailed = "import.read_failed"
        /// The file changed since the import started (it cannot resume).
        case fileChanged = "import.file_changed"
        /// The import ran longer than the maximum duration.
        case timeout = "import.timeout"
        /// The import made no progress for longer than the stall timeout.
        case stalled = "import.stalled"
        /// More rows were rejected than the threshold allows.
        case tooManyErrors = "import.too_many_errors"
        /// The schema given with the import is unusable.
        case badSchema = "import.bad_schema"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
