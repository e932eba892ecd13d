import Dispatch
import Foundation
import Imports
import Progress
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

private let importUsage = """
    usage: tally import FILE [--table T] [--schema S.json] [--delimiter C] [--no-header] [--batch N]
                             [--data DIR] [--max-errors N] [--max-error-fraction F]
                             [--sink postgres://USER@HOST:PORT/DB]

    Imports a CSV file into the SQLite database in DIR (default ./tally-data) with a progress
    bar. Running the same command again after an interruption resumes the import where it
    stopped. Ctrl-C cancels (rows committed so far stay).
      --table T        table to write into (default: the file's base name)
      --schema S.json  column types and rules (see docs/SCHEMA.md); default: text columns
      --delimiter C    , ; | or tab (default: detected)
      --no-header      the first line is data: columns are named by the schema, or col1..colN
      --batch N        rows per transaction (default 10000)
      --sink URL       write the rows into PostgreSQL instead (COPY in batches, checkpoint in
                       the same transaction); the password goes in PGPASSWORD, not the URL
    Exit status: 0 completed, 1 failed, 130 cancelled, 64 usage error.

    """

/// `tally import`: imports a CSV file locally, drawing a progress bar.
func runImport(_ arguments: [String]) -> Int32 {
    var file: String?
    var options = ImportOptions()
    var dataDirectory = "./tally-data"
    var publishesProgress = true
    var iterator = arguments.makeIterator()
    func value(_ flag: String) -> String? {
        guard let v = iterator.next() else {
            printError("tally import: \(flag) needs a value\n")
            return nil
        }
        return v
    }
    while let argument = iterator.next() {
        switch argument {
        case "-h", "--help":
            printError(importUsage)
            return 0
        case "--table":
            guard let v = value(argument) else { return 64 }
            options.table = v
        case "--schema":
            guard let v = value(argument) else { return 64 }
            guard let data = FileManager.default.contents(atPath: v) else {
                printError("tally import: cannot read schema \(v)\n")
                return 64
            }
            options.schema = String(decoding: data, as: UTF8.self)
        case "--delimiter":
            guard let v = value(argument) else { return 64 }
            switch v {
            case "tab", "\\t", "\t": options.delimiter = 9
            default:
                guard v.utf8.count == 1, let byte = v.utf8.first, byte != 0x22, byte != 0x0A, byte != 0x0D else {
                    printError("tally import: the delimiter must be one character (or 'tab')\n")
                    return 64
                }
                options.delimiter = byte
            }
        case "--no-header":
            options.hasHeader = false
        case "--batch":
            guard let v = value(argument) else { return 64 }
            guard let n = Int(v), n > 0 else {
                printError("tally import: --batch needs a positive number\n")
                return 64
            }
            options.batchSize = n
        case "--max-errors":
            guard let v = value(argument), let n = Int64(v), n >= 0 else { return 64 }
            options.maxErrors = n
        case "--max-error-fraction":
            guard let v = value(argument), let f = Double(v), f >= 0, f <= 1 else { return 64 }
            options.maxErrorFraction = f
        case "--no-progress":
            // Measurement aid (tally bench): publish state changes only, no progress events.
            publishesProgress = false
        case "--data":
            guard let v = value(argument) else { return 64 }
            dataDirectory = v
        case "--sink":
            guard let v = value(argument) else { return 64 }
            options.sink = v
        default:
            if argument.hasPrefix("-") || file != nil {
                printError("tally import: unexpected argument '\(argument)'\n" + importUsage)
                return 64
            }
            file = argument
        }
    }
    guard let file else {
        printError(importUsage)
        return 64
    }
    guard let resolved = realpath(file, nil) else {
        printError("tally import: cannot open \(file): \(String(cString: strerror(errno)))\n")
        return 1
    }
    let path = String(cString: resolved)
    free(resolved)
    let table = options.table ?? ImportOptions.defaultTable(forFile: path)
    options.table = table

    let progress = TerminalProgress(fd: 2)
    var configuration = ImportConfiguration()
    configuration.workers = 1
    configuration.publishesProgress = publishesProgress
    // Structured logs would tear the in-place bar apart; warnings still go out when piped.
    configuration.logger = progress.isTerminal ? .discard : Logger.standardError(minimum: .warning)
    let service: ImportService
    let id: String
    do {
        service = try ImportService(dataDirectory: dataDirectory, configuration: configuration)
        if let unfinished = try service.store.unfinishedImport(sourcePath: path, table: table) {
            id = unfinished
            printError("Resuming the interrupted import \(id) of \(file).\n")
        } else {
            id = try service.submit(path: path, options: options).id
        }
    } catch {
        printError("tally import: \(error)\n")
        return 1
    }

    let latest = Mutex<JobSnapshot?>(nil)
    service.tracker.addObserver { event in
        if event.jobID == id { latest.withLock { $0 = event.snapshot } }
    }
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let interrupts = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: .global()) }
    let interruptCount = Atomic<Int>(0)
    for source in interrupts {
        source.setEventHandler {
            // The first Ctrl-C cancels cleanly; a second one leaves at once.
            if interruptCount.add(1, ordering: .relaxed).newValue > 1 {
                printError("\ninterrupted\n")
                exit(130)
            }
            _ = try? service.cancel(id)
        }
        source.resume()
    }

    var final: JobSnapshot?
    while true {
        let snapshot = latest.withLock { $0 } ?? (try? service.job(id)) ?? nil
        if let snapshot {
            progress.show(snapshot)
            if snapshot.state.isTerminal {
                final = (try? service.store.job(id)) ?? snapshot
                break
            }
        }
        usleep(100_000)
    }
    progress.finish()
    for source in interrupts { source.cancel() }
    service.shutdown()

    guard let final else { return 1 }
    var summary: String
    switch final.state {
    case .completed:
        summary = "Imported \(ProgressBar.grouped(final.succeeded)) rows into '\(table)'"
    case .cancelled:
        summary = "Cancelled after \(ProgressBar.grouped(final.succeeded)) rows imported into '\(table)'"
    default:
        summary = "Import failed: " + (final.error.map { "\($0.message) [\($0.code)]" } ?? "unknown error")
    }
    if final.failed > 0 { summary += "; \(ProgressBar.grouped(final.failed)) rows rejected" }
    let destination = options.sinkDescription ?? "database \(dataDirectory)/tally.db"
    summary += " (job \(id), \(destination)).\n"
    if final.failed > 0, let errors = try? service.errors(id, page: Page(limit: 5)) {
        for e in errors {
            summary += "  line \(e.line)" + (e.column.map { ", column \($0)" } ?? "") + ": \(e.code): \(e.message)\n"
        }
        if final.failed > Int64(errors.count) { summary += "  …\n" }
    }
    printError(summary)
    switch final.state {
    case .completed: return 0
    case .cancelled: return 130
    default: return 1
    }
}
