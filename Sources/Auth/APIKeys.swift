/// A configuration mistake found at start (bad secret, unreadable key file, bad flag).
public struct AuthConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stable reason.
    public enum Code: String, Sendable {
        /// A token secret shorter than 32 bytes.
        case weakSecret = "auth.config.weak_secret"
        /// An API key shorter than 16 characters or containing whitespace.
        case weakAPIKey = "auth.config.weak_api_key"
        /// A secret or key file that cannot be read.
        case unreadableFile = "auth.config.unreadable_file"
        /// A flag without its value, or a value that does not parse.
        case badFlag = "auth.config.bad_flag"
        /// An origin pattern that is not `scheme://host[:port]`, `scheme://*.host` or `*`.
        case badOrigin = "auth.config.bad_origin"
    }

    /// The stable reason.
    public let code: Code
    /// What to fix, for the operator.
    public let message: String

    /// Creates an error with its code and message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The admin API keys: whoever shows one (`Authorization: Bearer KEY`) may create, cancel,
/// retry and publish jobs, and watch every job.
///
/// Only SHA-256 digests are kept, and a presented key is compared against every digest in
/// constant time, so neither timing nor a memory dump gives a key away, and keys of
/// different lengths compare in the same time.
public struct APIKeySet: Sendable {
    /// Shortest key accepted: 16 random characters are beyond guessing at any request rate.
    public static let minimumKeyLength = 16

    private let digests: [[UInt8]]

    /// The empty set.
    public init() {
        digests = []
    }

    /// Creates the set. Throws for a key that is too short or holds whitespace.
    public init(keys: [String]) throws(AuthConfigurationError) {
        var digests: [[UInt8]] = []
        for key in keys {
            guard key.utf8.count >= Self.minimumKeyLength else {
                throw AuthConfigurationError(.weakAPIKey, "An API key is shorter than \(Self.minimumKeyLength) characters.")
            }
            guard !key.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
                throw AuthConfigurationError(.weakAPIKey, "An API key contains whitespace or control characters.")
            }
            digests.append(Crypto.sha256(Array(key.utf8)))
        }
        self.digests = digests
    }

    /// No keys: admin actions are open only in open mode.
    public var isEmpty: Bool { digests.isEmpty }

    /// How many keys are configured.
    public var count: Int { digests.count }

    /// Whether `presented` is one of the keys. Looks at every key whatever the outcome.
    public func contains(_ presented: String) -> Bool {
        let digest = Crypto.sha256(Array(presented.utf8))
        var found = false
        for key in digests {
            if constantTimeEquals(key, digest) { found = true }
        }
        return found
    }
}

/// Reads secrets from files the way operators write them: a token secret is the whole file
/// minus its trailing newline; a key file holds one key per line, with `#` comments and
/// blank lines ignored.
public enum SecretFile {
    /// Largest secret file read: secrets are short, and a mistyped path to a big file
    /// should fail clearly rather than load it.
    public static let maxSize = 64 * 1024

    /// The file's bytes without trailing CR/LF.
    public static func readSecret(path: String) throws(AuthConfigurationError) -> [UInt8] {
        var bytes = try readFile(path: path)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        return bytes
    }

    /// The keys in a key file, one per line.
    public static func readKeys(path: String) throws(AuthConfigurationError) -> [String] {
        let text = String(decoding: try readFile(path: path), as: UTF8.self)
        return text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    static func readFile(path: String) throws(AuthConfigurationError) -> [UInt8] {
        guard let bytes = SystemFile.read(path: path, limit: maxSize) else {
            throw AuthConfigurationError(.unreadableFile, "Cannot read '\(path)' (missing, unreadable, or larger than \(maxSize) bytes).")
        }
        return bytes
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
