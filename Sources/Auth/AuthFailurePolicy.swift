/// How many failed authentications one client address may make before it is locked out.
public struct AuthFailurePolicy: Sendable, Equatable {
    /// Failures allowed in one window; the next credentialed request is refused with 429.
    /// 20 is far above what a person mistyping or a client with a stale token produces, and
    /// far below what guessing needs.
    public var maxFailures: Int = 20
    /// The window, and how long a locked-out address waits (seconds).
    public var windowSeconds: Int = 60
    /// Addresses remembered at once; past it, those with nothing to remember are forgotten
    /// first. Bounds memory whatever the number of addresses failing.
    public var maxAddresses: Int = 100_000

    /// The default policy: 20 failures per address per minute.
    public init() {}

    /// Creates a policy.
    public init(maxFailures: Int, windowSeconds: Int, maxAddresses: Int = 100_000) {
        self.maxFailures = maxFailures
        self.windowSeconds = windowSeconds
        self.maxAddresses = maxAddresses
    }

    /// Parses `N/SECONDS` (`20/60`), or nil for anything else.
    public static func parse(_ text: String) -> AuthFailurePolicy? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let failures = Int(parts[0]), (1...1_000_000).contains(failures),
              let seconds = Int(parts[1]), (1...86_400).contains(seconds) else { return nil }
        return AuthFailurePolicy(maxFailures: failures, windowSeconds: seconds)
    }
}
