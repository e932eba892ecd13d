#if canImport(Glibc)
import Glibc
#endif
import Imports
import Progress

/// Receives an upload (`text/csv` or `multipart/form-data`) chunk by chunk and writes the CSV
/// to a spool file, never holding it whole in memory. Options come from the query and from form
/// fields placed before the file part.
///
/// Each upload gets its own directory under the spool directory, and the file keeps the name
/// the client gave it: the engine then derives the job's name and default table from the path
/// as it does for `tally import`.
public final class UploadReceiver {
    /// Largest form field kept in memory (a schema document is the longest).
    static let maxFieldBytes = 256 * 1024

    private enum Mode {
        case raw
        case multipart(MultipartParser)
    }

    private var mode: Mode
    private let maxBytes: Int
    private let directory: String
    private var fd: Int32 = -1
    private var path: String?
    private var received = 0
    private var written = 0
    private var fields: [String: String] = [:]
    private var field: (name: String, bytes: [UInt8])?
    private var inFile = false
    private var sawFile = false
    private var filename: String
    private let query: @Sendable (String) -> String?

    /// Prepares an upload; refuses unsupported content types (415).
    public init(contentType: String?, query: @escaping @Sendable (String) -> String?, spoolDirectory: String,
                maxBytes: Int) throws(APIError) {
        self.maxBytes = maxBytes
        self.query = query
        self.directory = spoolDirectory + "/" + JobID.generate()
        self.filename = UploadReceiver.safeFilename(query("name") ?? "upload.csv")
        let type = (contentType ?? "").split(separator: ";").first.map { $0.trimmingSpaces.lowercased() } ?? ""
        switch type {
        case "text/csv", "text/plain", "application/csv", "text/tab-separated-values", "application/octet-stream", "":
            mode = .raw
        case "multipart/form-data":
            guard let boundary = MultipartParser.boundary(fromContentType: contentType ?? "") else {
                throw APIError.badMultipart(MultipartError(code: "multipart.no_boundary").message)
            }
            mode = .multipart(MultipartParser(boundary: boundary))
        default:
            throw APIError.unsupportedMediaType(contentType ?? "")
        }
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Bytes of body received so far.
    public var receivedBytes: Int { received }

    /// Takes the next piece of the body.
    public func receive(_ chunk: UnsafeRawBufferPointer) throws(APIError) {
        received += chunk.count
        // The form around the file adds a few hundred bytes; the limit is on the whole body.
        guard received <= maxBytes else { throw APIError.uploadTooLarge(limit: maxBytes) }
        switch mode {
        case .raw:
            try writeFile(chunk)
        case .multipart(var parser):
            let events: [MultipartEvent]
            do {
                events = try parser.feed(chunk)
            } catch {
                throw APIError.badMultipart(error.message)
            }
            mode = .multipart(parser)
            for event in events { try handle(event) }
        }
    }

    /// The body is complete: returns the spool file and the import options.
    public func finish() throws(APIError) -> (path: String, options: ImportOptions) {
        if case .multipart(let parser) = mode {
            do {
                try parser.finish()
            } catch {
                throw APIError.badMultipart(error.message)
            }
            guard sawFile else { throw APIError.badMultipart("The form has no \"file\" part.") }
        } else if fd < 0 {
            // An empty raw body still becomes a (empty) file: the engine reports it as such.
            try openFile()
        }
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        guard let path else { throw APIError.internalError("upload.spool_failed") }
        return (path, try options())
    }

    /// Removes whatever was written (the upload failed or was refused).
    public func abandon() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        if let path { unlink(path) }
        rmdir(directory)
        path = nil
    }

    /// Removes a finished spool file and its directory (the import was refused).
    static func remove(spoolFile path: String) {
        unlink(path)
        if let slash = path.lastIndex(of: "/") { rmdir(String(path[..<slash])) }
    }

