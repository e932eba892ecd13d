/// One documented HTTP route: what the router registers and what `/openapi.json` describes.
///
/// The router is built from `APIRoutes.all`, and the OpenAPI document from the same list, so
/// the two cannot drift apart (a test checks that every registered route is documented).
public struct APIRoute: Sendable {
    /// `GET`, `POST`, …
    public let method: String
    /// The path with `{name}` segments for parameters, as OpenAPI writes it.
    public let path: String
    /// The OpenAPI `operationId`.
    public let operationID: String
    /// A one-line summary.
    public let summary: String
    /// Groups routes on the docs page.
    public let tag: String
    /// The rest of the OpenAPI operation object (parameters, request body, responses).
    public let operation: JSONValue

    /// `METHOD path`, the key tests compare.
    public var key: String { method + " " + path }
}

/// Every route of the API, in the order the docs page lists them.
public enum APIRoutes {
    private static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/" + name)] }
    private static func response(_ name: String) -> JSONValue { ["$ref": .string("#/components/responses/" + name)] }

    private static func json(_ description: String, _ schema: JSONValue, headers: JSONValue? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [("description", .string(description)),
                                              ("content", ["application/json": ["schema": schema]])]
        if let headers { members.append(("headers", headers)) }
        return .object(members)
    }

    private static let idParameter: JSONValue = [
        "name": "id", "in": "path", "required": true, "description": "The job id.",
        "schema": ["type": "string"],
    ]
    private static let afterParameter: JSONValue = [
        "name": "after", "in": "query", "required": false,
        "description": "Resume after this seq: the response holds exactly the events with a greater seq, or one resync snapshot.",
        "schema": ["type": "integer", "minimum": 0],
    ]
    private static let limitParameter: JSONValue = [
        "name": "limit", "in": "query", "required": false, "description": "Items per page (1-500).",
        "schema": ["type": "integer", "minimum": 1, "maximum": 500, "default": 50],
    ]
    private static let offsetParameter: JSONValue = [
        "name": "offset", "in": "query", "required": false, "description": "Items to skip.",
        "schema": ["type": "integer", "minimum": 0, "default": 0],
    ]
    private static let rateLimited: JSONValue = response("RateLimited")
    private static let notFound: JSONValue = response("NotFound")
    private static let badRequest: JSONValue = response("BadRequest")

