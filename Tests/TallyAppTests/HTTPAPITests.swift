import Foundation
import Progress
import Testing
@testable import TallyApp

struct HTTPAPITests {
    @Test func everyRegisteredRouteIsDocumentedAndViceVersa() throws {
        let server = try TestServer(loops: 1)
        let routes = TallyApplication.makeRouter(server.application.context, api: server.api)
        #expect(Set(routes.keys) == Set(APIRoutes.all.map(\.key)))
        #expect(routes.keys.count == APIRoutes.all.count)
    }

    @Test func operationsEndpointsAnswer() throws {
        let server = try TestServer(loops: 1)
        let (status, health) = try server.json("GET", "/healthz")
        #expect(status == 200)
        #expect(health["status"] == "ok")
        let openapi = try server.request("GET", "/openapi.json")
        #expect(openapi.status == 200)
        #expect((try? JSONParser().parse(openapi.body))?["openapi"] == "3.1.0")
        let docs = try server.request("GET", "/docs")
        #expect(docs.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(docs.text.contains("Tally API"))
        let metrics = try server.request("GET", "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains("# TYPE tally_events_published_total counter"))
        #expect(metrics.text.contains("tally_jobs{state=\"running\"} 0"))
        #expect(metrics.text.contains("tally_connections{transport=\"websocket\"}"))
    }

    @Test func unknownJobsAre404WithTheErrorShape() throws {
        let server = try TestServer(loops: 1)
        for path in ["/api/jobs/zzzzzzzzzzzz", "/api/jobs/nope", "/api/jobs/zzzzzzzzzzzz/events?wait=0",
                     "/api/jobs/zzzzzzzzzzzz/stream", "/api/jobs/zzzzzzzzzzzz/errors"] {
            let (status, body) = try server.json("GET", path)
            #expect(status == 404, "\(path)")
            #expect(body["error"]?["code"] == "job.not_found", "\(path)")
        }
        let (status, body) = try server.json("POST", "/api/jobs/zzzzzzzzzzzz/cancel")
        #expect(status == 404)
        #expect(body["error"]?["code"] == "job.not_found")
    }

    @Test func uploadsImportAndLongPollSeesEveryEventInOrder() throws {
        let server = try TestServer()
        let csv = numberedCSV(rows: 5_000, badEvery: 1000)
        let upload = try server.request("POST", "/api/imports?table=orders&name=orders.csv&schema=" +
                                        numberedSchema.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
                                        headers: [("Content-Type", "text/csv")], body: Array(csv.utf8))
        #expect(upload.status == 202, "\(upload.text)")
        let job = try JSONParser().parse(upload.body)
        let id = try #require(job["id"]?.stringValue)
        #expect(job["links"]?["events"] == .string("/api/jobs/\(id)/events?after=0"))
        #expect(job["table"] == "orders")

        var seqs: [UInt64] = []
        var state = ""
        var after: UInt64 = 0
        let deadline = Date().addingTimeInterval(30)
        while !["completed", "failed", "cancelled"].contains(state), Date() < deadline {
            let (status, batch) = try server.json("GET", "/api/jobs/\(id)/events?after=\(after)&wait=5")
            #expect(status == 200)
            guard case .array(let events)? = batch["events"] else { break }
            for event in events {
                #expect(event["resync"] == nil, "a fast long-poller never needs a resync")
                seqs.append(UInt64(event["seq"]?.countValue ?? 0))
                state = event["state"]?.stringValue ?? state
            }
            after = UInt64(batch["last"]?.countValue ?? Int64(after))
        }
        #expect(state == "completed")
        #expect(seqs == Array(1...UInt64(seqs.count)), "no gaps, no duplicates: \(seqs)")
        let (_, final) = try server.json("GET", "/api/jobs/\(id)")
        #expect(final["succeeded"] == 4_995)
        #expect(final["failed"] == 5)
        #expect(final["seq"]?.countValue == Int64(seqs.count))

        let errors = try server.request("GET", "/api/jobs/\(id)/errors?format=csv")
        #expect(errors.text.split(separator: "\r\n").count == 6)
        let (_, page) = try server.json("GET", "/api/jobs?state=completed")
        #expect(page["jobs"]?.countOfArray == 1)
    }

    @Test func multipartUploadsWork() throws {
        let server = try TestServer(loops: 1)
        let form = "--XX\r\nContent-Disposition: form-data; name=\"table\"\r\n\r\npeople\r\n" +
            "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n" +
            "name,age\nann,3\nbob,4\n\r\n--XX--\r\n"
        let upload = try server.request("POST", "/api/imports", headers: [("Content-Type", "multipart/form-data; boundary=XX")],
                                        body: Array(form.utf8))
        #expect(upload.status == 202, "\(upload.text)")
        let job = try JSONParser().parse(upload.body)
        #expect(job["name"] == "people.csv")
        #expect(job["table"] == "people")
    }

    @Test func uploadsOverTheLimitAre413AndOddTypes415() throws {
        let server = try TestServer(loops: 1) { $0.api.maxUploadBytes = 1000 }
        let big = try server.request("POST", "/api/imports", headers: [("Content-Type", "text/csv")],
                                     body: [UInt8](repeating: 0x61, count: 5000))
        #expect(big.status == 413)
        let odd = try server.request("POST", "/api/imports", headers: [("Content-Type", "image/png")], body: [1, 2, 3])
        #expect(odd.status == 415)
        #expect((try? JSONParser().parse(odd.body))?["error"]?["code"] == "upload.unsupported_media_type")
        let broken = try server.request("POST", "/api/imports", headers: [("Content-Type", "multipart/form-data; boundary=XX")],
                                        body: Array("--XX\r\nbroken\r\n\r\n".utf8))
        #expect(broken.status == 400)
        let spooled = (try? FileManager.default.subpathsOfDirectory(atPath: server.directory.path + "/data/uploads")) ?? []
        #expect(spooled.filter { $0.hasSuffix(".csv") }.isEmpty, "refused uploads leave no file: \(spooled)")
    }

    @Test func rateLimitedRequestsGet429WithHeaders() throws {
        let server = try TestServer(loops: 1) { $0.api.rateLimit = RateLimitPolicy(burst: 2, refillPerSecond: 0.01) }
        let id = try server.externalJob()
        let first = try server.request("GET", "/api/jobs/\(id)")
        #expect(first.status == 200)
        #expect(first.header("RateLimit-Limit") == "2")
        #expect(first.header("RateLimit-Remaining") == "1")
        _ = try server.request("GET", "/api/jobs/\(id)")
        let refused = try server.request("GET", "/api/jobs/\(id)")
        #expect(refused.status == 429)
        #expect(refused.header("Retry-After") == "100")
        #expect(refused.header("RateLimit-Remaining") == "0")
        #expect((try? JSONParser().parse(refused.body))?["error"]?["code"] == "rate.limited")
        // Another credential has its own bucket.
        let other = try server.request("GET", "/api/jobs/\(id)", headers: [("Authorization", "Bearer other")])
        #expect(other.status == 200)
        let metrics = try server.request("GET", "/metrics", headers: [("Authorization", "Bearer metrics")])
        #expect(metrics.text.contains("tally_rate_limited_total 1"))
    }

    @Test func longPollsParkUntilAnEventArrives() throws {
        let server = try TestServer()
        let id = try server.externalJob()
        let (_, snapshot) = try server.json("GET", "/api/jobs/\(id)")
        let seq = try #require(snapshot["seq"]?.countValue)
        let answered = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, JSONValue) = (0, .null)
        let port = server.port
        Thread.detachNewThread {
            let response = try? HTTPTestClient.request(port: port, "GET", "/api/jobs/\(id)/events?after=\(seq)&wait=20")
            result = (response?.status ?? 0, response.flatMap { try? JSONParser().parse($0.body) } ?? .null)
            answered.signal()
        }
        // Parked, not answered.
        #expect(answered.wait(timeout: .now() + 0.3) == .timedOut)
        #expect(server.api.metrics.longPolls.current == 1)
        #expect(try server.progress(id, #"{"processed":10}"#) == 200)
        #expect(answered.wait(timeout: .now() + 5) == .success)
        #expect(result.0 == 200)
        #expect(result.1["events"]?.countOfArray == 1)
        #expect(result.1["last"]?.countValue == seq + 1)
        #expect(result.1["state"] == "running")
        #expect(server.api.metrics.longPolls.current == 0)

        let (status, empty) = try server.json("GET", "/api/jobs/\(id)/events?after=\(seq + 1)&wait=0.2")
        #expect(status == 200)
        #expect(empty["events"]?.countOfArray == 0)
        #expect(empty["last"]?.countValue == seq + 1)
        #expect(try server.json("GET", "/api/jobs/\(id)/events?after=x").0 == 400)
        #expect(try server.json("GET", "/api/jobs/\(id)/events?wait=-1").0 == 400)
    }

