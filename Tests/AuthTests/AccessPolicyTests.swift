import Testing
@testable import Auth

struct AccessPolicyTests {
    static let now: Int64 = 1_800_000_000
    static let adminKey = "admin-key-0123456789"

    private func policy(secret: Bool = true, keys: [String] = [AccessPolicyTests.adminKey]) throws -> AccessPolicy {
        let tokens = secret ? try JWTCodec(secret: Array("0123456789abcdef0123456789abcdef".utf8)) : nil
        return AccessPolicy(tokens: tokens, apiKeys: try APIKeySet(keys: keys))
    }

    private func token(_ policy: AccessPolicy, subject: String, expiresAt: Int64 = now + 300) -> String {
        policy.tokens?.mint(SubscribeClaims(subject: subject, expiresAt: expiresAt)) ?? ""
    }

    private func deniedCode(_ decision: AccessDecision) -> AuthError.Code? {
        if case .denied(let error) = decision { return error.code }
        return nil
    }

    @Test func openModeAllowsEverything() {
        let policy = AccessPolicy.open()
        #expect(policy.isOpen)
        for request in [AccessRequest.watchJob("a"), .watchAllJobs, .admin] {
            #expect(policy.decide(request, credentials: Credentials(), now: Self.now) == .allowed(.anonymous))
        }
        #expect(policy.decideHandshake(.watchJob("a"), credentials: Credentials(), now: Self.now) == .accept(.anonymous))
        let shown = Credentials(authorizationHeader: "Bearer whatever", queryToken: "x.y.z")
        #expect(policy.decide(.admin, credentials: shown, now: Self.now) == .allowed(.anonymous))
        #expect(policy.decideHandshake(nil, credentials: shown, now: Self.now) == .accept(.anonymous))
    }

    @Test func noTokenIsUnauthorized() throws {
        let policy = try policy()
        let decision = policy.decide(.watchJob("a"), credentials: Credentials(), now: Self.now)
        #expect(deniedCode(decision) == .missingToken)
        if case .denied(let error) = decision {
            #expect(error.httpStatus == 401)
            #expect(error.wwwAuthenticate == "Bearer realm=\"tally\"")
        }
        #expect(deniedCode(policy.decide(.admin, credentials: Credentials(), now: Self.now)) == .missingToken)
    }

    @Test func tokenInHeaderQueryOrMessageCoversItsJob() throws {
        let policy = try policy()
        let token = token(policy, subject: "job-1")
        for credentials in [Credentials(authorizationHeader: "Bearer " + token), Credentials(authorizationHeader: "bearer  " + token + " "),
                            Credentials(queryToken: token), Credentials(messageToken: token)] {
            guard case .allowed(.subscriber(let claims)) = policy.decide(.watchJob("job-1"), credentials: credentials, now: Self.now) else {
                Issue.record("not allowed: \(credentials)")
                continue
            }
            #expect(claims.subject == "job-1")
        }
    }

