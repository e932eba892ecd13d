import Testing
@testable import TallyApp

struct OpenAPITests {
    @Test func documentsEveryRouteOfTheProgressAPI() {
        let expected: Set<String> = [
            "POST /api/imports", "GET /api/jobs", "POST /api/jobs", "GET /api/jobs/{id}",
            "GET /api/jobs/{id}/errors", "POST /api/jobs/{id}/cancel", "POST /api/jobs/{id}/retry",
            "GET /api/jobs/{id}/events", "GET /api/jobs/{id}/stream", "POST /api/jobs/{id}/progress",
            "GET /ws/jobs/{id}", "GET /ws", "GET /healthz", "GET /metrics", "GET /openapi.json", "GET /docs",
        ]
        #expect(Set(APIRoutes.all.map(\.key)) == expected)
        #expect(Set(APIRoutes.all.map(\.operationID)).count == APIRoutes.all.count)
    }

    @Test func theDocumentListsExactlyTheRoutes() throws {
        let document = try JSONParser().parse(OpenAPI.document().bytes)
        #expect(document["openapi"]?.stringValue == "3.1.0")
        guard case .object(let paths)? = document["paths"] else {
            Issue.record("no paths")
            return
        }
        var documented: Set<String> = []
        for (path, item) in paths {
            guard case .object(let operations) = item else { continue }
            for (method, operation) in operations {
                documented.insert(method.uppercased() + " " + path)
                #expect(operation["responses"] != nil, "\(method) \(path) has no responses")
                #expect(operation["operationId"] != nil)
            }
        }
        #expect(documented == Set(APIRoutes.all.map(\.key)))
    }

    @Test func everyReferenceResolves() throws {
        let document = OpenAPI.document()
        var references: [String] = []
        func walk(_ value: JSONValue) {
            switch value {
            case .object(let members):
                for (key, member) in members {
                    if key == "$ref", let target = member.stringValue { references.append(target) }
                    walk(member)
                }
            case .array(let values): values.forEach(walk)
            default: break
            }
        }
        walk(document)
        #expect(!references.isEmpty)
        for reference in references {
            let parts = reference.split(separator: "/").dropFirst().map(String.init)
            var node: JSONValue? = document
            for part in parts { node = node?[part] }
            #expect(node != nil, "unresolved \(reference)")
        }
    }
}
