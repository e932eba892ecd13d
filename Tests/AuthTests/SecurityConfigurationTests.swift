import Testing
@testable import Auth

struct SecurityConfigurationTests {
    @Test func takesItsFlagsAndLeavesTheRest() throws {
        let (configuration, rest) = try SecurityConfiguration.parse([
            "--port", "8080", "--token-secret", "0123456789abcdef0123456789abcdef", "--api-key=admin-key-0123456789",
            "--allowed-origin", "https://portal.example.com", "--frame-ancestors", "'self' https://portal.example.com",
            "--token-leeway", "5", "--data", "dir",
        ])
        #expect(rest == ["--port", "8080", "--data", "dir"])
        #expect(configuration.tokenSecret == Array("0123456789abcdef0123456789abcdef".utf8))
        #expect(configuration.apiKeys == ["admin-key-0123456789"])
        #expect(configuration.frameAncestors == ["'self'", "https://portal.example.com"])
        let policy = try configuration.accessPolicy()
        #expect(!policy.isOpen && policy.tokens?.leeway == 5)
        #expect(try configuration.corsPolicy().allows(origin: "https://portal.example.com"))
        #expect(try configuration.originPolicy().check(origin: "https://evil.example", host: "x") != nil)
        #expect(try configuration.tlsContext() == nil)
    }

    @Test func nothingConfiguredIsOpenMode() throws {
        let (configuration, rest) = try SecurityConfiguration.parse([])
        #expect(rest.isEmpty)
        #expect(try configuration.accessPolicy().isOpen)
    }

    @Test func reportsBadFlags() {
        #expect(throws: AuthConfigurationError.self) { try SecurityConfiguration.parse(["--api-key"]) }
        #expect(throws: AuthConfigurationError.self) { try SecurityConfiguration.parse(["--token-leeway", "-3"]) }
        #expect(throws: AuthConfigurationError.self) { try SecurityConfiguration.parse(["--token-secret", "short"]).0.accessPolicy() }
        #expect(throws: AuthConfigurationError.self) { try SecurityConfiguration.parse(["--allowed-origin", "nope"]).0.originPolicy() }
        #expect(throws: TLSError.self) { try SecurityConfiguration.parse(["--tls-cert", "/x.pem"]).0.tlsContext() }
    }
}