    private func handle(_ event: MultipartEvent) throws(APIError) {
        switch event {
        case .begin(let part):
            if part.name == "file" || (part.filename != nil && !sawFile) {
                guard !sawFile else { throw APIError.badMultipart("The form has more than one file.") }
                sawFile = true
                inFile = true
                if let name = part.filename, !name.isEmpty {
                    filename = UploadReceiver.safeFilename(name)
                } else if let name = option("name") {
                    filename = UploadReceiver.safeFilename(name)
                }
                try openFile()
            } else {
                field = (part.name, [])
            }
        case .data(let bytes):
            if inFile {
                let failure = bytes.withUnsafeBytes { raw -> APIError? in
                    do throws(APIError) {
                        try writeFile(raw)
                        return nil
                    } catch {
                        return error
                    }
                }
                if let failure { throw failure }
            } else if field != nil {
                field?.bytes.append(contentsOf: bytes)
                if let count = field?.bytes.count, count > UploadReceiver.maxFieldBytes {
                    throw APIError.badMultipart("A form field is larger than \(UploadReceiver.maxFieldBytes) bytes.")
                }
            }
        case .end:
            if inFile {
                inFile = false
            } else if let (name, bytes) = field {
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw APIError.badMultipart("The form field '\(APIError.clip(name))' is not UTF-8.")
                }
                if fields[name] == nil { fields[name] = text }
                field = nil
            }
        case .done:
            break
        }
    }

    private func openFile() throws(APIError) {
        guard fd < 0 else { return }
        var parent = ""
        for component in directory.split(separator: "/") {
            parent += (parent.isEmpty && !directory.hasPrefix("/") ? "" : "/") + component
            if mkdir(parent, 0o755) != 0, errno != EEXIST { throw APIError.internalError("upload.spool_failed") }
        }
        let file = directory + "/" + filename
        let opened = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard opened >= 0 else { throw APIError.internalError("upload.spool_failed") }
        fd = opened
        path = file
    }

    private func writeFile(_ bytes: UnsafeRawBufferPointer) throws(APIError) {
        if fd < 0 { try openFile() }
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(fd, base + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw APIError(status: 507, code: "upload.spool_failed", message: "The server could not store the upload.")
            }
            offset += count
        }
        written += bytes.count
    }

    /// A value from the form (first) or the query.
    private func option(_ name: String) -> String? {
        if let value = fields[name], !value.isEmpty { return value }
        if let value = query(name), !value.isEmpty { return value }
        return nil
    }

    private func options() throws(APIError) -> ImportOptions {
        var options = ImportOptions()
        options.name = option("name")
        options.table = option("table")
        if let schema = option("schema") {
            guard JSONText(validating: schema)?.isObject == true else {
                throw APIError.badParameter("schema", "a JSON import schema (docs/SCHEMA.md).")
            }
            options.schema = schema
        }
        if let delimiter = option("delimiter") {
            let text = delimiter == "tab" || delimiter == "\\t" ? "\t" : delimiter
            guard text.utf8.count == 1, let byte = text.utf8.first, byte != 0x22, byte != 0x0A, byte != 0x0D else {
                throw APIError.badParameter("delimiter", "one character other than a quote or a line break (or \"tab\").")
            }
            options.delimiter = byte
        }
        if let header = option("header") {
            switch header.lowercased() {
            case "true", "1", "yes": options.hasHeader = true
            case "false", "0", "no": options.hasHeader = false
            default:
                throw APIError.badParameter("header", "true or false.")
            }
        }
        return options
    }

    /// The last path component of a client's file name, without anything a path could abuse.
    static func safeFilename(_ name: String) -> String {
        var base = Substring(name)
        if let slash = base.lastIndex(where: { $0 == "/" || $0 == "\\" }) { base = base[base.index(after: slash)...] }
        var cleaned = String(base.unicodeScalars.filter { $0.value >= 0x20 && $0 != "/" && $0 != "\\" && $0.value != 0x7F }.prefix(120).map(Character.init))
        cleaned = cleaned.trimmingSpaces
        if cleaned.isEmpty || cleaned == "." || cleaned == ".." || cleaned.hasPrefix(".") { cleaned = "upload.csv" }
        return cleaned
    }
}
