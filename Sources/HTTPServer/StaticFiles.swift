import CSystem
import Glibc
import Synchronization

/// Serves files under a root directory (the dashboard in `web/`): content types, strong
/// ETags with `If-None-Match` → 304, gzip for text assets when accepted, and no way out of
/// the root (dot segments, encoded slashes, NUL bytes and escaping symlinks are refused).
/// Files are read once and cached in memory with their gzip form, revalidated by `stat`.
public final class StaticFiles: Sendable {
    private struct Entry: Sendable {
        let modified: Int
        let size: Int
        let contentType: String
        let etag: String
        let body: SharedBuffer
        let gzipped: SharedBuffer?
    }

    /// Files larger than this are not served (the dashboard's assets are small).
    public static let maxFileBytes = 16 * 1024 * 1024

    private let root: String
    private let cache = Mutex<[String: Entry]>([:])
    private let logger: Logger

    /// Serves files under `root` (resolved once; must exist when requests arrive).
    public init(root: String, logger: Logger = .disabled) {
        self.root = StaticFiles.resolve(root) ?? root
        self.logger = logger
    }

    /// A router handler serving GET and HEAD.
    public var handler: Router.Handler {
        { [self] request, responder in responder.respond(response(for: request.head)) }
    }

    /// The response for `head` (exposed for tests and for custom routing).
    public func response(for head: HTTPRequestHead) -> HTTPResponse {
        guard head.method == .GET || head.method == .HEAD else {
            var response = HTTPResponse.error(status: 405, code: "http.method_not_allowed", message: "Static files answer GET and HEAD only.")
            response.headers.append(("Allow", "GET, HEAD"))
            return response
        }
        guard let relative = StaticFiles.safeRelativePath(head.path) else {
            logger.info("static.bad_path", ["target": head.target, "code": "static.bad_path"])
            return .error(status: 400, code: "static.bad_path", message: "The path is not valid.")
        }
        guard let entry = lookup(relative) else {
            return .error(status: 404, code: "static.not_found", message: "No such file.")
        }
        let acceptsGzip = entry.gzipped != nil && head.headers.containsToken("gzip", in: "accept-encoding")
        let etag = acceptsGzip ? "\"" + entry.etag + "-gz\"" : "\"" + entry.etag + "\""
        var headers: [(name: String, value: String)] = [
            ("Content-Type", entry.contentType),
            ("ETag", etag),
            ("Cache-Control", "no-cache"),
        ]
        if entry.gzipped != nil { headers.append(("Vary", "Accept-Encoding")) }
        if let match = head.headers["if-none-match"], StaticFiles.matches(match, etag: entry.etag) {
            return HTTPResponse(status: 304, headers: headers)
        }
        if acceptsGzip, let gzipped = entry.gzipped {
            headers.append(("Content-Encoding", "gzip"))
            return HTTPResponse(status: 200, headers: headers, body: .buffer(gzipped))
        }
        return HTTPResponse(status: 200, headers: headers, body: .buffer(entry.body))
    }

    /// The decoded path below the root, or nil when it could leave it or is malformed.
    static func safeRelativePath(_ rawPath: Substring) -> String? {
        guard rawPath.first == "/" else { return nil }
        var segments: [String] = []
        for rawSegment in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            guard let segment = percentDecode(rawSegment) else { return nil }
            if segment == "." || segment == ".." { return nil }
            if segment.utf8.contains(where: { $0 == 0 || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }) { return nil }
            // Hidden files (.git, .env) are never served.
            if segment.hasPrefix(".") { return nil }
            segments.append(segment)
        }
        var path = segments.joined(separator: "/")
        if rawPath.hasSuffix("/") || path.isEmpty { path += path.isEmpty ? "index.html" : "/index.html" }
        return path
    }

    private func lookup(_ relative: String) -> Entry? {
        var candidate = root + "/" + relative
        var info = stat()
        guard stat(candidate, &info) == 0 else { return nil }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            candidate += "/index.html"
            guard stat(candidate, &info) == 0 else { return nil }
        }
        guard (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= StaticFiles.maxFileBytes else { return nil }
        // Symlinks may point anywhere; only what resolves inside the root is served.
        guard let resolved = StaticFiles.resolve(candidate), resolved.hasPrefix(root + "/") else { return nil }
        let modified = Int(info.st_mtim.tv_sec) &* 1_000_000_000 &+ Int(info.st_mtim.tv_nsec)
        if let cached = cache.withLock({ $0[resolved] }), cached.modified == modified, cached.size == Int(info.st_size) {
            return cached
        }
        guard let bytes = StaticFiles.readFile(resolved) else { return nil }
        let contentType = StaticFiles.contentType(for: resolved)
        var gzipped: SharedBuffer?
        if StaticFiles.isCompressible(contentType), bytes.count >= 256, let packed = Gzip.compress(bytes), packed.count < bytes.count {
            gzipped = SharedBuffer(packed)
        }
        let entry = Entry(modified: modified, size: bytes.count, contentType: contentType,
                          etag: StaticFiles.fingerprint(bytes), body: SharedBuffer(bytes), gzipped: gzipped)
        cache.withLock { $0[resolved] = entry }
        return entry
    }

    static func matches(_ header: String, etag: String) -> Bool {
        for item in header.split(separator: ",") {
            var tag = item.trimmingCharacters(" \t")
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
            if tag == "\"" + etag + "\"" || tag == "\"" + etag + "-gz\"" { return true }
        }
        return false
    }

    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = csystem_open_readonly(path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int(info.st_size)
        guard size <= maxFileBytes else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let count = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return read(fd, base + offset, size - offset)
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            offset += count
        }
        if offset < size { bytes.removeSubrange(offset...) }
        return bytes
    }

    /// FNV-1a 64-bit of the content: a strong validator that changes when the bytes do.
    static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex + "-" + String(bytes.count, radix: 16)
    }

    static func isCompressible(_ contentType: String) -> Bool {
        contentType.hasPrefix("text/") || contentType.hasPrefix("application/javascript")
            || contentType.hasPrefix("application/json") || contentType.hasPrefix("image/svg+xml")
            || contentType.hasPrefix("application/manifest+json")
    }

    static func contentType(for path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "application/javascript; charset=utf-8"
        case "json", "map": return "application/json; charset=utf-8"
        case "webmanifest": return "application/manifest+json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "txt": return "text/plain; charset=utf-8"
        case "csv": return "text/csv; charset=utf-8"
        case "wasm": return "application/wasm"
        default: return "application/octet-stream"
        }
    }
}

extension Substring {
    func trimmingCharacters(_ set: String) -> String {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
