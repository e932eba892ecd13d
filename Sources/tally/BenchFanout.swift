import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Imports
import Progress
import TallyApp

private let fanoutUsage = """
    usage: tally bench fanout-server --port P [--rate R] [--duration D] [--expect-conns N]
                                     [--start-delay S] [--max-wait S] [--loops N]
                                     [--redis URL] [--start-file F] [--stamp due|send]

    The server side of Benchmarks/fanout.sh: serves the full application on 127.0.0.1:P
    (no auth, no connection caps, throwaway data directory), creates one external job and,
    once N subscribers follow it (or after --max-wait seconds), publishes R progress updates
    per second for D seconds through what `POST /api/jobs/{id}/progress` runs after parsing
    its body (store write, tracker, hub, encoded once, WebSocket fan-out). Each update carries
    `"data":{"ts_ns":…}` (CLOCK_REALTIME) so the load generator measures latency. With
    --stamp send (the default) the stamp is taken when the update is published; with --stamp
    due it is the time the schedule (R per second from the start) gave the update, so a
    publisher that falls behind has that wait counted in the latency instead of hidden
    (Benchmarks/fanout.sh stamps every peer that way).
    Prints `{"peer":"tally","listening":P,"path":"/ws/jobs/ID"}` on stderr when ready and a
    summary line with "events" when done; exits on SIGTERM or SIGINT. --rate 0 never publishes
    (idle-memory runs, and the one job Benchmarks/snapshot.sh reads).

    Two nodes (Benchmarks/fanout-redis.sh): --redis URL shares progress through Redis as
    `tally serve --redis` does; the server waits (up to --max-wait) for its Redis connection
    before it says it listens. Subscribers of the other node are not counted by
    --expect-conns, so --start-file F makes publishing also wait until the file F exists.

    The summary splits the server's share of the latency: "stored" is the stamp to the end
    of the store write (the hub holds the event and has posted it to the loops), "loop" the
    stamp to the moment each loop starts handing the event to its subscribers (a probe
    subscribed first on every loop), as p50/p99 in ms. The rest of the load generator's
    figure is the writes themselves and the client.

    """

