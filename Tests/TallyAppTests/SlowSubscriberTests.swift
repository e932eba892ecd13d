import Foundation
import Progress
import Testing
@testable import TallyApp

struct SlowSubscriberTests {
    /// A job published straight into the hub, with events padded to `padding` bytes.
    private func publish(_ hub: LocalProgressHub, job: String, seq: UInt64, padding: String, terminal: Bool = false) throws {
        let state = terminal ? "completed" : "running"
        let snapshot = #"{"id":"\#(job)","seq":\#(seq),"state":"\#(state)","processed":\#(seq),"data":{"pad":"\#(padding)"}}"#
        try hub.publish(HubUpdate(job: job, seq: seq, type: terminal ? .state : .progress, isTerminal: terminal,
                                  state: state, snapshot: Array(snapshot.utf8)))
    }

    @Test func aSubscriberThatNeverReadsStaysBoundedWhileOthersGetEveryEvent() throws {
        // A 1 MiB write queue per connection (instead of 64 KiB) lets the reading client lag by
        // 128 events on a loaded machine without being coalesced; the stuck one is bounded
        // by it all the same.
        let server = try TestServer { $0.server.loop.highWatermark = 1 << 20 }
        let hub = server.api.hub
        let job = "slowslowslow"
        let padding = String(repeating: "x", count: 8 * 1024)
        try publish(hub, job: job, seq: 1, padding: padding)

        // Reads nothing until the end: its small socket buffers fill, then the server's queue.
        let stuck = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(job)",
                                                receiveBuffer: 32 * 1024)
        let healthy = try server.socket("/ws/jobs/\(job)")
        #expect(try healthy.json()["seq"] == 1)

        let count: UInt64 = 3_000
        let received = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var seqs: [Int64] = []
        nonisolated(unsafe) var lastArrival = Date()
        nonisolated(unsafe) let client = healthy
        let reader = Thread {
            // Only the head of each 8 KB event is read, so the client keeps up in a debug build.
            while case .text(let text)? = try? client.receive(timeout: 20) {
                let head = text.prefix(120)
                let seq = head.firstRange(of: #""seq":"#).flatMap { range in
                    Int64(head[range.upperBound...].prefix { $0.isNumber })
                }
                seqs.append(seq ?? -1)
                lastArrival = Date()
                if head.contains(#""state":"completed""#) { break }
            }
            received.signal()
        }
        reader.start()

        for seq in UInt64(2)...count {
            try publish(hub, job: job, seq: seq, padding: padding, terminal: seq == count)
            // About 8 MB/s: a lively import, well within what a reading client keeps up with.
            usleep(1_000)
        }
        let publishedAt = Date()
        #expect(received.wait(timeout: .now() + 30) == .success)

        let missing = Set(2...Int64(count)).subtracting(seqs).sorted()
        #expect(missing.isEmpty, "the reading client missed \(missing.count) events, first \(missing.prefix(5))")
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "in order, once each")
        #expect(lastArrival.timeIntervalSince(publishedAt) < 5, "promptly")
        // 24 MB were published for the stuck client. Draining it now shows what the server
        // kept for it: what fits in the socket buffers and the write queue's high watermark,
        // a few coalesced events, and always the terminal event last.
        #expect(hub.metrics.coalesced > 0)
        var drained = 0
        var last = ""
        var stuckSeqs: [Int64] = []
        while case .text(let text)? = try? stuck.receive(timeout: 10) {
            drained += text.utf8.count
            last = String(text.prefix(120))
            stuckSeqs.append(last.firstRange(of: #""seq":"#).flatMap { Int64(last[$0.upperBound...].prefix { $0.isNumber }) } ?? -1)
            if last.contains(#""state":"completed""#) { break }
        }
        #expect(last.contains(#""state":"completed""#), "the terminal event is never lost")
        #expect(stuckSeqs.last == Int64(count))
        #expect(drained < 8 * 1024 * 1024, "the server held \(drained) bytes for a client that did not read")
        #expect(stuckSeqs.count < Int(count) / 2)
        stuck.abort()
    }

    @Test func aSubscriberThatStopsReadingIsHeldToASmallKernelBuffer() throws {
        // With the kernel's autotuning, a socket whose peer never reads takes up to 4 MiB
        // before a write would block: all 600 KB below would sit in the kernel, one sendmsg
        // per event. With the subscriber send buffer capped, the socket fills within a few
        // dozen events, then the write queue, and the hub coalesces the rest.
        let server = try TestServer()
        let hub = server.api.hub
        let job = "stuckstuckst"
        let padding = String(repeating: "y", count: 1024)
        try publish(hub, job: job, seq: 1, padding: padding)
        let stuck = try WebSocketClient.connect(host: "127.0.0.1", port: server.port, path: "/ws/jobs/\(job)",
                                                receiveBuffer: 4 * 1024)
        let count: UInt64 = 600
        for seq in UInt64(2)...count {
            try publish(hub, job: job, seq: seq, padding: padding, terminal: seq == count)
            usleep(300)
        }
        var drained = 0
        var last = ""
        while case .text(let text)? = try? stuck.receive(timeout: 10) {
            drained += text.utf8.count
            last = String(text.prefix(120))
            if last.contains(#""state":"completed""#) { break }
        }
        #expect(last.contains(#""state":"completed""#), "the terminal event is never lost")
        #expect(hub.metrics.coalesced > 0)
        #expect(drained < 300 * 1024, "the server queued \(drained) bytes for a client that did not read")
        stuck.abort()
    }
}
