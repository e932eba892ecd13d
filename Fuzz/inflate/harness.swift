// libFuzzer harness for the permessage-deflate inflater on its own (RFC 7692 §7.2.2): raw
// deflate input, a per-message output limit, and decompression bombs. Built by
// scripts/fuzz.sh with Sources/WebSocketCodec in this module; zlib itself is the reference.
//
// Byte 0: bits 0-2 the window bits (8 + n), bits 3-4 the limit (64 B, 1 KiB, 16 KiB, 64 KiB),
// bits 5-6 the kind, bit 7 whether the context is kept between messages. Byte 1: the chunk
// size (1-256) the compressed bytes are fed in. The rest depends on the kind:
//   0: one compressed message;
//   1: compressed messages separated by the sync-flush tail 00 00 FF FF, as a client sends them;
//   2: plain text, split into messages at line feeds, compressed by `Deflater` and inflated back;
//   3: patches to a decompression bomb (8 MiB of zeros, about 8 KiB compressed).
// Invariants: output never passes the limit, and a message whose inflated size passes it is
// refused with ws.message_too_large; every single message agrees with zlib inflating the
// whole of it at once (same bytes, or an error in the same place; with a window under 15
// bits we may refuse a too-far distance zlib lets through); chunking changes nothing for a
// stream of messages inflated with the full window; a round trip gives the text back.

import CZlib

/// The inflater takes a 16 KiB scratch buffer per call and the harness feeds it in chunks of
/// a few bytes, so most time went to ASan filling and recording those allocations; neither
/// finds bugs here (reads of uninitialized scratch would show as differences from zlib).
@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("max_malloc_fill_size=0:malloc_context_size=4" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The reference's output buffer, allocated once.
private let referenceScratch = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 32 * 1024)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count >= 2 else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: count))
    let mode = bytes[0]
    let windowBits = 8 + Int(mode & 7)
    let limit = [64, 1024, 16 * 1024, 64 * 1024][Int(mode >> 3) & 3]
    let keepContext = mode & 0x80 != 0
    let chunk = Int(bytes[1]) + 1
    let rest = Array(bytes[2...])
    switch (mode >> 5) & 3 {
    case 0:
        checkAgainstZlib(rest, windowBits: windowBits, limit: limit, chunk: chunk)
    case 1:
        // The full window: with a smaller one, chunking may change where a too-far distance is caught.
        checkStream(split(rest, at: deflateTail), windowBits: 15, limit: limit, chunk: chunk, keepContext: keepContext)
    case 2:
        checkRoundTrip(rest, windowBits: windowBits, limit: limit, chunk: chunk, keepContext: keepContext)
    default:
        var bomb = zeroBomb
        if !rest.isEmpty {
            // Patch the bomb in place: still mostly a bomb, now also broken in varied ways.
            let start = (Int(rest[0]) * 31) % bomb.count
            for (index, byte) in rest.dropFirst().enumerated() where start + index < bomb.count {
                bomb[start + index] = byte
            }
        }
        let outcome = checkAgainstZlib(bomb, windowBits: 15, limit: limit, chunk: chunk * 16)
        if rest.isEmpty, outcome != .tooLarge { fatalError("the bomb was not stopped by the limit: \(outcome)") }
    }
    return 0
}

/// 8 MiB of zeros deflated at level 9: about 1,000 times smaller than what it inflates to.
private let zeroBomb: [UInt8] = {
    let deflater = Deflater(windowBits: 15, memoryLevel: 9, level: 9)
    var out: [UInt8] = []
    let zeros = [UInt8](repeating: 0, count: 8 << 20)
    do { try deflater.compress(zeros, appendingTo: &out, keepContext: false) } catch { fatalError("cannot build the bomb") }
    return out
}()

private enum Outcome: Equatable {
    case inflated([UInt8])
    case tooLarge
    case invalid
}

/// Our inflater on one message, fed in chunks.
private func inflateMessage(_ message: [UInt8], with inflater: Inflater, limit: Int, chunk: Int, keepContext: Bool) -> Outcome {
    var output: [UInt8] = []
    // A copy at a stable address, so the loop needs no closure.
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, message.count), alignment: 1)
    defer { raw.deallocate() }
    raw.copyBytes(from: message)
    do throws(WebSocketError) {
        var offset = 0
        while offset < message.count {
            let end = min(message.count, offset + chunk)
            try inflater.inflate(UnsafeRawBufferPointer(rebasing: raw[offset..<end]), appendingTo: &output, limit: limit)
            if output.count > limit { fatalError("inflate passed its limit: \(output.count) > \(limit)") }
            offset = end
        }
        try inflater.finishMessage(appendingTo: &output, limit: limit, keepContext: keepContext)
    } catch {
        if output.count > limit { fatalError("inflate passed its limit: \(output.count) > \(limit)") }
        switch error.code {
        case WebSocketError.messageTooLarge.code: return .tooLarge
        case WebSocketError.invalidCompressedData.code: return .invalid
        default: fatalError("unexpected inflate error \(error)")
        }
    }
    if output.count > limit { fatalError("inflate passed its limit: \(output.count) > \(limit)") }
    return .inflated(output)
}

