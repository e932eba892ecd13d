/// `GET /healthz`: liveness for load balancers and scripts.
func registerHealthRoutes(on router: inout Router, context: AppContext) {
    let loops = context.configuration.server.loopCount
    router.get("/healthz") { _, responder in
        let uptime = Double(monotonicMilliseconds() - context.startedAt) / 1000
        responder.respond(.json("{\"status\":\"ok\",\"uptime\":\(uptime),\"loops\":\(loops)}"))
    }
}
