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
            if case .object(let members) = route.operation {
                operation += members.filter { $0.0 != "responses" }
                operation.append(("responses", responses(for: route, documented: route.operation["responses"])))
            }
            operation.append(("security", security(for: route.access)))
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
                "description": "Every import is a job. Follow a job with the snapshot endpoint, long-polling, Server-Sent Events or WebSocket; every transport carries the same event objects (see docs/PROTOCOL.md). Errors are `{\"error\":{\"code\":…,\"message\":…}}` with stable codes. Authentication (docs/SECURITY.md): routes that change things need an admin API key (`apiKey`); routes that read need a subscribe token covering the job (`subscribeToken`, or the same in the `token` query parameter, `subscribeTokenQuery`) or an API key. A server started with neither a token secret nor an API key is in open mode: no credential is needed and any shown is ignored.",
            ],
            "paths": .object(paths),
            "components": ["schemas": schemas, "responses": sharedResponses, "securitySchemes": securitySchemes],
        ]
    }

    /// The security requirement of a route: alternatives, any one of which is enough.
    static func security(for access: APIRoute.Access) -> JSONValue {
        switch access {
        case .open: []
        case .admin: [["apiKey": []]]
        case .read: [["subscribeToken": []], ["subscribeTokenQuery": []], ["apiKey": []]]
        }
    }

    /// The route's own responses, then the ones every route of its kind can give: 401, 403 and
    /// 429 (an address locked out after failed authentications) when it takes a credential,
    /// 429 when it is rate limited, and 503 everywhere (the server sheds connections over its
    /// limits before reading a request).
    static func responses(for route: APIRoute, documented: JSONValue?) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if case .object(let own)? = documented { members = own }
        var common: [(String, JSONValue)] = []
        if route.access != .open {
            common.append(("401", response("Unauthorized")))
            common.append(("403", response(route.access == .admin ? "ForbiddenAdmin" : "Forbidden")))
        }
        if route.rateLimited {
            common.append(("429", response("RateLimited")))
        } else if route.access != .open {
            common.append(("429", response("TooManyAuthFailures")))
        }
        common.append(("503", response("ServiceUnavailable")))
        for (status, value) in common where !members.contains(where: { $0.0 == status }) {
            members.append((status, value))
        }
        members.sort { $0.0 < $1.0 }
        return .object(members)
    }

    private static func response(_ name: String) -> JSONValue { ["$ref": .string("#/components/responses/" + name)] }

    private static let securitySchemes: JSONValue = [
        "apiKey": [
            "type": "http", "scheme": "bearer",
            "description": "An admin API key (`tally serve --api-key`, or `--api-key-file`) as `Authorization: Bearer <key>`: uploads, creating and cancelling jobs, retries, publishing progress and `/metrics`; it may read everything too.",
        ],
        "subscribeToken": [
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A subscribe token as `Authorization: Bearer <token>`: an HS256 JWT signed with the server's `--token-secret`, with `sub` = a job id or `*` (every job), `exp`, and `aud` when the server sets `--token-audience`. It may only read the jobs its `sub` covers (`tally token` mints one).",
        ],
        "subscribeTokenQuery": [
            "type": "apiKey", "in": "query", "name": "token",
            "description": "The subscribe token (or an API key) as the `token` query parameter, for browsers' WebSocket and EventSource, which cannot set headers. Query strings end up in logs: prefer the header where you can, and short-lived tokens.",
        ],
    ]

    private static let retryAfter: JSONValue = ["description": "Seconds to wait before trying again.", "schema": ["type": "integer"]]

    private static let nullableString: JSONValue = ["type": ["string", "null"]]
    private static let nullableNumber: JSONValue = ["type": ["number", "null"]]
    private static let nullableInteger: JSONValue = ["type": ["integer", "null"]]
    private static let timestamp: JSONValue = ["type": "string", "format": "date-time"]
    private static let nullableTimestamp: JSONValue = ["type": ["string", "null"], "format": "date-time"]
    private static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/" + name)] }

    private static let errorExample: JSONValue = ["error": ["code": "job.not_found", "message": "No job with id 'x'."]]

    private static let sharedResponses: JSONValue = [
        "NotFound": ["description": "No such job (`job.not_found`).",
                     "content": ["application/json": ["schema": ref("Error"), "example": errorExample]]],
        "BadRequest": ["description": "A parameter or the body is invalid (`request.bad_parameter`, `request.bad_json`, `upload.bad_multipart`).",
                       "content": ["application/json": ["schema": ref("Error")]]],
        "Unauthorized": [
            "description": "No usable credential: `auth.missing_token` (none shown), `auth.malformed_token`, `auth.unsupported_algorithm`, `auth.bad_signature`, `auth.expired`, `auth.not_yet_valid`, `auth.wrong_audience`, `auth.invalid_api_key`.",
            "headers": ["WWW-Authenticate": ["description": "`Bearer realm=\"tally\"` (RFC 6750), with `error=\"invalid_token\"` when a credential was shown.", "schema": ["type": "string"]]],
            "content": ["application/json": ["schema": ref("Error"), "example": ["error": ["code": "auth.missing_token", "message": "Watching jobs needs a token or an API key."]]]],
        ],
        "Forbidden": [
            "description": "The credential is valid but does not cover this request: `auth.out_of_scope` (the token is for another job, or for one job where all are asked), `auth.origin_not_allowed` (a browser page from an origin not allowed).",
            "content": ["application/json": ["schema": ref("Error"), "example": ["error": ["code": "auth.out_of_scope", "message": "The token does not cover this job."]]]],
        ],
        "ForbiddenAdmin": [
            "description": "The credential is valid but cannot change things: `auth.admin_required` (a subscribe token), `auth.admin_disabled` (auth is on and no API key is configured), `auth.origin_not_allowed`.",
            "content": ["application/json": ["schema": ref("Error"), "example": ["error": ["code": "auth.admin_required", "message": "A subscribe token cannot change jobs; this action needs an API key."]]]],
        ],
        "ServiceUnavailable": [
            "description": "The server is shedding load or stopping: `server.unavailable` (too many connections from this address or in total, answered before the request is read), `import.queue_full`, `import.shutting_down`.",
            "headers": ["Retry-After": retryAfter],
            "content": ["application/json": ["schema": ref("Error")]],
        ],
        "TooManyAuthFailures": [
            "description": "Too many failed authentications from this address (`auth.too_many_failures`): for the rest of the window every request from it that shows a credential is refused without checking it (`tally serve --auth-failure-limit`). A WebSocket that authenticates with its first message is closed with 4429 instead.",
            "headers": ["Retry-After": retryAfter],
            "content": ["application/json": ["schema": ref("Error"), "example": ["error": ["code": "auth.too_many_failures", "message": "Too many failed authentications from your address; try again in 60 s."]]]],
        ],
        "RateLimited": [
            "description": "Too many requests from this client (`rate.limited`, with the `RateLimit-*` headers), or too many failed authentications from its address (`auth.too_many_failures`, see `TooManyAuthFailures`).",
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
        ("data", ["type": ["object", "null"], "description": "The free object an external producer published, exactly as it was sent (whitespace between tokens removed): integers beyond 2^53 keep every digit."]),
    ]

    private static let producerData: JSONValue = [
        "type": ["object", "null"],
        "description": "A free JSON object (at most 64 KiB) passed on to every subscriber exactly as sent, with only the whitespace between tokens removed: numbers keep every digit (64-bit ids, nanosecond timestamps), strings keep their escapes. Null leaves the previous value.",
    ]

    private static let importColumn: JSONValue = [
        "type": "object", "required": ["name"], "additionalProperties": false, "properties": [
            "name": ["type": "string", "minLength": 1, "description": "Matched exactly against the header name; without a header row, the column's position in the schema is its position in the file."],
            "type": ["type": "string", "enum": ["integer", "real", "text", "boolean", "date", "timestamp"], "default": "text"],
            "required": ["type": "boolean", "default": false, "description": "An empty value rejects the row (`row.required`)."],
            "unique": ["type": "boolean", "default": false, "description": "A value may appear once in the file (`row.duplicate`)."],
            "maxLength": ["type": "integer", "minimum": 1, "description": "Text only: most Unicode scalars (`row.too_long`)."],
            "allowed": ["type": "array", "items": ["type": "string"], "minItems": 1, "description": "Text only: the accepted values (`row.not_allowed`)."],
        ],
    ]

    private static let schemas: JSONValue = [
        "ImportSchema": [
            "type": "object", "required": ["columns"], "additionalProperties": false,
            "description": "Column types and rules of an import (docs/SCHEMA.md). Unknown keys are errors.",
            "properties": [
                "columns": ["type": "array", "minItems": 1, "items": importColumn, "description": "In table order."],
                "ignoreUnknownColumns": ["type": "boolean", "default": false, "description": "Skip header columns the schema does not name instead of failing with `schema.unknown_column`."],
            ],
        ],
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
            "raw": ["type": ["string", "null"], "description": "What was read: the offending field as it is in the file (for `row.*` errors on one column), the record's fields joined with commas (`csv.ragged_row`), or the record's raw bytes (other `csv.*` errors); at most 256 bytes, invalid UTF-8 replaced. Null when there is nothing to show (a row the sink refused)."],
        ]],
        "RowErrorPage": ["type": "object", "required": ["errors", "next"], "properties": [
            "errors": ["type": "array", "items": ref("RowError")],
            "next": ["type": ["string", "null"], "description": "The next page's URL, or null on the last page."],
        ]],
        "CreateJob": ["type": "object", "required": ["name"], "properties": [
            "name": ["type": "string", "maxLength": 500],
            "total": nullableInteger,
            "message": ["type": ["string", "null"], "maxLength": 2000],
            "state": ["type": "string", "enum": ["pending", "running"], "default": "running"],
            "data": producerData,
        ]],
        "ProgressUpdate": ["type": "object", "description": "Every field is optional; omitted fields keep their value.",
                           "properties": [
            "processed": ["type": "integer", "minimum": 0], "succeeded": ["type": "integer", "minimum": 0],
            "failed": ["type": "integer", "minimum": 0], "total": nullableInteger,
            "message": nullableString,
            "state": ref("JobState"),
            "error": ["oneOf": [["type": "null"], ref("ErrorDetail")]],
            "data": producerData,
        ]],
        "Health": ["type": "object", "required": ["status"], "properties": [
            "status": ["type": "string", "enum": ["ok"]],
            "version": ["type": "string"],
            "uptime": ["type": "number"],
        ]],
    ]
}
