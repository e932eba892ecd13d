/// Carries a loop-bound (non-`Sendable`) value across threads, allowing access only on its
/// loop: the usual way to reach a connection from another thread is
/// `bound.loop.execute { bound.value.write(buffer) }`.
public struct LoopBound<Value>: @unchecked Sendable {
    /// The loop that owns the value.
    public let loop: EventLoop
    private let storage: Value

    /// Wraps `value`, which belongs to `loop`; must be called on that loop.
    public init(_ value: Value, loop: EventLoop) {
        precondition(loop.inEventLoop, "LoopBound created off its loop")
        self.loop = loop
        self.storage = value
    }

    /// The value; traps when read off its loop (a programming error, never input-driven).
    public var value: Value {
        precondition(loop.inEventLoop, "LoopBound value read off its loop")
        return storage
    }
}
