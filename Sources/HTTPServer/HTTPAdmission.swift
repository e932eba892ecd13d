/// What the admission check sees of a request: its head, the route it matched, the route's
/// parameters and the client's address. The body has not been read yet.
public struct HTTPAdmissionRequest: Sendable {
    /// The request head.
    public let head: HTTPRequestHead
    /// The matched route's pattern (`/api/jobs/{id}`), or nil when none matched.
    public let pattern: String?
    /// The route parameters.
    public let parameters: HTTPParameters
    /// The peer's IP address, as text.
    public let peerAddress: String

    /// Creates one (the server does; tests may too).
    public init(head: HTTPRequestHead, pattern: String?, parameters: HTTPParameters, peerAddress: String) {
        self.head = head
        self.pattern = pattern
        self.parameters = parameters
        self.peerAddress = peerAddress
    }

    /// The value of the first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        head.headers[name]
    }
}
