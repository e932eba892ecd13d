import Progress

/// The WebSocket routes (`/ws/jobs/{id}`, `/ws`). They answer 501 until the server-side
/// WebSocket connection is available to build them on.
enum JobSocket {
    static func start(_ request: HTTPRequest, _ responder: HTTPResponder, api: APIContext, topic: HubTopic?) {
        api.respond(responder, .failure(APIError(status: 501, code: "ws.unavailable",
                                                 message: "WebSocket transport is not available in this build; use /api/jobs/{id}/stream or /events.")))
    }

    /// The hub encoding for WebSocket subscribers (unused until the transport exists).
    static let encoder = HubEncoder(name: "ws") { draft in HubBytesBuffer(chunked: draft.json) }
}
