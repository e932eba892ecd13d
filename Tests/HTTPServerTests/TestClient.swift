import Glibc

/// A blocking loopback client for tests: raw bytes out, HTTP responses in.
final class TestClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    init(port: Int, receiveTimeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw Failure(description: "connect failed: \(errno)")
        }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            offset += count
        }
    }

    /// Half-closes the sending side.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes into the buffer; false on EOF, timeout or error.
    @discardableResult
    func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    /// Everything until the server closes (or the timeout).
    func readToEnd() -> [UInt8] {
        while fill() {}
        defer { buffer = [] }
        return buffer
    }

    /// Whether the server closed the connection (EOF) before the timeout.
    func isClosedByPeer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    private func line() -> String? {
        while true {
            if let index = buffer.firstIndex(of: 0x0A) {
                var lineBytes = Array(buffer[..<index])
                buffer.removeSubrange(...index)
                if lineBytes.last == 0x0D { lineBytes.removeLast() }
                return String(decoding: lineBytes, as: UTF8.self)
            }
            guard fill() else { return nil }
        }
    }

    private func take(_ count: Int) -> [UInt8]? {
        while buffer.count < count { guard fill() else { return nil } }
        defer { buffer.removeSubrange(0..<count) }
        return Array(buffer[0..<count])
    }

    /// Reads one response (Content-Length, chunked, or until close); nil on EOF/timeout.
    func readResponse(headRequest: Bool = false) -> Response? {
        guard let statusLine = line() else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        while let header = line(), !header.isEmpty {
            guard let colon = header.firstIndex(of: ":") else { continue }
            headers.append((String(header[..<colon]), header[header.index(after: colon)...].trimmingCharacters()))
        }
        var response = Response(status: status, headers: headers, body: [])
        if headRequest || status == 204 || status == 304 || status < 200 { return response }
        if let length = response.header("content-length").flatMap({ Int($0) }) {
            guard let body = take(length) else { return nil }
            response.body = body
        } else if response.header("transfer-encoding") == "chunked" {
            while let sizeLine = line(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) {
                if size == 0 {
                    while let trailer = line(), !trailer.isEmpty {}
                    return response
                }
                guard let data = take(size) else { return nil }
                response.body.append(contentsOf: data)
                _ = line()
            }
            return nil
        } else {
            response.body = readToEnd()
        }
        return response
    }

    /// Reads the next chunk of a chunked body (after the head was read by `readHead`).
    func readChunk() -> [UInt8]? {
        guard let sizeLine = line(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { return nil }
        if size == 0 { _ = line(); return [] }
        guard let data = take(size) else { return nil }
        _ = line()
        return data
    }

    /// Reads only a response head (for streamed responses).
    func readHead() -> Response? {
        guard let statusLine = line() else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        while let header = line(), !header.isEmpty {
            guard let colon = header.firstIndex(of: ":") else { continue }
            headers.append((String(header[..<colon]), header[header.index(after: colon)...].trimmingCharacters()))
        }
        return Response(status: status, headers: headers, body: [])
    }

    /// Takes bytes already received or arriving (for raw protocols after an upgrade).
    func readBytes(_ count: Int) -> [UInt8]? { take(count) }
}

extension Substring {
    func trimmingCharacters() -> String {
        var text = self
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return String(text)
    }
}

/// Sleeps briefly (tests that wait for another thread).
func pause(milliseconds: Int) {
    usleep(useconds_t(milliseconds * 1000))
}
