/// Which end of the connection decodes: a server requires masked frames, a client requires
/// unmasked ones (RFC 6455 §5.1).
public enum WebSocketRole: Sendable {
    case server
    case client
}

/// Size limits, checked as soon as a frame's length is known and before any payload is
/// buffered (a peer announcing 2^63 bytes costs nothing).
public struct WebSocketLimits: Sendable, Equatable {
    /// Largest payload of one frame, in bytes.
    public var maxFrameSize: Int
    /// Largest message, in bytes: the sum of its frames on the wire and, for a compressed
    /// message, also its size after inflating (decompression bombs stop there).
    public var maxMessageSize: Int

    /// 1 MiB frames and messages: far above Tally's subscribe messages, small enough that a
    /// few hundred slow peers cannot pin gigabytes.
    public init(maxFrameSize: Int = 1 << 20, maxMessageSize: Int = 1 << 20) {
        self.maxFrameSize = maxFrameSize
        self.maxMessageSize = maxMessageSize
    }
}

/// Incremental WebSocket frame parser (RFC 6455 §5.2) that also enforces the rules between
/// frames of one message: continuation sequencing, RSV1 only where permessage-deflate allows
/// it, message size, and UTF-8 of uncompressed text as the bytes arrive (so an invalid text
/// message fails on its first bad byte, even in the middle of a frame).
///
/// Running out of input is `.needMoreData`, never an error. After an error the decoder must not
/// be used again: the connection is failed with `error.closeCode`.
public struct FrameDecoder {
    /// One decoding step.
    public enum Step: Equatable {
        /// Every input byte was consumed and no complete frame is ready yet.
        case needMoreData
        /// A complete frame. For data frames `payload` is still compressed when `rsv1` is set.
        case frame(WebSocketFrame)
    }

    // Fields are ordered widest first: every idle connection carries a decoder, and this
    // order leaves no padding between them (72 bytes instead of 96).
    public var limits: WebSocketLimits
    /// Header bytes received so far when a header arrives split (at most 14).
    private var partialHeader: [UInt8] = []
    private var payload: [UInt8] = []
    /// Wire bytes of the message in progress.
    private var messageLength = 0
    /// The frame whose payload is being received.
    private var current: Header?
    public var role: WebSocketRole
    /// Whether RSV1 may be set on the first frame of a data message (permessage-deflate was
    /// negotiated, RFC 7692 §6).
    public var allowsCompression: Bool
    /// Whether uncompressed text payloads are validated here; compressed ones are validated after
    /// inflating by whoever inflates them.
    public var validatesUTF8: Bool
    /// Whether the current frame's payload is uncompressed text to validate as it arrives.
    private var validatingCurrent = false
    /// Opcode of the data message in progress (text or binary), nil between messages.
    private var messageOpcode: WebSocketOpcode?
    private var messageCompressed = false
    private var utf8 = UTF8Validator()

    private struct Header {
        var length: Int
        var maskingKey: UInt32?
        var fin: Bool
        var rsv1: Bool
        var opcode: WebSocketOpcode
    }

    public init(
        role: WebSocketRole = .server, limits: WebSocketLimits = WebSocketLimits(),
        allowsCompression: Bool = false, validatesUTF8: Bool = true
    ) {
        self.role = role
        self.limits = limits
        self.allowsCompression = allowsCompression
        self.validatesUTF8 = validatesUTF8
    }

    /// Whether a data message has started and not yet ended.
    public var isInMessage: Bool { messageOpcode != nil }

    /// Consumes bytes from `input` until a frame is complete or the input is exhausted.
    public mutating func next(_ input: inout ByteCursor) throws(WebSocketError) -> Step {
        while true {
            if let header = current {
                let missing = header.length - payload.count
                let take = min(missing, input.readableCount)
                if take > 0 {
                    try receivePayload(UnsafeRawBufferPointer(rebasing: input.bytes[input.offset..<(input.offset + take)]), header)
                    input.offset += take
                }
                guard payload.count == header.length else { return .needMoreData }
                return .frame(try finishFrame(header))
            }
            guard let header = try readHeader(&input) else { return .needMoreData }
            try admit(header)
            current = header
            validatingCurrent = validatesUTF8 && !messageCompressed && messageOpcode == .text && !header.opcode.isControl
            if header.length > 0 {
                payload.reserveCapacity(min(header.length, 1 << 20))
            }
        }
    }

    /// Reads a complete header from the input (or from the bytes kept from an earlier call).
    private mutating func readHeader(_ input: inout ByteCursor) throws(WebSocketError) -> Header? {
        if partialHeader.isEmpty {
            let available = UnsafeRawBufferPointer(rebasing: input.bytes[input.offset...])
            if available.count >= 2 {
                let size = try Self.headerSize(available[0], available[1], role: role)
                if available.count >= size {
                    input.offset += size
                    return try Self.parseHeader(UnsafeRawBufferPointer(rebasing: available[0..<size]), limits: limits)
                }
            }
            partialHeader.reserveCapacity(14)
        }
        // Slow path: the header is split across reads; collect it byte by byte (at most 14).
        while !input.isEmpty {
            partialHeader.append(input.bytes[input.offset])
            input.offset += 1
            guard partialHeader.count >= 2 else { continue }
            let size = try Self.headerSize(partialHeader[0], partialHeader[1], role: role)
            if partialHeader.count == size {
                let limits = self.limits
                let header = try partialHeader.withUnsafeBytes { bytes in
                    Result { () throws(WebSocketError) in try Self.parseHeader(bytes, limits: limits) }
                }.get()
                partialHeader = []
                return header
            }
        }
        return nil
    }

