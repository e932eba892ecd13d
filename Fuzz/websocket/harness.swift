// libFuzzer harness for the WebSocket codec: the frame decoder, message assembly and the
// permessage-deflate inflater, driven through the connection state machine exactly as the
// server drives it. Built by scripts/fuzz.sh with the codec's sources in the same module.
//
// Input layout: byte 0 selects the mode and the chunk size; the rest is the byte stream.
//   mode bit 0x80 set: raw inflate of the rest (limit 64 KiB), in chunks.
//   otherwise: frames from a client, with permessage-deflate when bit 0x40 is set.
// Invariants checked: no crash, no output past the limits, nothing delivered after a close.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count >= 1 else { return 0 }
    let mode = data.load(as: UInt8.self)
    let input = UnsafeRawBufferPointer(start: data + 1, count: count - 1)
    let chunk = Int(mode & 0x1F) + 1
    if mode & 0x80 != 0 {
        fuzzInflate(input, chunk: chunk)
    } else {
        fuzzConnection(input, chunk: chunk, deflate: mode & 0x40 != 0)
    }
    return 0
}

private func fuzzInflate(_ input: UnsafeRawBufferPointer, chunk: Int) {
    let limit = 64 * 1024
    let inflater = Inflater()
    var output: [UInt8] = []
    var offset = 0
    do {
        while offset < input.count {
            let end = min(input.count, offset + chunk * 7)
            try inflater.inflate(UnsafeRawBufferPointer(rebasing: input[offset..<end]), appendingTo: &output, limit: limit)
            offset = end
        }
        try inflater.finishMessage(appendingTo: &output, limit: limit, keepContext: true)
    } catch {
        // Refusal is fine; exceeding the limit is not.
    }
    if output.count > limit { fatalError("inflate exceeded its limit: \(output.count)") }
}

private func fuzzConnection(_ input: UnsafeRawBufferPointer, chunk: Int, deflate: Bool) {
    let limits = WebSocketLimits(maxFrameSize: 8 * 1024, maxMessageSize: 16 * 1024)
    let start = ContinuousClock.now
    var machine = WebSocketConnectionStateMachine(
        configuration: WebSocketConfiguration(limits: limits), deflate: deflate ? DeflateParameters() : nil, now: start)
    var offset = 0
    var ended = false
    while offset < input.count {
        let end = min(input.count, offset + chunk)
        var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
        while let action = machine.receive(&cursor, now: start) {
            if ended { fatalError("action after the connection ended") }
            switch action {
            case .deliver(let message):
                if message.payload.count > limits.maxMessageSize { fatalError("message over the limit") }
                if message.kind == .text, String(validating: message.payload, as: UTF8.self) == nil {
                    fatalError("invalid UTF-8 delivered")
                }
                // Echo it, as the conformance endpoint does, to exercise the encoder and deflater.
                _ = machine.encode(message.kind, payload: message.payload)
            case .write:
                break
            case .writeAndClose, .closeConnection:
                ended = true
            }
        }
        if !cursor.isEmpty && !ended { fatalError("bytes left unconsumed") }
        offset = end
    }
    _ = machine.tick(now: start + .seconds(60))
}