    @Test func sseStreamsResumeWithLastEventID() throws {
        let server = try TestServer()
        let id = try server.externalJob()
        let stream = try SSETestClient(port: server.port, path: "/api/jobs/\(id)/stream")
        let first = try #require(try stream.next())
        #expect(stream.status == 200)
        #expect(first.event == "snapshot")
        var last = try #require(first.id)
        for processed in 1...3 { #expect(try server.progress(id, #"{"processed":\#(processed)}"#) == 200) }
        for _ in 1...3 {
            let record = try #require(try stream.next())
            #expect(record.event == "progress")
            #expect(UInt64(record.id ?? "") == UInt64(last)! + 1)
            last = record.id ?? last
        }
        stream.close()
        // Missed while disconnected.
        #expect(try server.progress(id, #"{"processed":4}"#) == 200)
        #expect(try server.progress(id, #"{"processed":5,"state":"completed"}"#) == 200)
        let resumed = try SSETestClient(port: server.port, path: "/api/jobs/\(id)/stream", lastEventID: last)
        let a = try #require(try resumed.next())
        let b = try #require(try resumed.next())
        #expect(a.id.flatMap { UInt64($0) } == UInt64(last)! + 1)
        #expect(b.id.flatMap { UInt64($0) } == UInt64(last)! + 2)
        #expect(b.event == "state")
        #expect(b.data.contains(#""state":"completed""#))
        // The stream ends after the terminal event.
        #expect(try resumed.next() == nil)
    }

    @Test func cancelAndRetryOverTheAPI() throws {
        let server = try TestServer()
        let csv = numberedCSV(rows: 200_000)
        let upload = try server.request("POST", "/api/imports", headers: [("Content-Type", "text/csv")], body: Array(csv.utf8))
        let id = try #require((try? JSONParser().parse(upload.body))?["id"]?.stringValue)
        let (cancelStatus, cancelled) = try server.json("POST", "/api/jobs/\(id)/cancel")
        #expect(cancelStatus == 202)
        #expect(cancelled["state"] == "cancelled")
        let (again, error) = try server.json("POST", "/api/jobs/\(id)/cancel")
        #expect(again == 409)
        #expect(error["error"]?["code"] == "job.finished")
        let (retryStatus, retried) = try server.json("POST", "/api/jobs/\(id)/retry")
        #expect(retryStatus == 202)
        #expect(retried["state"] == "pending")
        let deadline = Date().addingTimeInterval(60)
        var state = ""
        while Date() < deadline {
            state = try server.json("GET", "/api/jobs/\(id)").1["state"]?.stringValue ?? ""
            if state == "completed" { break }
            usleep(50_000)
        }
        #expect(state == "completed")
        let (_, done) = try server.json("GET", "/api/jobs/\(id)")
        #expect(done["succeeded"] == 200_000)
        #expect(try server.json("POST", "/api/jobs/\(id)/retry").0 == 409)
    }

    @Test func externalProducersPublishThroughTheAPI() throws {
        let server = try TestServer(loops: 1)
        let (status, created) = try server.json("POST", "/api/jobs", #"{"name":"billing export","total":3,"data":{"tenant":"t1"}}"#)
        #expect(status == 201)
        let id = try #require(created["id"]?.stringValue)
        #expect(created["kind"] == "external")
        #expect(try server.progress(id, #"{"processed":2,"message":"Exporting","data":{"tenant":"t1","page":2}}"#) == 200)
        let (_, snapshot) = try server.json("GET", "/api/jobs/\(id)")
        #expect(snapshot["message"] == "Exporting")
        #expect(snapshot["data"] == ["tenant": "t1", "page": 2])
        #expect(try server.json("POST", "/api/jobs", "{").0 == 400)
        #expect(try server.json("POST", "/api/jobs/\(id)/progress", #"{"processed":"x"}"#).0 == 400)
    }
}

extension JSONValue {
    var countOfArray: Int? {
        if case .array(let values) = self { return values.count }
        return nil
    }
}
