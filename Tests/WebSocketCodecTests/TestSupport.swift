@testable import WebSocketCodec

/// Bytes written as hex with spaces and comments allowed: "81 05 48 65 # Hello".
func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    for line in text.split(separator: "\n") {
        let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        for token in code.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            bytes.append(UInt8(token, radix: 16) ?? 0xEE)
        }
    }
    return bytes
}

/// A client frame (masked with a fixed key) as a client would send it.
func clientFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) -> [UInt8] {
    FrameEncoder.encode(opcode: opcode, payload: payload, fin: fin, rsv1: rsv1, maskingKey: 0x3D21_FA37)
}

func clientFrame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) -> [UInt8] {
    clientFrame(opcode, Array(text.utf8), fin: fin)
}

/// Decodes `input` fed in the given chunk sizes; returns the frames and the error, if any.
func decodeAll(_ input: [UInt8], chunks: [Int]? = nil, decoder: FrameDecoder = FrameDecoder()) -> ([WebSocketFrame], WebSocketError?) {
    var decoder = decoder
    var frames: [WebSocketFrame] = []
    var pieces: [[UInt8]] = []
    if let chunks {
        var start = 0
        for size in chunks where start < input.count {
            let end = min(input.count, start + size)
            pieces.append(Array(input[start..<end]))
            start = end
        }
        if start < input.count { pieces.append(Array(input[start...])) }
    } else {
        pieces = [input]
    }
    for piece in pieces {
        let result = piece.withUnsafeBytes { bytes -> WebSocketError? in
            var cursor = ByteCursor(bytes)
            while true {
                do throws(WebSocketError) {
                    switch try decoder.next(&cursor) {
                    case .needMoreData:
                        return nil
                    case .frame(let frame):
                        frames.append(frame)
                    }
                } catch {
                    return error
                }
            }
        }
        if let result { return (frames, result) }
    }
    return (frames, nil)
}

/// A deterministic generator so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
