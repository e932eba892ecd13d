import Foundation
import Progress
import Testing
@testable import TallyApp

extension TestServer {
    func socket(_ path: String) throws -> WebSocketClient {
        try WebSocketClient.connect(host: "127.0.0.1", port: port, path: path)
    }
}

extension WebSocketClient {
    /// The next text message as JSON.
    func json(timeout: Double = 10) throws -> JSONValue {
        let message = try receive(timeout: timeout)
        guard case .text(let text) = message else { throw ClientError("test", "expected text, got \(message)") }
        return try JSONParser().parse(text)
    }
}

struct WebSocketAPITests {
    @Test func followsOneJobFromItsSnapshotToItsTerminalEventThenCloses() throws {
        let server = try TestServer()
        let id = try server.externalJob()
        let socket = try server.socket("/ws/jobs/\(id)")
        let snapshot = try socket.json()
        #expect(snapshot["type"] == "snapshot")
        let start = try #require(snapshot["seq"]?.countValue)
        for processed in 1...3 { #expect(try server.progress(id, #"{"processed":\#(processed * 10)}"#) == 200) }
        #expect(try server.progress(id, #"{"processed":100,"state":"completed"}"#) == 200)
        var seqs: [Int64] = []
        var types: [String] = []
        while true {
            let message = try socket.receive()
            guard case .text(let text) = message else {
                #expect(message == .close(1000))
                break
            }
            let event = try JSONParser().parse(text)
            seqs.append(event["seq"]?.countValue ?? 0)
            types.append(event["type"]?.stringValue ?? "")
        }
        #expect(seqs == Array((start + 1)...(start + 4)))
        #expect(types == ["progress", "progress", "progress", "state"])
    }

    @Test func resumingWithAfterMissesNothing() throws {
        let server = try TestServer()
        let id = try server.externalJob()
        let first = try server.socket("/ws/jobs/\(id)")
        var last = try #require(try first.json()["seq"]?.countValue)
        #expect(try server.progress(id, #"{"processed":1}"#) == 200)
        last = try #require(try first.json()["seq"]?.countValue)
        first.abort()
        for processed in 2...6 { #expect(try server.progress(id, #"{"processed":\#(processed)}"#) == 200) }
        let resumed = try server.socket("/ws/jobs/\(id)?after=\(last)")
        for expected in (last + 1)...(last + 5) {
            let event = try resumed.json()
            #expect(event["seq"]?.countValue == expected)
            #expect(event["resync"] == nil)
        }
        resumed.close()
    }

    @Test func unknownJobsAreRefusedBeforeTheUpgrade() throws {
        let server = try TestServer(loops: 1)
        #expect(throws: ClientError.self) { _ = try server.socket("/ws/jobs/zzzzzzzzzzzz") }
        do {
            _ = try server.socket("/ws/jobs/zzzzzzzzzzzz")
        } catch let error as ClientError {
            #expect(error.message.contains("404"))
            #expect(error.message.contains("job.not_found"))
        }
    }

    @Test func multiplexedSocketsSubscribeUnsubscribeAndSurviveMalformedMessages() throws {
        let server = try TestServer()
        let a = try server.externalJob("a")
        let b = try server.externalJob("b")
        let socket = try server.socket("/ws")
        for bad in ["nope", "{}", #"{"type":"subscribe"}"#, #"{"type":"subscribe","job":"*","after":-2}"#, #"{"type":"dance"}"#] {
            try socket.send(text: bad)
            let error = try socket.json()
            #expect(error["type"] == "error")
            #expect(error["code"] == "ws.bad_message", "\(bad)")
        }
        try socket.send(text: #"{"type":"subscribe","job":"zzzzzzzzzzzz"}"#)
        #expect(try socket.json()["code"] == "job.not_found")
        try socket.send(text: #"{"type":"ping"}"#)
        #expect(try socket.json()["type"] == "pong")

        try socket.send(text: #"{"type":"subscribe","job":"\#(a)"}"#)
        #expect(try socket.json() == ["type": "subscribed", "job": .string(a)])
        let snapshot = try socket.json()
        #expect(snapshot["type"] == "snapshot")
        #expect(snapshot["id"] == .string(a))
        #expect(try server.progress(b, #"{"processed":5}"#) == 200)
        #expect(try server.progress(a, #"{"processed":7}"#) == 200)
        let event = try socket.json()
        #expect(event["id"] == .string(a), "events of jobs not subscribed to never arrive")
        #expect(event["processed"] == 7)

        try socket.send(text: #"{"type":"subscribe","job":"*"}"#)
        #expect(try socket.json() == ["type": "subscribed", "job": "*"])
        var active: Set<String> = []
        for _ in 0..<2 { active.insert(try socket.json()["id"]?.stringValue ?? "") }
        #expect(active == [a, b])
        try socket.send(text: #"{"type":"unsubscribe","job":"\#(a)"}"#)
        #expect(try socket.json() == ["type": "unsubscribed", "job": .string(a)])
        #expect(try server.progress(b, #"{"processed":6}"#) == 200)
        #expect(try socket.json()["id"] == .string(b))
        socket.close()
    }

    @Test func aRealImportArrivesInOrderWithoutGaps() throws {
        let server = try TestServer()
        let socket = try server.socket("/ws")
        try socket.send(text: #"{"type":"subscribe","job":"*"}"#)
        #expect(try socket.json()["type"] == "subscribed")
        let upload = try server.request("POST", "/api/imports", headers: [("Content-Type", "text/csv")],
                                        body: Array(numberedCSV(rows: 20_000).utf8))
        #expect(upload.status == 202)
        let id = try #require((try? JSONParser().parse(upload.body))?["id"]?.stringValue)
        var seqs: [Int64] = []
        while true {
            let event = try socket.json(timeout: 30)
            guard event["id"] == .string(id) else { continue }
            seqs.append(event["seq"]?.countValue ?? 0)
            if ["completed", "failed", "cancelled"].contains(event["state"]?.stringValue ?? "") {
                #expect(event["state"] == "completed")
                break
            }
        }
        #expect(seqs == Array(1...Int64(seqs.count)), "\(seqs)")
        #expect(seqs.count > 3)
        socket.close()
    }

    @Test func aClientThatDropsMidImportAndResumesMissesNothing() throws {
        let server = try TestServer()
        let upload = try server.request("POST", "/api/imports", headers: [("Content-Type", "text/csv")],
                                        body: Array(numberedCSV(rows: 150_000).utf8))
        let id = try #require((try? JSONParser().parse(upload.body))?["id"]?.stringValue)
        var seqs: [Int64] = []
        var terminal = false
        let first = try server.socket("/ws/jobs/\(id)")
        // The snapshot, then two events, then the client vanishes without a close frame.
        for _ in 0..<3 {
            let event = try first.json(timeout: 30)
            seqs.append(event["seq"]?.countValue ?? -1)
            terminal = ["completed", "failed", "cancelled"].contains(event["state"]?.stringValue ?? "")
            if terminal { break }
        }
        first.abort()
        usleep(300_000)
        if !terminal {
            let resumed = try server.socket("/ws/jobs/\(id)?after=\(seqs.last ?? 0)")
            while case .text(let text) = try resumed.receive(timeout: 30) {
                let event = try JSONParser().parse(text)
                #expect(event["resync"] == nil, "the log still holds what was missed")
                seqs.append(event["seq"]?.countValue ?? -1)
            }
        }
        let (_, final) = try server.json("GET", "/api/jobs/\(id)")
        #expect(final["state"] == "completed")
        #expect(seqs.first.map { seqs == Array($0...($0 + Int64(seqs.count) - 1)) } == true, "\(seqs)")
        #expect(seqs.last == final["seq"]?.countValue)
    }
}
