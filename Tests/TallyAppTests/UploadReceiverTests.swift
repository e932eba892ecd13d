import Foundation
import Testing
@testable import TallyApp

struct UploadReceiverTests {
    private func feed(_ receiver: UploadReceiver, _ bytes: [UInt8], chunk: Int = 7) throws {
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            try Array(bytes[start..<end]).withUnsafeBytes { raw in try receiver.receive(raw) }
            start = end
        }
    }

    @Test func spoolsARawCSVBody() throws {
        let dir = AppTempDirectory()
        let receiver = try UploadReceiver(contentType: "text/csv; charset=utf-8", query: { ["name": "../orders.csv", "table": "t1"][$0] },
                                          spoolDirectory: dir.path + "/uploads", maxBytes: 1000)
        try feed(receiver, Array("a,b\n1,2\n".utf8))
        let (path, options) = try receiver.finish()
        #expect(path.hasPrefix(dir.path + "/uploads/"))
        #expect(path.hasSuffix("/orders.csv"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "a,b\n1,2\n")
        #expect(options.table == "t1")
        #expect(options.name == "../orders.csv")
    }

    @Test func spoolsTheFilePartOfAForm() throws {
        let dir = AppTempDirectory()
        let form = "--b1\r\nContent-Disposition: form-data; name=\"delimiter\"\r\n\r\n;\r\n" +
            "--b1\r\nContent-Disposition: form-data; name=\"schema\"\r\n\r\n{\"columns\":[{\"name\":\"a\"}]}\r\n" +
            "--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\data\\\\sales.csv\"\r\nContent-Type: text/csv\r\n\r\n" +
            "a;b\r\n1;2\r\n--b1--\r\n"
        let receiver = try UploadReceiver(contentType: "multipart/form-data; boundary=b1", query: { _ in nil },
                                          spoolDirectory: dir.path + "/uploads", maxBytes: 10_000)
        try feed(receiver, Array(form.utf8), chunk: 3)
        let (path, options) = try receiver.finish()
        #expect(path.hasSuffix("/sales.csv"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "a;b\r\n1;2")
        #expect(options.delimiter == UInt8(ascii: ";"))
        #expect(options.schema == "{\"columns\":[{\"name\":\"a\"}]}")
    }

    @Test func refusesWhatItCannotImport() throws {
        let dir = AppTempDirectory()
        #expect(throws: APIError.unsupportedMediaType("image/png")) {
            _ = try UploadReceiver(contentType: "image/png", query: { _ in nil }, spoolDirectory: dir.path, maxBytes: 10)
        }
        let big = try UploadReceiver(contentType: "text/csv", query: { _ in nil }, spoolDirectory: dir.path + "/u", maxBytes: 10)
        #expect(throws: APIError.uploadTooLarge(limit: 10)) { try feed(big, Array("0123456789A".utf8)) }
        big.abandon()
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/u"))?.isEmpty ?? true)

        let noFile = try UploadReceiver(contentType: "multipart/form-data; boundary=b1", query: { _ in nil },
                                        spoolDirectory: dir.path, maxBytes: 1000)
        try feed(noFile, Array("--b1\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--b1--".utf8))
        #expect(throws: APIError.self) { _ = try noFile.finish() }

        let badDelimiter = try UploadReceiver(contentType: "text/csv", query: { ["delimiter": "ab"][$0] }, spoolDirectory: dir.path, maxBytes: 100)
        try feed(badDelimiter, Array("a".utf8))
        #expect(throws: APIError.badParameter("delimiter", "one character other than a quote or a line break (or \"tab\").")) {
            _ = try badDelimiter.finish()
        }
        let noHeader = try UploadReceiver(contentType: "text/csv", query: { ["header": "false"][$0] }, spoolDirectory: dir.path, maxBytes: 100)
        #expect(try noHeader.finish().options.hasHeader == false)
        let header = try UploadReceiver(contentType: "text/csv", query: { ["header": "yes"][$0] }, spoolDirectory: dir.path, maxBytes: 100)
        #expect(try header.finish().options.hasHeader == true)
        let oddHeader = try UploadReceiver(contentType: "text/csv", query: { ["header": "maybe"][$0] }, spoolDirectory: dir.path, maxBytes: 100)
        #expect(throws: APIError.badParameter("header", "true or false.")) { _ = try oddHeader.finish() }
    }

    @Test func keepsOnlyASafeFileName() {
        #expect(UploadReceiver.safeFilename("../../etc/passwd") == "passwd")
        #expect(UploadReceiver.safeFilename("C:\\x\\a b.csv") == "a b.csv")
        #expect(UploadReceiver.safeFilename("..") == "upload.csv")
        #expect(UploadReceiver.safeFilename(".hidden") == "upload.csv")
        #expect(UploadReceiver.safeFilename("a\u{0}b\nc.csv") == "abc.csv")
        #expect(UploadReceiver.safeFilename(String(repeating: "x", count: 500)).count == 120)
    }
}
