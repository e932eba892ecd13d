/// Response headers that make the dashboard hard to abuse from other pages: a strict
/// Content-Security-Policy (no inline script or style, so an injected `<script>` does not
/// run), no MIME sniffing, no referrer (URLs may carry `?token=`), and a configurable
/// `frame-ancestors` so an admin portal can embed the dashboard while others cannot.
public struct SecurityHeaders: Sendable {
    /// Who may frame Tally's pages: CSP source expressions such as `'self'`, `'none'` or
    /// `https://portal.example.com`. Defaults to `'self'`.
    public let frameAncestors: [String]
    /// Extra `connect-src` sources, for a dashboard that talks to another Tally.
    public let extraConnectSources: [String]
    /// Whether to send Strict-Transport-Security (only meaningful over TLS).
    public let strictTransportSecurity: Bool

    /// Creates the header set.
    public init(frameAncestors: [String] = ["'self'"], extraConnectSources: [String] = [], strictTransportSecurity: Bool = false) {
        self.frameAncestors = frameAncestors.isEmpty ? ["'none'"] : frameAncestors
        self.extraConnectSources = extraConnectSources
        self.strictTransportSecurity = strictTransportSecurity
    }

    /// The Content-Security-Policy for HTML pages and their scripts. `connect-src 'self'`
    /// covers same-origin `ws:`/`wss:` in CSP Level 3 browsers.
    public var dashboardPolicy: String {
        let connect = (["'self'"] + extraConnectSources).joined(separator: " ")
        return [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src \(connect)",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors \(frameAncestors.joined(separator: " "))",
        ].joined(separator: "; ")
    }

    /// Headers for the dashboard's HTML, scripts and styles.
    public func dashboard() -> HeaderList {
        var headers: HeaderList = [
            ("Content-Security-Policy", dashboardPolicy),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ]
        // X-Frame-Options for browsers without frame-ancestors; it cannot express a list.
        if frameAncestors == ["'none'"] {
            headers.append(("X-Frame-Options", "DENY"))
        } else if frameAncestors == ["'self'"] {
            headers.append(("X-Frame-Options", "SAMEORIGIN"))
        }
        if strictTransportSecurity {
            headers.append(("Strict-Transport-Security", "max-age=31536000"))
        }
        return headers
    }

    /// Headers for a server-rendered page with no scripts and inline styles allowed only by
    /// their hashes (the `/docs` page): still no `unsafe-inline`.
    public func staticDocument(inlineStyles: [String]) -> HeaderList {
        let hashes = inlineStyles.map { "'" + Self.hashSource(of: $0) + "'" }
        let policy = [
            "default-src 'none'",
            "style-src " + (hashes.isEmpty ? "'none'" : hashes.joined(separator: " ")),
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors \(frameAncestors.joined(separator: " "))",
        ].joined(separator: "; ")
        var headers = dashboard()
        headers[0] = ("Content-Security-Policy", policy)
        return headers
    }

    /// The CSP hash source (`sha256-…`) of an inline `<style>` or `<script>` body (CSP
    /// Level 2 §4.2.5): the exact text between the tags.
    public static func hashSource(of inline: String) -> String {
        "sha256-" + Base64URL.standard(Crypto.sha256(Array(inline.utf8)))
    }

    /// Headers for JSON and event-stream responses: nothing in them is a document, so they
    /// may never be framed or run as one.
    public func api() -> HeaderList {
        var headers: HeaderList = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ]
        if strictTransportSecurity {
            headers.append(("Strict-Transport-Security", "max-age=31536000"))
        }
        return headers
    }
}

/// Checks made once at start, so a misconfiguration is loud before the first client arrives.
public enum StartupCheck {
    /// Whether a bind address only accepts local connections: `127.0.0.0/8`, `::1`,
    /// `localhost`. The wildcard addresses (`0.0.0.0`, `::`) are not loopback.
    public static func isLoopback(_ host: String) -> Bool {
        let lower = host.lowercased()
        if lower == "localhost" || lower == "::1" || lower == "[::1]" { return true }
        let octets = lower.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Warnings to print (each one line, loud) for this bind address and configuration:
    /// open mode on a network address, or tokens sent in clear text over one.
    public static func warnings(bindHost: String, policy: AccessPolicy, tlsEnabled: Bool) -> [String] {
        guard !isLoopback(bindHost) else { return [] }
        var warnings: [String] = []
        if policy.isOpen {
            warnings.append("WARNING: listening on \(bindHost) with NO authentication: anyone who can reach this port can watch, create, cancel and publish jobs. Set --token-secret and --api-key, or bind to 127.0.0.1.")
        } else if policy.apiKeys.isEmpty {
            warnings.append("WARNING: no API key is configured: uploads, cancel, retry and publishing are disabled. Set --api-key.")
        }
        if !tlsEnabled {
            warnings.append("WARNING: listening on \(bindHost) without TLS: tokens and API keys cross the network in clear text unless a TLS proxy sits in front. Set --tls-cert and --tls-key.")
        }
        return warnings
    }
}
