/// Builds frames as contiguous bytes (header followed by payload), RFC 6455 §5.2.
public enum FrameEncoder {
    /// Size of the header for a payload of `count` bytes: 2, 4 or 10 bytes, plus 4 when masked.
    @inlinable public static func headerSize(payloadCount count: Int, masked: Bool) -> Int {
        (count < 126 ? 2 : (count <= 0xFFFF ? 4 : 10)) + (masked ? 4 : 0)
    }

    /// Appends a frame header to `buffer`. `maskingKey` is in memory order (as it appears on the
    /// wire); servers pass nil.
    public static func appendHeader(
        to buffer: inout [UInt8], opcode: WebSocketOpcode, payloadCount count: Int,
        fin: Bool = true, rsv1: Bool = false, maskingKey: UInt32? = nil
    ) {
        buffer.append((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue)
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        if count < 126 {
            buffer.append(maskBit | UInt8(count))
        } else if count <= 0xFFFF {
            buffer.append(maskBit | 126)
            buffer.append(UInt8(truncatingIfNeeded: count >> 8))
            buffer.append(UInt8(truncatingIfNeeded: count))
        } else {
            buffer.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                buffer.append(UInt8(truncatingIfNeeded: UInt64(count) >> UInt64(shift)))
            }
        }
        if let key = maskingKey {
            withUnsafeBytes(of: key) { buffer.append(contentsOf: $0) }
        }
    }

    /// Writes an unmasked frame header at the start of `buffer`, which must hold at least
    /// `headerSize(payloadCount:masked: false)` bytes; returns the header size.
    public static func writeHeader(
        into buffer: UnsafeMutableRawBufferPointer, opcode: WebSocketOpcode, payloadCount count: Int, fin: Bool = true, rsv1: Bool = false
    ) -> Int {
        buffer[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue
        if count < 126 {
            buffer[1] = UInt8(count)
            return 2
        }
        if count <= 0xFFFF {
            buffer[1] = 126
            buffer[2] = UInt8(truncatingIfNeeded: count >> 8)
            buffer[3] = UInt8(truncatingIfNeeded: count)
            return 4
        }
        buffer[1] = 127
        for index in 0..<8 {
            buffer[2 + index] = UInt8(truncatingIfNeeded: UInt64(count) >> UInt64(56 - 8 * index))
        }
        return 10
    }

    /// Encodes an unmasked frame straight into a buffer the caller allocates: `make` receives
    /// the total size and a function that fills a region of exactly that size. Lets a server
    /// build its own shared buffer type with a single copy of the payload.
    public static func encode<Buffer>(
        opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, rsv1: Bool = false,
        into make: (_ count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Buffer
    ) -> Buffer {
        let total = headerSize(payloadCount: payload.count, masked: false) + payload.count
        return make(total) { target in
            let header = writeHeader(into: target, opcode: opcode, payloadCount: payload.count, rsv1: rsv1)
            if let source = payload.baseAddress, payload.count > 0, let base = target.baseAddress {
                (base + header).copyMemory(from: source, byteCount: payload.count)
            }
        }
    }

    /// Encodes one frame. Server frames are unmasked; a client passes a fresh random key.
    public static func encode(
        opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, fin: Bool = true, rsv1: Bool = false,
        maskingKey: UInt32? = nil
    ) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(headerSize(payloadCount: payload.count, masked: maskingKey != nil) + payload.count)
        appendHeader(to: &buffer, opcode: opcode, payloadCount: payload.count, fin: fin, rsv1: rsv1, maskingKey: maskingKey)
        let start = buffer.count
        buffer.append(contentsOf: payload)
        if let key = maskingKey {
            buffer.withUnsafeMutableBytes { bytes in
                Masking.apply(key: key, keyOffset: 0, to: UnsafeMutableRawBufferPointer(rebasing: bytes[start...]))
            }
        }
        return buffer
    }

    /// Encodes one frame from an array payload.
    public static func encode(
        opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true, rsv1: Bool = false, maskingKey: UInt32? = nil
    ) -> [UInt8] {
        payload.withUnsafeBytes { encode(opcode: opcode, payload: $0, fin: fin, rsv1: rsv1, maskingKey: maskingKey) }
    }

    /// The payload of a Close frame: the code in network byte order and a UTF-8 reason cut to
    /// fit the 125-byte control frame limit on a character boundary (RFC 6455 §5.5.1).
    public static func closePayload(code: WebSocketCloseCode, reason: String = "") -> [UInt8] {
        var payload: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var room = 123
        for scalar in reason.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            guard encoded.count <= room else { break }
            payload.append(contentsOf: encoded)
            room -= encoded.count
        }
        return payload
    }

    /// A complete Close frame.
    public static func closeFrame(code: WebSocketCloseCode, reason: String = "", maskingKey: UInt32? = nil) -> [UInt8] {
        encode(opcode: .close, payload: closePayload(code: code, reason: reason), maskingKey: maskingKey)
    }
}

/// A frame encoded once, as immutable contiguous bytes (unmasked, header then payload), that
/// may be written to any number of server-side connections: the array's storage is shared,
/// never copied per connection.
public struct EncodedFrame: Sendable, Equatable {
    /// The frame as it goes on the wire.
    public let bytes: [UInt8]
    /// Whether this is a compressed (RSV1) frame, valid only on connections that negotiated
    /// permessage-deflate with a window of at least `windowBits`.
    public let isCompressed: Bool
    /// The LZ77 window the payload was compressed with (0 when uncompressed).
    public let windowBits: Int

    /// Encodes a complete, uncompressed, unmasked message frame.
    public init(opcode: WebSocketOpcode, payload: [UInt8]) {
        bytes = FrameEncoder.encode(opcode: opcode, payload: payload)
        isCompressed = false
        windowBits = 0
    }

    /// Wraps bytes that are already a complete frame.
    public init(bytes: [UInt8], isCompressed: Bool, windowBits: Int) {
        self.bytes = bytes
        self.isCompressed = isCompressed
        self.windowBits = windowBits
    }
}
