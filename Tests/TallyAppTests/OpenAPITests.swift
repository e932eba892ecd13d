import Imports
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

    /// Follows a `$ref` to what it names (one level).
    private func resolve(_ value: JSONValue?, in document: JSONValue) -> JSONValue? {
        guard let target = value?["$ref"]?.stringValue else { return value }
        var node: JSONValue? = document
        for part in target.split(separator: "/").dropFirst() { node = node?[String(part)] }
        return node
    }

    @Test func everyRouteDocumentsItsSecurityAndErrorResponses() throws {
        let document = try JSONParser().parse(OpenAPI.document().bytes)
        guard case .object(let schemes)? = document["components"]?["securitySchemes"] else {
            Issue.record("no security schemes")
            return
        }
        #expect(Set(schemes.map(\.0)) == ["apiKey", "subscribeToken", "subscribeTokenQuery"])
        #expect(document["components"]?["securitySchemes"]?["subscribeTokenQuery"]?["name"] == "token")
        #expect(document["components"]?["securitySchemes"]?["subscribeTokenQuery"]?["in"] == "query")
        for route in APIRoutes.all {
            let operation = try #require(document["paths"]?[route.path]?[route.method.lowercased()], "\(route.key)")
            guard case .array(let requirements)? = operation["security"] else {
                Issue.record("\(route.key) documents no security")
                continue
            }
            var alternatives: Set<String> = []
            for requirement in requirements {
                guard case .object(let members) = requirement, members.count == 1, let name = members.first?.0 else {
                    Issue.record("\(route.key): odd requirement \(requirement.text)")
                    continue
                }
                #expect(schemes.contains { $0.0 == name }, "\(route.key): unknown scheme \(name)")
                alternatives.insert(name)
            }
            switch route.access {
            case .open: #expect(alternatives.isEmpty, "\(route.key) is open")
            case .admin: #expect(alternatives == ["apiKey"], "\(route.key) needs the API key")
            case .read: #expect(alternatives == ["apiKey", "subscribeToken", "subscribeTokenQuery"], "\(route.key) reads")
            }

            guard case .object(let responses)? = operation["responses"] else {
                Issue.record("\(route.key) has no responses")
                continue
            }
            let statuses = Set(responses.map(\.0))
            #expect(statuses.contains("503"), "\(route.key) can be shed with 503")
            #expect(statuses.contains("401") == (route.access != .open), "\(route.key) 401")
            #expect(statuses.contains("403") == (route.access != .open), "\(route.key) 403")
            #expect(statuses.contains("429") == (route.rateLimited || route.access != .open), "\(route.key) 429")
            for (status, value) in responses where status.hasPrefix("4") || status.hasPrefix("5") {
                let response = resolve(value, in: document)
                #expect(response?["description"]?.stringValue?.isEmpty == false, "\(route.key) \(status) has no description")
                let schema = response?["content"]?["application/json"]?["schema"]
                #expect(schema?["$ref"] == "#/components/schemas/Error", "\(route.key) \(status) is not the error shape")
            }
            if route.access != .open {
                let unauthorized = resolve(responses.first { $0.0 == "401" }?.1, in: document)
                #expect(unauthorized?["description"]?.stringValue?.contains("auth.missing_token") == true)
                #expect(unauthorized?["headers"]?["WWW-Authenticate"] != nil)
            }
            if route.rateLimited || route.access != .open {
                let limited = resolve(responses.first { $0.0 == "429" }?.1, in: document)
                #expect(limited?["headers"]?["Retry-After"] != nil)
                if route.access != .open {
                    #expect(limited?["description"]?.stringValue?.contains("auth.too_many_failures") == true, "\(route.key) lockout")
                }
            }
        }
    }

    @Test func describesTheUploadSchemaAndRowErrorsAsTheCodeHasThem() throws {
        let document = try JSONParser().parse(OpenAPI.document().bytes)
        let form = document["paths"]?["/api/imports"]?["post"]?["requestBody"]?["content"]?["multipart/form-data"]?["schema"]
        let field = try #require(form?["properties"]?["schema"])
        #expect(field["contentMediaType"] == "application/json")
        #expect(field["contentSchema"]?["$ref"] == "#/components/schemas/ImportSchema")
        let schema = try #require(document["components"]?["schemas"]?["ImportSchema"])
        #expect(schema["required"] == ["columns"])
        #expect(schema["additionalProperties"] == false)
        guard case .object(let columnProperties)? = schema["properties"]?["columns"]?["items"]?["properties"] else {
            Issue.record("no column properties")
            return
        }
        #expect(Set(columnProperties.map(\.0)) == ["name", "type", "required", "unique", "maxLength", "allowed"])
        guard case .array(let types)? = schema["properties"]?["columns"]?["items"]?["properties"]?["type"]?["enum"] else {
            Issue.record("no column types")
            return
        }
        #expect(Set(types.compactMap(\.stringValue)) == Set(ColumnType.allCases.map(\.rawValue)))
        let raw = document["components"]?["schemas"]?["RowError"]?["properties"]?["raw"]?["description"]?.stringValue ?? ""
        #expect(raw.contains("256 bytes") && raw.contains("csv.ragged_row"))
    }
}
