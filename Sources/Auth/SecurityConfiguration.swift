/// Everything security-related that `tally serve` takes on its command line, parsed in one
/// place so the flags, their validation and their error messages stay consistent.
///
/// Flags (all optional; with none of the secrets, the server runs in open mode):
/// - `--token-secret S` / `--token-secret-file PATH` (either repeatable): HS256 secrets for
///   subscribe tokens, the first signing and any verifying (rotation); a file keeps the secret
///   out of `ps` and shell history.
/// - `--token-audience NAME`, `--token-leeway SECONDS` (default 60).
/// - `--api-key KEY` (repeatable) / `--api-keys-file PATH` (one per line).
/// - `--allowed-origin ORIGIN` (repeatable): pages allowed to open WebSockets; default is
///   same-origin only.
/// - `--cors-origin ORIGIN` (repeatable): origins allowed to call the API from a browser;
///   defaults to the `--allowed-origin` list.
/// - `--frame-ancestors "SRC ..."`: who may embed the dashboard; default `'self'`.
/// - `--auth-failure-limit N/S` or `off`: failed authentications per client address before
///   a lockout (default 20 per 60 s).
/// - `--tls-cert PATH` and `--tls-key PATH`: serve https:// and wss://.
public struct SecurityConfiguration: Sendable {
    /// The HS256 secrets in the order given: the first mints (`tally token`), any of them
    /// verifies. Empty: no subscribe tokens.
    public var tokenSecrets: [[UInt8]] = []
    /// The secret that mints tokens; setting it replaces the whole list.
    public var tokenSecret: [UInt8]? {
        get { tokenSecrets.first }
        set { tokenSecrets = newValue.map { [$0] } ?? [] }
    }
    /// Required `aud`, if any.
    public var tokenAudience: String?
    /// Clock skew tolerated on `exp`/`nbf`, in seconds.
    public var tokenLeeway: Int64 = 60
    /// Admin API keys.
    public var apiKeys: [String] = []
    /// WebSocket origin allow-list (patterns); empty means same-origin.
    public var allowedOrigins: [String] = []
    /// CORS allow-list (patterns); nil means "same as `allowedOrigins`".
    public var corsOrigins: [String]?
    /// `frame-ancestors` sources.
    public var frameAncestors: [String] = ["'self'"]
    /// Failed authentications allowed per client address and window; nil: no limit.
    public var authFailures: AuthFailurePolicy? = AuthFailurePolicy()
    /// PEM certificate chain file.
    public var tlsCertificatePath: String?
    /// PEM private key file.
    public var tlsPrivateKeyPath: String?

    /// A configuration with nothing set: open mode, no TLS.
    public init() {}

    /// The flags this type understands, each taking one value.
    public static let flags: Set<String> = [
        "--token-secret", "--token-secret-file", "--token-audience", "--token-leeway",
        "--api-key", "--api-keys-file", "--allowed-origin", "--cors-origin", "--frame-ancestors",
        "--tls-cert", "--tls-key", "--auth-failure-limit",
    ]

