import CHiredis
import Glibc
import Reactor

/// hiredis, loaded at run time: `tally serve` without `--redis` never touches it, so neither
/// the build nor a plain install needs it.
struct Hiredis: @unchecked Sendable {
    let connect: tally_redisAsyncConnect_fn
    let setConnectCallback: tally_redisAsyncSetCallback_fn
    let setDisconnectCallback: tally_redisAsyncSetCallback_fn
    let disconnect: tally_redisAsyncContext_fn
    let free: tally_redisAsyncContext_fn
    let handleRead: tally_redisAsyncContext_fn
    let handleWrite: tally_redisAsyncContext_fn
    let commandArgv: tally_redisAsyncCommandArgv_fn

    /// The library once loaded (or why it could not be).
    static let shared: Result<Hiredis, RedisError> = load()

    /// Only the 0.14 ABI is declared in CHiredis (struct layouts differ in 1.x), so only that
    /// library file is accepted: a wrong layout would corrupt memory rather than fail.
    static let libraryName = "libhiredis.so.0.14"

    private static func load() -> Result<Hiredis, RedisError> {
        guard let handle = dlopen(libraryName, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(RedisError(.libraryMissing,
                "--redis needs hiredis 0.14 (\(libraryName); Debian package libhiredis0.14): \(reason)"))
        }
        func symbol<T>(_ name: String, _ type: T.Type) -> T? {
            guard let pointer = dlsym(handle, name) else { return nil }
            return unsafeBitCast(pointer, to: type)
        }
        guard let connect = symbol("redisAsyncConnect", tally_redisAsyncConnect_fn.self),
              let setConnect = symbol("redisAsyncSetConnectCallback", tally_redisAsyncSetCallback_fn.self),
              let setDisconnect = symbol("redisAsyncSetDisconnectCallback", tally_redisAsyncSetCallback_fn.self),
              let disconnect = symbol("redisAsyncDisconnect", tally_redisAsyncContext_fn.self),
              let free = symbol("redisAsyncFree", tally_redisAsyncContext_fn.self),
              let handleRead = symbol("redisAsyncHandleRead", tally_redisAsyncContext_fn.self),
              let handleWrite = symbol("redisAsyncHandleWrite", tally_redisAsyncContext_fn.self),
              let command = symbol("redisAsyncCommandArgv", tally_redisAsyncCommandArgv_fn.self) else {
            return .failure(RedisError(.libraryMissing, "\(libraryName) lacks the async API functions"))
        }
        return .success(Hiredis(connect: connect, setConnectCallback: setConnect, setDisconnectCallback: setDisconnect,
                                disconnect: disconnect, free: free, handleRead: handleRead, handleWrite: handleWrite,
                                commandArgv: command))
    }
}

/// A Redis failure with a stable code.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// Stable codes.
    public enum Code: String, Sendable {
        /// hiredis could not be loaded.
        case libraryMissing = "redis.library_missing"
        /// The URL is not `redis://host:port/db`.
        case badURL = "redis.bad_url"
        /// The connection could not be made or broke.
        case connectionFailed = "redis.connection_failed"
        /// Redis answered with an error.
        case replyError = "redis.reply_error"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A reply, copied out of hiredis's reply tree (which hiredis frees after the callback).
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    init(_ pointer: UnsafeMutableRawPointer?, depth: Int = 0) {
        guard let pointer else {
            self = .null
            return
        }
        let reply = pointer.assumingMemoryBound(to: tally_redisReply.self).pointee
        func bytes() -> [UInt8] {
            guard let str = reply.str, reply.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: reply.len))
        }
        switch reply.type {
        case TALLY_REDIS_REPLY_STRING: self = .string(bytes())
        case TALLY_REDIS_REPLY_STATUS: self = .status(String(decoding: bytes(), as: UTF8.self))
        case TALLY_REDIS_REPLY_ERROR: self = .error(String(decoding: bytes(), as: UTF8.self))
        case TALLY_REDIS_REPLY_INTEGER: self = .integer(Int64(reply.integer))
        case TALLY_REDIS_REPLY_ARRAY:
            guard depth < 8, let elements = reply.element else {
                self = .array([])
                return
            }
            var items: [RedisReply] = []
            items.reserveCapacity(reply.elements)
            for i in 0..<reply.elements { items.append(RedisReply(UnsafeMutableRawPointer(elements[i]), depth: depth + 1)) }
            self = .array(items)
        default: self = .null
        }
    }

    /// The bytes of a string reply.
    public var bytes: [UInt8]? {
        if case .string(let b) = self { return b }
        return nil
    }

    /// The elements of an array reply.
    public var elements: [RedisReply]? {
        if case .array(let items) = self { return items }
        return nil
    }
}

/// Where to find Redis: `redis://[[user]:password@]host:port/db` (port 6379 and db 0 by
/// default). No TLS (loopback or a private network).
public struct RedisAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int
    /// The ACL user of `AUTH user password` (Redis 6+); nil sends `AUTH password`.
    public var username: String?
    /// Sent with `AUTH` on every connection before anything else; nil sends no `AUTH`.
    public var password: String?

    /// Parses the URL; user and password are percent-decoded.
    public init(url: String) throws(RedisError) {
        guard url.hasPrefix("redis://") else {
            throw RedisError(.badURL, "expected redis://host:port/db, got '\(RedisAddress.redacted(url))'")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        var database = 0
        // The credentials may hold '/' or ':'; the host part ends at the last '@'.
        var credentials: Substring?
        if let at = rest.lastIndex(of: "@") {
            credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0, n < 1 << 16 else {
                    throw RedisError(.badURL, "bad database number in '\(RedisAddress.redacted(url))'")
                }
                database = n
            }
            rest = rest[..<slash]
        }
        if let credentials {
            // `user:password`, `:password`, or `password` alone (as redis-cli -u reads it).
            let user: Substring?, secret: Substring
            if let colon = credentials.firstIndex(of: ":") {
                user = credentials[..<colon]
                secret = credentials[credentials.index(after: colon)...]
            } else {
                user = nil
                secret = credentials
            }
            guard let password = RedisAddress.percentDecoded(secret), !password.isEmpty,
                  let name = user.map({ RedisAddress.percentDecoded($0) }) ?? .some(nil) else {
                throw RedisError(.badURL, "bad credentials in '\(RedisAddress.redacted(url))'")
            }
            self.username = name?.isEmpty == false ? name : nil
            self.password = password
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw RedisError(.badURL, "bad port in '\(RedisAddress.redacted(url))'")
            }
            port = p
            host = String(rest[..<colon])
        }
        if host.isEmpty { host = "127.0.0.1" }
        if host == "localhost" { host = "127.0.0.1" }
        self.host = host
        self.port = port
        self.database = database
    }

    /// `host:port/db`, never the password (for logs).
    public var description: String { "\(host):\(port)/\(database)" }

    /// The `AUTH` command for these credentials, nil without a password.
    var authCommand: [[UInt8]]? {
        guard let password else { return nil }
        if let username { return [Array("AUTH".utf8), Array(username.utf8), Array(password.utf8)] }
        return [Array("AUTH".utf8), Array(password.utf8)]
    }

    /// The URL with its password replaced by `***`, for error messages.
    public static func redacted(_ url: String) -> String {
        let scheme = "redis://"
        guard url.hasPrefix(scheme), let at = url.lastIndex(of: "@") else { return url }
        let credentials = url.dropFirst(scheme.count)[..<at]
        let user = credentials.firstIndex(of: ":").map { String(credentials[..<$0]) + ":" } ?? ""
        return scheme + user + "***" + String(url[at...])
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
