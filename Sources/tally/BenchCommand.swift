import Foundation
#if canImport(Glibc)
import Glibc
#endif

private let benchUsage = """
    usage: tally bench import [--rows N] [--runs R] [--dir DIR]
           tally bench csv --rows N --out FILE      (the bench file, and FILE.schema.json)
           tally bench import-server --port P ...   (the server side of Benchmarks/import-load.sh)
           tally bench fanout-server --port P ...   (the server side of Benchmarks/fanout.sh, snapshot.sh)

    Generates an N-row (default 1,000,000), 8-column CSV file and reports, in one run:
    Tally's import rate with progress tracking on and off, the sqlite3 shell's `.import` of the
    same file into the same typed schema (the yardstick), and the peak RSS of the importing
    process for the full file and for a quarter of it (it should stay flat). Each figure is
    the best of R runs (default 3), interleaved so that a noisy neighbour hurts all alike.
    Build with `swift build -c release` first; the release binary measures itself.

    """

private let benchSchema = """
    {"columns":[{"name":"id","type":"integer","required":true},{"name":"name","type":"text"},
    {"name":"email","type":"text"},{"name":"amount","type":"real"},{"name":"quantity","type":"integer"},
    {"name":"active","type":"boolean"},{"name":"created","type":"date"},{"name":"note","type":"text"}]}
    """

private let benchSQLTable = """
    CREATE TABLE bench (id INTEGER NOT NULL, name TEXT, email TEXT, amount REAL, quantity INTEGER,
    active INTEGER, created TEXT, note TEXT)
    """

/// `tally bench import`: the import benchmark recorded in docs/BENCHMARKS.md.
func runBench(_ arguments: [String]) -> Int32 {
    if arguments.first == "fanout-server" { return runFanoutServer(Array(arguments.dropFirst())) }
    if arguments.first == "import-server" { return runImportServer(Array(arguments.dropFirst())) }
    if arguments.first == "csv" { return runBenchCSV(Array(arguments.dropFirst())) }
    guard arguments.first == "import" else {
        printError(benchUsage)
        return arguments.first.map { $0 == "--help" || $0 == "-h" } == true ? 0 : 64
    }
    var rows = 1_000_000
    var runs = 3
    var directory: String?
    var iterator = arguments.dropFirst().makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--rows": rows = iterator.next().flatMap { Int($0) } ?? 0
        case "--runs": runs = iterator.next().flatMap { Int($0) } ?? 0
        case "--dir": directory = iterator.next()
        case "-h", "--help":
            printError(benchUsage)
            return 0
        default:
            printError("tally bench: unexpected argument '\(argument)'\n" + benchUsage)
            return 64
        }
    }
    guard rows >= 4, runs >= 1 else {
        printError(benchUsage)
        return 64
    }
    let work = directory ?? (NSTemporaryDirectory() + "tally-bench-\(getpid())")
    try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    defer { if directory == nil { try? FileManager.default.removeItem(atPath: work) } }
    guard let tally = selfPath() else {
        printError("tally bench: cannot find my own executable\n")
        return 1
    }
    let full = work + "/bench.csv"
    let quarter = work + "/bench-quarter.csv"
    let schema = work + "/schema.json"
    FileManager.default.createFile(atPath: schema, contents: Data(benchSchema.utf8))
    printError("generating \(rows) rows…\n")
    let bytes = generateCSV(path: full, rows: rows)
    _ = generateCSV(path: quarter, rows: rows / 4)

    func tallyRun(_ file: String, progress: Bool, tag: String) -> RunResult? {
        let data = work + "/data-\(tag)"
        try? FileManager.default.removeItem(atPath: data)
        var args = [tally, "import", file, "--table", "bench", "--schema", schema, "--data", data]
        if !progress { args.append("--no-progress") }
        let result = spawnMeasured(args)
        try? FileManager.default.removeItem(atPath: data)
        return result?.status == 0 ? result : nil
    }
    func sqliteRun(_ file: String) -> RunResult? {
        let db = work + "/sqlite3.db"
        try? FileManager.default.removeItem(atPath: db)
        let result = spawnMeasured(["/usr/bin/env", "sqlite3", db, benchSQLTable, ".import --csv --skip 1 \(file) bench"])
        try? FileManager.default.removeItem(atPath: db)
        return result?.status == 0 ? result : nil
    }

    var on: [RunResult] = [], off: [RunResult] = [], yard: [RunResult] = [], small: [RunResult] = []
    for run in 1...runs {
        printError("run \(run)/\(runs)…\n")
        if let r = tallyRun(full, progress: false, tag: "off") { off.append(r) }
        if let r = tallyRun(full, progress: true, tag: "on") { on.append(r) }
        if let r = sqliteRun(full) { yard.append(r) }
        if let r = tallyRun(quarter, progress: true, tag: "small") { small.append(r) }
    }
    guard let bestOn = on.min(by: { $0.seconds < $1.seconds }), let bestOff = off.min(by: { $0.seconds < $1.seconds }),
          let bestSmall = small.min(by: { $0.seconds < $1.seconds }) else {
        printError("tally bench: a Tally import failed\n")
        return 1
    }
    let bestYard = yard.min(by: { $0.seconds < $1.seconds })
    let cpuOn = on.map(\.cpuSeconds).min() ?? 0, cpuOff = off.map(\.cpuSeconds).min() ?? 0
    let cpuYard = yard.map(\.cpuSeconds).min() ?? 0
    func line(_ label: String, _ r: RunResult, cpu: Double) -> String {
        label + pad(grouped(Int(Double(rows) / r.seconds)) + " rows/s") + "  wall " + fmt(r.seconds) + " s  cpu " + fmt(cpu)
            + " s (" + grouped(Int(Double(rows) / max(cpu, 0.001))) + " rows/cpu-s)  peak RSS " + fmt(r.maxRSSMiB) + " MiB\n"
    }
    var report = "tally bench import: \(grouped(rows)) rows, 8 columns, \(grouped(Int(bytes / 1_048_576))) MiB, best of \(runs)\n"
    report += line("  Tally, progress on   ", bestOn, cpu: cpuOn)
    report += line("  Tally, progress off  ", bestOff, cpu: cpuOff)
    if let bestYard {
        report += line("  sqlite3 .import      ", bestYard, cpu: cpuYard)
        report += "  Tally vs sqlite3      wall \(fmt(bestYard.seconds / bestOn.seconds * 100)) %, cpu \(fmt(cpuYard / max(cpuOn, 0.001) * 100)) % of sqlite3's speed\n"
    } else {
        report += "  sqlite3 .import       (sqlite3 shell not available)\n"
    }
    report += "  progress overhead     wall \(fmt((bestOn.seconds - bestOff.seconds) / bestOff.seconds * 100)) %, cpu \(fmt((cpuOn - cpuOff) / max(cpuOff, 0.001) * 100)) % (on vs off)\n"
    report += "  peak RSS, 1/4 file    \(fmt(bestSmall.maxRSSMiB)) MiB (\(grouped(rows / 4)) rows) vs \(fmt(bestOn.maxRSSMiB)) MiB (\(grouped(rows)) rows)\n"
    print(report, terminator: "")
    return 0
}

