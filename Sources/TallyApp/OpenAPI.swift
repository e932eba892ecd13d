/// The OpenAPI 3.1 document served at `/openapi.json`, built from `APIRoutes.all`.
public enum OpenAPI {
    /// The document's `info.version`.
    public static let version = "1.0.0"

    /// The whole document.
    public static func document(routes: [APIRoute] = APIRoutes.all) -> JSONValue {
        var paths: [(String, JSONValue)] = []
        for route in routes {
            var operation: [(String, JSONValue)] = [
                ("operationId", .string(route.operationID)),
                ("summary", .string(route.summary)),
                ("tags", [.string(route.tag)]),
            ]
            if case .object(let members) = route.operation { operation += members }
            let entry = (route.method.lowercased(), JSONValue.object(operation))
            if let index = paths.firstIndex(where: { $0.0 == route.path }), case .object(var methods) = paths[index].1 {
                methods.append(entry)
                paths[index].1 = .object(methods)
            } else {
                paths.append((route.path, .object([entry])))
            }
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Tally",
                "version": .string(version),
                "summary": "Real-time progress for CSV imports and for jobs run elsewhere.",
                "description": "Every import is a job. Follow a job with the snapshot endpoint, long-polling, Server-Sent Events or WebSocket; every transport carries the same event objects (see docs/PROTOCOL.md). Errors are `{\"error\":{\"code\":…,\"message\":…}}` with stable codes.",
            ],
            "paths": .object(paths),
            "components": ["schemas": schemas, "responses": responses],
        ]
    }

    private static let nullableString: JSONValue = ["type": ["string", "null"]]
    private static let nullableNumber: JSONValue = ["type": ["number", "null"]]
    private static let nullableInteger: JSONValue = ["type": ["integer", "null"]]
    private static let timestamp: JSONValue = ["type": "string", "format": "date-time"]
    private static let nullableTimestamp: JSONValue = ["type": ["string", "null"], "format": "date-time"]
    private static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/" + name)] }

    private static let errorExample: JSONValue = ["error": ["code": "job.not_found", "message": "No job with id 'x'."]]

    private static let responses: JSONValue = [
        "NotFound": ["description": "No such job (`job.not_found`).",
                     "content": ["application/json": ["schema": ref("Error"), "example": errorExample]]],
        "BadRequest": ["description": "A parameter or the body is invalid (`request.bad_parameter`, `request.bad_json`, `upload.bad_multipart`).",
                       "content": ["application/json": ["schema": ref("Error")]]],
        "RateLimited": [
            "description": "Too many requests from this client (`rate.limited`).",
            "headers": [
                "Retry-After": ["description": "Seconds until a request is allowed again.", "schema": ["type": "integer"]],
                "RateLimit-Limit": ["description": "Requests allowed in a burst.", "schema": ["type": "integer"]],
                "RateLimit-Remaining": ["description": "Requests left now.", "schema": ["type": "integer"]],
                "RateLimit-Reset": ["description": "Seconds until the allowance is full again.", "schema": ["type": "integer"]],
            ],
            "content": ["application/json": ["schema": ref("Error")]],
        ],
    ]

    private static let jobProperties: [(String, JSONValue)] = [
        ("id", ["type": "string"]),
        ("seq", ["type": "integer", "minimum": 0, "description": "1, 2, 3, … per job with no holes; every change gets the next."]),
        ("kind", ["type": "string", "enum": ["import", "external"]]),
        ("name", ["type": "string"]),
        ("state", ref("JobState")),
        ("message", nullableString),
        ("percent", nullableNumber),
        ("processed", ["type": "integer"]),
        ("succeeded", ["type": "integer"]),
        ("failed", ["type": "integer"]),
        ("total", ["type": ["integer", "null"], "description": "Exact when `totalExact`, otherwise estimated from bytes."]),
        ("totalExact", ["type": "boolean"]),
        ("bytesRead", nullableInteger),
        ("bytesTotal", nullableInteger),
        ("rate", ["type": ["number", "null"], "description": "Rows per second, smoothed."]),
        ("eta", ["type": ["number", "null"], "description": "Seconds left, or null when unknown."]),
        ("createdAt", timestamp),
        ("startedAt", nullableTimestamp),
        ("updatedAt", timestamp),
        ("finishedAt", nullableTimestamp),
        ("error", ["oneOf": [["type": "null"], ref("ErrorDetail")]]),
        ("table", nullableString),
        ("data", ["type": ["object", "null"], "description": "Free object published by an external producer."]),
    ]

    private static let schemas: JSONValue = [
        "JobState": ["type": "string", "enum": ["pending", "running", "completed", "failed", "cancelled"],
                     "description": "completed, failed and cancelled are terminal: no event follows them."],
        "ErrorDetail": ["type": "object", "required": ["code", "message"],
                        "properties": ["code": ["type": "string"], "message": ["type": "string"]]],
        "Error": ["type": "object", "required": ["error"], "properties": ["error": ref("ErrorDetail")],
                  "example": errorExample],
        "Job": .object([("type", "object"), ("properties", .object(jobProperties)),
                        ("required", .array(jobProperties.map { .string($0.0) }))]),
        "Links": ["type": "object", "description": "Every URL that follows the job.", "properties": [
            "self": ["type": "string"], "events": ["type": "string"], "stream": ["type": "string"],
            "ws": ["type": "string"], "errors": ["type": "string"], "cancel": ["type": "string"],
            "retry": ["type": "string"], "progress": ["type": "string"],
        ]],
        "AcceptedJob": ["allOf": [ref("Job"), ["type": "object", "properties": ["links": ref("Links")]]]],
        "Event": ["allOf": [ref("Job"), ["type": "object", "required": ["type"], "properties": [
            "type": ["type": "string", "enum": ["progress", "state", "snapshot"]],
            "resync": ["type": "boolean", "description": "A snapshot replacing events the client was too far behind to receive."],
        ]]]],
        "EventBatch": ["type": "object", "required": ["id", "events", "last", "state"], "properties": [
            "id": ["type": "string"],
            "events": ["type": "array", "items": ref("Event")],
            "last": ["type": "integer", "description": "Ask again with after=last."],
            "state": ref("JobState"),
        ]],
        "JobPage": ["type": "object", "required": ["jobs", "next"], "properties": [
            "jobs": ["type": "array", "items": ref("Job")],
            "next": ["type": ["string", "null"], "description": "The next page's URL, or null on the last page."],
        ]],
        "RowError": ["type": "object", "required": ["line", "code", "message"], "properties": [
            "line": ["type": "integer", "description": "The physical line (1-based) where the row starts."],
            "column": ["type": ["string", "null"], "description": "The column at fault, when one is."],
            "code": ["type": "string", "description": "A stable code such as `csv.ragged_row` or `row.invalid_integer`."],
            "message": ["type": "string"],
            "raw": ["type": ["string", "null"], "description": "The offending value, or the start of the raw row."],
        ]],
        "RowErrorPage": ["type": "object", "required": ["errors", "next"], "properties": [
            "errors": ["type": "array", "items": ref("RowError")],
            "next": ["type": ["string", "null"], "description": "The next page's URL, or null on the last page."],
        ]],
        "CreateJob": ["type": "object", "required": ["name"], "properties": [
            "name": ["type": "string"],
            "total": nullableInteger,
            "message": nullableString,
            "data": ["type": ["object", "null"]],
        ]],
        "ProgressUpdate": ["type": "object", "description": "Every field is optional; omitted fields keep their value.",
                           "properties": [
            "processed": ["type": "integer", "minimum": 0], "succeeded": ["type": "integer", "minimum": 0],
            "failed": ["type": "integer", "minimum": 0], "total": nullableInteger,
            "message": nullableString,
            "state": ref("JobState"),
            "error": ["oneOf": [["type": "null"], ref("ErrorDetail")]],
            "data": ["type": ["object", "null"], "description": "Passed through to subscribers as is."],
        ]],
        "Health": ["type": "object", "required": ["status"], "properties": [
            "status": ["type": "string", "enum": ["ok"]],
            "version": ["type": "string"],
            "uptime": ["type": "number"],
        ]],
    ]
}
