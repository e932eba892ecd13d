import Testing
@testable import WebSocketCodec

struct DeflateTests {
    static func inflate(_ parts: [[UInt8]], inflater: Inflater = Inflater(), keepContext: Bool = true, limit: Int = 1 << 20) throws(WebSocketError) -> [UInt8] {
        var output: [UInt8] = []
        for part in parts {
            try part.withUnsafeBytes { bytes in
                Result { () throws(WebSocketError) in try inflater.inflate(bytes, appendingTo: &output, limit: limit) }
            }.get()
        }
        try inflater.finishMessage(appendingTo: &output, limit: limit, keepContext: keepContext)
        return output
    }

    // MARK: RFC 7692 §7.2.3 examples (payloads of the server frames shown there)

    @Test func inflatesHelloFromOneFrame() throws {
        // §7.2.3.1: c1 07 | f2 48 cd c9 c9 07 00
        let payload = hex("f2 48 cd c9 c9 07 00")
        #expect(try Self.inflate([payload]) == Array("Hello".utf8))
    }

    @Test func inflatesHelloFromTwoFragments() throws {
        // §7.2.3.1: 41 03 f2 48 cd | 80 04 c9 c9 07 00
        #expect(try Self.inflate([hex("f2 48 cd"), hex("c9 c9 07 00")]) == Array("Hello".utf8))
    }

    @Test func inflatesASecondMessageThatUsesTheSharedWindow() throws {
        // §7.2.3.2: the second "Hello" is c1 05 f2 00 11 00 00, a back-reference into the first.
        let inflater = Inflater()
        #expect(try Self.inflate([hex("f2 48 cd c9 c9 07 00")], inflater: inflater) == Array("Hello".utf8))
        #expect(try Self.inflate([hex("f2 00 11 00 00")], inflater: inflater) == Array("Hello".utf8))
    }

    @Test func inflatesAStoredBlock() throws {
        // §7.2.3.3: DEFLATE block with no compression: 00 05 00 fa ff 'Hello' 00
        #expect(try Self.inflate([hex("00 05 00 fa ff 48 65 6c 6c 6f 00")]) == Array("Hello".utf8))
    }

    @Test func inflatesABlockWithBFINALSet() throws {
        // §7.2.3.4: f3 48 cd c9 c9 07 00 00; the appended tail after the final block is ignored,
        // and the next message starts a new stream.
        let inflater = Inflater()
        #expect(try Self.inflate([hex("f3 48 cd c9 c9 07 00 00")], inflater: inflater) == Array("Hello".utf8))
        #expect(try Self.inflate([hex("f2 48 cd c9 c9 07 00")], inflater: inflater) == Array("Hello".utf8))
    }

    @Test func inflatesTwoDeflateBlocksInOneMessage() throws {
        // §7.2.3.5: f2 48 05 00 00 00 ff ff ca c9 c9 07 00
        #expect(try Self.inflate([hex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")]) == Array("Hello".utf8))
    }

    @Test func compressesHelloAsTheRFCShows() throws {
        let deflater = Deflater()
        var first: [UInt8] = []
        try deflater.compress(Array("Hello".utf8), appendingTo: &first, keepContext: true)
        #expect(first == hex("f2 48 cd c9 c9 07 00"))
        var second: [UInt8] = []
        try deflater.compress(Array("Hello".utf8), appendingTo: &second, keepContext: true)
        #expect(second == hex("f2 00 11 00 00"))
    }

    // MARK: Round trips

    @Test(arguments: [9, 10, 12, 15])
    func roundTripsWithContextTakeover(windowBits: Int) throws {
        let deflater = Deflater(windowBits: windowBits)
        let inflater = Inflater()
        var generator = SeededGenerator(seed: UInt64(windowBits))
        for round in 0..<20 {
            let size = Int.random(in: 0...20_000, using: &generator)
            let words = ["progress", "rows", "import", "{\"seq\":", "\(round)", " "]
            var message: [UInt8] = []
            while message.count < size { message += Array(words[Int.random(in: 0..<words.count, using: &generator)].utf8) }
            var compressed: [UInt8] = []
            try deflater.compress(message, appendingTo: &compressed, keepContext: true)
            // Feed the compressed message in uneven pieces.
            var parts: [[UInt8]] = []
            var start = 0
            while start < compressed.count {
                let end = min(compressed.count, start + Int.random(in: 1...5000, using: &generator))
                parts.append(Array(compressed[start..<end]))
                start = end
            }
            #expect(try Self.inflate(parts, inflater: inflater) == message)
        }
    }

    @Test func roundTripsWithoutContextAndReleasesMemory() throws {
        let deflater = Deflater()
        let inflater = Inflater()
        for text in ["first message first message", "second message", ""] {
            var compressed: [UInt8] = []
            try deflater.compress(Array(text.utf8), appendingTo: &compressed, keepContext: false)
            #expect(!deflater.isAllocated)
            #expect(try Self.inflate([compressed], inflater: inflater, keepContext: false) == Array(text.utf8))
            #expect(!inflater.isAllocated)
        }
    }

    /// Found by Fuzz/inflate: with the context kept, zlib writes nothing for an empty message
    /// that follows another, the inflater then read the appended tail as a stored block's
    /// header and the second empty message came back as the three bytes 00 FF FF.
    @Test(arguments: [0, 6, 9])
    func roundTripsEmptyMessagesAfterOthersWithContextTakeover(level: Int) throws {
        let deflater = Deflater(level: level)
        let inflater = Inflater()
        for text in ["first message", "", "", "after the empty ones", ""] {
            var compressed: [UInt8] = []
            try deflater.compress(Array(text.utf8), appendingTo: &compressed, keepContext: true)
            #expect(!compressed.isEmpty)
            #expect(try Self.inflate([compressed], inflater: inflater) == Array(text.utf8))
        }
    }

    @Test func compressesAnEmptyMessageAfterAFlushAsAnEmptyStoredBlockHeader() throws {
        let deflater = Deflater()
        var first: [UInt8] = []
        try deflater.compress(Array("Hello".utf8), appendingTo: &first, keepContext: true)
        var empty: [UInt8] = []
        try deflater.compress([], appendingTo: &empty, keepContext: true)
        #expect(empty == [0x00])
    }

    @Test func roundTripsIncompressibleData() throws {
        var generator = SeededGenerator(seed: 7692)
        let message = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var compressed: [UInt8] = []
        try Deflater().compress(message, appendingTo: &compressed, keepContext: false)
        #expect(try Self.inflate([compressed]) == message)
    }

    // MARK: Bombs and garbage

    @Test func stopsADecompressionBombAtTheLimit() throws {
        // 64 MiB of zeros deflate to about 64 KiB; the limit is 1 MiB.
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        var compressed: [UInt8] = []
        try Deflater(level: 9).compress(zeros, appendingTo: &compressed, keepContext: false)
        #expect(compressed.count < 100_000)
        var output: [UInt8] = []
        let inflater = Inflater()
        #expect(throws: WebSocketError.messageTooLarge) {
            try compressed.withUnsafeBytes { bytes in
                Result { () throws(WebSocketError) in try inflater.inflate(bytes, appendingTo: &output, limit: 1 << 20) }
            }.get()
        }
        #expect(output.count <= 1 << 20)
    }

    @Test func refusesCorruptData() {
        // Block type 3 does not exist.
        #expect(throws: WebSocketError.invalidCompressedData) {
            try Self.inflate([hex("ff ff ff ff")])
        }
        #expect(WebSocketError.invalidCompressedData.closeCode.rawValue == 1007)
    }
}
