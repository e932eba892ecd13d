/// A protocol violation or limit breach found while decoding, with a stable string code for
/// logs and metrics and the close code (RFC 6455 §7.4.1) that the connection must be failed with.
public struct WebSocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable identifier such as `"ws.reserved_opcode"`.
    public let code: String
    /// The close code to send when failing the connection because of this error.
    public let closeCode: WebSocketCloseCode

    public init(code: String, closeCode: WebSocketCloseCode) {
        self.code = code
        self.closeCode = closeCode
    }

    public var description: String { "\(code) (close \(closeCode.rawValue))" }

    // Frame-level protocol errors: 1002.
    public static let reservedBits = WebSocketError(code: "ws.reserved_bits", closeCode: .protocolError)
    public static let reservedOpcode = WebSocketError(code: "ws.reserved_opcode", closeCode: .protocolError)
    public static let unmaskedFrame = WebSocketError(code: "ws.unmasked_frame", closeCode: .protocolError)
    public static let maskedFrame = WebSocketError(code: "ws.masked_frame", closeCode: .protocolError)
    public static let fragmentedControlFrame = WebSocketError(code: "ws.fragmented_control_frame", closeCode: .protocolError)
    public static let controlFrameTooLarge = WebSocketError(code: "ws.control_frame_too_large", closeCode: .protocolError)
    public static let invalidLength = WebSocketError(code: "ws.invalid_length", closeCode: .protocolError)
    public static let unexpectedContinuation = WebSocketError(code: "ws.unexpected_continuation", closeCode: .protocolError)
    public static let expectedContinuation = WebSocketError(code: "ws.expected_continuation", closeCode: .protocolError)
    public static let invalidClosePayload = WebSocketError(code: "ws.invalid_close_payload", closeCode: .protocolError)
    public static let invalidCloseCode = WebSocketError(code: "ws.invalid_close_code", closeCode: .protocolError)
    public static let invalidCompressedData = WebSocketError(code: "ws.invalid_compressed_data", closeCode: .invalidPayload)

    // Payload errors.
    public static let invalidUTF8 = WebSocketError(code: "ws.invalid_utf8", closeCode: .invalidPayload)
    public static let frameTooLarge = WebSocketError(code: "ws.frame_too_large", closeCode: .messageTooBig)
    public static let messageTooLarge = WebSocketError(code: "ws.message_too_large", closeCode: .messageTooBig)

    // Timeouts: nothing is sent, the code is for the on-close report.
    public static let closeTimeout = WebSocketError(code: "ws.close_timeout", closeCode: .abnormalClosure)
    public static let peerTimeout = WebSocketError(code: "ws.peer_timeout", closeCode: .abnormalClosure)

    // Internal failures of a C library: 1011.
    public static let compressorFailure = WebSocketError(code: "ws.compressor_failure", closeCode: .internalError)
}
