import Progress

/// An error as the API reports it: an HTTP status and `{"error":{"code":…,"message":…}}`.
///
/// Codes are stable strings shared with logs, metrics and the WebSocket error frames; the
/// message is for people and may change. Every error response goes through here, so the
/// mapping from failure to status lives in one place.
public struct APIError: Error, Sendable, Equatable {
    /// The HTTP status.
    public let status: Int
    /// The stable code, e.g. `job.not_found`.
    public let code: String
    /// A sentence for people.
    public let message: String
    /// Extra response headers (`Retry-After`, `Allow`, rate-limit headers).
    public var headers: [(String, String)] = []

    /// Creates an error.
    public init(status: Int, code: String, message: String, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public static func == (lhs: APIError, rhs: APIError) -> Bool {
        lhs.status == rhs.status && lhs.code == rhs.code && lhs.message == rhs.message
    }

    /// The JSON body.
    public var body: [UInt8] {
        var writer = JSONWriter(capacity: 96 + message.utf8.count)
        writer.raw("{\"error\":{\"code\":")
        writer.string(code)
        writer.raw(",\"message\":")
        writer.string(message)
        writer.raw("}}")
        return writer.bytes
    }

    // MARK: The catalogue (each code is documented in the OpenAPI document)

    /// 404: no job with that id.
    public static func jobNotFound(_ id: String) -> APIError {
        APIError(status: 404, code: "job.not_found", message: "No job with id '\(APIError.clip(id))'.")
    }

    /// 409: the job already reached a terminal state.
    public static func jobFinished(_ id: String, state: String) -> APIError {
        APIError(status: 409, code: "job.finished", message: "Job '\(APIError.clip(id))' is already \(state).")
    }

    /// 409: the job cannot be retried in its current state.
    public static func jobNotRetryable(_ id: String, state: String) -> APIError {
        APIError(status: 409, code: "job.not_retryable",
                 message: "Job '\(APIError.clip(id))' is \(state); only failed or interrupted imports can be retried.")
    }

    /// 409: progress may only be published for jobs created with `POST /api/jobs`.
    public static func jobNotExternal(_ id: String) -> APIError {
        APIError(status: 409, code: "job.not_external",
                 message: "Job '\(APIError.clip(id))' is run by Tally; only external jobs accept progress.")
    }

    /// 400: a query parameter or field has a wrong value.
    public static func badParameter(_ name: String, _ why: String) -> APIError {
        APIError(status: 400, code: "request.bad_parameter", message: "Parameter '\(name)': \(why)")
    }

    /// 400: the body is not the JSON expected.
    public static func badJSON(_ why: String) -> APIError {
        APIError(status: 400, code: "request.bad_json", message: why)
    }

    /// 413: the upload is over the configured limit.
    public static func uploadTooLarge(limit: Int) -> APIError {
        APIError(status: 413, code: "upload.too_large", message: "Uploads are limited to \(limit) bytes.")
    }

    /// 415: neither `text/csv` nor `multipart/form-data`.
    public static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(status: 415, code: "upload.unsupported_media_type",
                 message: "Send the CSV as text/csv or multipart/form-data, not '\(APIError.clip(type))'.")
    }

    /// 400: a multipart body that cannot be read, or without a file part.
    public static func badMultipart(_ why: String) -> APIError {
        APIError(status: 400, code: "upload.bad_multipart", message: why)
    }

    /// 429: too many requests from this client.
    public static func rateLimited(_ decision: RateLimitDecision) -> APIError {
        APIError(status: 429, code: "rate.limited",
                 message: "Too many requests; retry in \(decision.retryAfterSeconds) s.", headers: decision.headers)
    }

    /// 404: no route for the path.
    public static func routeNotFound(_ path: String) -> APIError {
        APIError(status: 404, code: "route.not_found", message: "Nothing at '\(APIError.clip(path))'.")
    }

    /// 405: the path exists with other methods.
    public static func methodNotAllowed(_ method: String, allowed: [String]) -> APIError {
        APIError(status: 405, code: "route.method_not_allowed",
                 message: "\(APIError.clip(method)) is not allowed here.",
                 headers: [("Allow", allowed.joined(separator: ", "))])
    }

    /// 503: shedding load or shutting down.
    public static func unavailable(_ why: String, retryAfter: Int = 1) -> APIError {
        APIError(status: 503, code: "server.unavailable", message: why, headers: [("Retry-After", String(retryAfter))])
    }

    /// 500: a failure the client cannot fix; the detail goes to the log, not the wire.
    public static func internalError(_ code: String = "server.internal") -> APIError {
        APIError(status: 500, code: code, message: "The server failed to handle the request.")
    }

    /// Keeps echoed client text short so an error body cannot be used to amplify input.
    static func clip(_ text: String) -> String {
        text.count <= 80 ? text : String(text.prefix(80)) + "…"
    }
}
