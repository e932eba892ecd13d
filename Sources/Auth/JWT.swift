/// The claims of a subscribe token (RFC 7519 §4.1), as far as Tally reads them.
public struct SubscribeClaims: Equatable, Sendable {
    /// `sub`: the job id the holder may watch, or `*` for every job.
    public var subject: String
    /// `exp`: seconds since the epoch after which the token is refused.
    public var expiresAt: Int64?
    /// `nbf`: seconds since the epoch before which the token is refused.
    public var notBefore: Int64?
    /// `iat`: when it was minted; informative only.
    public var issuedAt: Int64?
    /// `aud`: the audiences it was minted for (a string or an array on the wire).
    public var audience: [String]

    /// Creates claims; `subject` is a job id or `*`.
    public init(subject: String, expiresAt: Int64?, notBefore: Int64? = nil, issuedAt: Int64? = nil, audience: [String] = []) {
        self.subject = subject
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.issuedAt = issuedAt
        self.audience = audience
    }

    /// Whether these claims let the holder watch `job` (`nil` means every job).
    public func covers(job: String?) -> Bool {
        if subject == "*" { return true }
        guard let job else { return false }
        return subject == job
    }
}

/// Verifies and mints HS256 JSON Web Tokens (RFC 7515, RFC 7519, RFC 7518 §3.2) with a
/// shared secret: an admin portal's backend mints a token for one user and one job, and hands
/// it to the browser, which shows it to Tally.
///
/// Several secrets make rotation possible without cutting anyone off: tokens are minted with
/// the first and accepted when signed with any of them, so a new secret goes first, the old
/// one stays behind it until the tokens it signed have expired, and then goes.
///
/// Only HS256 is accepted: the header's `alg` is checked before anything else, so `none` or
/// an asymmetric algorithm can never be used to pass the HMAC key off as something else.
public struct JWTCodec: Sendable {
    /// Shortest secret accepted: RFC 7518 §3.2 requires a key at least as long as the hash.
    public static let minimumSecretLength = 32
    /// Longest token looked at; anything longer is refused before being decoded. Real
    /// subscribe tokens are ~200 bytes, and a URL query must stay short.
    public static let maxTokenLength = 4096

    /// The secrets; the first signs, any of them verifies.
    private let secrets: [[UInt8]]
    /// When set, tokens must name it in `aud`.
    public let audience: String?
    /// Seconds of clock skew tolerated on `exp` and `nbf`: the minting backend's clock and
    /// ours drift; a minute is the common default and harmless for tokens that live minutes.
    public let leeway: Int64
    /// Whether `exp` must be present; subscribe tokens must expire.
    public let requiresExpiry: Bool

    /// Creates a codec with one secret. Throws `AuthConfigurationError` for a secret shorter
    /// than 32 bytes.
    public init(secret: [UInt8], audience: String? = nil, leeway: Int64 = 60, requiresExpiry: Bool = true) throws(AuthConfigurationError) {
        try self.init(secrets: [secret], audience: audience, leeway: leeway, requiresExpiry: requiresExpiry)
    }

    /// Creates a codec that mints with `secrets[0]` and verifies with any of `secrets`.
    /// Throws `AuthConfigurationError` for an empty list or a secret shorter than 32 bytes.
    public init(secrets: [[UInt8]], audience: String? = nil, leeway: Int64 = 60, requiresExpiry: Bool = true) throws(AuthConfigurationError) {
        guard !secrets.isEmpty else {
            throw AuthConfigurationError(.weakSecret, "No token secret was given.")
        }
        for (position, secret) in secrets.enumerated() where secret.count < Self.minimumSecretLength {
            let which = secrets.count == 1 ? "The token secret" : "Token secret \(position + 1) of \(secrets.count)"
            throw AuthConfigurationError(.weakSecret, "\(which) has \(secret.count) bytes; at least \(Self.minimumSecretLength) are required (RFC 7518 §3.2).")
        }
        self.secrets = secrets
        self.audience = audience
        self.leeway = max(0, leeway)
        self.requiresExpiry = requiresExpiry
    }

    /// Signs `claims` into a compact token `header.payload.signature`.
    public func mint(_ claims: SubscribeClaims) -> String {
        var fields = ["\"sub\":" + CompactJSON.quote(claims.subject)]
        if let exp = claims.expiresAt { fields.append("\"exp\":\(exp)") }
        if let nbf = claims.notBefore { fields.append("\"nbf\":\(nbf)") }
        if let iat = claims.issuedAt { fields.append("\"iat\":\(iat)") }
        if claims.audience.count == 1 {
            fields.append("\"aud\":" + CompactJSON.quote(claims.audience[0]))
        } else if claims.audience.count > 1 {
            fields.append("\"aud\":[" + claims.audience.map(CompactJSON.quote).joined(separator: ",") + "]")
        }
        let header = Base64URL.encode(Array("{\"alg\":\"HS256\",\"typ\":\"JWT\"}".utf8))
        let payload = Base64URL.encode(Array(("{" + fields.joined(separator: ",") + "}").utf8))
        let signingInput = header + "." + payload
        return signingInput + "." + Base64URL.encode(Crypto.hmacSHA256(key: secrets[0], data: Array(signingInput.utf8)))
    }

