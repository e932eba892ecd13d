import Foundation
import Progress
import Testing
@testable import TallyApp

/// `header=false` uploads: every line is a row, named by the schema or `col1`…`colN`.
struct HeaderlessUploadTests {
    private func finished(_ server: TestServer, _ id: String) throws -> JSONValue {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let (_, job) = try server.json("GET", "/api/jobs/\(id)")
            if ["completed", "failed", "cancelled"].contains(job["state"]?.stringValue ?? "") { return job }
            usleep(20_000)
        }
        throw ClientError("test", "the import did not finish")
    }

    @Test func aFormWithHeaderFalseImportsEveryLine() throws {
        let server = try TestServer(loops: 1)
        let schema = #"{"columns":[{"name":"id","type":"integer","required":true},{"name":"name"}]}"#
        let form = "--XX\r\nContent-Disposition: form-data; name=\"header\"\r\n\r\nfalse\r\n" +
            "--XX\r\nContent-Disposition: form-data; name=\"schema\"\r\n\r\n\(schema)\r\n" +
            "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n" +
            "1,ann\n2,bob\nx,cid\n4,dee\n\r\n--XX--\r\n"
        let upload = try server.request("POST", "/api/imports", headers: [("Content-Type", "multipart/form-data; boundary=XX")],
                                        body: Array(form.utf8))
        #expect(upload.status == 202, "\(upload.text)")
        let id = try #require((try JSONParser().parse(upload.body))["id"]?.stringValue)
        let job = try finished(server, id)
        #expect(job["state"] == "completed")
        #expect(job["processed"] == 4)
        #expect(job["succeeded"] == 3)
        let (_, errors) = try server.json("GET", "/api/jobs/\(id)/errors")
        guard case .array(let items)? = errors["errors"] else {
            Issue.record("no errors array: \(errors)")
            return
        }
        #expect(items.count == 1)
        #expect(items.first?["line"] == 3)
        #expect(items.first?["column"] == "id")
    }

    @Test func aRawBodyWithoutSchemaGetsNumberedColumns() throws {
        let server = try TestServer(loops: 1)
        let upload = try server.request("POST", "/api/imports?table=plain&header=false", headers: [("Content-Type", "text/csv")],
                                        body: Array("a,1\nb,2\nc\n".utf8))
        #expect(upload.status == 202, "\(upload.text)")
        let id = try #require((try JSONParser().parse(upload.body))["id"]?.stringValue)
        let job = try finished(server, id)
        #expect(job["state"] == "completed")
        #expect(job["succeeded"] == 2)
        #expect(job["failed"] == 1)
        let csv = try server.request("GET", "/api/jobs/\(id)/errors?format=csv")
        #expect(csv.text.contains("\r\n3,"), "\(csv.text)")
        #expect(try server.request("POST", "/api/imports?header=sometimes", headers: [("Content-Type", "text/csv")],
                                   body: Array("a\n".utf8)).status == 400)
    }
}
