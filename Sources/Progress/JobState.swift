/// The lifecycle state of a job (docs/PROTOCOL.md).
public enum JobState: String, Sendable, CaseIterable {
    case pending
    case running
    case completed
    case failed
    case cancelled

    /// Completed, failed and cancelled are terminal: no event follows a terminal event.
    public var isTerminal: Bool {
        switch self {
        case .pending, .running: return false
        case .completed, .failed, .cancelled: return true
        }
    }
}

/// What runs the job: Tally's own import engine, or another system publishing its progress.
public enum JobKind: String, Sendable {
    case `import`
    case external
}

/// Why a job failed: a stable code (`import.stalled`) and a human-readable message.
public struct JobError: Sendable, Equatable, Error {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
