import Testing
@testable import WebSocketCodec

struct FrameDecoderTests {
    // MARK: RFC 6455 §5.7 examples

    @Test func decodesUnmaskedTextFrame() {
        let input = hex("81 05 48 65 6c 6c 6f   # FIN text, len 5, 'Hello'")
        let (frames, error) = decodeAll(input, decoder: FrameDecoder(role: .client))
        #expect(error == nil)
        #expect(frames == [WebSocketFrame(opcode: .text, payload: Array("Hello".utf8))])
    }

    @Test func decodesMaskedTextFrame() {
        let input = hex("""
            81 85           # FIN text, MASK, len 5
            37 fa 21 3d     # masking key
            7f 9f 4d 51 58  # 'Hello' masked
            """)
        let (frames, error) = decodeAll(input)
        #expect(error == nil)
        #expect(frames == [WebSocketFrame(opcode: .text, payload: Array("Hello".utf8))])
    }

    @Test func decodesFragmentedUnmaskedText() {
        let input = hex("""
            01 03 48 65 6c  # text, not FIN, 'Hel'
            80 02 6c 6f     # continuation, FIN, 'lo'
            """)
        let (frames, error) = decodeAll(input, decoder: FrameDecoder(role: .client))
        #expect(error == nil)
        #expect(frames == [
            WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8)),
            WebSocketFrame(fin: true, opcode: .continuation, payload: Array("lo".utf8)),
        ])
    }

    @Test func decodesPingAndMaskedPong() {
        let ping = hex("89 05 48 65 6c 6c 6f   # unmasked ping 'Hello'")
        #expect(decodeAll(ping, decoder: FrameDecoder(role: .client)).0 == [WebSocketFrame(opcode: .ping, payload: Array("Hello".utf8))])
        let pong = hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58   # masked pong 'Hello'")
        #expect(decodeAll(pong).0 == [WebSocketFrame(opcode: .pong, payload: Array("Hello".utf8))])
    }

    @Test func decodes16BitAnd64BitLengths() {
        let body256 = (0..<256).map { UInt8(truncatingIfNeeded: $0) }
        let frame256 = hex("82 7e 01 00   # binary, 16-bit length 256") + body256
        #expect(decodeAll(frame256, decoder: FrameDecoder(role: .client)).0 == [WebSocketFrame(opcode: .binary, payload: body256)])
        let body64k = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let frame64k = hex("82 7f 00 00 00 00 00 01 00 00   # binary, 64-bit length 65536") + body64k
        #expect(decodeAll(frame64k, decoder: FrameDecoder(role: .client)).0 == [WebSocketFrame(opcode: .binary, payload: body64k)])
    }

    // MARK: Split invariance

    /// A stream mixing every header size, masking offsets, control frames between fragments.
    static let stream: [UInt8] = {
        var bytes: [UInt8] = []
        bytes += clientFrame(.text, "κόσμε first", fin: false)
        bytes += clientFrame(.ping, Array("p".utf8))
        bytes += clientFrame(.continuation, " — and the rest 🎉", fin: true)
        bytes += clientFrame(.binary, (0..<300).map { UInt8(truncatingIfNeeded: $0) })
        bytes += clientFrame(.binary, [])
        bytes += clientFrame(.binary, (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        bytes += clientFrame(.close, [0x03, 0xE8])
        return bytes
    }()

    @Test func everyTwoWaySplitYieldsTheSameFrames() {
        let (expected, error) = decodeAll(Self.stream)
        #expect(error == nil)
        #expect(expected.count == 7)
        // Cut points through the small frames exhaustively, then every 997th byte of the big one.
        for cut in Array(0...400) + Array(stride(from: 400, to: Self.stream.count, by: 997)) {
            let (frames, error) = decodeAll(Self.stream, chunks: [cut])
            #expect(error == nil)
            #expect(frames == expected, "cut at \(cut)")
        }
    }

    @Test func byteAtATimeAndRandomChunkingsYieldTheSameFrames() {
        let (expected, _) = decodeAll(Self.stream)
        let small = Array(Self.stream.prefix(400))
        let (expectedSmall, _) = decodeAll(small)
        #expect(decodeAll(small, chunks: Array(repeating: 1, count: small.count)).0 == expectedSmall)
        var generator = SeededGenerator(seed: 6455)
        for _ in 0..<50 {
            var chunks: [Int] = []
            var total = 0
            while total < Self.stream.count {
                let size = Int.random(in: 1...9000, using: &generator)
                chunks.append(size)
                total += size
            }
            #expect(decodeAll(Self.stream, chunks: chunks).0 == expected)
        }
    }

    // MARK: Errors and their close codes

    @Test(arguments: [
        (hex("c1 80 00 00 00 00   # RSV1 without permessage-deflate"), WebSocketError.reservedBits),
        (hex("a1 80 00 00 00 00   # RSV2"), .reservedBits),
        (hex("91 80 00 00 00 00   # RSV3"), .reservedBits),
        (hex("83 80 00 00 00 00   # opcode 3 reserved"), .reservedOpcode),
        (hex("87 80 00 00 00 00   # opcode 7 reserved"), .reservedOpcode),
        (hex("8b 80 00 00 00 00   # opcode 0xB reserved"), .reservedOpcode),
        (hex("8f 80 00 00 00 00   # opcode 0xF reserved"), .reservedOpcode),
        (hex("81 00               # unmasked client frame"), .unmaskedFrame),
        (hex("09 80 00 00 00 00   # ping without FIN"), .fragmentedControlFrame),
        (hex("89 fe 00 7e         # ping with 16-bit length 126"), .controlFrameTooLarge),
        (hex("88 fe 00 7e         # close with 16-bit length"), .controlFrameTooLarge),
        (hex("82 ff 80 00 00 00 00 00 00 00 00 00 00 00   # 64-bit length with MSB set, mask"), .invalidLength),
        (hex("80 80 00 00 00 00   # continuation with no message"), .unexpectedContinuation),
        (hex("01 80 00 00 00 00  01 80 00 00 00 00   # new text while a message is open"), .expectedContinuation),
        (hex("81 82 00 00 00 00 c0 80   # overlong NUL in text"), .invalidUTF8),
    ])
    func protocolViolationsFailWithTheirCloseCode(input: [UInt8], expected: WebSocketError) {
        let (_, error) = decodeAll(input)
        #expect(error == expected)
        #expect(error?.closeCode == expected.closeCode)
    }

    @Test func reservedBitsAndOpcodesMapTo1002AndUTF8To1007() {
        #expect(WebSocketError.reservedBits.closeCode.rawValue == 1002)
        #expect(WebSocketError.reservedOpcode.closeCode.rawValue == 1002)
        #expect(WebSocketError.invalidUTF8.closeCode.rawValue == 1007)
        #expect(WebSocketError.frameTooLarge.closeCode.rawValue == 1009)
        #expect(WebSocketError.messageTooLarge.closeCode.rawValue == 1009)
    }

    @Test func rsv1IsAllowedOnlyOnTheFirstDataFrameWhenNegotiated() {
        let decoder = FrameDecoder(allowsCompression: true)
        let ok = clientFrame(.text, [0x01], fin: false, rsv1: true) + clientFrame(.continuation, [0x02])
        #expect(decodeAll(ok, decoder: decoder).1 == nil)
        let onContinuation = clientFrame(.binary, [0x01], fin: false) + clientFrame(.continuation, [0x02], rsv1: true)
        #expect(decodeAll(onContinuation, decoder: decoder).1 == .reservedBits)
        let onPing = clientFrame(.ping, [], rsv1: true)
        #expect(decodeAll(onPing, decoder: decoder).1 == .reservedBits)
    }

    @Test func frameLimitIsCheckedFromTheHeaderAlone() {
        // Only the header of a 2^40-byte frame is sent: the decoder refuses it at once.
        let header = hex("82 ff 00 00 01 00 00 00 00 00  11 22 33 44   # binary, 64-bit length 2^40, mask")
        let (_, error) = decodeAll(header, decoder: FrameDecoder(limits: WebSocketLimits(maxFrameSize: 1024, maxMessageSize: 4096)))
        #expect(error == .frameTooLarge)
    }

    @Test func messageLimitCountsEveryFragment() {
        let limits = WebSocketLimits(maxFrameSize: 100, maxMessageSize: 150)
        let input = clientFrame(.binary, [UInt8](repeating: 1, count: 100), fin: false)
            + clientFrame(.continuation, [UInt8](repeating: 2, count: 51))
        let (frames, error) = decodeAll(input, decoder: FrameDecoder(limits: limits))
        #expect(frames.count == 1)
        #expect(error == .messageTooLarge)
        // Control frames in between do not count.
        let fits = clientFrame(.binary, [UInt8](repeating: 1, count: 100), fin: false) + clientFrame(.ping, [UInt8](repeating: 0, count: 100))
            + clientFrame(.continuation, [UInt8](repeating: 2, count: 50))
        #expect(decodeAll(fits, decoder: FrameDecoder(limits: limits)).1 == nil)
    }

    @Test func invalidUTF8FailsInTheMiddleOfAFrame() {
        // A 1000-byte text frame whose 10th byte is invalid: only 20 bytes are fed.
        var payload = [UInt8](repeating: 0x61, count: 1000)
        payload[9] = 0xFF
        let frame = clientFrame(.text, payload)
        let (frames, error) = decodeAll(Array(frame.prefix(20)))
        #expect(frames.isEmpty)
        #expect(error == .invalidUTF8)
    }

    @Test func invalidUTF8IsDetectedAcrossFragments() {
        // U+20AC (E2 82 AC) split over two frames is fine; E2 82 then 41 is not.
        let valid = clientFrame(.text, [0xE2, 0x82], fin: false) + clientFrame(.continuation, [0xAC])
        #expect(decodeAll(valid).1 == nil)
        let invalid = clientFrame(.text, [0xE2, 0x82], fin: false) + clientFrame(.continuation, [0x41], fin: false)
        #expect(decodeAll(invalid).1 == .invalidUTF8)
        // A message that ends inside a character.
        let truncated = clientFrame(.text, [0x41, 0xE2, 0x82], fin: false) + clientFrame(.continuation, [])
        #expect(decodeAll(truncated).1 == .invalidUTF8)
    }

    @Test func binaryAndCompressedTextAreNotValidatedHere() {
        #expect(decodeAll(clientFrame(.binary, [0xFF, 0xFE])).1 == nil)
        let compressed = clientFrame(.text, [0xFF], rsv1: true)
        #expect(decodeAll(compressed, decoder: FrameDecoder(allowsCompression: true)).1 == nil)
    }

    @Test func clientRoleRefusesMaskedFrames() {
        #expect(decodeAll(clientFrame(.text, "x"), decoder: FrameDecoder(role: .client)).1 == .maskedFrame)
    }

    @Test func masksWithEveryAlignment() {
        // Masking then unmasking with any start offset returns the input.
        let data = (0..<37).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        for offset in 0..<8 {
            var copy = data
            copy.withUnsafeMutableBytes { Masking.apply(key: 0xA1B2_C3D4, keyOffset: offset, to: $0) }
            #expect(copy != data)
            // Byte by byte reference.
            let key = withUnsafeBytes(of: UInt32(0xA1B2_C3D4)) { Array($0) }
            let expected = data.enumerated().map { $0.element ^ key[($0.offset + offset) % 4] }
            #expect(copy == expected)
        }
    }
}