    /// The routes.
    public static let all: [APIRoute] = [
        APIRoute(method: "POST", path: "/api/imports", operationID: "createImport",
                 summary: "Upload a CSV file and start importing it", tag: "Imports", operation: [
                    "description": .string("The body is the CSV itself (`text/csv`) or a `multipart/form-data` form with a `file` part; it is streamed to disk, never held in memory. Options come from the query or from form fields placed before the file."),
                    "parameters": [
                        ["name": "table", "in": "query", "required": false, "description": "Target table (default: from the file name).", "schema": ["type": "string"]],
                        ["name": "name", "in": "query", "required": false, "description": "Display name (default: the file name).", "schema": ["type": "string"]],
                        ["name": "delimiter", "in": "query", "required": false, "description": "Field delimiter, one character (default `,`).", "schema": ["type": "string", "maxLength": 1]],
                        ["name": "header", "in": "query", "required": false, "description": "Whether the first row names the columns (default true). With `false` every line is a row: the columns are named by the schema in its order, or `col1`…`colN` without one; row errors still give the file's physical line.", "schema": ["type": "boolean", "default": true]],
                        ["name": "schema", "in": "query", "required": false, "description": "The import schema as a JSON document (docs/SCHEMA.md); long ones go in the form field instead.", "schema": ["type": "string"]],
                    ],
                    "requestBody": ["required": true, "content": [
                        "text/csv": ["schema": ["type": "string", "format": "binary"]],
                        "multipart/form-data": ["schema": ["type": "object", "properties": [
                            "file": ["type": "string", "format": "binary"],
                            "table": ["type": "string"], "name": ["type": "string"], "delimiter": ["type": "string"],
                            "header": ["type": "boolean", "default": true, "description": "As the query parameter."],
                            "schema": ["type": "string", "description": "The import schema (JSON, docs/SCHEMA.md)."],
                        ], "required": ["file"]]],
                    ]],
                    "responses": [
                        "202": json("Accepted: the job, with links to every URL that follows it.", ref("AcceptedJob")),
                        "400": badRequest,
                        "413": json("The upload is over the size limit (`upload.too_large`).", ref("Error")),
                        "415": json("Neither CSV nor multipart (`upload.unsupported_media_type`).", ref("Error")),
                        "429": rateLimited,
                    ],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs", operationID: "listJobs",
                 summary: "List jobs, newest first", tag: "Jobs", operation: [
                    "parameters": [
                        ["name": "state", "in": "query", "required": false, "description": "Only jobs in this state.",
                         "schema": ref("JobState")],
                        limitParameter, offsetParameter,
                    ],
                    "responses": ["200": json("A page of jobs.", ref("JobPage")), "400": badRequest, "429": rateLimited],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs", operationID: "createJob",
                 summary: "Create a job run by another system", tag: "External producers", operation: [
                    "description": "The job's progress is then published with `POST /api/jobs/{id}/progress`; Tally only relays it.",
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ref("CreateJob")]]],
                    "responses": ["201": json("The new job.", ref("AcceptedJob")), "400": badRequest, "429": rateLimited],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}", operationID: "getJob",
                 summary: "The job's progress snapshot", tag: "Jobs", operation: [
                    "parameters": [idParameter],
                    "responses": ["200": json("The snapshot (the final one for a finished job).", ref("Job")),
                                  "404": notFound, "429": rateLimited],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}/errors", operationID: "listJobErrors",
                 summary: "Rows the import rejected", tag: "Jobs", operation: [
                    "parameters": [idParameter, limitParameter, offsetParameter,
                                   ["name": "format", "in": "query", "required": false,
                                    "description": "`csv` returns the rejected rows as a CSV file to fix and upload again.",
                                    "schema": ["type": "string", "enum": ["json", "csv"], "default": "json"]]],
                    "responses": [
                        "200": ["description": "A page of row errors, or the CSV file.", "content": [
                            "application/json": ["schema": ref("RowErrorPage")],
                            "text/csv": ["schema": ["type": "string"]],
                        ]],
                        "400": badRequest, "404": notFound, "429": rateLimited,
                    ],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs/{id}/cancel", operationID: "cancelJob",
                 summary: "Cancel a pending or running job", tag: "Jobs", operation: [
                    "parameters": [idParameter],
                    "responses": ["202": json("Cancellation requested; the job's snapshot.", ref("Job")),
                                  "404": notFound,
                                  "409": json("The job already finished (`job.finished`).", ref("Error"))],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs/{id}/retry", operationID: "retryJob",
                 summary: "Resume a failed or interrupted import from its checkpoint", tag: "Jobs", operation: [
                    "parameters": [idParameter],
                    "responses": ["202": json("The job, running again.", ref("Job")),
                                  "404": notFound,
                                  "409": json("The job cannot be retried (`job.not_retryable`).", ref("Error"))],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}/events", operationID: "pollJobEvents",
                 summary: "Long-poll for the job's events", tag: "Real time", operation: [
                    "description": "Answers at once when events with a seq greater than `after` exist; otherwise waits up to `wait` seconds for one and then answers with an empty list. Ask again with `after=last`.",
                    "parameters": [idParameter, afterParameter,
                                   ["name": "wait", "in": "query", "required": false, "description": "Seconds to wait (0-60).",
                                    "schema": ["type": "number", "minimum": 0, "maximum": 60, "default": 25]]],
                    "responses": ["200": json("Events, possibly none.", ref("EventBatch")),
                                  "400": badRequest, "404": notFound, "429": rateLimited],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}/stream", operationID: "streamJobEvents",
                 summary: "Server-Sent Events of the job", tag: "Real time", operation: [
                    "description": "One SSE record per event: `id:` is the seq, `event:` the type, `data:` the event JSON. Resume with `Last-Event-ID` or `after`.",
                    "parameters": [idParameter, afterParameter,
                                   ["name": "Last-Event-ID", "in": "header", "required": false,
                                    "description": "The last seq received (sent by browsers when they reconnect).",
                                    "schema": ["type": "integer", "minimum": 0]]],
                    "responses": ["200": ["description": "The event stream.",
                                          "content": ["text/event-stream": ["schema": ["type": "string"]]]],
                                  "404": notFound, "429": rateLimited],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs/{id}/progress", operationID: "publishJobProgress",
                 summary: "Publish progress of an external job", tag: "External producers", operation: [
                    "parameters": [idParameter],
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ref("ProgressUpdate")]]],
                    "responses": ["200": json("The job's new snapshot.", ref("Job")),
                                  "400": badRequest, "404": notFound,
                                  "409": json("The job is not external (`job.not_external`) or already finished (`job.finished`).", ref("Error")),
                                  "429": rateLimited],
                 ]),
        APIRoute(method: "GET", path: "/ws/jobs/{id}", operationID: "jobWebSocket",
                 summary: "WebSocket following one job", tag: "Real time", operation: [
                    "description": "Subscribes on connect: a `snapshot` event (or the missed events with `after`), then one JSON text frame per event; closes with 1000 after the terminal event.",
                    "parameters": [idParameter, afterParameter],
                    "responses": ["101": ["description": "Switching to the WebSocket protocol."], "404": notFound],
                 ]),
        APIRoute(method: "GET", path: "/ws", operationID: "multiplexWebSocket",
                 summary: "Multiplexed WebSocket", tag: "Real time", operation: [
                    "description": "Client text frames: `{\"type\":\"subscribe\",\"job\":\"ID\"|\"*\",\"after\":N}` and `{\"type\":\"unsubscribe\",\"job\":\"ID\"}`. Server frames: `subscribed`, `unsubscribed`, events, and `{\"type\":\"error\",\"code\":…,\"message\":…}` for malformed messages (the connection stays open).",
                    "responses": ["101": ["description": "Switching to the WebSocket protocol."]],
                 ]),
        APIRoute(method: "GET", path: "/healthz", operationID: "health",
                 summary: "Liveness and readiness", tag: "Operations", operation: [
                    "responses": ["200": json("Serving.", ref("Health"))],
                 ]),
        APIRoute(method: "GET", path: "/metrics", operationID: "metrics",
                 summary: "Prometheus metrics", tag: "Operations", operation: [
                    "responses": ["200": ["description": "Text exposition format 0.0.4.",
                                          "content": ["text/plain": ["schema": ["type": "string"]]]]],
                 ]),
        APIRoute(method: "GET", path: "/openapi.json", operationID: "openAPI",
                 summary: "This document", tag: "Operations", operation: [
                    "responses": ["200": ["description": "OpenAPI 3.1.", "content": ["application/json": ["schema": ["type": "object"]]]]],
                 ]),
        APIRoute(method: "GET", path: "/docs", operationID: "docs",
                 summary: "The API reference as a page", tag: "Operations", operation: [
                    "responses": ["200": ["description": "HTML.", "content": ["text/html": ["schema": ["type": "string"]]]]],
                 ]),
    ]
}
