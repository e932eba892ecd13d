import Testing
@testable import Auth

struct JWTCodecTests {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let now: Int64 = 1_800_000_000

    private func codec(audience: String? = nil, leeway: Int64 = 60, requiresExpiry: Bool = true) throws -> JWTCodec {
        try JWTCodec(secret: Self.secret, audience: audience, leeway: leeway, requiresExpiry: requiresExpiry)
    }

    /// Builds a token from raw header and payload JSON, signed with `secret`.
    private func token(header: String, payload: String, secret: [UInt8] = JWTCodecTests.secret) -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        return input + "." + Base64URL.encode(Crypto.hmacSHA256(key: secret, data: Array(input.utf8)))
    }

    private func code(_ body: () throws(AuthError) -> SubscribeClaims) -> AuthError.Code? {
        do throws(AuthError) {
            _ = try body()
            return nil
        } catch {
            return error.code
        }
    }

    @Test func mintedTokenVerifies() throws {
        let codec = try codec(audience: "tally")
        let claims = SubscribeClaims(subject: "job-42", expiresAt: Self.now + 300, issuedAt: Self.now, audience: ["tally"])
        let token = codec.mint(claims)
        #expect(token.split(separator: ".").count == 3)
        #expect(try codec.verify(token, now: Self.now) == claims)
    }

    @Test func verifiesRFC7515ExampleSignature() throws {
        // RFC 7515 Appendix A.1: an HS256 JWS with a 64-byte key. Its payload has no `sub`, so
        // verification passes the signature and stops at the claims: proof that our HMAC,
        // base64url and signing input agree with the RFC byte for byte.
        let key: [UInt8] = [3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123, 166, 143, 90, 179, 40, 230, 240, 84, 201, 40, 169, 15, 132, 178, 210, 80, 46, 191, 211, 251, 90, 146, 210, 6, 71, 239, 150, 138, 180, 195, 119, 98, 61, 34, 61, 46, 33, 114, 5, 46, 79, 8, 192, 205, 154, 245, 103, 208, 128, 163]
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let codec = try JWTCodec(secret: key)
        #expect(code { () throws(AuthError) in try codec.verify(token, now: 1_300_819_000) } == .malformedToken)
        var tampered = Array(token.utf8)
        tampered[tampered.count - 2] = UInt8(ascii: "A")
        #expect(code { () throws(AuthError) in try codec.verify(String(decoding: tampered, as: UTF8.self), now: 1_300_819_000) } == .badSignature)
    }

    @Test func rotationMintsWithTheFirstSecretAndVerifiesWithAny() throws {
        let old = Self.secret
        let new = Array("a-new-secret-of-thirty-two-bytes".utf8)
        let retired = Array("a-retired-secret-of-32-bytes-xyz".utf8)
        let rotating = try JWTCodec(secrets: [new, old])
        let oldOnly = try JWTCodec(secret: old)
        let newOnly = try JWTCodec(secret: new)
        let claims = SubscribeClaims(subject: "job-1", expiresAt: Self.now + 300)
        let minted = rotating.mint(claims)
        // Minted with the new secret: the old codec alone refuses it, the new one accepts it.
        #expect(try newOnly.verify(minted, now: Self.now) == claims)
        #expect(code { () throws(AuthError) in try oldOnly.verify(minted, now: Self.now) } == .badSignature)
        // Tokens signed with either secret verify during the rotation.
        #expect(try rotating.verify(oldOnly.mint(claims), now: Self.now) == claims)
        #expect(try rotating.verify(minted, now: Self.now) == claims)
        // A secret no longer listed is refused.
        let stale = try JWTCodec(secret: retired).mint(claims)
        #expect(code { () throws(AuthError) in try rotating.verify(stale, now: Self.now) } == .badSignature)
    }

    @Test func rotationRefusesAnEmptyListOrAWeakSecretAnywhere() {
        #expect(throws: AuthConfigurationError.self) { try JWTCodec(secrets: []) }
        #expect(throws: AuthConfigurationError.self) { try JWTCodec(secrets: [Self.secret, Array("short".utf8)]) }
    }

    @Test func rejectsWeakSecret() {
        #expect(throws: AuthConfigurationError.self) { try JWTCodec(secret: Array("short".utf8)) }
    }

    @Test func rejectsBadSignature() throws {
        let codec = try codec()
        let forged = token(header: #"{"alg":"HS256"}"#, payload: #"{"sub":"*","exp":1800000300}"#, secret: Array("another secret of thirty-two bytes!".utf8))
        #expect(code { () throws(AuthError) in try codec.verify(forged, now: Self.now) } == .badSignature)
    }

    @Test func rejectsAlgorithmNoneAndOthers() throws {
        let codec = try codec()
        let payload = Base64URL.encode(Array(#"{"sub":"*","exp":1800000300}"#.utf8))
        let none = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + payload + "."
        #expect(code { () throws(AuthError) in try codec.verify(none, now: Self.now) } == .unsupportedAlgorithm)
        for alg in ["RS256", "HS512", "hs256", "ES256"] {
            let other = token(header: #"{"alg":"\#(alg)"}"#, payload: #"{"sub":"*","exp":1800000300}"#)
            #expect(code { () throws(AuthError) in try codec.verify(other, now: Self.now) } == .unsupportedAlgorithm)
        }
        let missing = token(header: #"{"typ":"JWT"}"#, payload: #"{"sub":"*","exp":1800000300}"#)
        #expect(code { () throws(AuthError) in try codec.verify(missing, now: Self.now) } == .malformedToken)
    }

    @Test func rejectsMalformedShapes() throws {
        let codec = try codec()
        let good = codec.mint(SubscribeClaims(subject: "a", expiresAt: Self.now + 60))
        let parts = good.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for bad in ["", "a", "a.b", "a.b.c.d", parts[0] + "." + parts[1], good + ".", "." + good,
                    parts[0] + "=." + parts[1] + "." + parts[2], good + "==",
                    String(repeating: "a", count: 5000)] {
            let result = code { () throws(AuthError) in try codec.verify(bad, now: Self.now) }
            #expect(result == .malformedToken || result == .missingToken, "\(bad.prefix(40))")
        }
        let badType = token(header: #"{"alg":"HS256","typ":"JWS+xml"}"#, payload: #"{"sub":"*","exp":1800000300}"#)
        #expect(code { () throws(AuthError) in try codec.verify(badType, now: Self.now) } == .malformedToken)
        let critical = token(header: #"{"alg":"HS256","crit":["exp"]}"#, payload: #"{"sub":"*","exp":1800000300}"#)
        #expect(code { () throws(AuthError) in try codec.verify(critical, now: Self.now) } == .malformedToken)
        let notJSON = token(header: #"{"alg":"HS256"}"#, payload: "sub=*")
        #expect(code { () throws(AuthError) in try codec.verify(notJSON, now: Self.now) } == .malformedToken)
    }

    @Test func requiresSubjectAndExpiry() throws {
        let codec = try codec()
        for payload in [#"{"exp":1800000300}"#, #"{"sub":"","exp":1800000300}"#, #"{"sub":7,"exp":1800000300}"#,
                        #"{"sub":"a"}"#, #"{"sub":"a","exp":"soon"}"#, #"{"sub":"a","exp":1800000300,"aud":5}"#] {
            let bad = token(header: #"{"alg":"HS256"}"#, payload: payload)
            #expect(code { () throws(AuthError) in try codec.verify(bad, now: Self.now) } == .malformedToken, "\(payload)")
        }
        let lenient = try self.codec(requiresExpiry: false)
        let noExpiry = token(header: #"{"alg":"HS256"}"#, payload: #"{"sub":"a"}"#)
        #expect(try lenient.verify(noExpiry, now: Self.now).subject == "a")
    }

    @Test func expiresAfterLeeway() throws {
        let codec = try codec(leeway: 30)
        let token = codec.mint(SubscribeClaims(subject: "a", expiresAt: Self.now))
        #expect(code { () throws(AuthError) in try codec.verify(token, now: Self.now + 29) } == nil)
        #expect(code { () throws(AuthError) in try codec.verify(token, now: Self.now + 30) } == .expired)
        let hostile = codec.mint(SubscribeClaims(subject: "a", expiresAt: Int64.max - 1))
        #expect(code { () throws(AuthError) in try codec.verify(hostile, now: Self.now) } == .malformedToken)
    }

    @Test func honoursNotBefore() throws {
        let codec = try codec(leeway: 30)
        let token = codec.mint(SubscribeClaims(subject: "a", expiresAt: Self.now + 600, notBefore: Self.now + 100))
        #expect(code { () throws(AuthError) in try codec.verify(token, now: Self.now + 69) } == .notYetValid)
        #expect(code { () throws(AuthError) in try codec.verify(token, now: Self.now + 70) } == nil)
    }

    @Test func checksAudience() throws {
        let codec = try codec(audience: "tally-eu")
        let other = codec.mint(SubscribeClaims(subject: "a", expiresAt: Self.now + 60, audience: ["tally-us"]))
        #expect(code { () throws(AuthError) in try codec.verify(other, now: Self.now) } == .wrongAudience)
        let none = codec.mint(SubscribeClaims(subject: "a", expiresAt: Self.now + 60))
        #expect(code { () throws(AuthError) in try codec.verify(none, now: Self.now) } == .wrongAudience)
        let many = codec.mint(SubscribeClaims(subject: "a", expiresAt: Self.now + 60, audience: ["x", "tally-eu"]))
        #expect(code { () throws(AuthError) in try codec.verify(many, now: Self.now) } == nil)
        let unconfigured = try self.codec()
        #expect(code { () throws(AuthError) in try unconfigured.verify(other, now: Self.now) } == .wrongAudience)
    }

    @Test func acceptsFractionalNumericDates() throws {
        let codec = try codec(leeway: 0)
        let token = token(header: #"{"alg":"HS256","typ":"jwt"}"#, payload: #"{"sub":"a","exp":1800000000.9,"nbf":1.7e9}"#)
        #expect(code { () throws(AuthError) in try codec.verify(token, now: Self.now - 1) } == nil)
        #expect(code { () throws(AuthError) in try codec.verify(token, now: Self.now) } == .expired)
    }

    @Test func scopeCoversJobOrEverything() {
        let one = SubscribeClaims(subject: "job-1", expiresAt: nil)
        #expect(one.covers(job: "job-1"))
        #expect(!one.covers(job: "job-2"))
        #expect(!one.covers(job: nil))
        let all = SubscribeClaims(subject: "*", expiresAt: nil)
        #expect(all.covers(job: "job-2") && all.covers(job: nil))
    }
}
