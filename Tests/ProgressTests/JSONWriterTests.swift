import Testing
@testable import Progress

struct JSONWriterTests {
    func encoded(_ s: String) -> String {
        var w = JSONWriter()
        w.string(s)
        return w.string
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        #expect(encoded("plain") == "\"plain\"")
        #expect(encoded("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(encoded("l1\nl2\r\t\u{08}\u{0C}") == "\"l1\\nl2\\r\\t\\b\\f\"")
        #expect(encoded("\u{01}\u{1F}") == "\"\\u0001\\u001f\"")
        #expect(encoded("é€😀") == "\"é€😀\"")
        #expect(encoded("a\u{2028}b\u{2029}") == "\"a\\u2028b\\u2029\"")
        #expect(encoded("") == "\"\"")
    }

    @Test func writesIntegersAndNumbers() {
        var w = JSONWriter()
        w.int(0); w.comma(); w.int(-17); w.comma(); w.int(Int64.max); w.comma(); w.int(Int64.min)
        w.comma(); w.number(42.5, decimals: 2); w.comma(); w.number(3.0); w.comma(); w.number(.nan)
        w.comma(); w.number(1.23456, decimals: 2); w.comma(); w.number(nil)
        #expect(w.string == "0,-17,9223372036854775807,-9223372036854775808,42.5,3,null,1.23,null")
    }

    @Test func validatesJSONText() {
        #expect(JSONText(validating: "{\"a\":[1,2.5e3,-0.1,true,false,null,\"x\\u00e9\"]}") != nil)
        #expect(JSONText(validating: " {} ")?.isObject == true)
        #expect(JSONText(validating: "[1]")?.isObject == false)
        for bad in ["", "{", "{\"a\"}", "{'a':1}", "[1,]", "01", "1.", "\"\\x\"", "tru", "{} x",
                    String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            #expect(JSONText(validating: bad) == nil, "\(bad)")
        }
    }
}
