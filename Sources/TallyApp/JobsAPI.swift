import Imports
import Progress

/// A response the API layer produced, before it becomes HTTP.
public struct APIResponse: Sendable {
    /// The status.
    public var status: Int
    /// The `Content-Type`.
    public var contentType: String
    /// The body.
    public var body: [UInt8]
    /// More headers.
    public var headers: [(String, String)] = []

    /// A JSON response.
    public static func json(_ body: [UInt8], status: Int = 200) -> APIResponse {
        APIResponse(status: status, contentType: "application/json", body: body)
    }
}

/// The job routes' logic, independent of the transport: parameters in, `APIResponse` or
/// `APIError` out. Methods may block on the store (SQLite), so the HTTP layer runs the
/// writing ones off the event loops.
public struct JobsAPI: Sendable {
    /// The import engine.
    public let imports: ImportService
    /// The hub, for snapshots held in memory.
    public let hub: any ProgressHub

    /// Creates the API over `imports` and `hub`.
    public init(imports: ImportService, hub: any ProgressHub) {
        self.imports = imports
        self.hub = hub
    }

    /// A job id from a path segment, or 404 before anything touches the store.
    public static func validID(_ text: String?) -> Result<String, APIError> {
        guard let text, JobID.isValid(text) else { return .failure(.jobNotFound(text ?? "")) }
        return .success(text)
    }

    // MARK: Reading

    /// `GET /api/jobs/{id}`: from memory when possible, from the store otherwise.
    ///
    /// The tracker is authoritative for active jobs; the hub hears of changes a moment later,
    /// so it is only trusted for finished jobs, whose snapshot no longer changes (a retry
    /// makes the job active in the tracker again first).
    public func job(_ id: String) -> Result<APIResponse, APIError> {
        if let live = imports.tracker.latestJSON(id) { return .success(.json(live)) }
        if let event = hub.latest(job: id), event.isTerminal { return .success(.json(event.snapshot)) }
        return Self.run { () throws -> APIResponse in
            guard let snapshot = try imports.job(id) else {
                // Another node's job, known here through the Redis hub, or from the shared
                // PostgreSQL database (an import this node never heard of).
                if let event = hub.latest(job: id) { return .json(event.snapshot) }
                if let shared = try imports.sharedImport(id) { return .json(shared.json) }
                throw APIError.jobNotFound(id)
            }
            return .json(snapshot.json)
        }
    }

    /// `GET /api/jobs?state=&limit=&offset=`.
    public func list(query: (String) -> String?) -> Result<APIResponse, APIError> {
        Self.run { () throws -> APIResponse in
            var state: JobState?
            if let text = query("state"), !text.isEmpty {
                guard let parsed = JobState(rawValue: text) else {
                    throw APIError.badParameter("state", "one of pending, running, completed, failed, cancelled.")
                }
                state = parsed
            }
            let (limit, offset) = try Self.page(query)
            // One more than asked tells whether a next page exists without counting.
            let jobs = try imports.jobs(state: state, page: Page(limit: limit + 1, offset: offset))
            var writer = JSONWriter(capacity: 64 + jobs.count * 512)
            writer.raw("{\"jobs\":[")
            for (index, job) in jobs.prefix(limit).enumerated() {
                if index > 0 { writer.comma() }
                // Another node's import (seq 0, from the shared database): the hub's snapshot
                // when it heard the job through Redis is fresher.
                if job.seq == 0, let event = hub.latest(job: job.id), state.map({ $0.rawValue == event.state }) ?? true {
                    writer.raw(json: event.snapshot)
                } else {
                    writer.raw(json: job.json)
                }
            }
            writer.raw("],\"next\":")
            if jobs.count > limit {
                var next = "/api/jobs?"
                if let state { next += "state=\(state.rawValue)&" }
                next += "limit=\(limit)&offset=\(offset + limit)"
                writer.string(next)
            } else {
                writer.null()
            }
            writer.endObject()
            return .json(writer.bytes)
        }
    }

    /// `GET /api/jobs/{id}/errors?limit=&offset=&format=json|csv`.
    public func errors(_ id: String, query: (String) -> String?) -> Result<APIResponse, APIError> {
        Self.run { () throws -> APIResponse in
            let format = query("format") ?? "json"
            switch format {
            case "csv":
                return try csvErrors(id)
            case "json", "":
                let (limit, offset) = try Self.page(query)
                let errors = try imports.errors(id, page: Page(limit: limit + 1, offset: offset))
                var writer = JSONWriter(capacity: 64 + errors.count * 160)
                writer.raw("{\"errors\":[")
                for (index, error) in errors.prefix(limit).enumerated() {
                    if index > 0 { writer.comma() }
                    error.encode(into: &writer)
                }
                writer.raw("],\"next\":")
                if errors.count > limit {
                    writer.string("/api/jobs/\(id)/errors?limit=\(limit)&offset=\(offset + limit)")
                } else {
                    writer.null()
                }
                writer.endObject()
                return .json(writer.bytes)
            default:
                throw APIError.badParameter("format", "json or csv.")
            }
        }
    }

