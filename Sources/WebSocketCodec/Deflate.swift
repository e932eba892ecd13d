import CZlib

/// The four bytes that end every message compressed with a sync flush; senders strip them and
/// receivers append them back before inflating (RFC 7692 §7.2.1 and §7.2.2).
let deflateTail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

/// Size of the scratch buffer zlib writes into before bytes are appended to a message.
private let zlibChunk = 16 * 1024

/// A raw-deflate decompressor for one direction of one connection (RFC 7692 §7.2.2).
///
/// zlib keeps a pointer back to its `z_stream` and checks it on every call, so the stream lives
/// at a fixed heap address owned by this class; the class is not `Sendable` (it belongs to the
/// connection's event loop). Its memory (about 7 KiB of state plus the 2^windowBits window) is
/// allocated on first use and released by `release()`.
public final class Inflater {
    private var stream: UnsafeMutablePointer<z_stream>?
    /// zlib saw a final block: the rest of this message (the appended tail) is ignored.
    private var streamEnded = false
    private let windowBits: Int32

    /// `windowBits` is the largest window the peer may use (8-15); 15 decodes any stream.
    public init(windowBits: Int = 15) {
        self.windowBits = Int32(max(8, min(15, windowBits)))
    }

    deinit { release() }

    /// Whether zlib memory is currently held.
    public var isAllocated: Bool { stream != nil }

    private func open() throws(WebSocketError) -> UnsafeMutablePointer<z_stream> {
        if let stream { return stream }
        let created = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        created.initialize(to: z_stream())
        guard inflateInit2_(created, -windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            created.deallocate()
            throw .compressorFailure
        }
        stream = created
        return created
    }

    /// Inflates one piece of a compressed message and appends the output, refusing to let the
    /// message grow past `limit` bytes (the check is made before each append, so a
    /// decompression bomb costs at most one scratch chunk).
    public func inflate(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8], limit: Int) throws(WebSocketError) {
        guard input.count > 0, !streamEnded else { return }
        let stream = try open()
        guard let base = input.baseAddress else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        // The closure reports its error as a value: typed throws do not pass through it.
        let failure: WebSocketError? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: zlibChunk) { scratch in
            guard let scratchBase = scratch.baseAddress else { return .compressorFailure }
            while true {
                stream.pointee.next_out = scratchBase
                stream.pointee.avail_out = uInt(zlibChunk)
                let result = CZlib.inflate(stream, Z_SYNC_FLUSH)
                let produced = zlibChunk - Int(stream.pointee.avail_out)
                if produced > 0 {
                    if produced > limit - output.count { return .messageTooLarge }
                    output.append(contentsOf: UnsafeBufferPointer(start: scratchBase, count: produced))
                }
                switch result {
                case Z_OK:
                    // More output may be pending only when the scratch buffer was filled.
                    if stream.pointee.avail_out != 0 && stream.pointee.avail_in == 0 { return nil }
                case Z_STREAM_END:
                    streamEnded = true
                    return nil
                case Z_BUF_ERROR:
                    return nil
                case Z_MEM_ERROR:
                    return .compressorFailure
                default:
                    return .invalidCompressedData
                }
            }
        }
        if let failure { throw failure }
    }

    /// Ends a message: inflates the stripped tail, then resets (or frees) the stream when the
    /// sender does not keep its context between messages.
    public func finishMessage(appendingTo output: inout [UInt8], limit: Int, keepContext: Bool) throws(WebSocketError) {
        let tail = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
        defer { tail.deallocate() }
        tail.copyBytes(from: deflateTail)
        try inflate(UnsafeRawBufferPointer(tail), appendingTo: &output, limit: limit)
        if !keepContext {
            release()
        } else if streamEnded, let stream {
            // A final block ended the sender's stream; its next message starts a new one.
            inflateReset(stream)
        }
        streamEnded = false
    }

    /// Frees zlib's memory; the next message starts a fresh stream.
    public func release() {
        if let stream {
            inflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        stream = nil
        streamEnded = false
    }
}

/// A raw-deflate compressor for one connection's outgoing messages (RFC 7692 §7.2.1).
///
/// Like `Inflater`, the stream sits at a fixed heap address, is allocated on first use, and is
/// released after each message when the context is not kept.
public final class Deflater {
    private var stream: UnsafeMutablePointer<z_stream>?
    private let windowBits: Int32
    private let memoryLevel: Int32
    private let level: Int32

    /// `windowBits` 9-15 (zlib's raw deflate cannot use 8), `memoryLevel` 1-9 (8 is zlib's
    /// default; lower saves memory at some cost in ratio), `level` 0-9.
    public init(windowBits: Int = 15, memoryLevel: Int = 8, level: Int = 6) {
        self.windowBits = Int32(max(9, min(15, windowBits)))
        self.memoryLevel = Int32(max(1, min(9, memoryLevel)))
        self.level = Int32(max(0, min(9, level)))
    }

    deinit { release() }

    /// Whether zlib memory is currently held.
    public var isAllocated: Bool { stream != nil }

    private func open() throws(WebSocketError) -> UnsafeMutablePointer<z_stream> {
        if let stream { return stream }
        let created = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        created.initialize(to: z_stream())
        guard deflateInit2_(
            created, level, Z_DEFLATED, -windowBits, memoryLevel, Z_DEFAULT_STRATEGY,
            zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else {
            created.deallocate()
            throw .compressorFailure
        }
        stream = created
        return created
    }

    /// Compresses a whole message and appends it to `output` without the trailing
    /// 0x00 0x00 0xFF 0xFF. With `keepContext` false the stream is freed afterwards, so the
    /// next message neither refers to this one nor costs memory while the connection is idle.
    public func compress(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8], keepContext: Bool) throws(WebSocketError) {
        let stream = try open()
        let start = output.count
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
            if !keepContext { release() }
        }
        let failed = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: zlibChunk) { scratch -> Bool in
            guard let scratchBase = scratch.baseAddress else { return true }
            while true {
                stream.pointee.next_out = scratchBase
                stream.pointee.avail_out = uInt(zlibChunk)
                let result = CZlib.deflate(stream, Z_SYNC_FLUSH)
                guard result == Z_OK || result == Z_BUF_ERROR else { return true }
                let produced = zlibChunk - Int(stream.pointee.avail_out)
                output.append(contentsOf: UnsafeBufferPointer(start: scratchBase, count: produced))
                // A sync flush is complete once zlib leaves room in the output buffer.
                if stream.pointee.avail_out != 0 && stream.pointee.avail_in == 0 { return false }
            }
        }
        if failed { throw .compressorFailure }
        if output.count - start >= 4 && Array(output[(output.count - 4)...]) == deflateTail {
            output.removeLast(4)
        }
        if output.count == start {
            // zlib writes nothing for an empty message right after a flush, but the peer appends
            // 00 00 FF FF, which reads as an empty stored block only after its header byte; an
            // empty payload would make the peer take the tail for a block header (RFC 7692
            // §7.2.3.6).
            output.append(0x00)
        }
    }

    /// Compresses an array.
    public func compress(_ input: [UInt8], appendingTo output: inout [UInt8], keepContext: Bool) throws(WebSocketError) {
        let result = input.withUnsafeBytes { bytes in
            Result { () throws(WebSocketError) in try compress(bytes, appendingTo: &output, keepContext: keepContext) }
        }
        try result.get()
    }

    /// Forgets the context: the next message is compressed as if it were the first.
    public func reset() {
        if let stream { deflateReset(stream) }
    }

    /// Frees zlib's memory.
    public func release() {
        if let stream {
            deflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        stream = nil
    }
}