    /// Checks a token's form, algorithm, signature and time window, and returns its claims.
    /// Scope (which job) is checked by the caller with `SubscribeClaims.covers(job:)`.
    ///
    /// The order matters: nothing in the payload is parsed before the signature holds, so
    /// claim parsing only ever sees bytes our secret signed.
    public func verify(_ token: String, now: Int64) throws(AuthError) -> SubscribeClaims {
        let bytes = Array(token.utf8)
        guard !bytes.isEmpty else { throw AuthError(.missingToken, "The token is empty.") }
        guard bytes.count <= Self.maxTokenLength else {
            throw AuthError(.malformedToken, "The token is longer than \(Self.maxTokenLength) bytes.")
        }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw AuthError(.malformedToken, "A token has three dot-separated parts; this one has \(parts.count).")
        }
        guard let headerBytes = Base64URL.decode(parts[0]),
              let header = CompactJSON.parse(headerBytes)?.objectValue else {
            throw AuthError(.malformedToken, "The token header is not base64url-encoded JSON.")
        }
        guard let algorithm = header["alg"]?.stringValue else {
            throw AuthError(.malformedToken, "The token header has no \"alg\".")
        }
        guard algorithm == "HS256" else {
            throw AuthError(.unsupportedAlgorithm, "Only HS256 tokens are accepted.")
        }
        if let type = header["typ"] {
            guard let name = type.stringValue, name.lowercased() == "jwt" else {
                throw AuthError(.malformedToken, "The token header's \"typ\" is not JWT.")
            }
        }
        // RFC 7515 §4.1.11: a critical extension we do not understand makes the token invalid.
        guard header["crit"] == nil else {
            throw AuthError(.malformedToken, "The token header lists critical extensions.")
        }
        guard let signature = Base64URL.decode(parts[2]), signature.count == 32 else {
            throw AuthError(.malformedToken, "The token signature is not a base64url HMAC-SHA256.")
        }
        let signingInput = Array(bytes[..<parts[1].endIndex])
        // Every secret is tried whatever the outcome, so the time taken does not tell which
        // one (if any) signed the token.
        var signed = false
        for secret in secrets where constantTimeEquals(Crypto.hmacSHA256(key: secret, data: signingInput), signature) {
            signed = true
        }
        guard signed else {
            throw AuthError(.badSignature, "The token signature does not match.")
        }
        guard let payloadBytes = Base64URL.decode(parts[1]),
              let payload = CompactJSON.parse(payloadBytes)?.objectValue else {
            throw AuthError(.malformedToken, "The token payload is not base64url-encoded JSON.")
        }
        let claims = try Self.claims(from: payload)
        try check(claims, now: now)
        return claims
    }

    private static func claims(from payload: [String: CompactJSON]) throws(AuthError) -> SubscribeClaims {
        guard let subject = payload["sub"]?.stringValue, !subject.isEmpty else {
            throw AuthError(.malformedToken, "The token has no \"sub\" string (a job id or \"*\").")
        }
        func date(_ name: String) throws(AuthError) -> Int64? {
            guard let value = payload[name], value != .null else { return nil }
            guard let seconds = value.secondsValue else {
                throw AuthError(.malformedToken, "The token's \"\(name)\" is not a number of seconds.")
            }
            return seconds
        }
        let audience: [String]
        switch payload["aud"] {
        case nil, .null?: audience = []
        case .string(let single)?: audience = [single]
        case .array(let many)?:
            var names: [String] = []
            for element in many {
                guard let name = element.stringValue else {
                    throw AuthError(.malformedToken, "The token's \"aud\" array holds a non-string.")
                }
                names.append(name)
            }
            audience = names
        default:
            throw AuthError(.malformedToken, "The token's \"aud\" is neither a string nor an array.")
        }
        return SubscribeClaims(subject: subject, expiresAt: try date("exp"), notBefore: try date("nbf"),
                               issuedAt: try date("iat"), audience: audience)
    }

    private func check(_ claims: SubscribeClaims, now: Int64) throws(AuthError) {
        if let exp = claims.expiresAt {
            // Saturating: a hostile exp near Int64.max must not wrap around.
            let (limit, overflow) = exp.addingReportingOverflow(leeway)
            if !overflow && now >= limit {
                throw AuthError(.expired, "The token expired.")
            }
        } else if requiresExpiry {
            throw AuthError(.malformedToken, "The token has no \"exp\"; subscribe tokens must expire.")
        }
        if let nbf = claims.notBefore {
            let (start, overflow) = nbf.subtractingReportingOverflow(leeway)
            if !overflow && now < start {
                throw AuthError(.notYetValid, "The token is not valid yet.")
            }
        }
        if let audience {
            guard claims.audience.contains(audience) else {
                throw AuthError(.wrongAudience, "The token was not minted for this server.")
            }
        } else if !claims.audience.isEmpty {
            // RFC 7519 §4.1.3: a token naming audiences must be refused by anyone not among them.
            throw AuthError(.wrongAudience, "The token names an audience, and this server has none configured.")
        }
    }
}
