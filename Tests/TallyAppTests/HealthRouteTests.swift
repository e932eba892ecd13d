import Glibc
import Testing
@testable import TallyApp

struct HealthRouteTests {
    @Test func healthzAnswersJSONAndTheDataDirectoryIsCreated() throws {
        let base = "/tmp/tally-app-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var configuration = TallyConfiguration()
        configuration.server.port = 0
        configuration.server.loopCount = 1
        configuration.dataDirectory = base + "/data/nested"
        configuration.webRoot = base + "/web"
        let application = try TallyApplication(configuration: configuration, logger: .disabled)
        let port = try application.start()
        defer { application.shutdown() }
        var info = stat()
        #expect(stat(configuration.dataDirectory, &info) == 0)

        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        _ = send(fd, request, request.utf8.count, Int32(MSG_NOSIGNAL))
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if count <= 0 { break }
            response.append(contentsOf: chunk[0..<count])
        }
        let text = String(decoding: response, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("Content-Type: application/json\r\n"))
        #expect(text.contains(#"{"status":"ok","#))
    }
}