    /// Validates the first two bytes and returns the full header size (2 to 14).
    private static func headerSize(_ byte0: UInt8, _ byte1: UInt8, role: WebSocketRole) throws(WebSocketError) -> Int {
        // RSV2 and RSV3 are never negotiated here; RSV1 is checked in `admit` once the message
        // context is known.
        if byte0 & 0x30 != 0 { throw .reservedBits }
        guard let opcode = WebSocketOpcode(rawValue: byte0 & 0x0F) else { throw .reservedOpcode }
        let masked = byte1 & 0x80 != 0
        switch role {
        case .server where !masked: throw .unmaskedFrame
        case .client where masked: throw .maskedFrame
        default: break
        }
        let length7 = byte1 & 0x7F
        if opcode.isControl {
            if byte0 & 0x80 == 0 { throw .fragmentedControlFrame }
            if length7 > 125 { throw .controlFrameTooLarge }
        }
        let extended = length7 == 126 ? 2 : (length7 == 127 ? 8 : 0)
        return 2 + extended + (masked ? 4 : 0)
    }

    /// Parses a complete header whose first two bytes already passed `headerSize`.
    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, limits: WebSocketLimits) throws(WebSocketError) -> Header {
        let byte0 = bytes[0], byte1 = bytes[1]
        let opcode = WebSocketOpcode(rawValue: byte0 & 0x0F) ?? .binary
        var index = 2
        var length = UInt64(byte1 & 0x7F)
        if length == 126 {
            length = UInt64(bytes[2]) << 8 | UInt64(bytes[3])
            index = 4
        } else if length == 127 {
            length = 0
            for offset in 2..<10 { length = length << 8 | UInt64(bytes[offset]) }
            index = 10
            // The most significant bit must be 0 (RFC 6455 §5.2).
            if length & (1 << 63) != 0 { throw .invalidLength }
        }
        if length > UInt64(limits.maxFrameSize) { throw .frameTooLarge }
        var maskingKey: UInt32?
        if byte1 & 0x80 != 0 {
            maskingKey = bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)
        }
        return Header(
            length: Int(length), maskingKey: maskingKey,
            fin: byte0 & 0x80 != 0, rsv1: byte0 & 0x40 != 0, opcode: opcode)
    }

    /// Applies the rules that depend on the message in progress, as soon as the header is known.
    private mutating func admit(_ header: Header) throws(WebSocketError) {
        if header.opcode.isControl {
            if header.rsv1 { throw .reservedBits }
            return
        }
        if header.opcode == .continuation {
            guard messageOpcode != nil else { throw .unexpectedContinuation }
            // RSV1 marks only the first frame of a compressed message (RFC 7692 §6.1).
            if header.rsv1 { throw .reservedBits }
        } else {
            guard messageOpcode == nil else { throw .expectedContinuation }
            if header.rsv1 && !allowsCompression { throw .reservedBits }
            messageOpcode = header.opcode
            messageCompressed = header.rsv1
            messageLength = 0
            utf8.reset()
        }
        if header.length > limits.maxMessageSize - messageLength { throw .messageTooLarge }
        messageLength += header.length
    }

    /// Appends and unmasks a piece of the current payload, validating text as it arrives.
    private mutating func receivePayload(_ bytes: UnsafeRawBufferPointer, _ header: Header) throws(WebSocketError) {
        let start = payload.count
        payload.append(contentsOf: bytes)
        if let key = header.maskingKey {
            payload.withUnsafeMutableBytes { buffer in
                Masking.apply(key: key, keyOffset: start, to: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
            }
        }
        if validatingCurrent {
            let valid = payload.withUnsafeBytes { buffer in
                utf8.validate(UnsafeRawBufferPointer(rebasing: buffer[start...]))
            }
            if !valid { throw .invalidUTF8 }
        }
    }

    private mutating func finishFrame(_ header: Header) throws(WebSocketError) -> WebSocketFrame {
        let frame = WebSocketFrame(fin: header.fin, rsv1: header.rsv1, opcode: header.opcode, payload: payload)
        payload = []
        current = nil
        if !header.opcode.isControl && header.fin {
            if validatingCurrent && !utf8.isComplete { throw .invalidUTF8 }
            messageOpcode = nil
            messageCompressed = false
            messageLength = 0
        }
        validatingCurrent = false
        return frame
    }
}

/// XOR masking (RFC 6455 §5.3), eight bytes at a time.
public enum Masking {
    /// XORs `buffer` with `key` (as stored in the frame, in network byte order), starting
    /// `keyOffset` bytes into the key stream.
    public static func apply(key: UInt32, keyOffset: Int, to buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count > 0 else { return }
        // Rotate the key so that its first byte lines up with buffer[0]. The key was loaded from
        // memory, so its bytes are already in memory order; rotation is in memory order too.
        let shift = (keyOffset & 3) * 8
        let rotated = shift == 0 ? key : (key >> UInt32(shift)) | (key << UInt32(32 - shift))
        let wide = UInt64(rotated) | UInt64(rotated) << 32
        var index = 0
        let count = buffer.count
        while index + 8 <= count {
            let word = buffer.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            buffer.storeBytes(of: word ^ wide, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        var keyByte = rotated
        while index < count {
            buffer[index] ^= UInt8(truncatingIfNeeded: keyByte)
            keyByte = keyByte >> 8 | keyByte << 24
            index += 1
        }
    }
}
