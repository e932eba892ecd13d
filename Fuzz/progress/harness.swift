// libFuzzer harness for the bodies external producers send: `POST /api/jobs/{id}/progress`
// and `POST /api/jobs` (JobsAPI.progressUpdate(body:) and .externalJobSpec(body:), which touch
// no store), over the JSON parser, its kept `data` source text and the `data` checker. Built
// by scripts/fuzz.sh with TallyApp's pure body and JSON files in this module and Progress and
// Imports (with what it imports) as instrumented modules (modules.txt).
//
// The first byte picks the body kind (even: progress update, odd: new job); the rest is the
// body. Invariants checked besides "never traps":
//   - an accepted body, re-encoded canonically from what was decoded, decodes to the same;
//   - counts are exact integers below 2^53, texts within their limits, `data` a JSON object
//     of at most 64 KiB on one line that the JSON parser reads back equal to the body's `data`;
//   - whenever the body's `data` is an object, both its kept source text and its re-encoded
//     form pass the `data` checker (the two JSON readers agree);
//   - a refused body is a 400 with a documented code and an error body that is valid JSON.

import Imports
import Progress

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count >= 1 else { return 0 }
    let mode = data.load(as: UInt8.self)
    let body = Array(UnsafeRawBufferPointer(start: data + 1, count: count - 1))
    checkReadersAgree(body)
    if mode & 1 == 0 {
        fuzzUpdate(body)
    } else {
        fuzzSpec(body)
    }
    return 0
}

private let maxCount: Int64 = 9_007_199_254_740_991
/// The body limit JobsAPI parses with.
private let maxBodyBytes = 256 * 1024

private func fuzzUpdate(_ body: [UInt8]) {
    let update: ExternalJobUpdate
    do {
        update = try JobsAPI.progressUpdate(body: body)
    } catch {
        checkRefusal(error)
        return
    }
    for count in [update.processed, update.succeeded, update.failed, update.total] {
        if let count, count < 0 || count > maxCount { fatalError("count out of range: \(count)") }
    }
    if let message = update.message, message.count > 2000 { fatalError("message over 2000 characters") }
    if let error = update.error, error.code.count > 100 || error.message.count > 2000 { fatalError("error over its limits") }
    checkData(update.data, in: body)
    var members: [(String, JSONValue)] = []
    func add(_ name: String, _ value: Int64?) { if let value { members.append((name, .number(Double(value)))) } }
    add("processed", update.processed)
    add("succeeded", update.succeeded)
    add("failed", update.failed)
    add("total", update.total)
    if let message = update.message { members.append(("message", .string(message))) }
    if let state = update.state { members.append(("state", .string(state.rawValue))) }
    if let error = update.error { members.append(("error", ["code": .string(error.code), "message": .string(error.message)])) }
    var canonical = JSONValue.object(members).bytes
    if let data = update.data { canonical = splice(canonical, data: data) }
    guard let again = try? JobsAPI.progressUpdate(body: canonical) else {
        fatalError("canonical update does not decode: \(String(decoding: canonical, as: UTF8.self))")
    }
    guard again.processed == update.processed, again.succeeded == update.succeeded, again.failed == update.failed,
          again.total == update.total, again.message == update.message, again.state == update.state,
          again.error == update.error, again.data == update.data else {
        fatalError("canonical update decodes differently: \(String(decoding: canonical, as: UTF8.self))")
    }
}

private func fuzzSpec(_ body: [UInt8]) {
    let spec: ExternalJobSpec
    do {
        spec = try JobsAPI.externalJobSpec(body: body)
    } catch {
        checkRefusal(error)
        return
    }
    if spec.name.isEmpty || spec.name.count > 500 { fatalError("name out of range") }
    if let total = spec.total, total < 0 || total > maxCount { fatalError("total out of range") }
    if spec.state != .pending && spec.state != .running { fatalError("a new job in state \(spec.state)") }
    checkData(spec.data, in: body)
    var members: [(String, JSONValue)] = [("name", .string(spec.name)), ("state", .string(spec.state.rawValue))]
    if let total = spec.total { members.append(("total", .number(Double(total)))) }
    if let message = spec.message { members.append(("message", .string(message))) }
    var canonical = JSONValue.object(members).bytes
    if let data = spec.data { canonical = splice(canonical, data: data) }
    guard let again = try? JobsAPI.externalJobSpec(body: canonical), again.name == spec.name, again.total == spec.total,
          again.message == spec.message, again.state == spec.state, again.data == spec.data else {
        fatalError("canonical job does not decode to the same: \(String(decoding: canonical, as: UTF8.self))")
    }
}

/// Adds `"data":…` to an encoded object as the raw text, the way the server passes it on.
private func splice(_ object: [UInt8], data: JSONText) -> [UInt8] {
    var bytes = object
    bytes.removeLast()
    if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
    bytes += Array("\"data\":".utf8) + Array(data.raw.utf8) + [UInt8(ascii: "}")]
    return bytes
}

private func checkData(_ data: JSONText?, in body: [UInt8]) {
    guard let data else { return }
    if data.raw.utf8.count > 64 * 1024 || !data.isObject { fatalError("data is not an object of at most 64 KiB") }
    if data.raw.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) { fatalError("data is not on one line: \(data.raw)") }
    var parser = JSONParser()
    parser.maxBytes = maxBodyBytes
    guard let sent = try? parser.parse(body), let original = sent["data"], let read = try? parser.parse(data.raw) else {
        fatalError("accepted data that does not parse back")
    }
    if read != original { fatalError("data changed on the way: \(data.raw)") }
}

private func checkReadersAgree(_ body: [UInt8]) {
    var parser = JSONParser()
    parser.maxBytes = maxBodyBytes
    guard let (value, kept) = try? parser.parse(body, keepingTextOf: "data"), let data = value["data"],
          case .object = data else { return }
    if JSONText(validating: data.text) == nil { fatalError("the data checker refuses what the parser wrote: \(data.text)") }
    guard let kept, let text = JSONText(validating: String(decoding: kept, as: UTF8.self)) else {
        fatalError("the data checker refuses the kept source text of valid data")
    }
    guard let reread = try? parser.parse(text.raw), reread == data else { fatalError("kept data text reads differently") }
}

private let documentedCodes: Set<String> = ["request.bad_json", "request.bad_parameter"]

private func checkRefusal(_ thrown: any Error) {
    guard let error = thrown as? APIError else { fatalError("not an APIError: \(thrown)") }
    if error.status != 400 || !documentedCodes.contains(error.code) { fatalError("unexpected refusal \(error.status) \(error.code)") }
    var parser = JSONParser()
    parser.maxDepth = 2
    guard let value = try? parser.parse(error.body), value["error"]?["code"]?.stringValue == error.code else {
        fatalError("error body is not the JSON expected: \(String(decoding: error.body, as: UTF8.self))")
    }
}
