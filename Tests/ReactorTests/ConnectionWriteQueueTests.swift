import Glibc
import Synchronization
import Testing
@testable import Reactor

@Suite(.serialized)
struct ConnectionWriteQueueTests {
    /// Thousands of small distinct buffers queued at once: the kernel takes them in pieces that
    /// end inside buffers and across them, and the peer must still read every byte in order.
    @Test func manySmallBuffersArriveInOrderThroughPartialWrites() throws {
        let group = try EventLoopGroup(count: 1)
        let blocks = 3_000
        let blockSize = 997
        final class Burst: ConnectionHandler {
            let blocks: Int
            let blockSize: Int
            init(blocks: Int, blockSize: Int) { self.blocks = blocks; self.blockSize = blockSize }
            func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
                for index in 0..<blocks {
                    let size = blockSize
                    let buffer = SharedBuffer(count: size) { raw in
                        for offset in 0..<size { raw[offset] = UInt8(truncatingIfNeeded: index &* 7 &+ offset) }
                    }
                    connection.write(buffer)
                }
            }
        }
        let port = try group.listen(host: "127.0.0.1", port: 0) { connection in
            connection.handler = Burst(blocks: blocks, blockSize: blockSize)
        }
        group.start()
        defer { group.shutdown(graceMilliseconds: 100); group.join() }
        let fd = connectClient(port: port)
        defer { close(fd) }
        _ = send(fd, "go", 2, Int32(MSG_NOSIGNAL))
        var expected: [UInt8] = []
        expected.reserveCapacity(blocks * blockSize)
        for index in 0..<blocks {
            for offset in 0..<blockSize { expected.append(UInt8(truncatingIfNeeded: index &* 7 &+ offset)) }
        }
        // Read slowly at first so the queue backs up behind a full socket buffer.
        usleep(100_000)
        let received = receiveExactly(fd, expected.count)
        #expect(received.count == expected.count)
        #expect(received == expected)
    }
}