/// `tally bench csv`: writes the benchmark file (and its schema next to it) for scripts that
/// upload it, so every benchmark imports the same rows.
private func runBenchCSV(_ arguments: [String]) -> Int32 {
    var rows = 1_000_000
    var out: String?
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--rows": rows = iterator.next().flatMap { Int($0) } ?? 0
        case "--out": out = iterator.next()
        default:
            printError("tally bench csv: unexpected argument '\(argument)'\n" + benchUsage)
            return 64
        }
    }
    guard rows >= 1, let out, !out.isEmpty else {
        printError(benchUsage)
        return 64
    }
    guard generateCSV(path: out, rows: rows) > 0,
          FileManager.default.createFile(atPath: out + ".schema.json", contents: Data(benchSchema.utf8)) else {
        printError("tally bench csv: cannot write \(out)\n")
        return 1
    }
    return 0
}

private struct RunResult {
    /// Wall-clock time.
    var seconds: Double
    /// User plus system CPU time: on a shared machine the steadier measure of the work done.
    var cpuSeconds: Double
    var maxRSSMiB: Double
    var status: Int32
}

private func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
private func pad(_ s: String) -> String { s.count >= 16 ? s : String(repeating: " ", count: 16 - s.count) + s }
private func grouped(_ v: Int) -> String {
    let digits = String(v)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return out
}

private func selfPath() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Runs a command with stdout and stderr to /dev/null; returns its wall time and peak RSS.
private func spawnMeasured(_ arguments: [String]) -> RunResult? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
    argv.append(nil)
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let start = monotonicSeconds()
    guard posix_spawn(&pid, arguments[0], &actions, nil, argv, environ) == 0 else { return nil }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let seconds = monotonicSeconds() - start
    let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return RunResult(seconds: seconds, cpuSeconds: cpu, maxRSSMiB: Double(usage.ru_maxrss) / 1024, status: exitStatus)
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Writes the benchmark file: 8 columns of mixed types, some quoted text with commas.
private func generateCSV(path: String, rows: Int) -> Int {
    guard let out = fopen(path, "w") else { return 0 }
    defer { fclose(out) }
    var buffer = "id,name,email,amount,quantity,active,created,note\n"
    var total = 0
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    var seed: UInt64 = 0x9E3779B97F4A7C15
    for i in 1...rows {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let r = Int(truncatingIfNeeded: seed >> 33)
        let word = words[r % words.count]
        let cents = r % 1_000_000
        buffer += "\(i),\(word) \(i % 9973),\(word)\(i)@example.com,\(cents / 100).\(cents % 100 < 10 ? "0" : "")\(cents % 100),"
        buffer += "\(r % 1000),\(r % 2 == 0 ? "true" : "false"),20\(10 + r % 16)-\(r % 12 < 9 ? "0" : "")\(r % 12 + 1)-\(r % 28 < 9 ? "0" : "")\(r % 28 + 1),"
        buffer += r % 5 == 0 ? "\"note, with comma \(i)\"\n" : "plain note \(r % 100)\n"
        if buffer.utf8.count > 1 << 20 {
            total += buffer.utf8.count
            fputs(buffer, out)
            buffer.removeAll(keepingCapacity: true)
        }
    }
    total += buffer.utf8.count
    fputs(buffer, out)
    return total
}