    /// Takes the security flags out of `arguments` (both `--flag value` and `--flag=value`),
    /// returning the configuration and the arguments it did not recognize, in order.
    public static func parse(_ arguments: [String]) throws(AuthConfigurationError) -> (SecurityConfiguration, [String]) {
        var configuration = SecurityConfiguration()
        var rest: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            var name = argument
            var value: String?
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            guard flags.contains(name) else {
                rest.append(argument)
                continue
            }
            if value == nil {
                guard index < arguments.count else {
                    throw AuthConfigurationError(.badFlag, "\(name) needs a value.")
                }
                value = arguments[index]
                index += 1
            }
            try configuration.apply(name, value ?? "")
        }
        return (configuration, rest)
    }

    private mutating func apply(_ name: String, _ value: String) throws(AuthConfigurationError) {
        switch name {
        case "--token-secret": tokenSecrets.append(Array(value.utf8))
        case "--token-secret-file": tokenSecrets.append(try SecretFile.readSecret(path: value))
        case "--token-audience": tokenAudience = value
        case "--token-leeway":
            guard let seconds = Int64(value), (0...3600).contains(seconds) else {
                throw AuthConfigurationError(.badFlag, "--token-leeway takes seconds between 0 and 3600.")
            }
            tokenLeeway = seconds
        case "--api-key": apiKeys.append(value)
        case "--api-keys-file": apiKeys += try SecretFile.readKeys(path: value)
        case "--allowed-origin": allowedOrigins.append(value)
        case "--cors-origin": corsOrigins = (corsOrigins ?? []) + [value]
        case "--frame-ancestors":
            frameAncestors = value.split(separator: " ").map(String.init)
        case "--auth-failure-limit":
            if value == "off" {
                authFailures = nil
                return
            }
            guard let policy = AuthFailurePolicy.parse(value) else {
                throw AuthConfigurationError(.badFlag, "--auth-failure-limit takes FAILURES/SECONDS (e.g. 20/60) or off.")
            }
            authFailures = policy
        case "--tls-cert": tlsCertificatePath = value
        case "--tls-key": tlsPrivateKeyPath = value
        default: break
        }
    }

    /// Help lines for `tally serve --help`.
    public static let usage = """
          --token-secret S | --token-secret-file PATH
                                  HS256 secret (>= 32 bytes) for subscribe tokens; repeat to rotate:
                                  the first signs, every one given verifies
          --token-audience NAME   require this "aud" in tokens
          --token-leeway SECONDS  clock skew allowed on exp/nbf (default 60)
          --api-key KEY | --api-keys-file PATH
                                  admin API key(s) for create/cancel/retry/publish (repeatable)
          --allowed-origin ORIGIN pages allowed to open WebSockets (repeatable; default same-origin;
                                  https://*.example.com for subdomains, * for any)
          --cors-origin ORIGIN    origins allowed to call the API from browsers (default: as above)
          --frame-ancestors SRCS  who may embed the dashboard (default "'self'")
          --auth-failure-limit N/S
                                  after N failed authentications from one address within S seconds,
                                  429 for S seconds (default 20/60; off turns it off)
          --tls-cert PATH --tls-key PATH
                                  serve https:// and wss:// with this PEM certificate chain and key

        """

    /// Builds the access policy; throws for a weak secret or key.
    public func accessPolicy() throws(AuthConfigurationError) -> AccessPolicy {
        let tokens = tokenSecrets.isEmpty ? nil : try JWTCodec(secrets: tokenSecrets, audience: tokenAudience, leeway: tokenLeeway)
        return AccessPolicy(tokens: tokens, apiKeys: try APIKeySet(keys: apiKeys))
    }

    /// The WebSocket origin policy.
    public func originPolicy() throws(AuthConfigurationError) -> OriginPolicy {
        try OriginPolicy(patterns: allowedOrigins)
    }

    /// The CORS policy.
    public func corsPolicy() throws(AuthConfigurationError) -> CORSPolicy {
        CORSPolicy(allowed: try OriginPolicy(patterns: corsOrigins ?? allowedOrigins).allowed)
    }

    /// The security headers; HSTS only when serving TLS directly.
    public func securityHeaders() -> SecurityHeaders {
        SecurityHeaders(frameAncestors: frameAncestors, strictTransportSecurity: tlsCertificatePath != nil)
    }

    /// The TLS context when both `--tls-cert` and `--tls-key` are given, nil when neither is.
    public func tlsContext() throws(TLSError) -> TLSContext? {
        switch (tlsCertificatePath, tlsPrivateKeyPath) {
        case (nil, nil): return nil
        case (let certificate?, let key?): return try TLSContext.server(certificateChainPath: certificate, privateKeyPath: key)
        default: throw TLSError(.unreadableFile, "--tls-cert and --tls-key go together.")
        }
    }
}
