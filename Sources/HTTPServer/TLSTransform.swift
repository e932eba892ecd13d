import Auth
import Reactor

/// Runs a connection over TLS: the `TLSEngine` decrypts what the socket delivers before the
/// HTTP or WebSocket handler sees it, and encrypts what they write, inside the event loop.
final class TLSTransform: ConnectionTransform {
    private let engine: TLSEngine

    init(engine: TLSEngine) {
        self.engine = engine
    }

    func decode(_ bytes: UnsafeRawBufferPointer) -> (output: [UInt8], ended: Bool)? {
        do throws(TLSError) {
            let result = try engine.receive(bytes)
            return (result.plaintext, result.peerClosed)
        } catch {
            return nil
        }
    }

    func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        do throws(TLSError) {
            try engine.send(Array(bytes))
        } catch {
            return nil
        }
        return engine.takeOutbound()
    }

    func takeOutput() -> [UInt8] {
        engine.takeOutbound()
    }

    func finish() {
        engine.close()
    }
}