    /// Every stored row error as a CSV file, one line per error, to fix and upload again.
    private func csvErrors(_ id: String) throws -> APIResponse {
        var out = Array("line,column,code,message,value\r\n".utf8)
        var offset = 0
        while true {
            let page = try imports.errors(id, page: Page(limit: 1000, offset: offset))
            for error in page {
                out += Array(String(error.line).utf8)
                for field in [error.column ?? "", error.code, error.message, error.raw ?? ""] {
                    out.append(UInt8(ascii: ","))
                    Self.appendCSVField(field, to: &out)
                }
                out += [0x0D, 0x0A]
            }
            if page.count < 1000 { break }
            offset += page.count
        }
        var response = APIResponse(status: 200, contentType: "text/csv; charset=utf-8", body: out)
        response.headers = [("Content-Disposition", "attachment; filename=\"\(id)-errors.csv\"")]
        return response
    }

    /// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so that a
    /// spreadsheet opening the file does not run a value from the import as a formula.
    static func appendCSVField(_ field: String, to out: inout [UInt8]) {
        var text = field
        if let first = text.first, "=+-@".contains(first) { text = "'" + text }
        let needsQuotes = text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" } || text != field
        guard needsQuotes else {
            out += Array(text.utf8)
            return
        }
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: Changing

    /// `POST /api/jobs/{id}/cancel`: 202 with the snapshot, 409 when already finished.
    public func cancel(_ id: String) -> Result<APIResponse, APIError> {
        Self.run { () throws -> APIResponse in
            do {
                return .json(try imports.cancel(id).json, status: 202)
            } catch let error as ImportError where error.code == .invalidState {
                let state = (try? imports.job(id))?.state.rawValue ?? "finished"
                throw APIError.jobFinished(id, state: state)
            }
        }
    }

    /// `POST /api/jobs/{id}/retry`: 202 with the snapshot, 409 unless failed or cancelled.
    public func retry(_ id: String) -> Result<APIResponse, APIError> {
        Self.run { () throws -> APIResponse in
            do {
                return .json(try imports.retry(id).json, status: 202)
            } catch let error as ImportError where error.code == .invalidState {
                let state = (try? imports.job(id))?.state.rawValue ?? "not retryable"
                throw APIError.jobNotRetryable(id, state: state)
            }
        }
    }

    /// `POST /api/jobs`: creates an external job; 201 with the job and its links.
    public func createExternal(body: [UInt8]) -> Result<APIResponse, APIError> {
        Self.run { () throws -> APIResponse in
            let job = try imports.createExternalJob(try Self.externalJobSpec(body: body))
            return .json(Self.withLinks(job), status: 201)
        }
    }

    /// `POST /api/jobs/{id}/progress`: applies an external producer's update.
    public func publishProgress(_ id: String, body: [UInt8]) -> Result<APIResponse, APIError> {
        Self.run { () throws -> APIResponse in
            let update = try Self.progressUpdate(body: body)
            guard let current = try imports.job(id) else { throw APIError.jobNotFound(id) }
            guard current.kind == .external else { throw APIError.jobNotExternal(id) }
            guard !current.state.isTerminal else { throw APIError.jobFinished(id, state: current.state.rawValue) }
            do {
                return .json(try imports.updateExternalJob(id, update).json)
            } catch let error as ImportError where error.code == .invalidState {
                // Finished between the check and the update (another producer's request).
                let state = (try? imports.job(id))?.state.rawValue ?? "finished"
                throw APIError.jobFinished(id, state: state)
            }
        }
    }

    // MARK: Request bodies

    /// The body of `POST /api/jobs` as a job spec, or the `APIError` (400) that refuses it.
    /// Pure: touches no store, so it can be tested and fuzzed on bytes alone.
    public static func externalJobSpec(body: [UInt8]) throws -> ExternalJobSpec {
        let (value, data) = try object(body)
        guard let name = value["name"]?.stringValue, !name.isEmpty, name.count <= 500 else {
            throw APIError.badParameter("name", "a non-empty string of at most 500 characters.")
        }
        var spec = ExternalJobSpec(name: name)
        spec.total = try count(value, "total")
        spec.message = try text(value, "message")
        spec.data = try Self.data(value, text: data)
        if let state = value["state"], !state.isNull {
            guard let text = state.stringValue, let parsed = JobState(rawValue: text),
                  parsed == .pending || parsed == .running else {
                throw APIError.badParameter("state", "pending or running.")
            }
            spec.state = parsed
        }
        return spec
    }

    /// The body of `POST /api/jobs/{id}/progress` as an update, or the `APIError` (400) that
    /// refuses it. Pure, like `externalJobSpec(body:)`.
    public static func progressUpdate(body: [UInt8]) throws -> ExternalJobUpdate {
        let (value, data) = try object(body)
        var update = ExternalJobUpdate()
        update.processed = try count(value, "processed")
        update.succeeded = try count(value, "succeeded")
        update.failed = try count(value, "failed")
        update.total = try count(value, "total")
        update.message = try text(value, "message")
        update.data = try Self.data(value, text: data)
        if let state = value["state"], !state.isNull {
            guard let text = state.stringValue, let parsed = JobState(rawValue: text) else {
                throw APIError.badParameter("state", "one of pending, running, completed, failed, cancelled.")
            }
            update.state = parsed
        }
        if let error = value["error"], !error.isNull {
            guard let code = error["code"]?.stringValue, let message = error["message"]?.stringValue,
                  code.count <= 100, message.count <= 2000 else {
                throw APIError.badParameter("error", "an object with string \"code\" and \"message\".")
            }
            update.error = JobError(code: code, message: message)
        }
        return update
    }

    // MARK: Helpers

    /// The job JSON with `"links"` to every URL that follows it.
    public static func withLinks(_ job: JobSnapshot) -> [UInt8] {
        var bytes = job.json
        guard bytes.last == UInt8(ascii: "}") else { return bytes }
        bytes.removeLast()
        let base = "/api/jobs/" + job.id
        var writer = JSONWriter(capacity: 400)
        writer.raw(",\"links\":{")
        var links: [(String, String)] = [
            ("self", base), ("events", base + "/events?after=0"), ("stream", base + "/stream"),
            ("ws", "/ws/jobs/" + job.id), ("errors", base + "/errors"), ("cancel", base + "/cancel"),
        ]
        links.append(job.kind == .external ? ("progress", base + "/progress") : ("retry", base + "/retry"))
        for (index, link) in links.enumerated() {
            if index > 0 { writer.comma() }
            writer.key(link.0)
            writer.string(link.1)
        }
        writer.raw("}}")
        bytes += writer.bytes
        return bytes
    }

    static func page(_ query: (String) -> String?) throws -> (limit: Int, offset: Int) {
        var limit = 50
        var offset = 0
        if let text = query("limit"), !text.isEmpty {
            guard let value = Int(text), (1...500).contains(value) else {
                throw APIError.badParameter("limit", "an integer from 1 to 500.")
            }
            limit = value
        }
        if let text = query("offset"), !text.isEmpty {
            guard let value = Int(text), value >= 0, value <= 1_000_000_000 else {
                throw APIError.badParameter("offset", "a non-negative integer.")
            }
            offset = value
        }
        return (limit, offset)
    }

    /// The body as a JSON object, with the source text of its `data` member.
    static func object(_ body: [UInt8]) throws -> (value: JSONValue, data: [UInt8]?) {
        let parsed: (value: JSONValue, text: [UInt8]?)
        do {
            var parser = JSONParser()
            parser.maxBytes = 256 * 1024
            parsed = try parser.parse(body, keepingTextOf: "data")
        } catch {
            throw APIError.badJSON("The body is not valid JSON (\(error.code) at byte \(error.offset)).")
        }
        guard case .object = parsed.value else { throw APIError.badJSON("The body must be a JSON object.") }
        return (parsed.value, parsed.text)
    }

    static func count(_ value: JSONValue, _ name: String) throws -> Int64? {
        guard let field = value[name], !field.isNull else { return nil }
        guard let count = field.countValue else { throw APIError.badParameter(name, "a non-negative integer.") }
        return count
    }

    static func text(_ value: JSONValue, _ name: String) throws -> String? {
        guard let field = value[name], !field.isNull else { return nil }
        guard let text = field.stringValue, text.count <= 2000 else {
            throw APIError.badParameter(name, "a string of at most 2000 characters.")
        }
        return text
    }

    /// `data` exactly as the producer wrote it (`text`, the member's source with the
    /// whitespace between tokens removed): never re-encoded, so no number is rounded.
    static func data(_ value: JSONValue, text: [UInt8]?) throws -> JSONText? {
        guard let field = value["data"], !field.isNull else { return nil }
        guard case .object = field, let text, let json = JSONText(validating: String(decoding: text, as: UTF8.self)) else {
            throw APIError.badParameter("data", "a JSON object.")
        }
        guard text.count <= 64 * 1024 else { throw APIError.badParameter("data", "at most 64 KiB of JSON.") }
        return json
    }

    /// Runs `body`, mapping every failure to an `APIError` in one place.
    static func run(_ body: () throws -> APIResponse) -> Result<APIResponse, APIError> {
        do {
            return .success(try body())
        } catch let error as APIError {
            return .failure(error)
        } catch let error as ImportError {
            return .failure(apiError(error))
        } catch {
            return .failure(.internalError())
        }
    }

    /// The engine's errors as the API reports them.
    static func apiError(_ error: ImportError) -> APIError {
        switch error.code {
        case .notFound: APIError(status: 404, code: error.code.rawValue, message: error.message)
        case .invalidState: APIError(status: 409, code: error.code.rawValue, message: error.message)
        case .badRequest, .badSchema: APIError(status: 400, code: error.code.rawValue, message: error.message)
        case .queueFull, .shuttingDown:
            APIError(status: 503, code: error.code.rawValue, message: error.message, headers: [("Retry-After", "5")])
        default: APIError(status: 500, code: error.code.rawValue, message: error.message)
        }
    }
}