/// zlib inflating the whole message plus its tail in one call sequence, stopping a little
/// past the limit.
private func zlibInflate(_ message: [UInt8], windowBits: Int, limit: Int) -> Outcome {
    var stream = z_stream()
    guard inflateInit2_(&stream, -Int32(windowBits), zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        fatalError("inflateInit2 failed")
    }
    defer { inflateEnd(&stream) }
    var input = message + deflateTail
    var output: [UInt8] = []
    let scratch = referenceScratch
    return input.withUnsafeMutableBufferPointer { inputBuffer in
        stream.next_in = inputBuffer.baseAddress
        stream.avail_in = uInt(inputBuffer.count)
        while true {
            stream.next_out = scratch.baseAddress
            stream.avail_out = uInt(scratch.count)
            let result = CZlib.inflate(&stream, Z_SYNC_FLUSH)
            output.append(contentsOf: scratch[0..<(scratch.count - Int(stream.avail_out))])
            if output.count > limit { return .tooLarge }
            switch result {
            case Z_STREAM_END: return .inflated(output)
            case Z_OK: if stream.avail_in == 0 && stream.avail_out != 0 { return .inflated(output) }
            case Z_BUF_ERROR: return .inflated(output)
            default: return .invalid
            }
        }
    }
}

@discardableResult
private func checkAgainstZlib(_ message: [UInt8], windowBits: Int, limit: Int, chunk: Int) -> Outcome {
    let ours = inflateMessage(message, with: Inflater(windowBits: windowBits), limit: limit, chunk: chunk, keepContext: false)
    // Within one call zlib lets a distance reach back into that call's output even past a
    // window smaller than 32 KiB, so with a small window whether a too-far distance is caught
    // depends on how input and output were cut. The reference therefore uses the full window:
    // what we inflate must be exactly what it inflates, but we may refuse more.
    let reference = zlibInflate(message, windowBits: 15, limit: limit)
    if windowBits == 15 || ours != .invalid {
        if ours != reference { fatalError("inflater and zlib disagree: \(describe(ours)) vs \(describe(reference))") }
    }
    if reference == .invalid, ours != .invalid { fatalError("zlib refuses what the inflater accepts: \(describe(ours))") }
    return ours
}

/// Several messages on one inflater, as a connection receives them: the same results whole
/// and in chunks; the first refusal fails the connection, so nothing after it is inflated.
private func checkStream(_ messages: [[UInt8]], windowBits: Int, limit: Int, chunk: Int, keepContext: Bool) {
    func run(chunk: Int) -> [Outcome] {
        let inflater = Inflater(windowBits: windowBits)
        var outcomes: [Outcome] = []
        for message in messages.prefix(8) {
            let outcome = inflateMessage(message, with: inflater, limit: limit, chunk: chunk, keepContext: keepContext)
            outcomes.append(outcome)
            if case .inflated = outcome { continue }
            break
        }
        // A refused message fails the connection, which drops the inflater; only a finished one
        // must have given its memory back.
        if !keepContext, case .inflated = outcomes.last, inflater.isAllocated {
            fatalError("inflater kept its memory without context takeover")
        }
        return outcomes
    }
    let whole = run(chunk: Int.max)
    if run(chunk: chunk) != whole { fatalError("chunking changed the inflated messages") }
    if !keepContext, let first = messages.first, let outcome = whole.first {
        // Without context takeover each message stands alone, so zlib on it alone must agree.
        if zlibInflate(first, windowBits: windowBits, limit: limit) != outcome { fatalError("first message disagrees with zlib") }
    }
}

private func checkRoundTrip(_ text: [UInt8], windowBits: Int, limit: Int, chunk: Int, keepContext: Bool) {
    let bits = max(9, windowBits)
    let deflater = Deflater(windowBits: bits, memoryLevel: 1 + Int(text.first ?? 0) % 9, level: Int(text.last ?? 6) % 10)
    let inflater = Inflater(windowBits: bits)
    for message in split(text, at: [0x0A]).prefix(8) {
        var compressed: [UInt8] = []
        do { try deflater.compress(message, appendingTo: &compressed, keepContext: keepContext) } catch {
            fatalError("deflate failed: \(error)")
        }
        let outcome = inflateMessage(compressed, with: inflater, limit: limit, chunk: chunk, keepContext: keepContext)
        if message.count > limit {
            guard outcome == .tooLarge else { fatalError("a \(message.count)-byte message passed a \(limit)-byte limit") }
            return
        }
        guard outcome == .inflated(message) else { fatalError("round trip changed the message: \(describe(outcome))") }
    }
}

private func split(_ bytes: [UInt8], at separator: [UInt8]) -> [[UInt8]] {
    var parts: [[UInt8]] = []
    var start = 0
    var index = 0
    while index + separator.count <= bytes.count {
        if bytes[index..<(index + separator.count)].elementsEqual(separator) {
            parts.append(Array(bytes[start..<index]))
            index += separator.count
            start = index
        } else {
            index += 1
        }
    }
    parts.append(Array(bytes[start...]))
    return parts
}

private func describe(_ outcome: Outcome) -> String {
    switch outcome {
    case .inflated(let bytes): "\(bytes.count) bytes"
    case .tooLarge: "too large"
    case .invalid: "invalid"
    }
}
