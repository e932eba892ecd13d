/// Why a request was refused. One stable code per reason, shared by logs, metrics, the JSON
/// error body (`{"error":{"code":"auth.expired",...}}`) and WebSocket close reasons.
public struct AuthError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stable machine-readable reason.
    public enum Code: String, Sendable, CaseIterable {
        /// No credentials at all where some are required.
        case missingToken = "auth.missing_token"
        /// Not three base64url parts, bad JSON, a missing or mistyped claim, or a bad
        /// `Authorization` scheme.
        case malformedToken = "auth.malformed_token"
        /// The header names an algorithm other than HS256 (including `none`).
        case unsupportedAlgorithm = "auth.unsupported_algorithm"
        /// The HMAC does not match: forged, tampered with, or signed with another secret.
        case badSignature = "auth.bad_signature"
        /// `exp` is in the past, beyond the leeway.
        case expired = "auth.expired"
        /// `nbf` is in the future, beyond the leeway.
        case notYetValid = "auth.not_yet_valid"
        /// The token was minted for another audience (or for one while none is configured).
        case wrongAudience = "auth.wrong_audience"
        /// A valid token whose `sub` does not cover the job asked for.
        case outOfScope = "auth.out_of_scope"
        /// The bearer credential is neither a known API key nor a valid token.
        case invalidAPIKey = "auth.invalid_api_key"
        /// A valid subscribe token used for an action that needs an API key.
        case adminRequired = "auth.admin_required"
        /// Admin actions are refused because no API key is configured while auth is on.
        case adminDisabled = "auth.admin_disabled"
        /// A browser page from an origin that is not allowed (WebSocket handshake or CORS).
        case originNotAllowed = "auth.origin_not_allowed"
        /// The client's address failed authentication too often lately; its credentials are
        /// not even looked at until `Retry-After` has passed (429).
        case tooManyFailures = "auth.too_many_failures"
    }

    /// Whether the refusal suggests someone guessing credentials: a forged, tampered or
    /// made-up token or key. Expired, not-yet-valid and wrong-audience tokens carry our
    /// signature (whoever holds them was given them), and a missing token guesses nothing,
    /// so only these count towards the per-address failure limit.
    public var isCredentialFailure: Bool {
        switch code {
        case .badSignature, .invalidAPIKey, .malformedToken, .unsupportedAlgorithm: return true
        default: return false
        }
    }

    /// The stable reason.
    public let code: Code
    /// A sentence for people; never contains the secret or the full token.
    public let message: String

    /// Creates an error with its code and a human-readable message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status: 401 when the caller is not authenticated (retrying with other
    /// credentials may help), 403 when it is but the credentials do not cover the request
    /// (RFC 9110 §15.5.2, §15.5.4).
    public var httpStatus: Int {
        switch code {
        case .outOfScope, .adminRequired, .adminDisabled, .originNotAllowed: return 403
        case .tooManyFailures: return 429
        default: return 401
        }
    }

    /// The WebSocket close code used when a connection is refused after the upgrade
    /// (first-message auth): 4401, 4403 and 4429 mirror the HTTP statuses in the private
    /// range (RFC 6455 §7.4.2), so a client can tell "log in again" from "not yours" from
    /// "wait".
    public var webSocketCloseCode: UInt16 {
        4000 + UInt16(httpStatus)
    }

    /// The value of a `WWW-Authenticate` header for a 401 (RFC 6750 §3), or nil for a 403.
    public var wwwAuthenticate: String? {
        guard httpStatus == 401 else { return nil }
        if code == .missingToken { return "Bearer realm=\"tally\"" }
        return "Bearer realm=\"tally\", error=\"invalid_token\""
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
