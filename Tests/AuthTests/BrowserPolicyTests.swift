import Testing
@testable import Auth

struct OriginPolicyTests {
    @Test func normalizesOrigins() {
        #expect(WebOrigin("HTTPS://Example.COM:443") == WebOrigin("https://example.com"))
        #expect(WebOrigin("http://example.com:80")?.description == "http://example.com")
        #expect(WebOrigin("http://[::1]:8080")?.port == 8080)
        for bad in ["null", "example.com", "https://", "https://a.com/path", "https://user@a.com", "https://a.com:99999", "https://a.com:x"] {
            #expect(WebOrigin(bad) == nil, "\(bad)")
        }
    }

    @Test func sameOriginByDefault() {
        let policy = OriginPolicy()
        #expect(policy.check(origin: "http://localhost:8080", host: "localhost:8080") == nil)
        #expect(policy.check(origin: "https://tally.example.com", host: "tally.example.com") == nil)
        #expect(policy.check(origin: "https://evil.example", host: "tally.example.com")?.code == .originNotAllowed)
        #expect(policy.check(origin: "http://localhost:9999", host: "localhost:8080")?.code == .originNotAllowed)
        #expect(policy.check(origin: "null", host: "localhost:8080")?.code == .originNotAllowed)
        // Not a browser page: nothing to hijack.
        #expect(policy.check(origin: nil, host: "localhost:8080") == nil)
    }

    @Test func allowListWithWildcardSubdomains() throws {
        let policy = try OriginPolicy(patterns: ["https://portal.example.com", "https://*.customers.example"])
        #expect(policy.check(origin: "https://portal.example.com", host: "tally") == nil)
        #expect(policy.check(origin: "https://acme.customers.example", host: "tally") == nil)
        #expect(policy.check(origin: "https://a.b.customers.example", host: "tally") == nil)
        #expect(policy.check(origin: "https://customers.example", host: "tally") != nil)
        #expect(policy.check(origin: "https://evilcustomers.example", host: "tally") != nil)
        #expect(policy.check(origin: "http://acme.customers.example", host: "tally") != nil)
        #expect(policy.check(origin: "https://portal.example.com:8443", host: "tally") != nil)
        #expect(try OriginPolicy(patterns: ["*"]).check(origin: "https://any.where", host: "tally") == nil)
        #expect(throws: AuthConfigurationError.self) { try OriginPolicy(patterns: ["portal.example.com"]) }
    }
}

struct CORSPolicyTests {
    let policy = CORSPolicy(allowed: (try? OriginPolicy(patterns: ["https://portal.example.com"]))?.allowed ?? [])

    @Test func echoesAllowedOrigin() {
        let headers = policy.responseHeaders(origin: "https://portal.example.com")
        #expect(headers.contains { $0.name == "Access-Control-Allow-Origin" && $0.value == "https://portal.example.com" })
        #expect(headers.contains { $0.name == "Vary" && $0.value == "Origin" })
        #expect(!headers.contains { $0.name == "Access-Control-Allow-Credentials" })
        let refused = policy.responseHeaders(origin: "https://evil.example")
        #expect(refused.map(\.name) == ["Vary"])
        #expect(CORSPolicy().responseHeaders(origin: "https://portal.example.com").isEmpty)
    }

    @Test func answersPreflight() throws {
        let allowed = try policy.preflight(origin: "https://portal.example.com", method: "POST", requestHeaders: "Authorization, Content-Type").get()
        #expect(allowed.contains { $0.name == "Access-Control-Allow-Methods" && $0.value.contains("POST") })
        #expect(allowed.contains { $0.name == "Access-Control-Max-Age" && $0.value == "600" })
        for (origin, method, headers) in [("https://evil.example", "GET", ""), ("https://portal.example.com", "DELETE", ""),
                                          ("https://portal.example.com", "GET", "x-secret")] {
            guard case .failure(let error) = policy.preflight(origin: origin, method: method, requestHeaders: headers) else {
                Issue.record("preflight allowed for \(origin) \(method) \(headers)")
                continue
            }
            #expect(error.httpStatus == 403)
        }
    }
}

struct SecurityHeadersTests {
    @Test func dashboardPolicyHasNoUnsafeInline() {
        let headers = SecurityHeaders().dashboard()
        let csp = headers.first { $0.name == "Content-Security-Policy" }?.value ?? ""
        #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"))
        #expect(csp.contains("frame-ancestors 'self'") && csp.contains("object-src 'none'"))
        #expect(headers.contains { $0.name == "X-Content-Type-Options" && $0.value == "nosniff" })
        #expect(headers.contains { $0.name == "Referrer-Policy" && $0.value == "no-referrer" })
        #expect(headers.contains { $0.name == "X-Frame-Options" && $0.value == "SAMEORIGIN" })
        #expect(!headers.contains { $0.name == "Strict-Transport-Security" })
    }

    @Test func frameAncestorsConfigurableForEmbedding() {
        let headers = SecurityHeaders(frameAncestors: ["'self'", "https://portal.example.com"], strictTransportSecurity: true).dashboard()
        let csp = headers.first { $0.name == "Content-Security-Policy" }?.value ?? ""
        #expect(csp.contains("frame-ancestors 'self' https://portal.example.com"))
        #expect(!headers.contains { $0.name == "X-Frame-Options" })
        #expect(headers.contains { $0.name == "Strict-Transport-Security" })
        let none = SecurityHeaders(frameAncestors: []).dashboard()
        #expect(none.contains { $0.name == "X-Frame-Options" && $0.value == "DENY" })
    }

    @Test func apiResponsesAreNeverDocuments() {
        let headers = SecurityHeaders().api()
        #expect(headers.contains { $0.name == "Content-Security-Policy" && $0.value == "default-src 'none'; frame-ancestors 'none'" })
    }
}

struct StaticDocumentPolicyTests {
    @Test func allowsInlineStyleByHashOnly() {
        // The CSP spec's own example: the hash of "alert('Hello, world.');" (CSP3 §8.3).
        #expect(SecurityHeaders.hashSource(of: "alert('Hello, world.');") == "sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng=")
        let headers = SecurityHeaders().staticDocument(inlineStyles: ["body{}"])
        let csp = headers.first { $0.name == "Content-Security-Policy" }?.value ?? ""
        #expect(csp.contains("style-src 'sha256-") && csp.contains("default-src 'none'"))
        #expect(!csp.contains("unsafe-inline"))
    }
}
