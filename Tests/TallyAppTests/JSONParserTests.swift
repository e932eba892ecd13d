import Testing
@testable import TallyApp

struct JSONParserTests {
    @Test func parsesClientMessages() throws {
        let value = try JSONParser().parse(#" {"type":"subscribe","job":"*","after":17,"x":[true,false,null,-1.5e2,"\u00e9\ud83d\ude00\n"]} "#)
        #expect(value["type"]?.stringValue == "subscribe")
        #expect(value["after"]?.countValue == 17)
        #expect(value["x"] == [true, false, nil, -150.0, "é😀\n"])
        #expect(value.text == #"{"type":"subscribe","job":"*","after":17,"x":[true,false,null,-150,"é😀\n"]}"#)
    }

    @Test(arguments: ["", "{", "{\"a\"}", "[1,]", "01", "1.", "-", "\"\\x\"", "\"\u{01}\"", "tru", "{} x",
                      "\"\\ud800\"", "\"\\udc00\"", "1e999", "{\"a\":1,}", "[\"a\" \"b\"]"])
    func refusesMalformedText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser().parse(text) }
    }

    @Test func boundsNestingAndSize() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError(code: "json.too_deep", offset: 33)) { try JSONParser().parse(deep) }
        var parser = JSONParser()
        parser.maxBytes = 10
        #expect(throws: JSONParseError(code: "json.too_large", offset: 0)) { try parser.parse("[1,2,3,4,5,6]") }
    }

    @Test func refusesInvalidUTF8InStrings() {
        #expect(throws: JSONParseError.self) { try JSONParser().parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func countsAreExactNonNegativeIntegers() throws {
        #expect(try JSONParser().parse("3.5").countValue == nil)
        #expect(try JSONParser().parse("-1").countValue == nil)
        #expect(try JSONParser().parse("1e3").countValue == 1000)
    }
}
