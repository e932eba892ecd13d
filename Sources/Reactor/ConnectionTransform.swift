/// A byte transform between a connection's socket and its handler, such as TLS: what the
/// socket delivers is decoded before the handler sees it, and what the handler writes is
/// encoded before it is queued. Called on the connection's loop only.
public protocol ConnectionTransform: AnyObject {
    /// Bytes read from the socket. Returns the bytes for the handler (possibly none) and
    /// whether the peer ended the stream cleanly, or nil when the input is unacceptable (the
    /// connection then closes after sending whatever `takeOutput` holds, an alert for TLS).
    func decode(_ bytes: UnsafeRawBufferPointer) -> (output: [UInt8], ended: Bool)?
    /// Bytes the handler wrote; returns what goes on the wire, or nil on failure.
    func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt8]?
    /// Bytes the transform itself must send (handshake records, alerts, close_notify).
    func takeOutput() -> [UInt8]
    /// The connection is about to close cleanly: queue the goodbye (close_notify).
    func finish()
}
