import Testing
@testable import TallyApp

struct MultipartParserTests {
    static let form = Array((
        "preamble to ignore\r\n" +
        "--XyZ\r\n" +
        "Content-Disposition: form-data; name=\"table\"\r\n\r\n" +
        "orders\r\n" +
        "--XyZ  \r\n" +
        "Content-Disposition: form-data; name=\"file\"; filename=\"a;b \\\"q\\\".csv\"\r\n" +
        "Content-Type: text/csv\r\n\r\n" +
        "id,name\r\n1,\"--XyZ is not a boundary here\"\r\n2,b\r\n-\r\n--X\r\n" +
        "--XyZ--\r\n" +
        "epilogue --XyZ\r\n").utf8)

    /// Merges consecutive data events so results compare whatever the chunking.
    static func normalized(_ events: [MultipartEvent]) -> [MultipartEvent] {
        var out: [MultipartEvent] = []
        for event in events {
            if case .data(let bytes) = event, case .data(let previous)? = out.last {
                out[out.count - 1] = .data(ArraySlice(Array(previous) + Array(bytes)))
            } else if case .data(let bytes) = event {
                out.append(.data(ArraySlice(Array(bytes))))
            } else {
                out.append(event)
            }
        }
        return out
    }

    static func parse(_ bytes: [UInt8], chunk: Int) throws -> [MultipartEvent] {
        var parser = MultipartParser(boundary: "XyZ")
        var events: [MultipartEvent] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            events += try parser.feed(bytes[start..<end])
            start = end
        }
        try parser.finish()
        return normalized(events)
    }

    @Test func readsFieldsAndFiles() throws {
        let events = try Self.parse(Self.form, chunk: Self.form.count)
        #expect(events == [
            .begin(MultipartPart(name: "table", filename: nil, contentType: nil)),
            .data(ArraySlice("orders".utf8)),
            .end,
            .begin(MultipartPart(name: "file", filename: "a;b \"q\".csv", contentType: "text/csv")),
            .data(ArraySlice("id,name\r\n1,\"--XyZ is not a boundary here\"\r\n2,b\r\n-\r\n--X".utf8)),
            .end,
            .done,
        ])
    }

    @Test func everyChunkingGivesTheSameEvents() throws {
        let whole = try Self.parse(Self.form, chunk: Self.form.count)
        for size in 1..<40 {
            #expect(try Self.parse(Self.form, chunk: size) == whole, "chunk size \(size)")
        }
    }

    @Test func holdsBackNoMoreThanABoundary() throws {
        var parser = MultipartParser(boundary: "XyZ")
        _ = try parser.feed(Array("--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".utf8))
        let events = try parser.feed([UInt8](repeating: 0x61, count: 100_000))
        let passed = events.reduce(0) { total, event in
            if case .data(let bytes) = event { return total + bytes.count }
            return total
        }
        #expect(passed >= 100_000 - 8)
    }

    @Test func findsTheBoundaryInTheContentType() {
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=----WebKitFormBoundaryx7") == "----WebKitFormBoundaryx7")
        #expect(MultipartParser.boundary(fromContentType: "Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b\"") == "a b")
        #expect(MultipartParser.boundary(fromContentType: "text/csv; boundary=x") == nil)
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data") == nil)
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=") == nil)
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=" + String(repeating: "a", count: 71)) == nil)
    }

    @Test func refusesBrokenForms() throws {
        #expect(throws: MultipartError(code: "multipart.truncated")) {
            _ = try Self.parse(Array("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc".utf8), chunk: 5)
        }
        #expect(throws: MultipartError(code: "multipart.bad_header")) {
            _ = try Self.parse(Array("--XyZ\r\nNo colon here\r\n\r\nabc\r\n--XyZ--".utf8), chunk: 5)
        }
        #expect(throws: MultipartError(code: "multipart.bad_header")) {
            _ = try Self.parse(Array("--XyZ\r\n\r\nabc\r\n--XyZ--".utf8), chunk: 3)
        }
        #expect(throws: MultipartError(code: "multipart.header_too_large")) {
            let huge = "--XyZ\r\nX-A: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
            _ = try Self.parse(Array(huge.utf8), chunk: 1000)
        }
        #expect(throws: MultipartError(code: "multipart.too_many_parts")) {
            let many = String(repeating: "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n", count: 100) + "--XyZ--"
            _ = try Self.parse(Array(many.utf8), chunk: 4096)
        }
        #expect(throws: MultipartError(code: "multipart.truncated")) {
            _ = try Self.parse(Array("no boundary at all".utf8), chunk: 4)
        }
    }
}
