import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Imports
import Progress
import TallyApp

private let importServerUsage = """
    usage: tally bench import-server --port P [--subscribers N] [--start-delay S] [--max-wait S]
                                     [--loops N] [--fanout-budget N]

    The server side of Benchmarks/import-load.sh: serves the full application on 127.0.0.1:P
    (no auth, no connection caps, no rate limit, pings every 280 s instead of 30, throwaway
    data directory) with its import
    queue held. --fanout-budget is `tally serve`'s (default 10000; 0: off). The first import uploaded (`POST /api/imports`) stays pending until N
    subscribers follow it (or --max-wait seconds pass, default 120), then starts after
    --start-delay seconds (default 1: the last handshakes settle). When it ends, prints one
    JSON line on stdout: the job's rows and its own startedAt/finishedAt, rows per second from
    them, the seq subscribers started from and the final seq, and the CPU seconds the process,
    its import workers and its event loops spent during the import. Prints
    `{"listening":P}` on stderr when ready, and `{"drained":true,…}` once every subscriber's
    connection has closed after the job's end; exits on SIGTERM or SIGINT, or by itself 300 s
    after starting.

    """

/// `tally bench import-server`: see `importServerUsage`.
func runImportServer(_ arguments: [String]) -> Int32 {
    var port = 0, subscribers = 0, startDelay = 1.0, maxWait = 120.0
    var loops: Int?
    var fanoutBudget = APIConfiguration().fanoutBudget
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        let value = { iterator.next().flatMap { Double($0) } }
        switch argument {
        case "--port": port = value().map { Int($0) } ?? -1
        case "--subscribers": subscribers = value().map { Int($0) } ?? -1
        case "--start-delay": startDelay = value() ?? -1
        case "--max-wait": maxWait = value() ?? -1
        case "--loops": loops = value().map { Int($0) }
        case "--fanout-budget": fanoutBudget = value().flatMap { Int(exactly: $0) } ?? -1
        case "-h", "--help":
            printError(importServerUsage)
            return 0
        default:
            printError("tally bench import-server: unexpected argument '\(argument)'\n" + importServerUsage)
            return 64
        }
    }
    guard (1...65535).contains(port), subscribers >= 0, startDelay >= 0, startDelay <= 60, maxWait >= 0, maxWait <= 600, fanoutBudget >= 0,
          loops.map({ (1...64).contains($0) }) ?? true else {
        printError(importServerUsage)
        return 64
    }
    let work = NSTemporaryDirectory() + "tally-import-load-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: work) }
    var configuration = benchServerConfiguration(port: port, loops: loops, work: work)
    configuration.api.fanoutBudget = fanoutBudget
    // A client that falls more than the pong timeout (10 s) behind is closed as dead; on an
    // overloaded machine the load generator does, and its closes would read as lost events.
    configuration.api.webSocketPingSeconds = 280
    // The queue is held before the port opens, so no upload can start before the subscribers
    // follow it.
    guard let application = startBenchServer(configuration, command: "import-server",
                                             prepare: { $0.api.imports.holdQueue() }) else { return 1 }
    defer { application.shutdown() }
    let imports = application.api.imports
    let ended = DispatchSemaphore(value: 0)
    imports.tracker.addObserver { event in
        if event.isTerminal { ended.signal() }
    }
    printError("{\"listening\":\(port)}\n")

    // Runs the measurement on its own thread; the main thread only waits for a signal.
    let measurement = Thread { [maxWait, subscribers, startDelay] in
        let deadline = monotonicClock() + maxWait
        var pending: JobSnapshot?
        while pending == nil, monotonicClock() < deadline {
            pending = (try? imports.jobs(state: .pending, page: Page(limit: 1)))?.first
            if pending == nil { usleep(20_000) }
        }
        guard let job = pending else {
            printError("tally bench import-server: no import was uploaded within \(Int(maxWait)) s\n")
            return kill(getpid(), SIGTERM) == 0 ? () : ()
        }
        while application.api.hub.metrics.subscribers < subscribers, monotonicClock() < deadline { usleep(10_000) }
        usleep(UInt32(startDelay * 1_000_000))
        let following = application.api.hub.metrics.subscribers
        let before = ThreadCPU.sample()
        let startSeq = (try? imports.job(job.id))?.seq ?? job.seq
        imports.releaseQueue()
        ended.wait()
        let after = ThreadCPU.sample()
        let hub = application.api.hub.metrics
        guard let done = try? imports.job(job.id), let started = done.startedAt, let finished = done.finishedAt else {
            printError("tally bench import-server: the job has no start or end\n")
            return
        }
        let seconds = finished.seconds(since: started)
        let rate = seconds > 0 ? Double(done.processed) / seconds : 0
        func cpu(_ prefix: String?) -> String {
            String(format: "%.2f", after.seconds(prefix) - before.seconds(prefix))
        }
        // Where the import thread's wall time went: on a core, waiting for one (other threads
        // had it), or neither (blocked: a lock, I/O, a hand-off that waits).
        let running = after.scheduled("tally-import-").running - before.scheduled("tally-import-").running
        let waiting = after.scheduled("tally-import-").waiting - before.scheduled("tally-import-").waiting
        let blocked = max(0, seconds - running - waiting)
        var line = ("{\"subscribers\":\(following),\"job\":\"\(done.id)\",\"state\":\"\(done.state.rawValue)\","
              + "\"processed\":\(done.processed),\"succeeded\":\(done.succeeded),\"failed\":\(done.failed),"
              + "\"import_s\":\(String(format: "%.3f", seconds)),\"rows_per_s\":\(Int(rate)),"
              + "\"start_seq\":\(startSeq),\"final_seq\":\(done.seq),\"published\":\(hub.published),"
              + "\"delivered\":\(hub.delivered),\"coalesced\":\(hub.coalesced),\"resyncs\":\(hub.resyncs),"
              + "\"cpu_process_s\":\(cpu(nil)),\"cpu_import_s\":\(cpu("tally-import-")),\"cpu_loops_s\":\(cpu("tally-loop-")),"
            + "\"import_on_cpu_s\":\(String(format: "%.3f", running)),\"import_runqueue_s\":\(String(format: "%.3f", waiting)),"
            + "\"import_blocked_s\":\(String(format: "%.3f", blocked))}\n")
        line.withUTF8 { bytes in _ = write(1, bytes.baseAddress, bytes.count) }
        // Every subscriber got the terminal event and the close once no WebSocket is left: the
        // hub lets a subscription go as soon as the terminal event is queued, but the socket
        // closes only after its queued frames and the client's close reply.
        let sockets = application.api.metrics.webSockets
        let drainStart = monotonicClock()
        while sockets.current > 0, monotonicClock() - drainStart < 60 { usleep(20_000) }
        let left = sockets.current
        printError("{\"drained\":\(left == 0),\"subscribers_left\":\(left),\"drain_s\":\(String(format: "%.2f", monotonicClock() - drainStart))}\n")
    }
    measurement.start()
    // Bounded: a driver that died never leaves the server behind.
    waitForTermination(seconds: 300)
    return 0
}

