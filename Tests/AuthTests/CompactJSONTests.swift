import Testing
@testable import Auth

struct CompactJSONTests {
    private func parse(_ text: String) -> CompactJSON? { CompactJSON.parse(Array(text.utf8)) }

    @Test func parsesFlatClaims() {
        let value = parse(#" {"sub":"job-1","exp":1700000000,"aud":["a","b"],"x":null,"ok":true,"f":-1.5e2} "#)
        #expect(value == .object([
            "sub": .string("job-1"), "exp": .number(1_700_000_000), "aud": .array([.string("a"), .string("b")]),
            "x": .null, "ok": .bool(true), "f": .number(-150),
        ]))
    }

    @Test func decodesEscapesAndSurrogatePairs() {
        #expect(parse(#""a\"\\\/\n\u00e9\ud83d\ude00""#) == .string("a\"\\/\né😀"))
        #expect(parse(#""\ud83d""#) == nil)
        #expect(parse(#""\udc00""#) == nil)
    }

    @Test func rejectsDuplicateKeys() {
        #expect(parse(#"{"sub":"a","sub":"*"}"#) == nil)
    }

    @Test func rejectsTrailingBytesAndBadNumbers() {
        #expect(parse(#"{"a":1} x"#) == nil)
        #expect(parse("01") == nil)
        #expect(parse("1.") == nil)
        #expect(parse("-") == nil)
        #expect(parse("1e999") == nil)
        #expect(parse("[1,]") == nil)
        #expect(parse("{\"a\":1,}") == nil)
    }

    @Test func rejectsInvalidUTF8AndControlCharacters() {
        #expect(CompactJSON.parse([0x22, 0xC3, 0x28, 0x22]) == nil)
        #expect(CompactJSON.parse([0x22, 0x0A, 0x22]) == nil)
    }

    @Test func boundsNestingDepth() {
        #expect(parse(String(repeating: "[", count: 16) + String(repeating: "]", count: 16)) != nil)
        #expect(parse(String(repeating: "[", count: 100_000)) == nil)
    }

    @Test func quotesControlCharacters() {
        #expect(CompactJSON.quote("a\"b\u{01}") == #""a\"b\u0001""#)
        #expect(parse(CompactJSON.quote("tab\there \u{1F600}")) == .string("tab\there \u{1F600}"))
    }
}
