import Testing
@testable import TallyApp

struct DocsPageTests {
    @Test func listsEveryRouteAndSchema() {
        let html = DocsPage.html()
        for route in APIRoutes.all {
            #expect(html.contains("<span class=\"m \(route.method)\">\(route.method)</span><code>\(DocsPage.escape(route.path))</code>"),
                    "\(route.key) missing")
            #expect(html.contains("id=\"\(route.operationID)\""))
        }
        #expect(html.contains("id=\"schema-Job\""))
        #expect(html.contains("id=\"security-apiKey\"") && html.contains("id=\"security-subscribeTokenQuery\""))
        #expect(html.contains("id=\"response-Unauthorized\""))
        #expect(html.contains("<a href=\"#response-Unauthorized\">Unauthorized</a>"))
        #expect(html.contains("Credential: <a href=\"#security-apiKey\"><code>apiKey</code></a>.</p>"))
        #expect(html.contains("Credential: none.</p>"))
        #expect(html.contains("<code>{&quot;type&quot;:&quot;subscribe&quot;"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("http://cdn") && !html.contains("https://"))
    }
}