/// CPU seconds (user + system) of this process and of its threads, by thread name.
private struct ThreadCPU {
    var process: Double = 0
    var threads: [(name: String, seconds: Double, running: Double, waiting: Double)] = []

    static func sample() -> ThreadCPU {
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        var sample = ThreadCPU()
        sample.process = ticks(in: "/proc/self/stat").map { $0 / tick } ?? 0
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for task in tasks {
            let base = "/proc/self/task/" + task
            guard let name = try? String(contentsOfFile: base + "/comm", encoding: .utf8),
                  let seconds = ticks(in: base + "/stat").map({ $0 / tick }) else { continue }
            // schedstat: nanoseconds on a CPU, nanoseconds runnable but waiting, timeslices.
            let sched = ((try? String(contentsOfFile: base + "/schedstat", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            sample.threads.append((name.trimmingCharacters(in: .whitespacesAndNewlines), seconds,
                                   sched.count > 1 ? sched[0] / 1e9 : 0, sched.count > 1 ? sched[1] / 1e9 : 0))
        }
        return sample
    }

    /// The whole process (nil) or the threads whose name starts with `prefix`.
    func seconds(_ prefix: String?) -> Double {
        guard let prefix else { return process }
        return threads.filter { $0.name.hasPrefix(prefix) }.reduce(0) { $0 + $1.seconds }
    }

    /// Seconds on a CPU and seconds waiting for one, summed over the threads named `prefix…`.
    func scheduled(_ prefix: String) -> (running: Double, waiting: Double) {
        threads.filter { $0.name.hasPrefix(prefix) }.reduce((0, 0)) { ($0.0 + $1.running, $0.1 + $1.waiting) }
    }

    /// utime + stime of a `stat` file, in clock ticks.
    private static func ticks(in path: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based, whole line).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return user + system
    }
}

/// Waits for SIGINT or SIGTERM (blocked by `TerminationSignals.block()`) at most `seconds`.
private func waitForTermination(seconds: Int) {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    let deadline = monotonicClock() + Double(seconds)
    while true {
        let left = deadline - monotonicClock()
        guard left > 0 else { return }
        var timeout = timespec(tv_sec: Int(left), tv_nsec: Int((left - Double(Int(left))) * 1e9))
        if sigtimedwait(&set, nil, &timeout) >= 0 { return }
        if errno != EINTR { return }
    }
}

private func monotonicClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

