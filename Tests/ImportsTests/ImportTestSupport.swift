import Foundation
import Progress
import Storage
import Synchronization
@testable import Imports

/// A fresh directory for one test, removed afterwards.
final class ImportTempDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "tally-imports-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        return file
    }
}

/// `rows` lines of `id,name,amount` after a header; every `badEvery`-th row has a bad amount.
func numberedCSV(rows: Int, badEvery: Int = 0) -> String {
    var text = "id,name,amount\n"
    text.reserveCapacity(rows * 24)
    for i in 1...max(rows, 1) where rows > 0 {
        let amount = badEvery > 0 && i % badEvery == 0 ? "oops" : "\(i * 3)"
        text += "\(i),name \(i),\(amount)\n"
    }
    return text
}

let numberedSchema = """
    {"columns":[{"name":"id","type":"integer","required":true,"unique":true},
                {"name":"name","type":"text"},{"name":"amount","type":"integer"}]}
    """

/// Collects every event the tracker publishes.
final class EventLog: Sendable {
    let events = Mutex<[JobEvent]>([])
    init(_ tracker: JobTracker) {
        tracker.addObserver { [self] event in self.events.withLock { $0.append(event) } }
    }
    func of(_ id: String) -> [JobEvent] { events.withLock { $0.filter { $0.jobID == id } } }
}

func makeService(_ dir: ImportTempDirectory, tracker: JobTracker = JobTracker(),
                 _ tweak: (inout ImportConfiguration) -> Void = { _ in }) throws -> ImportService {
    var configuration = ImportConfiguration()
    configuration.workers = 1
    tweak(&configuration)
    return try ImportService(dataDirectory: dir.path + "/data", configuration: configuration, tracker: tracker)
}

/// Polls until the job reaches a terminal state (or 30 s pass).
/// Submits `file`, lets the import commit at least `rows` rows, and shuts the service down
/// mid-import (a restart); returns the job's id for the next service to resume.
func interruptedImport(_ dir: ImportTempDirectory, file: String, options: ImportOptions, afterRows rows: Int64) throws -> String {
    let service = try makeService(dir)
    defer { service.shutdown() }
    let id = try service.submit(path: file, options: options).id
    while (try service.job(id)?.processed ?? 0) < rows { usleep(500) }
    service.shutdown()
    return id
}

func waitForEnd(_ service: ImportService, _ id: String, timeout: Double = 30) throws -> JobSnapshot? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let job = try service.job(id), job.state.isTerminal { return job }
        usleep(5_000)
    }
    return try service.job(id)
}

func count(_ service: ImportService, _ sql: String) throws -> Int64 {
    try service.store.database.read { try $0.scalarInt(sql) } ?? -1
}
