import Testing
@testable import WebSocketCodec

struct UTF8ValidatorTests {
    static func isValid(_ bytes: [UInt8]) -> Bool {
        var validator = UTF8Validator()
        return validator.validate(bytes) && validator.isComplete
    }

    @Test(arguments: [
        hex("ce ba e1 bd b9 cf 83 ce bc ce b5   # 'κόσμε' (Autobahn 6.2)"),
        hex("00                  # U+0000"),
        hex("7f                  # U+007F, last one-byte"),
        hex("c2 80               # U+0080, first two-byte"),
        hex("df bf               # U+07FF"),
        hex("e0 a0 80            # U+0800, first three-byte"),
        hex("ed 9f bf            # U+D7FF, just below the surrogates"),
        hex("ee 80 80            # U+E000, just above the surrogates"),
        hex("ef bf bf            # U+FFFF"),
        hex("f0 90 80 80         # U+10000, first four-byte"),
        hex("f4 8f bf bf         # U+10FFFF, the last code point"),
        hex("ef bb bf            # BOM is just a character"),
        [],
    ])
    func acceptsValidSequences(bytes: [UInt8]) {
        #expect(Self.isValid(bytes))
    }

    @Test(arguments: [
        hex("80                  # lone continuation"),
        hex("c0 80               # overlong NUL"),
        hex("c1 bf               # overlong U+007F"),
        hex("e0 80 80            # overlong three-byte"),
        hex("e0 9f bf            # overlong U+07FF"),
        hex("f0 80 80 80         # overlong four-byte"),
        hex("f0 8f bf bf         # overlong U+FFFF"),
        hex("ed a0 80            # U+D800 surrogate"),
        hex("ed bf bf            # U+DFFF surrogate"),
        hex("f4 90 80 80         # U+110000, beyond Unicode"),
        hex("f5 80 80 80         # F5 never appears"),
        hex("fe                  # FE never appears"),
        hex("ff                  # FF never appears"),
        hex("ce ba e1 bd         # truncated at the end"),
        hex("e2 28 a1            # bad second byte"),
        hex("f0 90 28 bc         # bad third byte"),
        hex("cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64   # Autobahn 6.4.1 part 2 style"),
    ])
    func refusesInvalidSequences(bytes: [UInt8]) {
        #expect(!Self.isValid(bytes))
    }

    @Test func failsOnTheFirstBadByteWhenFedPieceByPiece() {
        // Autobahn 6.4.3: a valid prefix, then F4 90 80 80 (> U+10FFFF): fails at 0x90.
        let prefix = hex("ce ba e1 bd b9 cf 83 ce bc ce b5")
        var validator = UTF8Validator()
        let prefixValid = validator.validate(prefix)
        let leadValid = validator.validate([0xF4])
        let secondValid = validator.validate([0x90])
        #expect(prefixValid && leadValid)
        #expect(!secondValid)
    }

    @Test func everySplitOfValidTextStaysValid() {
        let text = Array("aé€𝄞 ascii then more: κόσμε 🎉 end".utf8)
        for cut in 0...text.count {
            var validator = UTF8Validator()
            let head = validator.validate(Array(text[..<cut]))
            let tail = validator.validate(Array(text[cut...]))
            #expect(head && tail)
            #expect(validator.isComplete)
        }
    }

    @Test func agreesWithTheStandardLibraryOnRandomInput() {
        var generator = SeededGenerator(seed: 3629)
        // Biased toward the interesting bytes so multi-byte sequences actually occur.
        let alphabet: [UInt8] = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...12, using: &generator)
            let bytes = (0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            #expect(Self.isValid(bytes) == expected, "\(bytes)")
        }
    }

    @Test func asciiFastPathHandlesLongRuns() {
        var bytes = [UInt8](repeating: 0x61, count: 1027)
        #expect(Self.isValid(bytes))
        bytes[1025] = 0x80
        #expect(!Self.isValid(bytes))
    }
}
