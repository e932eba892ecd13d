#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX helpers, so the target needs no Foundation (and its fuzz harness builds fast).
enum SystemFile {
    /// Reads a whole regular file of at most `limit` bytes, or nil.
    static func read(path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { return nil }
        }
    }

    /// Whether `path` names a file this process can read.
    static func isReadable(_ path: String) -> Bool {
        access(path, R_OK) == 0
    }

    /// Seconds since the epoch, from the system clock (tokens carry wall-clock times).
    static func now() -> Int64 {
        Int64(time(nil))
    }
}
