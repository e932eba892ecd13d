// libFuzzer harness for the HTTP/1.1 request parser (compiled together with
// Sources/HTTP1Codec, see scripts/fuzz.sh). The first byte picks a chunk size; the input is
// parsed whole and in chunks the way the server feeds it, and the two results must agree:
// a disagreement is a split-invariance bug and traps like a crash.

struct Outcome: Equatable {
    var heads: [String] = []
    var bodyBytes = 0
    var bodyHash: UInt64 = 0xcbf2_9ce4_8422_2325
    var ends = 0
    var error: String?
}

func run(_ input: UnsafeRawBufferPointer, chunk: Int, limits: HTTPRequestParser.Limits) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = Outcome()
    var pending: [UInt8] = []
    var offset = 0
    while offset < input.count, outcome.error == nil {
        let end = min(input.count, offset + chunk)
        pending.append(contentsOf: input[offset..<end])
        offset = end
        let consumed: Int = pending.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            while true {
                do throws(HTTPParseError) {
                    switch try parser.next(&reader) {
                    case .head(let head):
                        var summary = head.method.rawValue + " " + head.target + " " + head.version.description
                        for (name, value) in head.headers { summary += "|" + name + ":" + value }
                        summary += "|" + String(describing: head.framing) + "|" + String(head.keepAlive)
                        outcome.heads.append(summary)
                        // Exercise the lookups the server uses.
                        _ = head.headers["host"]
                        _ = head.headers.containsToken("gzip", in: "accept-encoding")
                        _ = head.path
                        _ = head.query
                    case .body(let bytes):
                        outcome.bodyBytes += bytes.count
                        for byte in bytes {
                            outcome.bodyHash = (outcome.bodyHash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                        }
                    case .end:
                        outcome.ends += 1
                    case .needMoreData:
                        return reader.readerIndex
                    }
                } catch {
                    outcome.error = error.code
                    return raw.count
                }
            }
        }
        pending.removeSubrange(0..<consumed)
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let selector = Int(data.load(as: UInt8.self))
    let input = UnsafeRawBufferPointer(start: data + 1, count: count - 1)
    var limits = HTTPRequestParser.Limits()
    // Small limits so the fuzzer reaches every limit path with short inputs.
    limits.maxRequestLineBytes = 64
    limits.maxHeaderBytes = 256
    limits.maxHeaderCount = 8
    limits.maxBodyBytes = 512
    limits.maxChunkLineBytes = 24
    limits.maxTrailerBytes = 64
    let whole = run(input, chunk: max(input.count, 1), limits: limits)
    let pieces = run(input, chunk: 1 + selector % 17, limits: limits)
    if whole != pieces {
        fatalError("split-invariance violated: \(whole) vs \(pieces)")
    }
    return 0
}