/// `tally bench fanout-server`: see `fanoutUsage`.
func runFanoutServer(_ arguments: [String]) -> Int32 {
    var port = 0, rate = 100.0, duration = 10.0, expectConnections = 0, startDelay = 0.0, maxWait = 60.0
    var loops: Int?
    var redisURL: String?
    var startFile: String?
    var stampDue = false
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        let value = { iterator.next().flatMap { Double($0) } }
        switch argument {
        case "--port": port = value().map { Int($0) } ?? -1
        case "--rate": rate = value() ?? -1
        case "--duration": duration = value() ?? -1
        case "--expect-conns": expectConnections = value().map { Int($0) } ?? -1
        case "--start-delay": startDelay = value() ?? -1
        case "--max-wait": maxWait = value() ?? -1
        case "--loops": loops = value().map { Int($0) }
        case "--redis": redisURL = iterator.next() ?? ""
        case "--start-file": startFile = iterator.next() ?? ""
        case "--stamp":
            switch iterator.next() {
            case "due": stampDue = true
            case "send": stampDue = false
            default:
                printError("tally bench fanout-server: --stamp takes 'due' or 'send'\n" + fanoutUsage)
                return 64
            }
        case "-h", "--help":
            printError(fanoutUsage)
            return 0
        default:
            printError("tally bench fanout-server: unexpected argument '\(argument)'\n" + fanoutUsage)
            return 64
        }
    }
    guard (1...65535).contains(port), rate >= 0, rate <= 100_000, duration >= 0, expectConnections >= 0,
          startDelay >= 0, maxWait >= 0, loops.map({ (1...64).contains($0) }) ?? true,
          redisURL?.isEmpty != true, startFile?.isEmpty != true else {
        printError(fanoutUsage)
        return 64
    }
    let work = NSTemporaryDirectory() + "tally-fanout-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: work) }
    var configuration = benchServerConfiguration(port: port, loops: loops, work: work)
    configuration.api.redisURL = redisURL
    guard let application = startBenchServer(configuration, command: "fanout-server") else { return 1 }
    defer { application.shutdown() }
    if let redis = application.api.redis {
        // Connected before the job exists, so the other node hears of it from its first event.
        let waitUntil = monotonicSeconds() + maxWait
        while redis.isDegraded, monotonicSeconds() < waitUntil { usleep(10_000) }
        if redis.isDegraded {
            printError("tally bench fanout-server: Redis is not reachable at \(redisURL ?? "")\n")
            return 1
        }
    }
    let total = 1_000_000
    let created = application.api.jobs.createExternal(body: Array("{\"name\":\"fanout\",\"total\":\(total)}".utf8))
    guard case .success(let response) = created, let id = jobID(in: response.body) else {
        printError("tally bench fanout-server: cannot create the job\n")
        return 1
    }
    printError("{\"peer\":\"tally\",\"listening\":\(port),\"path\":\"/ws/jobs/\(id)\"}\n")

    if rate > 0 {
        let count = Int((rate * duration).rounded())
        let probes = LatencyProbe.attach(to: application, job: id, events: count)
        let waitUntil = monotonicSeconds() + maxWait
        while application.api.hub.metrics.subscribers < expectConnections + probes.count, monotonicSeconds() < waitUntil {
            usleep(10_000)
        }
        while let startFile, access(startFile, F_OK) != 0, monotonicSeconds() < waitUntil {
            usleep(10_000)
        }
        usleep(UInt32(startDelay * 1_000_000))
        let step = total / max(count, 1)
        let clientsAtStart = application.api.hub.metrics.subscribers - probes.count
        var stamps = [Int64](repeating: 0, count: count)
        var stored = [Int64](repeating: 0, count: count)
        let start = monotonicSeconds()
        let realtimeStart = realtimeNanoseconds()
        var maxSlip = 0.0
        for k in 0..<count {
            let due = start + Double(k) / rate
            let now = monotonicSeconds()
            if due > now { usleep(UInt32((due - now) * 1_000_000)) } else { maxSlip = max(maxSlip, now - due) }
            let processed = min((k + 1) * step, total)
            // The store and tracker directly, as the route does after parsing: the route's JSON
            // numbers are doubles, which would round a nanosecond timestamp.
            var update = ExternalJobUpdate(processed: Int64(processed))
            let stamp = stampDue ? realtimeStart + Int64((Double(k) / rate * 1e9).rounded()) : realtimeNanoseconds()
            update.data = JSONText(validating: "{\"ts_ns\":\(stamp)}")
            let snapshot: JobSnapshot
            do {
                snapshot = try application.api.imports.updateExternalJob(id, update)
            } catch {
                printError("tally bench fanout-server: publish failed: \(error)\n")
                return 1
            }
            stored[k] = realtimeNanoseconds() - stamp
            stamps[k] = stamp
            probes.expect(seq: snapshot.seq, event: k)
        }
        let elapsed = monotonicSeconds() - start
        let reached = probes.collect()
        var loopDelays: [Int64] = []
        for (event, at) in reached where event < count && stamps[event] != 0 { loopDelays.append(at - stamps[event]) }
        printError("{\"peer\":\"tally\",\"events\":\(count),\"publish_s\":\(elapsed),\"max_slip_ms\":\(maxSlip * 1000),"
            + "\"clients_at_start\":\(clientsAtStart),\"stored_ms\":\(percentiles(stored)),"
            + "\"loop_ms\":\(percentiles(loopDelays)),\"loop_samples\":\(loopDelays.count)}\n")
    }
    _ = TerminationSignals.wait()
    return 0
}

/// `{"p50":…,"p99":…,"max":…}` in milliseconds of nanosecond delays.
private func percentiles(_ delays: [Int64]) -> String {
    let sorted = delays.sorted()
    guard !sorted.isEmpty else { return "null" }
    func at(_ q: Double) -> String {
        let value = Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) / 1e6
        return String(format: "%.3f", value)
    }
    return "{\"p50\":\(at(0.5)),\"p99\":\(at(0.99)),\"max\":\(at(1.0))}"
}

