/// A close status code (RFC 6455 §7.4). Any `UInt16` can be represented; `isValidOnWire` says
/// whether a peer may send it in a Close frame.
public struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection was fulfilled.
    public static let normalClosure = WebSocketCloseCode(1000)
    /// 1001: the server is shutting down or the peer navigated away.
    public static let goingAway = WebSocketCloseCode(1001)
    /// 1002: the peer broke the framing rules.
    public static let protocolError = WebSocketCloseCode(1002)
    /// 1003: a message of a type this endpoint does not accept.
    public static let unsupportedData = WebSocketCloseCode(1003)
    /// 1005: no status code was present (never sent on the wire).
    public static let noStatusReceived = WebSocketCloseCode(1005)
    /// 1006: the connection was lost without a Close frame (never sent on the wire).
    public static let abnormalClosure = WebSocketCloseCode(1006)
    /// 1007: a text message was not valid UTF-8.
    public static let invalidPayload = WebSocketCloseCode(1007)
    /// 1008: a message violated the endpoint's policy.
    public static let policyViolation = WebSocketCloseCode(1008)
    /// 1009: a frame or message exceeded the configured limits.
    public static let messageTooBig = WebSocketCloseCode(1009)
    /// 1010: the client expected an extension that the server did not negotiate.
    public static let mandatoryExtension = WebSocketCloseCode(1010)
    /// 1011: the server hit an unexpected condition.
    public static let internalError = WebSocketCloseCode(1011)

    /// Whether a Close frame may carry this code (RFC 6455 §7.4.1 and §7.4.2): 1000-1003,
    /// 1007-1011 and the library/application range 3000-4999. 1004-1006 and 1015 are reserved
    /// for local use; the rest below 3000 is unassigned by RFC 6455 and refused.
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011: return true
        case 3000...4999: return true
        default: return false
        }
    }
}
