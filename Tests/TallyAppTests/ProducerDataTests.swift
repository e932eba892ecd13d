import Foundation
import Progress
import Testing
@testable import TallyApp

/// A producer's `data` object reaches every transport as the producer wrote it: integers
/// beyond 2^53 (64-bit ids, nanosecond timestamps) keep every digit.
struct ProducerDataTests {
    static let data = #"{"ts_ns":1796409619123456789,"id":9007199254740993,"nested":{"ids":[9007199254740993,1796409619123456789],"s":"\u00e9 \"q\""},"ok":true}"#
    /// The same object as a producer might send it, spread over lines.
    static let sent = "{\n  \"ts_ns\": 1796409619123456789,\n  \"id\": 9007199254740993,\n  \"nested\": {\"ids\": [9007199254740993, 1796409619123456789], \"s\": \"\\u00e9 \\\"q\\\"\"},\n  \"ok\": true\n}"
    static var expected: String { #""data":"# + data + "}" }

    @Test func everyTransportCarriesTheExactDigits() throws {
        let server = try TestServer()
        let (status, created) = try server.json("POST", "/api/jobs", #"{"name":"ids","total":10,"data":{"first":9007199254740993}}"#)
        #expect(status == 201)
        let id = try #require(created["id"]?.stringValue)
        let first = try server.request("GET", "/api/jobs/\(id)")
        #expect(first.text.contains(#""data":{"first":9007199254740993}}"#), "\(first.text)")

        let socket = try server.socket("/ws/jobs/\(id)")
        #expect(try socket.json()["type"] == "snapshot")
        let multiplexed = try server.socket("/ws")
        try multiplexed.send(text: #"{"type":"subscribe","job":"\#(id)"}"#)
        #expect(try multiplexed.json()["type"] == "subscribed")
        #expect(try multiplexed.json()["type"] == "snapshot")
        let sse = try SSETestClient(port: server.port, path: "/api/jobs/\(id)/stream")
        let opening = try #require(try sse.next())
        #expect(opening.event == "snapshot")
        let seq = try #require(created["seq"]?.countValue)

        #expect(try server.progress(id, #"{"processed":5,"data":\#(Self.sent)}"#) == 200)

        let snapshot = try server.request("GET", "/api/jobs/\(id)")
        #expect(snapshot.text.contains(Self.expected), "snapshot: \(snapshot.text)")
        let poll = try server.request("GET", "/api/jobs/\(id)/events?after=\(seq)&wait=5")
        #expect(poll.text.contains(Self.expected), "long-poll: \(poll.text)")
        guard case .text(let frame) = try socket.receive() else { throw ClientError("test", "no frame") }
        #expect(frame.contains(Self.expected), "/ws/jobs: \(frame)")
        guard case .text(let muxFrame) = try multiplexed.receive() else { throw ClientError("test", "no frame") }
        #expect(muxFrame.contains(Self.expected), "/ws: \(muxFrame)")
        let record = try #require(try sse.next())
        #expect(record.data.contains(Self.expected), "SSE: \(record.data)")
        let (_, list) = try server.json("GET", "/api/jobs")
        #expect(list["jobs"] != nil)
        let page = try server.request("GET", "/api/jobs")
        #expect(page.text.contains(Self.expected), "list: \(page.text)")
        sse.close()
    }

    @Test func refusedDataLeavesTheJobAsItWas() throws {
        let server = try TestServer(loops: 1)
        let id = try server.externalJob()
        for body in [#"{"data":[9007199254740993]}"#, #"{"data":"x"}"#, #"{"data":12}"#, #"{"data":{"a":1},}"#,
                     #"{"data":{"a":01}}"#, #"{"data":{"a":"\x"}}"#] {
            let (status, error) = try server.json("POST", "/api/jobs/\(id)/progress", body)
            #expect(status == 400, "\(body)")
            #expect(["request.bad_parameter", "request.bad_json"].contains(error["error"]?["code"]?.stringValue ?? ""), "\(body)")
        }
        let large = #"{"data":{"s":""# + String(repeating: "y", count: 65 * 1024) + #""}}"#
        #expect(try server.json("POST", "/api/jobs/\(id)/progress", large).0 == 400)
        let (_, snapshot) = try server.json("GET", "/api/jobs/\(id)")
        #expect(snapshot["data"] == .null)
    }

    @Test func aWatcherDecodesTheDataExactly() throws {
        var snapshot = JobSnapshot(id: "k3v9q2m8x4c7", kind: .external, name: "n", createdAt: Timestamp(milliseconds: 0))
        snapshot.data = JSONText(validating: Self.data)
        let decoded = try #require(JobSnapshot.decode(json: snapshot.json))
        #expect(decoded.data?.raw == Self.data)
        #expect(decoded.json == snapshot.json)
    }
}
