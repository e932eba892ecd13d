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

    @Test func keepsTheSourceTextOfOneMemberWithoutWhitespace() throws {
        let body = "{ \"data\" : {\"ts\": 1796409619123456789, \"id\" :9007199254740993,\n \"s\":\"a b\\\" \\u00e9\",\t\"x\":[1.50, -0E+2]},\"data\":{} }"
        let (value, text) = try JSONParser().parse(Array(body.utf8), keepingTextOf: "data")
        #expect(value["data"]?["s"] == "a b\" é")
        let kept = try #require(text)
        #expect(String(decoding: kept, as: UTF8.self) == #"{"ts":1796409619123456789,"id":9007199254740993,"s":"a b\" \u00e9","x":[1.50,-0E+2]}"#)
    }

    @Test func keepsOnlyTopLevelMembers() throws {
        let (_, nested) = try JSONParser().parse(Array(#"{"a":{"data":{"n":1}}}"#.utf8), keepingTextOf: "data")
        #expect(nested == nil)
        let (_, scalar) = try JSONParser().parse(Array(#"{"data":12345678901234567890}"#.utf8), keepingTextOf: "data")
        #expect(scalar.map { String(decoding: $0, as: UTF8.self) } == "12345678901234567890")
        #expect(throws: JSONParseError.self) { try JSONParser().parse(Array(#"{"data":{"n":1},}"#.utf8), keepingTextOf: "data") }
    }
}
