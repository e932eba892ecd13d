#if canImport(Glibc)
import Glibc
#endif

struct TestFileError: Error {}

/// Writes a file for a test, replacing it if present.
func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw TestFileError() }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw TestFileError() }
}

func removeFile(_ path: String) {
    unlink(path)
}
