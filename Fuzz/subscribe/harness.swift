// libFuzzer harness for the messages a client sends on the multiplexed WebSocket (`/ws`:
// subscribe, unsubscribe, ping; the first-message auth form is in Fuzz/jwt) and the JSON
// parser under them. Built by scripts/fuzz.sh with TallyApp's pure message and JSON files in
// this module and Progress as an instrumented module (modules.txt).
//
// The first byte picks the mode; the rest is the message.
//   even: ClientMessage.parse, as JobSocket calls it on every text message;
//   odd: JSONParser alone (depth 4 or 32 by bit 1), with a round-trip oracle.
// Invariants checked besides "never traps":
//   - an accepted message re-encoded canonically parses to the same message, its job is "*"
//     or a well-formed id, and `after` is below 2^53;
//   - a refused one gives an error frame that is a JSON object with "type":"error" and the
//     same code, and a code from the documented set;
//   - a parsed JSON value re-encoded compactly parses back to an equal value, no deeper than
//     the limit.

import Progress

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count >= 1 else { return 0 }
    let mode = data.load(as: UInt8.self)
    let input = Array(UnsafeRawBufferPointer(start: data + 1, count: count - 1))
    if mode & 1 == 0 {
        fuzzClientMessage(input)
    } else {
        fuzzJSON(input, maxDepth: mode & 2 == 0 ? 4 : 32)
    }
    return 0
}

private let codes: Set<String> = ["ws.bad_message", "job.not_found"]

private func fuzzClientMessage(_ input: [UInt8]) {
    switch ClientMessage.parse(input) {
    case .success(let message):
        let canonical: JSONValue
        switch message {
        case .ping:
            canonical = ["type": "ping"]
        case .unsubscribe(let topic):
            canonical = ["type": "unsubscribe", "job": .string(check(topic))]
        case .subscribe(let topic, let after):
            var members: [(String, JSONValue)] = [("type", "subscribe"), ("job", .string(check(topic)))]
            if let after {
                if after > 9_007_199_254_740_991 { fatalError("after beyond 2^53: \(after)") }
                members.append(("after", .number(Double(after))))
            }
            canonical = .object(members)
        }
        guard case .success(let again) = ClientMessage.parse(canonical.bytes), again == message else {
            fatalError("canonical form \(canonical.text) does not parse back to \(message)")
        }
    case .failure(let error):
        if !codes.contains(error.code) { fatalError("undocumented code \(error.code)") }
        let frame = ServerMessage.error(error)
        var parser = JSONParser()
        parser.maxDepth = 2
        guard let value = try? parser.parse(frame), value["type"] == "error",
              value["code"]?.stringValue == error.code, value["message"]?.stringValue == error.message else {
            fatalError("error frame is not the JSON expected: \(String(decoding: frame, as: UTF8.self))")
        }
        if let job = error.job, value["job"]?.stringValue != job { fatalError("error frame lost the job") }
    }
}

private func check(_ topic: HubTopic) -> String {
    switch topic {
    case .all:
        return "*"
    case .job(let id):
        if !JobID.isValid(id) { fatalError("accepted a malformed job id \(id.debugDescription)") }
        return id
    }
}

private func fuzzJSON(_ input: [UInt8], maxDepth: Int) {
    var parser = JSONParser()
    parser.maxDepth = maxDepth
    parser.maxBytes = 4096
    guard let value = try? parser.parse(input) else { return }
    if depth(value) > maxDepth + 1 { fatalError("value deeper than the limit") }
    let encoded = value.bytes
    var relaxed = JSONParser()
    relaxed.maxDepth = maxDepth
    guard let again = try? relaxed.parse(encoded) else {
        fatalError("re-encoded value does not parse: \(String(decoding: encoded, as: UTF8.self))")
    }
    if again != value { fatalError("round trip changed the value: \(String(decoding: encoded, as: UTF8.self))") }
    if again.bytes != encoded { fatalError("compact encoding is not stable") }
}

private func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let values): 1 + (values.map(depth).max() ?? 0)
    case .object(let members): 1 + (members.map { depth($0.1) }.max() ?? 0)
    default: 0
    }
}
