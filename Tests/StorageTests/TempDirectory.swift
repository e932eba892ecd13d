import Foundation

/// A fresh directory under the system temp dir, removed when the value is released.
final class TempDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "tally-storage-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}
