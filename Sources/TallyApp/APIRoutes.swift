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
    /// Who may call the route; the document's `security` and 401/403 responses follow from it.
    public let access: Access
    /// Whether the per-client rate limit applies (`429`).
    public let rateLimited: Bool
    /// The rest of the OpenAPI operation object (parameters, request body, responses).
    public let operation: JSONValue

    /// The credential a route needs when auth is on (any credential is ignored in open mode).
    public enum Access: Sendable, Equatable {
        /// Nothing: health, this document and the docs page.
        case open
        /// A subscribe token that covers the job (or `*`), or an API key.
        case read
        /// An API key.
        case admin
    }

    /// Creates a route.
    public init(method: String, path: String, operationID: String, summary: String, tag: String,
                access: Access, rateLimited: Bool = false, operation: JSONValue) {
        self.method = method
        self.path = path
        self.operationID = operationID
        self.summary = summary
        self.tag = tag
        self.access = access
        self.rateLimited = rateLimited
        self.operation = operation
    }

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
    private static let importSchemaText: JSONValue = [
        "type": "string", "contentMediaType": "application/json", "contentSchema": ref("ImportSchema"),
        "description": "The import schema as JSON text (`ImportSchema`, docs/SCHEMA.md). It must be a JSON object (400 `request.bad_parameter` otherwise); a schema the import cannot use, or a header that does not fit it, fails the job with a `schema.*` error code.",
    ]
    private static let notFound: JSONValue = response("NotFound")
    private static let badRequest: JSONValue = response("BadRequest")

    /// The routes.
    public static let all: [APIRoute] = [
        APIRoute(method: "POST", path: "/api/imports", operationID: "createImport",
                 summary: "Upload a CSV file and start importing it", tag: "Imports", access: .admin, operation: [
                    "description": .string("The body is the CSV itself (`text/csv`) or a `multipart/form-data` form with a `file` part; it is streamed to disk, never held in memory. Options come from the query or from form fields (a form field wins over the query). The upload is answered once it is stored: problems with the file's content (a header that does not fit the schema, an unusable schema, bad rows) show up in the job, not in this response."),
                    "parameters": [
                        ["name": "table", "in": "query", "required": false, "description": "Target table (default: from the file name).", "schema": ["type": "string"]],
                        ["name": "name", "in": "query", "required": false, "description": "Display name (default: the file name).", "schema": ["type": "string"]],
                        ["name": "delimiter", "in": "query", "required": false, "description": "Field delimiter, one character (default `,`).", "schema": ["type": "string", "maxLength": 1]],
                        ["name": "header", "in": "query", "required": false, "description": "Whether the first row names the columns (default true). With `false` every line is a row: the columns are named by the schema in its order, or `col1`…`colN` without one; row errors still give the file's physical line.", "schema": ["type": "boolean", "default": true]],
                        ["name": "schema", "in": "query", "required": false, "description": "The import schema, a JSON object (`ImportSchema`, docs/SCHEMA.md), percent-encoded; long ones go in the form field instead. Text that is not a JSON object is refused with 400 `request.bad_parameter`; a schema the import cannot use fails the job with a `schema.*` error code.", "schema": importSchemaText],
                    ],
                    "requestBody": ["required": true, "content": [
                        "text/csv": ["schema": ["type": "string", "format": "binary"]],
                        "multipart/form-data": ["schema": ["type": "object", "properties": [
                            "file": ["type": "string", "format": "binary"],
                            "table": ["type": "string"], "name": ["type": "string"], "delimiter": ["type": "string"],
                            "header": ["type": "boolean", "default": true, "description": "As the query parameter."],
                            "schema": importSchemaText,
                        ], "required": ["file"]]],
                    ]],
                    "responses": [
                        "202": json("Accepted: the job, with links to every URL that follows it.", ref("AcceptedJob")),
                        "400": badRequest,
                        "413": json("The upload is over the size limit (`upload.too_large`).", ref("Error")),
                        "415": json("Neither CSV nor multipart (`upload.unsupported_media_type`).", ref("Error")),
                        "507": json("The server could not store the upload (`upload.spool_failed`).", ref("Error")),
                    ],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs", operationID: "listJobs",
                 summary: "List jobs, newest first", tag: "Jobs", access: .read, rateLimited: true, operation: [
                    "parameters": [
                        ["name": "state", "in": "query", "required": false, "description": "Only jobs in this state.",
                         "schema": ref("JobState")],
                        limitParameter, offsetParameter,
                    ],
                    "description": "Needs a token for every job (`sub` = `*`) or an API key.",
                    "responses": ["200": json("A page of jobs.", ref("JobPage")), "400": badRequest],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs", operationID: "createJob",
                 summary: "Create a job run by another system", tag: "External producers", access: .admin, operation: [
                    "description": "The job's progress is then published with `POST /api/jobs/{id}/progress`; Tally only relays it.",
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ref("CreateJob")]]],
                    "responses": ["201": json("The new job.", ref("AcceptedJob")), "400": badRequest],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}", operationID: "getJob",
                 summary: "The job's progress snapshot", tag: "Jobs", access: .read, rateLimited: true, operation: [
                    "parameters": [idParameter],
                    "responses": ["200": json("The snapshot (the final one for a finished job).", ref("Job")),
                                  "404": notFound],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}/errors", operationID: "listJobErrors",
                 summary: "Rows the import rejected", tag: "Jobs", access: .read, rateLimited: true, operation: [
                    "parameters": [idParameter, limitParameter, offsetParameter,
                                   ["name": "format", "in": "query", "required": false,
                                    "description": "`csv` returns the rejected rows as a CSV file to fix and upload again.",
                                    "schema": ["type": "string", "enum": ["json", "csv"], "default": "json"]]],
                    "responses": [
                        "200": ["description": "A page of row errors, or the CSV file.", "content": [
                            "application/json": ["schema": ref("RowErrorPage")],
                            "text/csv": ["schema": ["type": "string"]],
                        ]],
                        "400": badRequest, "404": notFound,
                    ],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs/{id}/cancel", operationID: "cancelJob",
                 summary: "Cancel a pending or running job", tag: "Jobs", access: .admin, operation: [
                    "parameters": [idParameter],
                    "responses": ["202": json("Cancellation requested; the job's snapshot.", ref("Job")),
                                  "404": notFound,
                                  "409": json("The job already finished (`job.finished`).", ref("Error"))],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs/{id}/retry", operationID: "retryJob",
                 summary: "Resume a failed or interrupted import from its checkpoint", tag: "Jobs", access: .admin, operation: [
                    "parameters": [idParameter],
                    "responses": ["202": json("The job, running again.", ref("Job")),
                                  "404": notFound,
                                  "409": json("The job cannot be retried (`job.not_retryable`).", ref("Error"))],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}/events", operationID: "pollJobEvents",
                 summary: "Long-poll for the job's events", tag: "Real time", access: .read, rateLimited: true, operation: [
                    "description": "Answers at once when events with a seq greater than `after` exist; otherwise waits up to `wait` seconds for one and then answers with an empty list. Ask again with `after=last`.",
                    "parameters": [idParameter, afterParameter,
                                   ["name": "wait", "in": "query", "required": false, "description": "Seconds to wait (0-60).",
                                    "schema": ["type": "number", "minimum": 0, "maximum": 60, "default": 25]]],
                    "responses": ["200": json("Events, possibly none.", ref("EventBatch")),
                                  "400": badRequest, "404": notFound],
                 ]),
        APIRoute(method: "GET", path: "/api/jobs/{id}/stream", operationID: "streamJobEvents",
                 summary: "Server-Sent Events of the job", tag: "Real time", access: .read, rateLimited: true, operation: [
                    "description": "One SSE record per event: `id:` is the seq, `event:` the type, `data:` the event JSON. Resume with `Last-Event-ID` or `after`. Browsers' EventSource cannot set headers: give the token as the `token` query parameter.",
                    "parameters": [idParameter, afterParameter,
                                   ["name": "Last-Event-ID", "in": "header", "required": false,
                                    "description": "The last seq received (sent by browsers when they reconnect).",
                                    "schema": ["type": "integer", "minimum": 0]]],
                    "responses": ["200": ["description": "The event stream.",
                                          "content": ["text/event-stream": ["schema": ["type": "string"]]]],
                                  "404": notFound],
                 ]),
        APIRoute(method: "POST", path: "/api/jobs/{id}/progress", operationID: "publishJobProgress",
                 summary: "Publish progress of an external job", tag: "External producers", access: .admin, operation: [
                    "parameters": [idParameter],
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ref("ProgressUpdate")]]],
                    "responses": ["200": json("The job's new snapshot.", ref("Job")),
                                  "400": badRequest, "404": notFound,
                                  "409": json("The job is not external (`job.not_external`) or already finished (`job.finished`).", ref("Error"))],
                 ]),
        APIRoute(method: "GET", path: "/ws/jobs/{id}", operationID: "jobWebSocket",
                 summary: "WebSocket following one job", tag: "Real time", access: .read, operation: [
                    "description": "Subscribes on connect: a `snapshot` event (or the missed events with `after`), then one JSON text frame per event; closes with 1000 after the terminal event. Credentials shown with the upgrade (header or `token` parameter) are checked before it: wrong ones get 401/403, and only then an unknown job 404. Without any, the upgrade goes ahead whatever the id and the first message must be `{\"type\":\"auth\",\"token\":\"…\"}`; a refusal then closes with 4401, 4403 or 4429, and an unknown job is told (an `error` message `job.not_found`, then close 1008) only once the token covers that id. The page's `Origin` must be allowed (403 `auth.origin_not_allowed`).",
                    "parameters": [idParameter, afterParameter],
                    "responses": ["101": ["description": "Switching to the WebSocket protocol."], "404": notFound],
                 ]),
        APIRoute(method: "GET", path: "/ws", operationID: "multiplexWebSocket",
                 summary: "Multiplexed WebSocket", tag: "Real time", access: .read, operation: [
                    "description": "Client text frames: `{\"type\":\"subscribe\",\"job\":\"ID\"|\"*\",\"after\":N}` and `{\"type\":\"unsubscribe\",\"job\":\"ID\"}`. Server frames: `subscribed`, `unsubscribed`, events, and `{\"type\":\"error\",\"code\":…,\"message\":…}` for malformed messages and for subscriptions the credential does not cover (`auth.out_of_scope`; the connection stays open). More than 500 client messages in 10 s get `ws.too_many_messages` and a 1008 close. Authentication as for `/ws/jobs/{id}`: wrong credentials shown with the upgrade get 401, none means the first message must be `{\"type\":\"auth\",\"token\":\"…\"}`.",
                    "responses": ["101": ["description": "Switching to the WebSocket protocol."]],
                 ]),
        APIRoute(method: "GET", path: "/healthz", operationID: "health",
                 summary: "Liveness and readiness", tag: "Operations", access: .open, operation: [
                    "responses": ["200": json("Serving.", ref("Health"))],
                 ]),
        APIRoute(method: "GET", path: "/metrics", operationID: "metrics",
                 summary: "Prometheus metrics", tag: "Operations", access: .admin, operation: [
                    "responses": ["200": ["description": "Text exposition format 0.0.4.",
                                          "content": ["text/plain": ["schema": ["type": "string"]]]]],
                 ]),
        APIRoute(method: "GET", path: "/openapi.json", operationID: "openAPI",
                 summary: "This document", tag: "Operations", access: .open, operation: [
                    "responses": ["200": ["description": "OpenAPI 3.1.", "content": ["application/json": ["schema": ["type": "object"]]]]],
                 ]),
        APIRoute(method: "GET", path: "/docs", operationID: "docs",
                 summary: "The API reference as a page", tag: "Operations", access: .open, operation: [
                    "responses": ["200": ["description": "HTML.", "content": ["text/html": ["schema": ["type": "string"]]]]],
                 ]),
    ]
}
