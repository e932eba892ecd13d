#if canImport(Glibc)
import Glibc
#endif
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

    @Test func repeatedSecretsAndKeysAreAllKeptForRotation() throws {
        let path = "/tmp/tally-secret-\(getpid())-rotation"
        try writeFile(path, "file-secret-0123456789abcdef0123\n")
        defer { removeFile(path) }
        let keys = "/tmp/tally-keys-\(getpid())-rotation"
        try writeFile(keys, "# new first\nnew-admin-key-0123456789\nold-admin-key-0123456789\n")
        defer { removeFile(keys) }
        let (configuration, rest) = try SecurityConfiguration.parse([
            "--token-secret", "new-secret-0123456789abcdef01234", "--token-secret-file", path,
            "--token-secret=old-secret-0123456789abcdef01234", "--api-keys-file", keys, "--api-key", "third-admin-key-0123456789",
        ])
        #expect(rest.isEmpty)
        #expect(configuration.tokenSecrets == ["new-secret-0123456789abcdef01234", "file-secret-0123456789abcdef0123",
                                               "old-secret-0123456789abcdef01234"].map { Array($0.utf8) })
        #expect(configuration.tokenSecret == Array("new-secret-0123456789abcdef01234".utf8))
        #expect(configuration.apiKeys == ["new-admin-key-0123456789", "old-admin-key-0123456789", "third-admin-key-0123456789"])
        let policy = try configuration.accessPolicy()
        let claims = SubscribeClaims(subject: "*", expiresAt: Int64(time(nil)) + 60)
        for secret in configuration.tokenSecrets {
            let token = try JWTCodec(secret: secret).mint(claims)
            #expect(policy.decide(.watchAllJobs, credentials: Credentials(queryToken: token), now: Int64(time(nil))) == .allowed(.subscriber(claims)))
        }
        for key in configuration.apiKeys {
            #expect(policy.decide(.admin, credentials: Credentials(authorizationHeader: "Bearer " + key), now: 0) == .allowed(.admin))
        }
        // `tally token` mints with the first secret.
        #expect(try JWTCodec(secret: Array("new-secret-0123456789abcdef01234".utf8)).verify(policy.tokens?.mint(claims) ?? "", now: Int64(time(nil))) == claims)
        #expect(throws: AuthConfigurationError.self) {
            try SecurityConfiguration.parse(["--token-secret", "new-secret-0123456789abcdef01234", "--token-secret", "short"]).0.accessPolicy()
        }
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
