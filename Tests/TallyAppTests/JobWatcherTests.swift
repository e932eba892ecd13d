import Foundation
import Progress
import Testing
import Imports
@testable import TallyApp

struct JobWatcherTests {
    @Test func followsAJobToItsEndWithEveryEventInOrder() throws {
        let server = try TestServer()
        let id = try server.externalJob()
        let base = try #require(ServerURL("http://127.0.0.1:\(server.port)"))
        let port = server.port
        // The producer runs beside the watcher, as another system would.
        let producer = Thread {
            for processed in stride(from: 10, through: 90, by: 10) {
                _ = try? HTTPTestClient.request(port: port, "POST", "/api/jobs/\(id)/progress",
                                                headers: [("Content-Type", "application/json")],
                                                body: Array(#"{"processed":\#(processed)}"#.utf8))
                usleep(20_000)
            }
            _ = try? HTTPTestClient.request(port: port, "POST", "/api/jobs/\(id)/progress",
                                            headers: [("Content-Type", "application/json")],
                                            body: Array(#"{"processed":100,"state":"completed"}"#.utf8))
        }
        producer.start()
        var seen: [JobSnapshot] = []
        let outcome = JobWatcher(server: base, job: id).run { seen.append($0) }
        #expect(outcome == .finished(.completed))
        #expect(seen.last?.processed == 100)
        let seqs = seen.map(\.seq)
        #expect(seqs == Array((seqs.first ?? 1)...(seqs.last ?? 0)), "every event once, in order")
        #expect(ProgressBar().render(try #require(seen.last)).contains("completed"))
    }

    @Test func reportsUnknownJobsAndUnreachableServers() throws {
        let server = try TestServer(loops: 1)
        let base = try #require(ServerURL("http://127.0.0.1:\(server.port)/"))
        guard case .refused(let why) = JobWatcher(server: base, job: "zzzzzzzzzzzz").run(show: { _ in }) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(why.contains("404"))
        var watcher = JobWatcher(server: try #require(ServerURL("http://127.0.0.1:1")), job: "zzzzzzzzzzzz")
        watcher.maxAttempts = 1
        guard case .unreachable = watcher.run(show: { _ in }) else {
            Issue.record("expected unreachable")
            return
        }
    }

    @Test func parsesServerURLs() {
        #expect(ServerURL("http://localhost:8080") == ServerURL("http://localhost:8080/"))
        #expect(ServerURL("ws://[::1]:9000/tally")?.host == "::1")
        #expect(ServerURL("ws://[::1]:9000/tally")?.path == "/tally")
        #expect(ServerURL("https://example.com")?.port == 443)
        #expect(ServerURL("ftp://x") == nil)
        #expect(ServerURL("http://:80") == nil)
        #expect(ServerURL("http://h:99999") == nil)
    }
}
