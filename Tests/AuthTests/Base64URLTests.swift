import Testing
@testable import Auth

struct Base64URLTests {
    @Test func roundTripsEveryLengthUpToSixtyFour() {
        for length in 0...64 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
            #expect(Base64URL.decode(Array(encoded.utf8)) == bytes)
        }
    }

    @Test func encodesRFC4648Vectors() {
        // RFC 4648 §10, with the url-safe alphabet and padding removed.
        #expect(Base64URL.encode(Array("f".utf8)) == "Zg")
        #expect(Base64URL.encode(Array("fo".utf8)) == "Zm8")
        #expect(Base64URL.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    }

    @Test func rejectsPaddingWhitespaceAndStandardAlphabet() {
        #expect(Base64URL.decode(Array("Zg==".utf8)) == nil)
        #expect(Base64URL.decode(Array("Zm 8".utf8)) == nil)
        #expect(Base64URL.decode(Array("+/8".utf8)) == nil)
        #expect(Base64URL.decode(Array("Z".utf8)) == nil)
    }

    @Test func rejectsNonCanonicalTrailingBits() {
        // "Zh" decodes to "f" too, but with non-zero padding bits: a second spelling of one value.
        #expect(Base64URL.decode(Array("Zg".utf8)) == Array("f".utf8))
        #expect(Base64URL.decode(Array("Zh".utf8)) == nil)
    }
}
