import Testing
@testable import Progress

struct JobSnapshotTests {
    @Test func formatsRFC3339WithMilliseconds() {
        #expect(Timestamp(milliseconds: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
        #expect(ManualClock().now.rfc3339 == "2026-12-04T16:00:00.000Z")
        #expect(Timestamp(milliseconds: 1_796_400_005_120).rfc3339 == "2026-12-04T16:00:05.120Z")
        #expect(Timestamp(milliseconds: 951_782_400_000).rfc3339 == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp(milliseconds: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
    }

    @Test func encodesTheProtocolExampleExactly() {
        var s = JobSnapshot(id: "k3v9q2m8x4c7", kind: .import, name: "orders.csv",
                            createdAt: Timestamp(milliseconds: 1_796_400_000_000), table: "orders")
        s.seq = 17
        s.state = .running
        s.message = "Importing rows"
        s.percent = 42.5
        s.processed = 4250; s.succeeded = 4200; s.failed = 50
        s.total = 10000; s.totalExact = false
        s.bytesRead = 1_048_576; s.bytesTotal = 2_467_000
        s.rate = 1234.5; s.eta = 4.7
        s.startedAt = Timestamp(milliseconds: 1_796_400_001_000)
        s.updatedAt = Timestamp(milliseconds: 1_796_400_005_120)
        let expected = """
            {"id":"k3v9q2m8x4c7","seq":17,"kind":"import","name":"orders.csv","state":"running",\
            "message":"Importing rows","percent":42.5,"processed":4250,"succeeded":4200,"failed":50,\
            "total":10000,"totalExact":false,"bytesRead":1048576,"bytesTotal":2467000,\
            "rate":1234.5,"eta":4.7,"createdAt":"2026-12-04T16:00:00.000Z",\
            "startedAt":"2026-12-04T16:00:01.000Z","updatedAt":"2026-12-04T16:00:05.120Z",\
            "finishedAt":null,"error":null,"table":"orders","data":null}
            """
        #expect(String(decoding: s.json, as: UTF8.self) == expected)
        #expect(JSONText(validating: expected) != nil)
    }

    @Test func eventPutsTypeFirstAndCarriesErrorAndData() {
        var s = JobSnapshot(id: "abcdefghijkl", kind: .external, name: "n\"x",
                            createdAt: Timestamp(milliseconds: 0), data: JSONText(validating: "{\"k\":[1]}"))
        s.seq = 3
        s.state = .failed
        s.error = JobError(code: "import.stalled", message: "no progress for 30 s")
        let json = JobEvent(type: .state, snapshot: s).jsonString
        #expect(json.hasPrefix("{\"type\":\"state\",\"seq\":3,\"id\":\"abcdefghijkl\",\"kind\":\"external\",\"name\":\"n\\\"x\""))
        #expect(json.contains("\"error\":{\"code\":\"import.stalled\",\"message\":\"no progress for 30 s\"}"))
        #expect(json.hasSuffix("\"data\":{\"k\":[1]}}"))
        #expect(JSONText(validating: json) != nil)
        let resync = JobEvent(type: .snapshot, snapshot: s, resync: true).jsonString
        #expect(resync.hasPrefix("{\"type\":\"snapshot\",\"resync\":true,\"seq\":3,"))
    }

    @Test func generatesValidIDs() {
        let a = JobID.generate(), b = JobID.generate()
        #expect(JobID.isValid(a) && JobID.isValid(b) && a != b)
        #expect(!JobID.isValid("ABCDEFGHIJKL") && !JobID.isValid("short") && !JobID.isValid("../../etc/pa"))
        #expect(JobID.isValid("0123456789az") && JobID.isValid(Substring("x0123456789az").dropFirst()))
        for bad in ["0123456789a", "0123456789abc", "0123456789a/", "0123456789a{", "0123456789a`",
                    "0123456789a:", "0123456789é", "", "0123456789ab\0"] {
            #expect(!JobID.isValid(bad), "\(bad)")
        }
    }

    @Test func estimatesTotalFromBytesUntilExact() {
        var s = JobSnapshot(id: "abcdefghijkl", kind: .import, name: "f", createdAt: Timestamp(milliseconds: 0),
                            bytesTotal: 1000)
        s.state = .running
        s.processed = 10
        s.bytesRead = 250
        s.updateDerivedFields(rate: 5)
        #expect(s.total == 40)
        #expect(s.percent == 25)
        #expect(s.eta == 6)
        s.total = 42; s.totalExact = true; s.processed = 42; s.state = .completed
        s.updateDerivedFields(rate: 5)
        #expect(s.percent == 100 && s.eta == 0 && s.total == 42)
    }
}
