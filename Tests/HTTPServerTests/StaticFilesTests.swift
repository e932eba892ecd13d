import Glibc
import Testing
@testable import HTTPServer

@Suite(.serialized)
struct StaticFilesTests {
    let root: String

    init() throws {
        root = "/tmp/tally-static-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(root, 0o755)
        mkdir(root + "/web", 0o755)
        mkdir(root + "/web/sub", 0o755)
        write(root + "/web/index.html", "<!doctype html><title>t</title>" + String(repeating: "<p>hello</p>", count: 100))
        write(root + "/web/app.js", "export const x = 1;\n")
        write(root + "/web/sub/index.html", "sub")
        write(root + "/web/.env", "SECRET=1")
        write(root + "/secret.txt", "top secret")
        symlink(root + "/secret.txt", root + "/web/link.txt")
    }

    func write(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    func router() -> Router {
        var router = Router()
        router.fallback = StaticFiles(root: root + "/web").handler
        return router
    }

    @Test func servesFilesWithContentTypesAndGzip() throws {
        try withServer(router()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            let plain = try #require(client.readResponse())
            #expect(plain.status == 200)
            #expect(plain.header("content-type") == "text/html; charset=utf-8")
            #expect(plain.header("content-encoding") == nil)
            #expect(plain.body.count == 31 + 1200)
            client.send("GET /index.html HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, gzip\r\n\r\n")
            let packed = try #require(client.readResponse())
            #expect(packed.header("content-encoding") == "gzip")
            #expect(packed.header("vary") == "Accept-Encoding")
            #expect(packed.body.count < plain.body.count)
            #expect(packed.body.prefix(2) == [0x1F, 0x8B])
            client.send("GET /app.js HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.header("content-type") == "application/javascript; charset=utf-8")
            client.send("GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.text == "sub")
            client.send("HEAD /app.js HTTP/1.1\r\nHost: t\r\n\r\n")
            let head = client.readResponse(headRequest: true)
            #expect(head?.header("content-length") == "20")
        }
    }

    @Test func answers304ForAMatchingETag() throws {
        try withServer(router()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /app.js HTTP/1.1\r\nHost: t\r\n\r\n")
            let first = try #require(client.readResponse())
            let etag = try #require(first.header("etag"))
            client.send("GET /app.js HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\", \(etag)\r\n\r\n")
            let second = client.readResponse()
            #expect(second?.status == 304)
            #expect(second?.body.isEmpty == true)
            client.send("GET /app.js HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"stale\"\r\n\r\n")
            #expect(client.readResponse()?.status == 200)
            // A changed file gets a new validator.
            write(root + "/web/app.js", "export const x = 2;\n")
            client.send("GET /app.js HTTP/1.1\r\nHost: t\r\nIf-None-Match: \(etag)\r\n\r\n")
            let changed = client.readResponse()
            #expect(changed?.status == 200)
            #expect(changed?.text == "export const x = 2;\n")
        }
    }

    @Test(arguments: [
        "/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt",
        "/.env", "/%2eenv", "/link.txt", "/sub%00.html", "/..\\secret.txt", "/%zz", "/missing.css",
    ])
    func neverServesAnythingOutsideTheRoot(path: String) throws {
        try withServer(router()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
            let response = try #require(client.readResponse())
            #expect(response.status == 400 || response.status == 404)
            #expect(!response.text.contains("secret"))
            #expect(!response.text.contains("SECRET"))
        }
    }

    @Test func refusesOtherMethods() throws {
        try withServer(router()) { _, port in
            let client = try TestClient(port: port)
            client.send("POST /app.js HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            let response = client.readResponse()
            #expect(response?.status == 405)
            #expect(response?.header("allow") == "GET, HEAD")
        }
    }
}

struct StaticPathTests {
    @Test func mapsPathsBelowTheRoot() {
        #expect(StaticFiles.safeRelativePath("/") == "index.html")
        #expect(StaticFiles.safeRelativePath("/a/b.css") == "a/b.css")
        #expect(StaticFiles.safeRelativePath("/a/") == "a/index.html")
        #expect(StaticFiles.safeRelativePath("/a%20b.txt") == "a b.txt")
        #expect(StaticFiles.safeRelativePath("//a//b") == "a/b")
    }

    @Test func refusesEscapesHiddenFilesAndBadEncodings() {
        for path in ["/..", "/a/../../b", "/%2e%2e/x", "/a%2fb", "/a%5cb", "/.git/config", "/%00", "/%", "/%g0", "x"] {
            #expect(StaticFiles.safeRelativePath(Substring(path)) == nil, "\(path)")
        }
    }

    @Test func knowsTheDashboardsContentTypes() {
        #expect(StaticFiles.contentType(for: "a/index.html") == "text/html; charset=utf-8")
        #expect(StaticFiles.contentType(for: "x.mjs") == "application/javascript; charset=utf-8")
        #expect(StaticFiles.contentType(for: "favicon.svg") == "image/svg+xml")
        #expect(StaticFiles.contentType(for: "noext") == "application/octet-stream")
        #expect(StaticFiles.isCompressible("text/css; charset=utf-8"))
        #expect(!StaticFiles.isCompressible("image/png"))
    }
}
