import Glibc

/// Socket settings for connections that only follow events (WebSocket, SSE).
enum SubscriberSocket {
    /// Caps the kernel's send buffer of a subscriber's socket at `bytes` (the kernel doubles
    /// it for its bookkeeping); 0 leaves the kernel's autotuning alone.
    ///
    /// Autotuning lets a socket whose peer never reads queue up to `tcp_wmem`'s maximum
    /// (4 MiB by default) before writes would block. For a subscriber that means a thousand
    /// clients that never read can pin gigabytes of kernel memory, and every event costs the
    /// loop one `sendmsg` per such client for hundreds of events, delaying everyone else's.
    /// With the cap, a client that stops reading fills its buffer within a few dozen events;
    /// then its writes wait in the loop's bounded queue, the hub coalesces its events
    /// instead, and it costs nothing per event until it reads again. Progress traffic is a few
    /// KiB per second per job, far under what 64 KiB in flight carries even across oceans.
    static func limitSendBuffer(_ connection: Connection?, bytes: Int) {
        guard let connection, bytes > 0 else { return }
        var size = Int32(clamping: bytes)
        _ = setsockopt(connection.fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
}
