import Synchronization

/// Caps connections per client address and in total, so one client (or a crowd of slowloris
/// sockets) cannot take every descriptor: a refused connection gets `503` with `Retry-After`
/// and is closed, and the counts are exported to `/metrics`.
///
/// Shared by every loop (each accepts on its own `SO_REUSEPORT` listener), so the table is
/// sharded behind mutexes; an entry disappears with its address's last connection, so the
/// table never holds more entries than there are open connections.
public final class ConnectionLimiter: Sendable {
    /// Most connections one address may hold open; 0 means no limit.
    public let maxPerAddress: Int
    /// Most connections in total; beyond it the server sheds load. 0 means no limit.
    public let maxTotal: Int

    private final class Shard: Sendable {
        let table = Mutex<[String: Int]>([:])
    }

    private let shards: [Shard]
    private let total = Atomic<Int>(0)
    private let refusedPerAddress = Atomic<Int>(0)
    private let refusedTotal = Atomic<Int>(0)

    /// Creates a limiter.
    public init(maxPerAddress: Int, maxTotal: Int, shardCount: Int = 16) {
        self.maxPerAddress = maxPerAddress
        self.maxTotal = maxTotal
        shards = (0..<max(1, shardCount)).map { _ in Shard() }
    }

    /// Why a connection was refused.
    public enum Refusal: Sendable, Equatable {
        /// This address already holds `maxPerAddress` connections.
        case perAddress
        /// The server holds `maxTotal` connections.
        case overloaded
    }

    /// Counts a new connection from `address`, or says why it must be refused (nothing is
    /// counted then). Every admitted connection must be released exactly once.
    public func admit(_ address: String) -> Refusal? {
        let count = total.add(1, ordering: .relaxed).newValue
        if maxTotal > 0 && count > maxTotal {
            total.subtract(1, ordering: .relaxed)
            refusedTotal.add(1, ordering: .relaxed)
            return .overloaded
        }
        let admitted = shard(for: address).table.withLock { table -> Bool in
            let current = table[address, default: 0]
            if maxPerAddress > 0 && current >= maxPerAddress { return false }
            table[address] = current + 1
            return true
        }
        guard admitted else {
            total.subtract(1, ordering: .relaxed)
            refusedPerAddress.add(1, ordering: .relaxed)
            return .perAddress
        }
        return nil
    }

    /// Releases a connection counted by `admit`.
    public func release(_ address: String) {
        total.subtract(1, ordering: .relaxed)
        shard(for: address).table.withLock { table in
            let current = table[address, default: 0]
            table[address] = current <= 1 ? nil : current - 1
        }
    }

    /// Open connections.
    public var openConnections: Int { total.load(ordering: .relaxed) }
    /// Connections refused because their address was at its limit.
    public var refusedForAddress: Int { refusedPerAddress.load(ordering: .relaxed) }
    /// Connections refused because the server was at its limit.
    public var refusedForLoad: Int { refusedTotal.load(ordering: .relaxed) }
    /// Addresses with at least one open connection.
    public var trackedAddresses: Int { shards.reduce(0) { sum, shard in sum + shard.table.withLock { $0.count } } }

    private func shard(for address: String) -> Shard {
        var hash: UInt32 = 2_166_136_261
        for byte in address.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return shards[Int(hash % UInt32(shards.count))]
    }
}
