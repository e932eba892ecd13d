import Progress

/// A text message a client sends on a WebSocket (docs/PROTOCOL.md, "WebSocket").
public enum ClientMessage: Sendable, Equatable {
    /// Follow a job, or every job with `.all`; `after` resumes.
    case subscribe(HubTopic, after: UInt64?)
    /// Stop following.
    case unsubscribe(HubTopic)
    /// Application-level ping; answered with `{"type":"pong"}`.
    case ping

    /// Largest client message accepted: a subscribe message is under 100 bytes.
    public static let maxBytes = 4096

    /// Parses one client text message; the error carries the code of the error frame.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<ClientMessage, WireError> {
        guard bytes.count <= maxBytes else {
            return .failure(WireError(code: "ws.bad_message", message: "Messages are limited to \(maxBytes) bytes."))
        }
        var parser = JSONParser()
        parser.maxDepth = 4
        let value: JSONValue
        do {
            value = try parser.parse(bytes)
        } catch {
            return .failure(WireError(code: "ws.bad_message", message: "The message is not valid JSON (\(error.code) at byte \(error.offset))."))
        }
        guard case .object = value else {
            return .failure(WireError(code: "ws.bad_message", message: "The message must be a JSON object."))
        }
        guard let type = value["type"]?.stringValue else {
            return .failure(WireError(code: "ws.bad_message", message: "The message needs a string \"type\"."))
        }
        switch type {
        case "ping":
            return .success(.ping)
        case "subscribe", "unsubscribe":
            guard let job = value["job"]?.stringValue, !job.isEmpty else {
                return .failure(WireError(code: "ws.bad_message", message: "\"\(type)\" needs a string \"job\" (an id or \"*\").", job: nil))
            }
            guard job == "*" || JobID.isValid(job) else {
                return .failure(WireError(code: "job.not_found", message: "No job with id '\(APIError.clip(job))'.", job: APIError.clip(job)))
            }
            let topic = HubTopic(job)
            if type == "unsubscribe" { return .success(.unsubscribe(topic)) }
            var after: UInt64?
            if let raw = value["after"], !raw.isNull {
                guard let count = raw.countValue else {
                    return .failure(WireError(code: "ws.bad_message", message: "\"after\" must be a non-negative integer.", job: job))
                }
                after = UInt64(count)
            }
            return .success(.subscribe(topic, after: after))
        default:
            return .failure(WireError(code: "ws.bad_message", message: "Unknown message type '\(APIError.clip(type))'."))
        }
    }
}

/// An error reported inside a stream (a WebSocket error frame), not as an HTTP status.
public struct WireError: Error, Sendable, Equatable {
    /// The stable code (`ws.bad_message`, `job.not_found`, …).
    public let code: String
    /// A sentence for people.
    public let message: String
    /// The job the error concerns, when there is one.
    public var job: String?

    /// Creates an error.
    public init(code: String, message: String, job: String? = nil) {
        self.code = code
        self.message = message
        self.job = job
    }
}

/// The server's own text messages on a WebSocket, besides events.
public enum ServerMessage {
    /// `{"type":"subscribed","job":"ID"}`.
    public static func subscribed(_ topic: HubTopic) -> [UInt8] { simple("subscribed", topic) }

    /// `{"type":"unsubscribed","job":"ID"}`.
    public static func unsubscribed(_ topic: HubTopic) -> [UInt8] { simple("unsubscribed", topic) }

    /// `{"type":"pong"}`.
    public static let pong: [UInt8] = Array(#"{"type":"pong"}"#.utf8)

    /// `{"type":"error","code":…,"message":…[,"job":…]}`.
    public static func error(_ error: WireError) -> [UInt8] {
        var writer = JSONWriter(capacity: 128)
        writer.raw("{\"type\":\"error\",\"code\":")
        writer.string(error.code)
        writer.raw(",\"message\":")
        writer.string(error.message)
        if let job = error.job {
            writer.raw(",\"job\":")
            writer.string(job)
        }
        writer.endObject()
        return writer.bytes
    }

    private static func simple(_ type: StaticString, _ topic: HubTopic) -> [UInt8] {
        var writer = JSONWriter(capacity: 64)
        writer.raw("{\"type\":\"")
        writer.raw(type)
        writer.raw("\",\"job\":")
        switch topic {
        case .all: writer.string("*")
        case .job(let id): writer.string(id)
        }
        writer.endObject()
        return writer.bytes
    }
}

/// Encodings shared by the HTTP transports.
public enum EventEncoding {
    /// One Server-Sent Events record: `id:` the seq, `event:` the type, `data:` the JSON.
    /// In valid JSON a raw line break can only be whitespace between tokens, so turning it into
    /// a space keeps the value and keeps the record on one `data:` line.
    public static func sse(_ draft: HubEventDraft) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(draft.json.count + 48)
        out.append(contentsOf: "id: \(draft.seq)\nevent: \(draft.type.rawValue)\ndata: ".utf8)
        if draft.json.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            out.append(contentsOf: draft.json.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 })
        } else {
            out.append(contentsOf: draft.json)
        }
        out.append(contentsOf: "\n\n".utf8)
        return out
    }

    /// The long-poll answer: `{"id":…,"events":[…],"last":N,"state":"…"}`.
    public static func eventBatch(job: String, events: [HubEvent], last: UInt64, state: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + events.reduce(0) { $0 + $1.json.count + 1 })
        writer.raw("{\"id\":")
        writer.string(job)
        writer.raw(",\"events\":[")
        for (index, event) in events.enumerated() {
            if index > 0 { writer.comma() }
            writer.raw(json: event.json)
        }
        writer.raw("],\"last\":")
        writer.raw(json: String(last).utf8)
        writer.raw(",\"state\":")
        writer.string(state)
        writer.endObject()
        return writer.bytes
    }
}
