/// Routes requests by method and path pattern. Patterns are literal segments and `{name}`
/// parameters (`/api/jobs/{id}/events`). Build it before the server starts; it is immutable
/// (and shared by every loop) afterwards.
public struct Router: Sendable {
    /// A route handler: called on the connection's loop with the request and the one object
    /// through which it answers (immediately, later, streamed, or by taking the connection).
    public typealias Handler = @Sendable (HTTPRequest, HTTPResponder) -> Void

    /// How a route receives the request body.
    public enum BodyMode: Sendable, Equatable {
        /// The server collects the body (up to `maxBytes`, default `Limits.maxBodyBytes`) and
        /// calls the handler once it is complete, with `request.body` set.
        case buffered(maxBytes: Int? = nil)
        /// The handler is called as soon as the head arrives and reads the body in chunks with
        /// `responder.readBody(_:)`; `maxBytes` nil means no size limit.
        case streamed(maxBytes: Int? = nil)
    }

    struct Route: Sendable {
        let method: HTTPMethod
        let pattern: String
        let body: BodyMode
        let handler: Handler
    }

    /// One path position. Nodes live in one array and name their children by index, so a
    /// lookup reads them in place instead of copying nested values (and their references).
    private struct Node: Sendable {
        /// Literal children, few per node: searched by comparing bytes, so a lookup allocates
        /// nothing and hashes nothing.
        var literals: [(key: [UInt8], node: Int)] = []
        var parameter: Int?
        var parameterName = ""
        var routes: [HTTPMethod: Route] = [:]
    }

    /// Every node; the root is the first.
    private var nodes = [Node()]
    /// Called when no route matches the path (for example the static file handler); nil
    /// answers 404.
    public var fallback: Handler?

    /// Creates an empty router.
    public init() {}

    /// Registers `handler` for `method` on `pattern`. A later registration of the same method
    /// and pattern replaces the earlier one.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, body: BodyMode = .buffered(), _ handler: @escaping Handler) {
        let route = Route(method: method, pattern: pattern, body: body, handler: handler)
        insert(route, segments: Router.segments(of: pattern)[...], at: 0)
    }

    /// Registers a GET route (HEAD is answered by it too, without the body).
    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { add(.GET, pattern, handler) }
    /// Registers a POST route with a buffered body.
    public mutating func post(_ pattern: String, body: BodyMode = .buffered(), _ handler: @escaping Handler) { add(.POST, pattern, body: body, handler) }
    /// Registers a PUT route with a buffered body.
    public mutating func put(_ pattern: String, body: BodyMode = .buffered(), _ handler: @escaping Handler) { add(.PUT, pattern, body: body, handler) }
    /// Registers a DELETE route.
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add(.DELETE, pattern, handler) }

    private static func segments<S: StringProtocol>(of path: S) -> [Substring] {
        var trimmed = Substring(path)
        if trimmed.first == "/" { trimmed = trimmed.dropFirst() }
        return trimmed.split(separator: "/", omittingEmptySubsequences: false)
    }

    private mutating func insert(_ route: Route, segments: ArraySlice<Substring>, at node: Int) {
        guard let first = segments.first else {
            nodes[node].routes[route.method] = route
            return
        }
        let rest = segments.dropFirst()
        if first.hasPrefix("{"), first.hasSuffix("}"), first.count > 2 {
            nodes[node].parameterName = String(first.dropFirst().dropLast())
            let child = nodes[node].parameter ?? addNode()
            nodes[node].parameter = child
            insert(route, segments: rest, at: child)
        } else {
            let key = Array(first.utf8)
            if let existing = nodes[node].literals.first(where: { $0.key == key }) {
                insert(route, segments: rest, at: existing.node)
            } else {
                let child = addNode()
                nodes[node].literals.append((key, child))
                insert(route, segments: rest, at: child)
            }
        }
    }

    private mutating func addNode() -> Int {
        nodes.append(Node())
        return nodes.count - 1
    }

    /// The outcome of a lookup.
    enum Match {
        case found(Route, HTTPParameters)
        case methodNotAllowed(allow: [String])
        case notFound
    }

    func match(method: HTTPMethod, path: Substring) -> Match {
        var parameters = HTTPParameters()
        var start = path.utf8.startIndex
        if start < path.utf8.endIndex, path.utf8[start] == UInt8(ascii: "/") { start = path.utf8.index(after: start) }
        guard let index = find(path, from: start, in: 0, parameters: &parameters) else { return .notFound }
        let routes = nodes[index].routes
        if let route = routes[method] { return .found(route, parameters) }
        if method == .HEAD, let route = routes[.GET] { return .found(route, parameters) }
        guard !routes.isEmpty else { return .notFound }
        var allow = Set(routes.keys.map(\.rawValue))
        if allow.contains("GET") { allow.insert("HEAD") }
        return .methodNotAllowed(allow: allow.sorted())
    }

    /// Walks `path` segment by segment from `start` (nil once the last segment is consumed),
    /// as `segments(of:)` would split it: empty segments count, a trailing `/` ends in one.
    private func find(_ path: Substring, from start: String.Index?, in node: Int,
                      parameters: inout HTTPParameters) -> Int? {
        guard let start else { return nodes[node].routes.isEmpty ? nil : node }
        let utf8 = path.utf8
        let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
        let next = end == utf8.endIndex ? nil : utf8.index(after: end)
        let segment = utf8[start..<end]
        let literals = nodes[node].literals
        for literal in 0..<literals.count where literals[literal].key.elementsEqual(segment) {
            if let found = find(path, from: next, in: literals[literal].node, parameters: &parameters) { return found }
            break
        }
        if let child = nodes[node].parameter, start != end, let value = percentDecode(path[start..<end]) {
            let mark = parameters.pairs.count
            parameters.pairs.append((nodes[node].parameterName, value))
            if let found = find(path, from: next, in: child, parameters: &parameters) { return found }
            parameters.pairs.removeSubrange(mark...)
        }
        return nil
    }
}
