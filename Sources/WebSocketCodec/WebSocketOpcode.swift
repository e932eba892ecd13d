/// A frame opcode (RFC 6455 §5.2). Only the six defined values are representable; the decoder
/// rejects the reserved ones before a value is made.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// Control frames (close, ping, pong) have the high bit of the opcode set (RFC 6455 §5.5).
    @inlinable public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// One decoded frame, payload unmasked.
public struct WebSocketFrame: Equatable, Sendable {
    public var fin: Bool
    /// RSV1: set on the first frame of a compressed message (RFC 7692 §6).
    public var rsv1: Bool
    public var opcode: WebSocketOpcode
    public var payload: [UInt8]

    public init(fin: Bool = true, rsv1: Bool = false, opcode: WebSocketOpcode, payload: [UInt8]) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payload = payload
    }
}
