/// A read cursor over bytes the caller owns; parsers advance it as they consume input.
public struct ByteReader {
    /// The bytes being read.
    public let bytes: UnsafeRawBufferPointer
    /// Offset of the first unread byte.
    public var readerIndex: Int

    /// Creates a reader positioned at the start of `bytes`.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.readerIndex = 0
    }

    /// The number of unread bytes.
    @inlinable
    public var readableCount: Int { bytes.count - readerIndex }

    /// The unread bytes.
    @inlinable
    public var unread: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[readerIndex...]) }
}
