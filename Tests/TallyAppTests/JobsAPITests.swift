import Imports
import Progress
import Testing
@testable import TallyApp

struct JobsAPITests {
    private func make(_ dir: AppTempDirectory) throws -> (JobsAPI, ImportService) {
        var configuration = ImportConfiguration()
        configuration.workers = 1
        let service = try ImportService(dataDirectory: dir.path + "/data", configuration: configuration)
        let hub = LocalProgressHub()
        HubBridge.connect(service.tracker, to: hub)
        return (JobsAPI(imports: service, hub: hub), service)
    }

    @Test func externalJobsLiveThroughTheAPI() throws {
        let dir = AppTempDirectory()
        let (api, service) = try make(dir)
        defer { service.shutdown() }
        let created = api.createExternal(body: Array(#"{"name":"nightly sync","total":100,"data":{"portal":"x","n":[1, 2]}}"#.utf8))
        #expect(created.status == 201)
        let job = try #require(created.json)
        let id = try #require(job["id"]?.stringValue)
        #expect(job["kind"] == "external")
        #expect(job["links"]?["progress"]?.stringValue == "/api/jobs/\(id)/progress")
        #expect(job["links"]?["ws"]?.stringValue == "/ws/jobs/\(id)")
        #expect(job["data"] == ["portal": "x", "n": [1, 2]])

        let moved = api.publishProgress(id, body: Array(#"{"processed":40,"succeeded":39,"failed":1,"message":"Copying","data":{"step":2}}"#.utf8))
        #expect(moved.status == 200)
        #expect(moved.json?["processed"] == 40)
        #expect(moved.json?["percent"] == 40)
        service.tracker.waitForDelivery()
        #expect(api.job(id).json?["message"] == "Copying")
        #expect(api.job(id).json?["data"] == ["step": 2])

        let done = api.publishProgress(id, body: Array(#"{"processed":100,"state":"completed"}"#.utf8))
        #expect(done.json?["state"] == "completed")
        let late = api.publishProgress(id, body: Array(#"{"processed":101}"#.utf8))
        #expect(late.status == 409)
        #expect(late.code == "job.finished")
        #expect(api.cancel(id).code == "job.finished")
    }

    @Test func producerDataKeepsEveryDigit() throws {
        let dir = AppTempDirectory()
        let (api, service) = try make(dir)
        defer { service.shutdown() }
        let created = api.createExternal(body: Array(#"{"name":"ids","data":{"owner":9007199254740993}}"#.utf8))
        let id = try #require(created.json?["id"]?.stringValue)
        #expect(created.text.contains(#""data":{"owner":9007199254740993}"#), "\(created.text)")
        let data = #"{"ts_ns":1796409619123456789,"ids":[9007199254740993,-9223372036854775808],"deep":{"a":{"b":[{"c":18446744073709551615}]}},"f":0.10000000000000000555}"#
        let moved = api.publishProgress(id, body: Array(#"{"processed":1,"data": \#(data) }"#.utf8))
        #expect(moved.status == 200)
        #expect(moved.text.contains(#""data":\#(data)}"#), "\(moved.text)")
        service.tracker.waitForDelivery()
        #expect(api.job(id).text.contains(#""data":\#(data)}"#))
        let stored = try #require(try service.job(id))
        #expect(stored.data?.raw == data)
    }

    @Test func producerBodiesParseWithoutAStore() throws {
        let update = try JobsAPI.progressUpdate(body: Array(#"{"processed":3,"state":"failed","error":{"code":"x.y","message":"m"},"data":{"n":1796409619123456789}}"#.utf8))
        #expect(update.processed == 3)
        #expect(update.state == .failed)
        #expect(update.error == JobError(code: "x.y", message: "m"))
        #expect(update.data?.raw == #"{"n":1796409619123456789}"#)
        let spec = try JobsAPI.externalJobSpec(body: Array(#"{"name":"n","total":5,"data":null}"#.utf8))
        #expect(spec.name == "n" && spec.total == 5 && spec.data == nil)
        let big = "{\"data\":{\"s\":\"" + String(repeating: "x", count: 70_000) + "\"}}"
        #expect(throws: APIError.self) { try JobsAPI.progressUpdate(body: Array(big.utf8)) }
        #expect(throws: APIError.self) { try JobsAPI.progressUpdate(body: Array(#"{"data":"text"}"#.utf8)) }
    }

    @Test func refusesBadProducerInput() throws {
        let dir = AppTempDirectory()
        let (api, service) = try make(dir)
        defer { service.shutdown() }
        #expect(api.createExternal(body: Array("not json".utf8)).code == "request.bad_json")
        #expect(api.createExternal(body: Array("[]".utf8)).code == "request.bad_json")
        #expect(api.createExternal(body: Array(#"{"total":3}"#.utf8)).code == "request.bad_parameter")
        #expect(api.createExternal(body: Array(#"{"name":"a","state":"completed"}"#.utf8)).code == "request.bad_parameter")
        let id = try #require(api.createExternal(body: Array(#"{"name":"a"}"#.utf8)).json?["id"]?.stringValue)
        #expect(api.publishProgress(id, body: Array(#"{"processed":-1}"#.utf8)).code == "request.bad_parameter")
        #expect(api.publishProgress(id, body: Array(#"{"data":[1]}"#.utf8)).code == "request.bad_parameter")
        #expect(api.publishProgress(id, body: Array(#"{"state":"dancing"}"#.utf8)).code == "request.bad_parameter")
        #expect(api.publishProgress("zzzzzzzzzzzz", body: Array("{}".utf8)).status == 404)
    }

    @Test func importsCanBeListedInspectedAndAreNotRetriedOrCancelledOnceDone() throws {
        let dir = AppTempDirectory()
        let (api, service) = try make(dir)
        defer { service.shutdown() }
        let path = dir.write("orders.csv", numberedCSV(rows: 30, badEvery: 10))
        let job = try service.submit(path: path, options: ImportOptions(schema: numberedSchema))
        let finished = try #require(try waitForEnd(service, job.id))
        #expect(finished.state == .completed)
        #expect(finished.failed == 3)

        #expect(api.job(job.id).json?["state"] == "completed")
        #expect(api.job("zzzzzzzzzzzz").status == 404)
        #expect(api.cancel(job.id).status == 409)
        #expect(api.cancel(job.id).code == "job.finished")
        #expect(api.retry(job.id).code == "job.not_retryable")
        #expect(api.publishProgress(job.id, body: Array("{}".utf8)).code == "job.not_external")

        let page = api.errors(job.id) { ["limit": "2"][$0] }
        guard case .array(let errors)? = page.json?["errors"] else {
            Issue.record("no errors array")
            return
        }
        #expect(errors.count == 2)
        #expect(errors.first?["code"] == "row.invalid_integer")
        #expect(page.json?["next"] == .string("/api/jobs/\(job.id)/errors?limit=2&offset=2"))
        let last = api.errors(job.id) { ["limit": "2", "offset": "2"][$0] }
        #expect(last.json?["next"] == .null)

        guard case .success(let csv) = api.errors(job.id, query: { ["format": "csv"][$0] }) else {
            Issue.record("no csv")
            return
        }
        let text = String(decoding: csv.body, as: UTF8.self)
        #expect(csv.contentType.hasPrefix("text/csv"))
        #expect(text.hasPrefix("line,column,code,message,value\r\n"))
        #expect(text.split(separator: "\r\n").count == 4)
        #expect(text.contains(",amount,row.invalid_integer,"))
        #expect(api.errors(job.id) { ["format": "xml"][$0] }.code == "request.bad_parameter")

        let listed = api.list { ["state": "completed", "limit": "5"][$0] }
        guard case .array(let jobs)? = listed.json?["jobs"] else {
            Issue.record("no jobs array")
            return
        }
        #expect(jobs.count == 1)
        #expect(listed.json?["next"] == .null)
        #expect(api.list { ["state": "bogus"][$0] }.code == "request.bad_parameter")
        #expect(api.list { ["limit": "0"][$0] }.code == "request.bad_parameter")
        #expect(api.list { ["offset": "-3"][$0] }.code == "request.bad_parameter")
    }

    @Test func quotesCSVFieldsAndDefusesFormulas() {
        var out: [UInt8] = []
        JobsAPI.appendCSVField("a,\"b\"", to: &out)
        out.append(0x7C)
        JobsAPI.appendCSVField("=SUM(A1)", to: &out)
        out.append(0x7C)
        JobsAPI.appendCSVField("plain", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\"a,\"\"b\"\"\"|\"'=SUM(A1)\"|plain")
    }
}
