/// A read position over bytes that the caller owns for the duration of one decoding call.
///
/// The decoders consume from the front and leave `offset` just past what they used; an I/O
/// shell passes its read buffer without copying and keeps whatever is left (uWS's approach).
/// The cursor must not outlive the buffer it points into.
public struct ByteCursor {
    /// The whole buffer.
    public let bytes: UnsafeRawBufferPointer
    /// Index of the next unread byte.
    public var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.offset = 0
    }

    /// Number of unread bytes.
    @inlinable public var readableCount: Int { bytes.count - offset }

    /// Whether every byte has been consumed.
    @inlinable public var isEmpty: Bool { offset >= bytes.count }
}
