import Testing
@testable import HTTPServer

struct RouterTests {
    func makeRouter() -> Router {
        var router = Router()
        router.get("/api/jobs") { _, _ in }
        router.post("/api/jobs") { _, _ in }
        router.get("/api/jobs/{id}") { _, _ in }
        router.get("/api/jobs/{id}/events") { _, _ in }
        router.add(.DELETE, "/api/jobs/{id}") { _, _ in }
        router.get("/api/jobs/special") { _, _ in }
        return router
    }

    func pattern(_ match: Router.Match) -> String? {
        if case .found(let route, _) = match { return route.pattern }
        return nil
    }

    @Test func matchesLiteralsBeforeParameters() {
        let router = makeRouter()
        #expect(pattern(router.match(method: .GET, path: "/api/jobs/special")) == "/api/jobs/special")
        #expect(pattern(router.match(method: .GET, path: "/api/jobs/abc")) == "/api/jobs/{id}")
    }

    @Test func capturesDecodedParameters() {
        guard case .found(let route, let parameters) = makeRouter().match(method: .GET, path: "/api/jobs/a%20b/events") else {
            Issue.record("no match")
            return
        }
        #expect(route.pattern == "/api/jobs/{id}/events")
        #expect(parameters["id"] == "a b")
    }

    @Test func reportsAllowedMethodsFor405() {
        guard case .methodNotAllowed(let allow) = makeRouter().match(method: .PUT, path: "/api/jobs/x") else {
            Issue.record("expected 405")
            return
        }
        #expect(allow == ["DELETE", "GET", "HEAD"])
    }

    @Test func answersHeadWithGetRoute() {
        #expect(pattern(makeRouter().match(method: .HEAD, path: "/api/jobs")) == "/api/jobs")
    }

    @Test func walksEmptySegmentsAndTrailingSlashesAsSplittingWould() {
        var router = Router()
        router.get("/") { _, _ in }
        router.get("/a//b") { _, _ in }
        router.get("/a/") { _, _ in }
        router.get("/a/{x}/c") { _, _ in }
        router.get("/a/{x}") { _, _ in }
        #expect(pattern(router.match(method: .GET, path: "/")) == "/")
        #expect(pattern(router.match(method: .GET, path: "")) == "/")
        #expect(pattern(router.match(method: .GET, path: "/a//b")) == "/a//b")
        #expect(pattern(router.match(method: .GET, path: "/a/")) == "/a/")
        #expect(pattern(router.match(method: .GET, path: "/a/q/c")) == "/a/{x}/c")
        #expect(pattern(router.match(method: .GET, path: "/a/q")) == "/a/{x}")
        // A parameter never matches an empty segment, and a literal's prefix is not the literal.
        #expect(pattern(router.match(method: .GET, path: "/a//c")) == nil)
        #expect(pattern(router.match(method: .GET, path: "/ab")) == nil)
        #expect(pattern(router.match(method: .GET, path: "/a/b/")) == nil)
        guard case .found(_, let parameters) = router.match(method: .GET, path: "/a/%C3%A9t%C3%A9/c") else {
            Issue.record("no match")
            return
        }
        #expect(parameters["x"] == "été")
    }

    @Test func unknownPathsAreNotFound() {
        let router = makeRouter()
        for path in ["/", "/api", "/api/jobs/x/y/z", "/api/jobs//events", "/api/jobs/"] {
            if case .notFound = router.match(method: .GET, path: Substring(path)) {} else {
                Issue.record("\(path) matched")
            }
        }
    }
}
