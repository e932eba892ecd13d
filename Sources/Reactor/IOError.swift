import CSystem
import Glibc

/// A failed system call: the `errno` value and the name of the call, turned into a Swift error
/// once, at the boundary.
public struct IOError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The `errno` value the call left behind.
    public let errno: Int32
    /// The name of the failing call, such as `"sendmsg"`.
    public let call: String

    /// Creates an error for `call` failing with `errno`.
    public init(errno: Int32, call: String) {
        self.errno = errno
        self.call = call
    }

    /// A stable code for logs and metrics, such as `"io.econnreset"`.
    public var code: String {
        switch errno {
        case ECONNRESET: return "io.connection_reset"
        case EPIPE: return "io.broken_pipe"
        case EMFILE, ENFILE: return "io.too_many_files"
        case EADDRINUSE: return "io.address_in_use"
        case EACCES, EPERM: return "io.permission_denied"
        case ETIMEDOUT: return "io.timed_out"
        default: return "io.error"
        }
    }

    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return "\(call): \(text) (errno \(errno))"
    }
}

/// The outcome of a non-blocking system call: done with a result, or it would have blocked.
public enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// Runs a system call, retrying on `EINTR`; `EAGAIN` becomes `.wouldBlock`, any other
/// failure becomes `IOError(errno, call)`. A negative result means failure, as in C.
@inline(__always)
public func syscall<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) throws(IOError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let code = Glibc.errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw IOError(errno: code, call: call.description)
    }
}

/// Runs a system call that is not expected to block; `.wouldBlock` is reported as an error.
@inline(__always)
@discardableResult
public func syscallBlocking<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) throws(IOError) -> T {
    switch try syscall(call, body) {
    case .done(let value): return value
    case .wouldBlock: throw IOError(errno: EAGAIN, call: call.description)
    }
}

/// Monotonic time in milliseconds, for deadlines.
@inline(__always)
public func monotonicMilliseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1000 &+ UInt64(spec.tv_nsec / 1_000_000)
}
