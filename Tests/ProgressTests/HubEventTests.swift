import Testing
@testable import Progress

struct HubEventTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func putsTheTypeInFrontOfTheSnapshotFields() throws {
        let event = try #require(HubEvent(job: "a", seq: 3, type: .progress, isTerminal: false, isResync: false,
                                          snapshot: Array(#" {"id":"a","seq":3} "#.utf8), encoders: []))
        #expect(text(event.json) == #"{"type":"progress","id":"a","seq":3}"#)
        #expect(text(event.snapshot) == #"{"id":"a","seq":3}"#)
    }

    @Test func marksResyncSnapshots() throws {
        let event = try #require(HubEvent(job: "a", seq: 9, type: .snapshot, isTerminal: false, isResync: true,
                                          snapshot: Array(#"{"id":"a"}"#.utf8), encoders: []))
        #expect(text(event.json) == #"{"type":"snapshot","resync":true,"id":"a"}"#)
        #expect(text(event.snapshot) == #"{"id":"a"}"#)
    }

    @Test func keepsAnEmptyObjectValid() throws {
        let event = try #require(HubEvent(job: "a", seq: 1, type: .state, isTerminal: false, isResync: false,
                                          snapshot: Array("{ }".utf8), encoders: []))
        #expect(text(event.json) == #"{"type":"state"}"#)
        #expect(text(event.snapshot) == "{}")
    }

    @Test(arguments: ["", "[]", "null", "{", "}", "\"x\"", "  "])
    func refusesSnapshotsThatAreNotObjects(_ snapshot: String) {
        #expect(HubEvent(job: "a", seq: 1, type: .state, isTerminal: false, isResync: false,
                         snapshot: Array(snapshot.utf8), encoders: []) == nil)
    }

    @Test func computesEachEncodingOnceAtCreation() throws {
        let calls = CallCounter()
        let sse = HubEncoder(name: "sse") { draft in
            calls.increment()
            return HubBytes(Array("id: \(draft.seq)\nevent: \(draft.type.rawValue)\ndata: ".utf8) + draft.json + Array("\n\n".utf8))
        }
        let event = try #require(HubEvent(job: "a", seq: 5, type: .progress, isTerminal: false, isResync: false,
                                          snapshot: Array(#"{"id":"a"}"#.utf8), encoders: [sse]))
        let format = HubFormat(index: 0)
        let payload = try #require(event.encoded(format) as? HubBytes)
        #expect(text(payload.bytes) == "id: 5\nevent: progress\ndata: {\"type\":\"progress\",\"id\":\"a\"}\n\n")
        // The same object for every reader: nothing is copied per subscriber.
        #expect(event.encoded(format) === payload)
        #expect(calls.value == 1)
        #expect(event.encoded(HubFormat(index: 7)) == nil)
    }
}

final class CallCounter: Sendable {
    private let count = Mutex<Int>(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

import Synchronization
