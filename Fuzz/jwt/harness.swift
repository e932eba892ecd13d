// libFuzzer harness for the subscribe-token parser and the other auth parsers that read
// outside input. Built by scripts/fuzz.sh with Sources/Auth compiled into this module.
//
// The first byte picks what the rest is fed to:
//   0: a raw token, as a client would send it;
//   1: header JSON and payload JSON (split at the first NUL), encoded and correctly signed,
//      so the claim parser behind the signature check is reached too;
//   2: the other parsers: first WebSocket auth message, query string, Authorization header,
//      Origin header, base64url.

private let codec: JWTCodec? = try? JWTCodec(secret: Array("fuzzing-secret-0123456789abcdefgh".utf8), audience: "tally")
private let policy = AccessPolicy(tokens: codec, apiKeys: (try? APIKeySet(keys: ["fuzz-admin-key-0123456789"])) ?? APIKeySet())

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0, let codec else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: count))
    let mode = bytes[0] % 3
    let rest = Array(bytes.dropFirst())
    switch mode {
    case 0:
        let token = String(decoding: rest, as: UTF8.self)
        _ = try? codec.verify(token, now: 1_800_000_000)
        _ = policy.decide(.watchJob("job"), credentials: Credentials(queryToken: token), now: 1_800_000_000)
    case 1:
        let split = rest.firstIndex(of: 0) ?? rest.endIndex
        let header = Base64URL.encode(rest[..<split])
        let payload = Base64URL.encode(rest[min(split + 1, rest.endIndex)...])
        let input = header + "." + payload
        let token = input + "." + Base64URL.encode(Crypto.hmacSHA256(key: Array("fuzzing-secret-0123456789abcdefgh".utf8), data: Array(input.utf8)))
        if let claims = try? codec.verify(token, now: 1_800_000_000) {
            _ = claims.covers(job: "job")
        }
    default:
        _ = AuthMessage.token(fromText: rest)
        let text = String(decoding: rest, as: UTF8.self)
        _ = Credentials.token(inQuery: Substring(text))
        _ = AccessPolicy.bearerToken(text)
        _ = WebOrigin(text)
        _ = OriginPolicy().check(origin: text, host: "localhost:8080")
        _ = try? OriginPattern(text)
        if let decoded = Base64URL.decode(rest) {
            // Canonical decoding means re-encoding gives back the input exactly.
            if Base64URL.encode(decoded) != text { fatalError("base64url round trip differs") }
        }
    }
    return 0
}
