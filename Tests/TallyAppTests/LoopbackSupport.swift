import Foundation
import Progress
@testable import TallyApp

/// A running Tally on 127.0.0.1 with its own data directory, stopped when released.
final class TestServer {
    let directory = AppTempDirectory()
    let application: TallyApplication
    let port: Int

    init(loops: Int = 2, _ tweak: (inout TallyConfiguration) -> Void = { _ in }) throws {
        var configuration = TallyConfiguration()
        configuration.server.port = 0
        configuration.server.loopCount = loops
        configuration.dataDirectory = directory.path + "/data"
        configuration.webRoot = directory.path + "/web"
        configuration.api.rateLimit = nil
        tweak(&configuration)
        application = try TallyApplication(configuration: configuration, logger: .disabled)
        port = try application.start()
    }

    deinit { application.shutdown() }

    var api: APIContext { application.api }

    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [],
                 timeout: Double = 10) throws -> HTTPTestResponse {
        try HTTPTestClient.request(port: port, method, path, headers: headers, body: body, timeout: timeout)
    }

    func json(_ method: String, _ path: String, _ body: String? = nil) throws -> (Int, JSONValue) {
        let response = try request(method, path, headers: body == nil ? [] : [("Content-Type", "application/json")],
                                   body: Array((body ?? "").utf8))
        return (response.status, (try? JSONParser().parse(response.body)) ?? .null)
    }

    /// Creates an external job and returns its id.
    func externalJob(_ name: String = "sync") throws -> String {
        let (status, job) = try json("POST", "/api/jobs", #"{"name":"\#(name)","total":100}"#)
        guard status == 201, let id = job["id"]?.stringValue else { throw ClientError("test", "create failed: \(status)") }
        return id
    }

    func progress(_ id: String, _ body: String) throws -> Int {
        try json("POST", "/api/jobs/\(id)/progress", body).0
    }
}

struct HTTPTestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// One request per connection, read to the end of the response.
enum HTTPTestClient {
    static func request(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [],
                        body: [UInt8] = [], timeout: Double = 10) throws -> HTTPTestResponse {
        let socket = try BlockingSocket.connect(host: "127.0.0.1", port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try socket.write(Array(head.utf8) + body)
        var data: [UInt8] = []
        while true {
            let chunk = try socket.read(timeout: timeout)
            if chunk.isEmpty { break }
            data += chunk
        }
        return try parse(data)
    }

    static func parse(_ data: [UInt8]) throws -> HTTPTestResponse {
        guard let end = data.firstRange(of: [13, 10, 13, 10]) else { throw ClientError("test", "no response head") }
        let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.count >= 12, let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw ClientError("test", "bad status line")
        }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        var body = Array(data[end.upperBound...])
        let chunked = headers.contains { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }
        if chunked { body = dechunk(body) }
        return HTTPTestResponse(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < data.count {
            guard let lineEnd = data[index...].firstRange(of: [13, 10]) else { break }
            let size = Int(String(decoding: data[index..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            let start = lineEnd.upperBound
            let stop = min(data.count, start + size)
            out += data[start..<stop]
            index = stop + 2
        }
        return out
    }
}

/// An SSE client reading records as they come.
final class SSETestClient {
    let socket: BlockingSocket
    private var buffer: [UInt8] = []
    private var headDone = false
    var status = 0

    init(port: Int, path: String, lastEventID: String? = nil) throws {
        socket = try BlockingSocket.connect(host: "127.0.0.1", port: port)
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if let lastEventID { head += "Last-Event-ID: \(lastEventID)\r\n" }
        try socket.write(Array((head + "\r\n").utf8))
    }

    /// The next record's (id, event, data), skipping comments; nil at the end of the stream.
    func next(timeout: Double = 10) throws -> (id: String?, event: String?, data: String)? {
        while true {
            if !headDone, let end = buffer.firstRange(of: [13, 10, 13, 10]) {
                let line = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                status = Int(line.dropFirst(9).prefix(3)) ?? 0
                buffer.removeFirst(end.upperBound)
                headDone = true
            }
            if headDone, let record = takeRecord() {
                if let record { return record }
                continue
            }
            let chunk = try socket.read(timeout: timeout)
            if chunk.isEmpty { return nil }
            buffer += chunk
        }
    }

    /// Takes one chunk-framed record: .some(nil) for a comment, nil when incomplete.
    private func takeRecord() -> (id: String?, event: String?, data: String)?? {
        guard let lineEnd = buffer.firstRange(of: [13, 10]) else { return nil }
        guard let size = Int(String(decoding: buffer[..<lineEnd.lowerBound], as: UTF8.self), radix: 16) else { return nil }
        guard buffer.count >= lineEnd.upperBound + size + 2 else { return nil }
        let payload = String(decoding: buffer[lineEnd.upperBound..<(lineEnd.upperBound + size)], as: UTF8.self)
        buffer.removeFirst(lineEnd.upperBound + size + 2)
        if size == 0 { return .some(nil) }
        var id: String?, event: String?, data = ""
        for line in payload.split(separator: "\n") {
            if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
            else if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            else if line.hasPrefix("data: ") { data += line.dropFirst(6) }
        }
        if id == nil && event == nil && data.isEmpty { return .some(nil) }
        return .some((id, event, data))
    }

    func close() { socket.close() }
}
