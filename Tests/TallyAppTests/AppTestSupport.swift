import Foundation
import Imports
import Progress
@testable import TallyApp

/// A fresh directory for one test, removed afterwards.
final class AppTempDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "tally-app-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        return file
    }
}

/// `rows` lines of `id,name,amount` after a header; every `badEvery`-th row has a bad amount.
func numberedCSV(rows: Int, badEvery: Int = 0) -> String {
    var text = "id,name,amount\n"
    for i in 1...max(rows, 1) where rows > 0 {
        let amount = badEvery > 0 && i % badEvery == 0 ? "oops" : "\(i * 3)"
        text += "\(i),name \(i),\(amount)\n"
    }
    return text
}

let numberedSchema = #"{"columns":[{"name":"id","type":"integer"},{"name":"name","type":"text"},{"name":"amount","type":"integer"}]}"#

func waitForEnd(_ service: ImportService, _ id: String, timeout: Double = 30) throws -> JobSnapshot? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let job = try service.job(id), job.state.isTerminal { return job }
        usleep(5_000)
    }
    return nil
}

extension Result where Success == APIResponse, Failure == APIError {
    /// The body parsed as JSON (nil for a failure or a non-JSON body).
    var json: JSONValue? {
        guard case .success(let response) = self else { return nil }
        return try? JSONParser().parse(response.body)
    }

    /// The body as text, exactly as it would go on the wire ("" for a failure).
    var text: String {
        guard case .success(let response) = self else { return "" }
        return String(decoding: response.body, as: UTF8.self)
    }

    var status: Int {
        switch self {
        case .success(let response): response.status
        case .failure(let error): error.status
        }
    }

    var code: String? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