    @Test func wrongJobIsForbidden() throws {
        let policy = try policy()
        let credentials = Credentials(queryToken: token(policy, subject: "job-1"))
        let decision = policy.decide(.watchJob("job-2"), credentials: credentials, now: Self.now)
        #expect(deniedCode(decision) == .outOfScope)
        if case .denied(let error) = decision { #expect(error.httpStatus == 403 && error.webSocketCloseCode == 4403) }
        #expect(deniedCode(policy.decide(.watchAllJobs, credentials: credentials, now: Self.now)) == .outOfScope)
        let star = Credentials(queryToken: token(policy, subject: "*"))
        #expect(policy.decide(.watchAllJobs, credentials: star, now: Self.now) != .denied(AuthError(.outOfScope, "")))
        #expect(deniedCode(policy.decide(.watchAllJobs, credentials: star, now: Self.now)) == nil)
    }

    @Test func badSignatureAndExpiredAreUnauthorized() throws {
        let policy = try policy()
        var forged = Array(token(policy, subject: "*").utf8)
        forged[forged.count - 3] = forged[forged.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let badSignature = policy.decide(.watchJob("a"), credentials: Credentials(queryToken: String(decoding: forged, as: UTF8.self)), now: Self.now)
        #expect(deniedCode(badSignature) == .badSignature)
        let expired = Credentials(authorizationHeader: "Bearer " + token(policy, subject: "*", expiresAt: Self.now - 120))
        let decision = policy.decide(.watchJob("a"), credentials: expired, now: Self.now)
        #expect(deniedCode(decision) == .expired)
        if case .denied(let error) = decision { #expect(error.httpStatus == 401 && error.webSocketCloseCode == 4401) }
    }

    @Test func adminActionsNeedAnAPIKey() throws {
        let policy = try policy()
        #expect(policy.decide(.admin, credentials: Credentials(authorizationHeader: "Bearer " + Self.adminKey), now: Self.now) == .allowed(.admin))
        let subscriber = Credentials(authorizationHeader: "Bearer " + token(policy, subject: "*"))
        #expect(deniedCode(policy.decide(.admin, credentials: subscriber, now: Self.now)) == .adminRequired)
        let wrong = Credentials(authorizationHeader: "Bearer not-the-admin-key-at-all")
        #expect(deniedCode(policy.decide(.admin, credentials: wrong, now: Self.now)) == .invalidAPIKey)
        #expect(deniedCode(policy.decide(.admin, credentials: Credentials(authorizationHeader: "Basic YTpi"), now: Self.now)) == .malformedToken)
    }

    @Test func apiKeyWatchesEverything() throws {
        let policy = try policy(secret: false)
        let admin = Credentials(queryToken: Self.adminKey)
        #expect(policy.decide(.watchAllJobs, credentials: admin, now: Self.now) == .allowed(.admin))
        #expect(deniedCode(policy.decide(.watchJob("a"), credentials: Credentials(queryToken: "x.y.z"), now: Self.now)) == .invalidAPIKey)
    }

    @Test func adminDisabledWithoutKeys() throws {
        let policy = try policy(keys: [])
        #expect(!policy.isOpen)
        let decision = policy.decide(.admin, credentials: Credentials(), now: Self.now)
        #expect(deniedCode(decision) == .adminDisabled)
    }

    @Test func rejectsWeakAPIKeys() {
        #expect(throws: AuthConfigurationError.self) { try APIKeySet(keys: ["short"]) }
        #expect(throws: AuthConfigurationError.self) { try APIKeySet(keys: ["has a space in it ok"]) }
    }

    @Test func apiKeyComparisonIsExact() throws {
        let keys = try APIKeySet(keys: [Self.adminKey, "second-key-abcdefghij"])
        #expect(keys.contains(Self.adminKey) && keys.contains("second-key-abcdefghij"))
        #expect(!keys.contains(Self.adminKey + "x"))
        #expect(!keys.contains(String(Self.adminKey.dropLast())))
        #expect(!keys.contains(""))
    }

    @Test func handshakeWithoutCredentialsWaitsForFirstMessage() throws {
        let policy = try policy()
        #expect(policy.decideHandshake(.watchJob("a"), credentials: Credentials(), now: Self.now) == .acceptPendingAuth)
        let wrongJob = Credentials(queryToken: token(policy, subject: "b"))
        guard case .reject(let error) = policy.decideHandshake(.watchJob("a"), credentials: wrongJob, now: Self.now) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(error.code == .outOfScope)
        // The multiplexed route checks each subscription later, so any valid token connects.
        guard case .accept(let principal) = policy.decideHandshake(nil, credentials: wrongJob, now: Self.now) else {
            Issue.record("expected acceptance")
            return
        }
        #expect(policy.authorize(.watchJob("b"), as: principal, now: Self.now) == nil)
        #expect(policy.authorize(.watchJob("a"), as: principal, now: Self.now)?.code == .outOfScope)
        #expect(policy.authorize(.watchJob("b"), as: principal, now: Self.now + 3600)?.code == .expired)
    }

    @Test func parsesAuthMessage() {
        #expect(AuthMessage.token(fromText: Array(#"{"type":"auth","token":"abc.def.ghi"}"#.utf8)) == "abc.def.ghi")
        #expect(AuthMessage.token(fromText: Array(#"{"type":"subscribe","job":"a"}"#.utf8)) == nil)
        #expect(AuthMessage.token(fromText: Array(#"{"type":"auth","token":5}"#.utf8)) == nil)
        #expect(AuthMessage.token(fromText: [0xFF, 0xFE]) == nil)
    }

    @Test func findsTokenInQuery() {
        #expect(Credentials.token(inQuery: "after=3&token=a.b.c") == "a.b.c")
        #expect(Credentials.token(inQuery: "tokens=x&token=a%2Eb") == "a.b")
        #expect(Credentials.token(inQuery: "token=%zz") == nil)
        #expect(Credentials.token(inQuery: "after=3") == nil)
    }

    @Test func bearerParsing() {
        #expect(AccessPolicy.bearerToken("Bearer abc") == "abc")
        #expect(AccessPolicy.bearerToken("BEARER   abc  ") == "abc")
        #expect(AccessPolicy.bearerToken("Bearer") == nil)
        #expect(AccessPolicy.bearerToken("Bearer a b") == nil)
        #expect(AccessPolicy.bearerToken("Token abc") == nil)
    }

    @Test func warnsWhenOpenOnNetworkAddress() throws {
        #expect(StartupCheck.warnings(bindHost: "127.0.0.1", policy: .open(), tlsEnabled: false).isEmpty)
        #expect(StartupCheck.warnings(bindHost: "::1", policy: .open(), tlsEnabled: false).isEmpty)
        let open = StartupCheck.warnings(bindHost: "0.0.0.0", policy: .open(), tlsEnabled: true)
        #expect(open.count == 1 && open[0].contains("NO authentication"))
        let secured = StartupCheck.warnings(bindHost: "0.0.0.0", policy: try policy(), tlsEnabled: true)
        #expect(secured.isEmpty)
        #expect(StartupCheck.warnings(bindHost: "10.0.0.5", policy: try policy(), tlsEnabled: false).count == 1)
        #expect(!StartupCheck.isLoopback("127.0.0.300"))
        #expect(StartupCheck.isLoopback("127.1.2.3") && StartupCheck.isLoopback("localhost"))
    }

    @Test func readsSecretAndKeyFiles() throws {
        let directory = "/tmp/tally-auth-\(UInt32.random(in: 0...UInt32.max))"
        let secretPath = directory + "-secret"
        let keysPath = directory + "-keys"
        try writeFile(secretPath, "0123456789abcdef0123456789abcdef\n")
        try writeFile(keysPath, "# admin keys\nfirst-key-0123456789\n\n  second-key-0123456789  \r\n")
        defer { removeFile(secretPath); removeFile(keysPath) }
        #expect(try SecretFile.readSecret(path: secretPath) == Array("0123456789abcdef0123456789abcdef".utf8))
        #expect(try SecretFile.readKeys(path: keysPath) == ["first-key-0123456789", "second-key-0123456789"])
        #expect(throws: AuthConfigurationError.self) { try SecretFile.readSecret(path: directory + "-missing") }
    }
}
