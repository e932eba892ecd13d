@_exported import Auth
import Glibc
@_exported import HTTPServer

/// Everything `tally serve` configures.
public struct TallyConfiguration: Sendable {
    /// HTTP server settings (host, port, loops, timeouts).
    public var server = HTTPServerConfiguration()
    /// Directory of the dashboard's static files.
    public var webRoot = "web"
    /// Directory for the embedded store; created when missing.
    public var dataDirectory = "tally-data"
    /// Tokens, API keys, origins, frame ancestors and TLS files (docs/SECURITY.md).
    public var security = SecurityConfiguration()
    /// The API's limits (uploads, long-polling, rate limits, hub sizes).
    public var api = APIConfiguration()
    /// Serve the WebSocket conformance echo endpoint `/ws/echo` (`--echo`); off by default.
    public var echo = false

    public init() {}
}

/// What route handlers share: configuration, logger and process facts.
public struct AppContext: Sendable {
    /// The configuration the application started with.
    public let configuration: TallyConfiguration
    /// The logger routes log through.
    public let logger: Logger
    /// Monotonic start time (ms), for uptime.
    public let startedAt: UInt64
    /// Auth, Origin and CORS decisions; WebSocket routes use it for first-message auth and
    /// per-subscription checks (REST routes are checked before their handlers run).
    public let security: SecurityGate
}

/// The Tally server: the router with every route on an `HTTPServer`.
public final class TallyApplication: Sendable {
    /// The HTTP server (its loops are where handlers run).
    public let server: HTTPServer
    /// Shared context of the routes.
    public let context: AppContext
    /// The API's services: the import engine, the hub, metrics.
    public let api: APIContext

    /// Creates the application: prepares the data directory and registers the routes.
    public init(configuration: TallyConfiguration, logger: Logger) throws(TallyStartError) {
        try TallyApplication.makeDirectory(configuration.dataDirectory)
        let security: SecurityGate
        var serverConfiguration = configuration.server
        do {
            security = try SecurityGate(configuration: configuration.security)
            if serverConfiguration.tls == nil { serverConfiguration.tls = try configuration.security.tlsContext() }
        } catch {
            throw TallyStartError(code: "server.bad_security_configuration", message: "\(error)")
        }
        serverConfiguration.admission = { security.admit($0) }
        serverConfiguration.responseHeaders = { security.responseHeaders($0, pattern: $1, status: $2) }
        context = AppContext(configuration: configuration, logger: logger, startedAt: monotonicMilliseconds(), security: security)
        api = try APIContext.open(dataDirectory: configuration.dataDirectory, configuration: configuration.api)
        security.register(in: api.metrics.registry)
        let router = TallyApplication.makeRouter(context, api: api).router
        do {
            server = try HTTPServer(configuration: serverConfiguration, router: router, logger: logger)
        } catch {
            throw TallyStartError(code: "server.start_failed", message: error.description)
        }
        SecurityGate.registerConnectionLimits(server.connectionLimiter, in: api.metrics.registry)
    }

    /// Registers every route. Each group of routes lives in its own file as a
    /// `register…Routes(on:context:)` function called from here.
    static func makeRouter(_ context: AppContext, api: APIContext) -> RouteRecorder {
        var routes = RouteRecorder(router: Router())
        registerAPIRoutes(on: &routes, api: api, context: context)
        if context.configuration.echo { routes.router.webSocketEcho() }
        routes.router.fallback = StaticFiles(root: context.configuration.webRoot, logger: context.logger).handler
        return routes
    }

    /// Binds and starts serving; returns the bound port.
    @discardableResult
    public func start() throws(TallyStartError) -> Int {
        do {
            return try server.start()
        } catch {
            throw TallyStartError(code: error.code == "io.address_in_use" ? "server.address_in_use" : "server.start_failed",
                                  message: error.description)
        }
    }

    /// Stops gracefully and waits for the loops to end.
    public func shutdown() {
        server.shutdown()
        api.imports.shutdown()
        api.stopRedis()
    }

    private static func makeDirectory(_ path: String) throws(TallyStartError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw TallyStartError(code: "server.data_directory", message: "Cannot create \(path): errno \(errno)")
            }
        }
    }
}

/// Why the application could not start, with a stable code.
public struct TallyStartError: Error, Sendable, CustomStringConvertible {
    /// A stable code such as `server.address_in_use`.
    public let code: String
    /// Details for the operator.
    public let message: String

    public var description: String { code + ": " + message }
}