/// One hub subscriber per loop, subscribed before any client, so it hears each event when
/// its loop starts the fan-out; it notes the time per event on its own loop.
private final class LatencyProbe: HubSink {
    /// The probes of every loop and the seq to event-number map (the publisher's thread only).
    final class Set {
        let probes: [LatencyProbe]
        private var seqs: [UInt64: Int] = [:]
        var count: Int { probes.count }

        init(probes: [LatencyProbe]) { self.probes = probes }

        func expect(seq: Int64, event: Int) {
            seqs[UInt64(max(0, seq))] = event
        }

        /// (event number, realtime ns) of every arrival, read on each probe's loop.
        func collect() -> [(Int, Int64)] {
            usleep(200_000)  // lets the last events reach the loops
            let map = seqs
            var result: [(Int, Int64)] = []
            for probe in probes {
                for (seq, at) in probe.read() { if let event = map[seq] { result.append((event, at)) } }
            }
            return result
        }
    }

    private let loop: any HubLoop
    private var arrivals: [(UInt64, Int64)] = []
    private var subscription: HubSubscription?

    private init(loop: any HubLoop, capacity: Int) {
        self.loop = loop
        arrivals.reserveCapacity(capacity + 16)
    }

    var isReady: Bool { true }

    func receive(_ event: HubEvent, from subscription: HubSubscription) {
        arrivals.append((event.seq, realtimeNanoseconds()))
    }

    private func read() -> [(UInt64, Int64)] {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var copy: [(UInt64, Int64)] = []
        nonisolated(unsafe) let probe = self
        loop.execute {
            copy = probe.arrivals
            done.signal()
        }
        done.wait()
        return copy
    }

    static func attach(to application: TallyApplication, job: String, events: Int) -> Set {
        var probes: [LatencyProbe] = []
        for loop in application.server.loops {
            let probe = LatencyProbe(loop: loop, capacity: events)
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) let unsafeProbe = probe
            let hub = application.api.hub
            loop.execute {
                unsafeProbe.subscription = hub.subscribe(to: .job(job), after: nil, sink: unsafeProbe, on: loop)
                done.signal()
            }
            done.wait()
            probes.append(probe)
        }
        return Set(probes: probes)
    }
}

private func jobID(in body: [UInt8]) -> String? {
    let text = String(decoding: body, as: UTF8.self)
    guard let start = text.range(of: "\"id\":\"") else { return nil }
    let rest = text[start.upperBound...]
    guard let end = rest.firstIndex(of: "\"") else { return nil }
    return String(rest[..<end])
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func realtimeNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// Starts a benchmark server: descriptor limit raised, termination signals blocked (the
/// command waits for them), the application built, `prepare`d and listening. Nil, after saying
/// why on stderr, when it cannot start.
func startBenchServer(_ configuration: TallyConfiguration, command: String,
                      prepare: (TallyApplication) -> Void = { _ in }) -> TallyApplication? {
    raiseDescriptorLimit()
    TerminationSignals.block()
    do {
        let application = try TallyApplication(configuration: configuration, logger: Logger.standardError(level: .error))
        prepare(application)
        try application.start()
        return application
    } catch {
        printError("tally bench \(command): \(error.description)\n")
        return nil
    }
}

/// The configuration every benchmark server starts from: the whole application on loopback in a
/// throwaway directory, with the per-address and total connection caps and the rate limit off,
/// since one load generator opens every connection from 127.0.0.1.
func benchServerConfiguration(port: Int, loops: Int?, work: String) -> TallyConfiguration {
    var configuration = TallyConfiguration()
    configuration.server.host = "127.0.0.1"
    configuration.server.port = port
    if let loops { configuration.server.loopCount = loops }
    configuration.server.maxConnectionsPerAddress = 0
    configuration.server.maxConnections = 1_000_000
    configuration.dataDirectory = work
    configuration.webRoot = work
    configuration.api.rateLimit = nil
    return configuration
}
