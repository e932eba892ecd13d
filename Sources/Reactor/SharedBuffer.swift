/// An immutable run of bytes in one tail-allocated heap block, safe to share between threads
/// and to queue on many connections at once: a fan-out encodes a message once and hands the
/// same buffer to every subscriber, so each delivery costs a reference count, not a copy.
public struct SharedBuffer: @unchecked Sendable {
    // Unchecked because ManagedBuffer is not Sendable; the bytes are written once, before the
    // buffer is returned from its initializer, and never again.
    @usableFromInline
    final class Storage: ManagedBuffer<Int, UInt8> {}

    @usableFromInline
    let storage: Storage

    /// Creates a buffer of `count` bytes filled by `initialize`, which receives the whole
    /// (uninitialized) region and must write every byte of it. The bytes never change after.
    @inlinable
    public init(count: Int, initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let size = max(count, 0)
        let made = Storage.create(minimumCapacity: size) { _ in size }
        storage = unsafeDowncast(made, to: Storage.self)
        try storage.withUnsafeMutablePointerToElements { base in
            try initialize(UnsafeMutableRawBufferPointer(start: base, count: size))
        }
    }

    /// Creates a buffer holding a copy of `bytes`.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count) { target in
            if let source = bytes.baseAddress, bytes.count > 0 {
                target.baseAddress?.copyMemory(from: source, byteCount: bytes.count)
            }
        }
    }

    /// Creates a buffer holding a copy of `bytes`.
    @inlinable
    public init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { SharedBuffer($0) }
    }

    /// Creates a buffer holding the UTF-8 bytes of `string`.
    @inlinable
    public init(_ string: String) {
        var text = string
        self = text.withUTF8 { SharedBuffer(UnsafeRawBufferPointer($0)) }
    }

    /// The number of bytes.
    @inlinable
    public var count: Int { storage.header }

    /// The address of the first byte; stable for the life of the buffer.
    @inlinable
    public var baseAddress: UnsafeRawPointer {
        UnsafeRawPointer(storage.withUnsafeMutablePointerToElements { $0 })
    }

    /// Calls `body` with the bytes.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeMutablePointerToElements { base in
            try body(UnsafeRawBufferPointer(start: base, count: storage.header))
        }
    }

    /// A copy of the bytes as an array (for tests and logs, not for hot paths).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
