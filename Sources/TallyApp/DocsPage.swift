/// The `/docs` page: the OpenAPI document rendered as plain HTML by the server itself, so it
/// works offline and behind any CSP (no scripts, no outside CDN).
public enum DocsPage {
    /// The page's HTML.
    public static func html(document: JSONValue = OpenAPI.document()) -> String {
        var out = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tally API</title>
        <style>
        body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
        h1{margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:1px solid #d7dce5}
        h3{margin:1.8rem 0 .3rem;font-size:1.05rem}
        code,pre{font:13px/1.45 ui-monospace,monospace;background:#f2f4f8;border-radius:4px}
        code{padding:.05rem .3rem}pre{padding:.7rem;overflow:auto}
        .m{display:inline-block;min-width:3.6rem;font:bold 12px ui-monospace,monospace;color:#fff;
           border-radius:4px;padding:.15rem .4rem;text-align:center;margin-right:.4rem}
        .GET{background:#2f6fce}.POST{background:#1f8a4c}
        table{border-collapse:collapse;width:100%;margin:.4rem 0}
        td,th{border:1px solid #d7dce5;padding:.3rem .5rem;text-align:left;vertical-align:top}
        th{background:#f2f4f8}nav ul{columns:2}
        </style></head><body>
        <h1>Tally API</h1>

        """
        let info = document["info"]
        out += "<p>\(inline(info?["description"]?.stringValue ?? ""))</p>\n"
        out += "<p>Version \(escape(info?["version"]?.stringValue ?? "")) · "
        out += "machine-readable: <a href=\"/openapi.json\"><code>/openapi.json</code></a> (OpenAPI 3.1).</p>\n"
        out += quickStart
        out += authentication(document)

        var operations: [(tag: String, method: String, path: String, operation: JSONValue)] = []
        if case .object(let paths)? = document["paths"] {
            for (path, item) in paths {
                guard case .object(let methods) = item else { continue }
                for (method, operation) in methods {
                    let tag: String
                    if case .array(let tags)? = operation["tags"], let first = tags.first?.stringValue {
                        tag = first
                    } else {
                        tag = "Other"
                    }
                    operations.append((tag, method.uppercased(), path, operation))
                }
            }
        }
        var tags: [String] = []
        for operation in operations where !tags.contains(operation.tag) { tags.append(operation.tag) }

        out += "<nav><h2>Routes</h2><ul>\n"
        for operation in operations {
            out += "<li><a href=\"#\(anchor(operation.operation))\"><code>\(operation.method) \(escape(operation.path))</code></a></li>\n"
        }
        out += "</ul></nav>\n"

        for tag in tags {
            out += "<h2>\(escape(tag))</h2>\n"
            for operation in operations where operation.tag == tag {
                out += section(method: operation.method, path: operation.path, operation: operation.operation)
            }
        }

        if case .object(let schemas)? = document["components"]?["schemas"] {
            out += "<h2>Schemas</h2>\n"
            for (name, schema) in schemas {
                out += "<h3 id=\"schema-\(escape(name))\">\(escape(name))</h3>\n"
                if let description = schema["description"]?.stringValue { out += "<p>\(inline(description))</p>\n" }
                out += schemaTable(schema)
            }
        }
        out += "</body></html>\n"
        return out
    }

    private static let quickStart = """
    <h2>Quick start</h2>
    <pre>curl -F file=@orders.csv http://localhost:8080/api/imports
    curl http://localhost:8080/api/jobs/ID
    curl 'http://localhost:8080/api/jobs/ID/events?after=0&amp;wait=25'
    curl -N http://localhost:8080/api/jobs/ID/stream
    wscat -c ws://localhost:8080/ws/jobs/ID</pre>
    <p>Every transport carries the same events: the job snapshot with a <code>type</code>
    (<code>progress</code>, <code>state</code>, <code>snapshot</code>) and a per-job <code>seq</code>
    that counts 1, 2, 3… Resume with <code>after=SEQ</code> to get exactly what you missed, or one
    snapshot marked <code>"resync":true</code>.</p>

    """

    /// The security schemes and the error responses many routes share.
    private static func authentication(_ document: JSONValue) -> String {
        var out = ""
        if case .object(let schemes)? = document["components"]?["securitySchemes"] {
            out += "<h2>Authentication</h2>\n<table><tr><th>Scheme</th><th>How</th><th>Description</th></tr>\n"
            for (name, scheme) in schemes {
                let how = scheme["type"] == "http" ? "<code>Authorization: Bearer</code>"
                    : "<code>?\(escape(scheme["name"]?.stringValue ?? ""))=</code>"
                out += "<tr><td id=\"security-\(escape(name))\"><code>\(escape(name))</code></td><td>\(how)</td>"
                out += "<td>\(inline(scheme["description"]?.stringValue ?? ""))</td></tr>\n"
            }
            out += "</table>\n"
        }
        if case .object(let responses)? = document["components"]?["responses"] {
            out += "<h2>Common errors</h2>\n<table><tr><th>Response</th><th>Meaning</th></tr>\n"
            for (name, response) in responses {
                out += "<tr><td id=\"response-\(escape(name))\">\(escape(name))</td>"
                out += "<td>\(inline(response["description"]?.stringValue ?? ""))</td></tr>\n"
            }
            out += "</table>\n"
        }
        return out
    }

    private static func anchor(_ operation: JSONValue) -> String {
        escape(operation["operationId"]?.stringValue ?? "")
    }

    private static func section(method: String, path: String, operation: JSONValue) -> String {
        var out = "<h3 id=\"\(anchor(operation))\"><span class=\"m \(method)\">\(method)</span><code>\(escape(path))</code></h3>\n"
        if let summary = operation["summary"]?.stringValue { out += "<p><strong>\(escape(summary)).</strong> " }
        if let description = operation["description"]?.stringValue { out += inline(description) }
        out += "</p>\n"
        if case .array(let requirements)? = operation["security"] {
            let names = requirements.compactMap { requirement -> String? in
                guard case .object(let members) = requirement, let name = members.first?.0 else { return nil }
                return "<a href=\"#security-\(escape(name))\"><code>\(escape(name))</code></a>"
            }
            out += "<p>Credential: " + (names.isEmpty ? "none" : names.joined(separator: " or ")) + ".</p>\n"
        }
        if case .array(let parameters)? = operation["parameters"], !parameters.isEmpty {
            out += "<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>\n"
            for parameter in parameters {
                let name = parameter["name"]?.stringValue ?? ""
                let required = parameter["required"] == .bool(true) ? " (required)" : ""
                out += "<tr><td><code>\(escape(name))</code>\(required)</td><td>\(escape(parameter["in"]?.stringValue ?? ""))</td>"
                out += "<td>\(typeName(parameter["schema"]))</td><td>\(inline(parameter["description"]?.stringValue ?? ""))</td></tr>\n"
            }
            out += "</table>\n"
        }
        if case .object(let content)? = operation["requestBody"]?["content"] {
            out += "<p>Body: " + content.map { type, media in
                "<code>\(escape(type))</code>" + (media["schema"].map { " " + typeName($0) } ?? "")
            }.joined(separator: " or ") + "</p>\n"
        }
        if case .object(let responses)? = operation["responses"] {
            out += "<table><tr><th>Status</th><th>Meaning</th></tr>\n"
            for (status, response) in responses {
                var description = response["description"]?.stringValue
                var meaning = inline(description ?? "")
                if description == nil, let target = response["$ref"]?.stringValue, let name = target.split(separator: "/").last {
                    meaning = "<a href=\"#response-\(escape(String(name)))\">\(escape(String(name)))</a>"
                }
                out += "<tr><td>\(escape(status))</td><td>\(meaning)</td></tr>\n"
            }
            out += "</table>\n"
        }
        return out
    }

    private static func schemaTable(_ schema: JSONValue) -> String {
        var properties: [(String, JSONValue)] = []
        if case .object(let members)? = schema["properties"] { properties = members }
        if case .array(let parts)? = schema["allOf"] {
            var out = "<p>All of: " + parts.map { typeName($0) }.joined(separator: ", ") + "</p>\n"
            for part in parts where part["properties"] != nil { out += schemaTable(part) }
            return out
        }
        guard !properties.isEmpty else {
            return "<p>Type: \(typeName(schema))</p>\n"
        }
        var out = "<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>\n"
        for (name, property) in properties {
            out += "<tr><td><code>\(escape(name))</code></td><td>\(typeName(property))</td>"
            out += "<td>\(inline(property["description"]?.stringValue ?? ""))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    private static func typeName(_ schema: JSONValue?) -> String {
        guard let schema else { return "" }
        if let target = schema["$ref"]?.stringValue, let name = target.split(separator: "/").last {
            return "<a href=\"#schema-\(escape(String(name)))\">\(escape(String(name)))</a>"
        }
        if case .array(let choices)? = schema["oneOf"] {
            return choices.map { typeName($0) }.joined(separator: " | ")
        }
        var text: String
        switch schema["type"] {
        case .string(let type)?: text = type
        case .array(let types)?: text = types.compactMap(\.stringValue).joined(separator: " | ")
        default: text = ""
        }
        if case .array(let values)? = schema["enum"] {
            text += ": " + values.compactMap(\.stringValue).joined(separator: ", ")
        }
        if text == "array", let items = schema["items"] { return "array of " + typeName(items) }
        return escape(text)
    }

    /// Escapes text and turns `backquoted` spans into code.
    private static func inline(_ text: String) -> String {
        var out = ""
        var inCode = false
        for part in escape(text).split(separator: "`", omittingEmptySubsequences: false) {
            out += inCode ? "<code>\(part)</code>" : String(part)
            inCode.toggle()
        }
        return out
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
