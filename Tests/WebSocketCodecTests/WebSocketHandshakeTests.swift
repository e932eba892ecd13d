import Testing
@testable import WebSocketCodec

struct WebSocketHandshakeTests {
    static let rfcKey = "dGhlIHNhbXBsZSBub25jZQ=="

    static func headers(
        key: String? = rfcKey, version: String? = "13", extensions: [String] = [], origin: String? = nil,
        upgrade: String = "websocket", connection: String = "Upgrade"
    ) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [("Host", "server.example.com"), ("Upgrade", upgrade), ("Connection", connection)]
        if let key { headers.append(("Sec-WebSocket-Key", key)) }
        if let version { headers.append(("Sec-WebSocket-Version", version)) }
        if let origin { headers.append(("Origin", origin)) }
        for value in extensions { headers.append(("Sec-WebSocket-Extensions", value)) }
        return headers
    }

    static func validate(_ headers: [(name: String, value: String)], options: WebSocketHandshake.Options = .init()) -> Result<WebSocketHandshake.Accepted, WebSocketHandshake.Rejection> {
        WebSocketHandshake.validate(method: "GET", httpVersion: (1, 1), headers: headers, options: options)
    }

    @Test func computesTheRFCAcceptValue() {
        // RFC 6455 §1.3.
        #expect(WebSocketHandshake.acceptValue(forKey: Self.rfcKey) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func acceptsAValidRequestAndWritesThe101() throws {
        let accepted = try Self.validate(Self.headers(connection: "keep-alive, Upgrade", )).get()
        #expect(accepted.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let response = String(decoding: accepted.responseBytes, as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(response.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        #expect(response.hasSuffix("\r\n\r\n"))
        #expect(accepted.deflate == nil)
    }

    @Test(arguments: ["8", "12", "14", "", "13, 8"])
    func answersOtherVersionsWith426(version: String) {
        guard case .failure(let rejection) = Self.validate(Self.headers(version: version)) else {
            Issue.record("accepted version \(version)")
            return
        }
        #expect(rejection.status == 426)
        #expect(rejection.headers.contains { $0.name == "Sec-WebSocket-Version" && $0.value == "13" })
    }

    @Test(arguments: [
        nil, "", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===",
        "dGhlIHNhbXBsZSBub25j", "dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub2!jZQ==", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ])
    func answersMissingOrMalformedKeysWith400(key: String?) {
        guard case .failure(let rejection) = Self.validate(Self.headers(key: key)) else {
            Issue.record("accepted key \(key ?? "nil")")
            return
        }
        #expect(rejection.status == 400)
        #expect(rejection.code == "ws.bad_key")
    }

    @Test func refusesRequestsThatAreNotUpgrades() {
        #expect(throws: WebSocketHandshake.Rejection.self) { try Self.validate(Self.headers(upgrade: "h2c")).get() }
        #expect(throws: WebSocketHandshake.Rejection.self) { try Self.validate(Self.headers(connection: "keep-alive")).get() }
        let post = WebSocketHandshake.validate(method: "POST", httpVersion: (1, 1), headers: Self.headers())
        #expect((try? post.get()) == nil)
        let http10 = WebSocketHandshake.validate(method: "GET", httpVersion: (1, 0), headers: Self.headers())
        #expect((try? http10.get()) == nil)
    }

    @Test func appliesTheOriginPolicy() {
        let options = WebSocketHandshake.Options(originPolicy: { $0 == nil || $0 == "https://tally.example" })
        #expect((try? Self.validate(Self.headers(origin: "https://tally.example"), options: options).get()) != nil)
        #expect((try? Self.validate(Self.headers(), options: options).get()) != nil)
        guard case .failure(let rejection) = Self.validate(Self.headers(origin: "https://evil.example"), options: options) else {
            Issue.record("foreign origin accepted")
            return
        }
        #expect(rejection.status == 403)
    }

    @Test func choosesASubprotocolTheServerSpeaks() throws {
        var headers = Self.headers()
        headers.append(("Sec-WebSocket-Protocol", "chat, tally.v1"))
        let accepted = try Self.validate(headers, options: .init(subprotocols: ["tally.v1"])).get()
        #expect(accepted.subprotocol == "tally.v1")
        #expect(accepted.headers.contains { $0.name == "Sec-WebSocket-Protocol" && $0.value == "tally.v1" })
    }

    @Test func negotiatesPermessageDeflate() throws {
        let accepted = try Self.validate(Self.headers(extensions: ["permessage-deflate; client_max_window_bits"])).get()
        #expect(accepted.deflate == DeflateParameters(serverNoContextTakeover: true))
        #expect(accepted.headers.contains { $0.name == "Sec-WebSocket-Extensions" && $0.value == "permessage-deflate; server_no_context_takeover" })
    }
}

struct DeflateNegotiationTests {
    static func negotiate(_ value: String, _ options: DeflateOptions = .contextTakeover) -> DeflateParameters? {
        DeflateNegotiation.negotiate([value], options: options)
    }

    @Test func acceptsThePlainOffer() {
        #expect(Self.negotiate("permessage-deflate") == DeflateParameters())
        #expect(Self.negotiate("permessage-deflate")?.headerValue == "permessage-deflate")
    }

    @Test func honoursContextTakeoverParameters() {
        let both = Self.negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(both == DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: true))
        #expect(both?.headerValue == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    }

    @Test func honoursWindowBits() {
        let limited = Self.negotiate("permessage-deflate; server_max_window_bits=10")
        #expect(limited?.serverMaxWindowBits == 10)
        #expect(limited?.headerValue == "permessage-deflate; server_max_window_bits=10")
        let quoted = Self.negotiate("permessage-deflate; server_max_window_bits=\"12\"; client_max_window_bits=9")
        #expect(quoted == DeflateParameters(serverMaxWindowBits: 12, clientMaxWindowBits: 9))
        // A server option below the client's request is announced.
        var options = DeflateOptions.contextTakeover
        options.serverMaxWindowBits = 11
        #expect(Self.negotiate("permessage-deflate", options)?.headerValue == "permessage-deflate; server_max_window_bits=11")
    }

    @Test(arguments: [
        "permessage-deflate; server_max_window_bits=8",   // zlib cannot compress with a 256-byte window
        "permessage-deflate; server_max_window_bits",     // value required
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; x_unknown",
        "x-webkit-deflate-frame",
        "permessage-deflate; server_max_window_bits=\"1 0\"",
    ])
    func declinesOffersItCannotHonour(value: String) {
        #expect(Self.negotiate(value) == nil)
    }

    @Test func acceptsTheFirstAcceptableOffer() {
        // Autobahn 13.7.x style: an 8-bit window first, then a usable fallback.
        let value = "permessage-deflate; server_max_window_bits=8, permessage-deflate; client_no_context_takeover, permessage-deflate"
        #expect(Self.negotiate(value) == DeflateParameters(clientNoContextTakeover: true))
        // Offers may be spread over several headers.
        #expect(DeflateNegotiation.negotiate(["foo", "permessage-deflate; server_no_context_takeover"], options: .contextTakeover)
            == DeflateParameters(serverNoContextTakeover: true))
    }

    @Test func refusesBrokenSyntax() {
        #expect(Self.negotiate("permessage-deflate;; x") == nil)
        #expect(Self.negotiate("permessage-deflate; a=\"unterminated") == nil)
        #expect(DeflateNegotiation.negotiate(["permessage-deflate"], options: .disabled) == nil)
    }
}
