/// Why a request could not be parsed; each kind has a stable code and an HTTP status. After
/// any of these the connection's framing is unknowable, so it must be closed.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of failure, each with a stable code.
    public enum Kind: String, Sendable {
        /// Malformed syntax (400).
        case badRequest = "http.bad_request"
        /// The request target is longer than `Limits.maxRequestLineBytes` (414).
        case uriTooLong = "http.uri_too_long"
        /// The header section exceeds `maxHeaderBytes` or `maxHeaderCount` (431).
        case headerTooLarge = "http.header_too_large"
        /// The declared or received body exceeds `maxBodyBytes` (413).
        case bodyTooLarge = "http.body_too_large"
        /// A transfer coding other than `chunked` (501).
        case unsupportedTransferEncoding = "http.unsupported_transfer_encoding"
        /// An HTTP version other than 1.0 and 1.1 (505).
        case versionNotSupported = "http.version_not_supported"
    }

    /// What went wrong.
    public let kind: Kind
    /// A human-readable detail (static text, safe to send to the client).
    public let message: String

    /// Creates an error of `kind`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The stable code, for logs and the JSON error body.
    public var code: String { kind.rawValue }

    /// The response status that reports this error.
    public var status: Int {
        switch kind {
        case .badRequest: return 400
        case .uriTooLong: return 414
        case .headerTooLarge: return 431
        case .bodyTooLarge: return 413
        case .unsupportedTransferEncoding: return 501
        case .versionNotSupported: return 505
        }
    }

    public var description: String { code + ": " + message }
}
