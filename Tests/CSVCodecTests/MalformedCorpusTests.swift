import Foundation
import Testing
import CSVCodec

/// Every file in Resources/malformed/ is read whole and in small chunks; each must produce
/// the error named in MANIFEST.txt, at the line and field given there, and nothing else may
/// go wrong (no trap, and the reader keeps answering after the error).
struct MalformedCorpusTests {
    struct Entry: CustomStringConvertible {
        let file: String
        let code: String
        let line: Int
        let column: Int
        let limits: CSVLimits
        var description: String { file }
    }

    static var directory: URL? {
        Bundle.module.url(forResource: "malformed", withExtension: nil, subdirectory: "Resources")
            ?? Bundle.module.resourceURL?.appendingPathComponent("Resources/malformed")
    }

    static func entries() -> [Entry] {
        guard let directory, let text = try? String(contentsOf: directory.appendingPathComponent("MANIFEST.txt"), encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").compactMap { line -> Entry? in
            guard !line.hasPrefix("#") else { return nil }
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count >= 4, let row = Int(parts[2]), let column = Int(parts[3]) else { return nil }
            var limits = CSVLimits()
            for option in parts.dropFirst(4) {
                let pair = option.split(separator: "=")
                guard pair.count == 2, let value = Int(pair[1]) else { continue }
                switch pair[0] {
                case "field": limits.maxFieldBytes = value
                case "row": limits.maxRowBytes = value
                case "fields": limits.maxFields = value
                default: break
                }
            }
            return Entry(file: parts[0], code: parts[1], line: row, column: column, limits: limits)
        }
    }

    @Test func corpusHasAtLeastTwentyFilesAndEveryFileIsListed() throws {
        let directory = try #require(Self.directory)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".csv") }
        let listed = Set(Self.entries().map(\.file))
        #expect(files.count >= 20)
        #expect(Set(files) == listed)
    }

    @Test(arguments: entries())
    func producesItsSpecificError(_ entry: Entry) throws {
        let directory = try #require(Self.directory)
        let data = try [UInt8](Data(contentsOf: directory.appendingPathComponent(entry.file)))
        let configuration = CSVConfiguration(limits: entry.limits)
        for chunk in [data.count + 1, 1, 3, 7] {
            let cuts = Array(stride(from: chunk, to: data.count, by: chunk))
            let events = read(data, cuts: cuts, configuration: configuration)
            let errors = events.filter {
                switch $0 {
                case .rowError, .fatal: return true
                default: return false
                }
            }
            let first = try #require(errors.first, "\(entry.file): no error (chunk \(chunk))")
            switch first {
            case .rowError(let code, let line, let column, _), .fatal(let code, let line, let column):
                #expect(code == entry.code, "\(entry.file) chunk \(chunk)")
                #expect(line == entry.line, "\(entry.file) chunk \(chunk)")
                #expect(column == entry.column, "\(entry.file) chunk \(chunk)")
            default:
                break
            }
        }
    }

    @Test func fatalErrorsRepeatAndRowErrorsLetReadingGoOn() throws {
        var reader = CSVReader()
        reader.feed(Array("a,b\n1,2,3\n4,5\n\"6,7\n".utf8))
        reader.finish()
        #expect(try reader.next() == .header(["a", "b"]))
        #expect(throws: CSVError.self) { try reader.next() }
        guard case .record(let record) = try reader.next() else {
            Issue.record("expected a record after a row error")
            return
        }
        #expect(record.strings == ["4", "5"])
        for _ in 0..<2 {
            do {
                _ = try reader.next()
                Issue.record("expected the fatal error")
            } catch {
                #expect(error.code == .unterminatedQuote)
                #expect(error.isFatal)
            }
        }
    }
}
