#if canImport(Glibc)
import Glibc
#endif

/// Why a pending response was abandoned.
public enum HTTPCancelReason: Sendable, Equatable {
    /// The client went away.
    case connectionClosed
    /// The server is shutting down: answer now (the connection closes after the response).
    case serverShutdown
    /// The deadline given to `deferResponse(deadlineMilliseconds:)` passed: answer now.
    case deadlinePassed
}

/// Whether a body consumer wants more chunks now.
public enum HTTPBodyDemand: Sendable, Equatable {
    /// Keep delivering.
    case more
    /// Stop reading the connection until `HTTPBodyFlowControl.resume()`.
    case pause
}

/// Why a streamed request body ended early.
public enum HTTPBodyFailure: Sendable, Equatable {
    /// The client closed the connection mid-body.
    case connectionClosed
    /// No body bytes arrived within the body-read timeout.
    case timedOut
    /// The body was malformed or too large (the code is the parse error's).
    case malformed(code: String)
}

/// Receives a request body in chunks, on the connection's loop (`HTTPResponder.readBody`).
public protocol HTTPBodyConsumer: AnyObject {
    /// A piece of the body, valid only during the call (copy what must outlive it).
    func received(_ chunk: UnsafeRawBufferPointer) -> HTTPBodyDemand
    /// The whole body has arrived; answer through `responder`, now or later.
    func finished(_ responder: HTTPResponder)
    /// The body ended early; no response can be sent any more.
    func failed(_ failure: HTTPBodyFailure)
}

/// The one way a handler answers a request, used on the connection's loop. Call exactly one
/// of `respond`, `deferResponse`, `startStream` or `upgrade` (for streamed routes, after or
/// instead of `readBody`). A handler that engages none of them gets a 500 sent for it.
public struct HTTPResponder {
    let handler: HTTPConnectionHandler
    let exchange: UInt64

    /// The loop that owns the connection.
    public var loop: EventLoop { handler.connection.loop }

    /// Sends `response` now.
    public func respond(_ response: HTTPResponse) {
        handler.respond(exchange, response)
    }

    /// Parks the request: returns a handle that completes it later from any thread. A parked
    /// request costs no thread and no buffer, only the connection's small state.
    public func deferResponse() -> DeferredResponse {
        handler.engage(exchange)
        return DeferredResponse(target: LoopBound(handler, loop: loop), exchange: exchange)
    }

    /// Parks the request until it is completed or `milliseconds` pass (rounded up to the
    /// loop's tick), whichever comes first; at the deadline the `onCancel` handler hears
    /// `.deadlinePassed` and answers. The deadline is the connection's own deadline field,
    /// swept once per tick, so a parked request holds no timer object (long-poll).
    public func deferResponse(deadlineMilliseconds milliseconds: UInt64) -> DeferredResponse {
        handler.engage(exchange, deadlineMilliseconds: milliseconds)
        return DeferredResponse(target: LoopBound(handler, loop: loop), exchange: exchange)
    }

    /// Sends `head` now with chunked framing and returns a handle that writes the body later,
    /// from any thread (SSE, progress streams).
    public func startStream(_ head: HTTPResponseHead) -> ResponseStream {
        handler.startStream(exchange, head)
        return ResponseStream(target: LoopBound(handler, loop: loop), exchange: exchange)
    }

    /// Answers with `head` (normally `101 Switching Protocols`) and hands the raw connection
    /// to `connectionHandler`: it hears `activated`, then any bytes that followed the request,
    /// then everything the peer sends. Only for requests without a body.
    public func upgrade(_ head: HTTPResponseHead, to connectionHandler: any ConnectionHandler) {
        handler.upgrade(exchange, head, to: connectionHandler)
    }

    /// Streams the request body to `consumer` (routes registered with `.streamed`).
    public func readBody(_ consumer: any HTTPBodyConsumer) {
        handler.readBody(exchange, consumer)
    }

    /// A handle that resumes a paused body from any thread.
    public var bodyFlowControl: HTTPBodyFlowControl {
        HTTPBodyFlowControl(target: LoopBound(handler, loop: loop), exchange: exchange)
    }

    /// The client's address (`203.0.113.7`, `2001:db8::1`), for rate limits and logs; empty
    /// when the socket no longer has a peer.
    public var peerAddress: String {
        // The address noted at accept: the same text the connection and admission limits
        // key on (IPv4-mapped IPv6 shown as IPv4).
        let noted = handler.connection.peerAddress
        if !noted.isEmpty { return noted }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(handler.connection.fd, $0, &length) }
        }
        guard found == 0 else { return "" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(storage.ss_family)
        let converted: UnsafePointer<CChar>? = withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET {
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    withUnsafePointer(to: address.pointee.sin_addr) { inet_ntop(AF_INET, $0, &text, socklen_t(text.count)) }
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                withUnsafePointer(to: address.pointee.sin6_addr) { inet_ntop(AF_INET6, $0, &text, socklen_t(text.count)) }
            }
        }
        guard converted != nil else { return "" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Called (on the loop) if the request is abandoned before its response completes.
    public func onCancel(_ body: @escaping (HTTPCancelReason) -> Void) {
        handler.setCancelHandler(exchange, body)
    }
}

/// Completes a parked request from any thread. Completing twice, or after the client left,
/// does nothing.
public struct DeferredResponse: Sendable {
    let target: LoopBound<HTTPConnectionHandler>
    let exchange: UInt64

    /// The loop that owns the connection (completing on it skips a thread hop).
    public var loop: EventLoop { target.loop }

    /// Sends `response`.
    public func complete(_ response: HTTPResponse) {
        if target.loop.inEventLoop {
            target.value.respond(exchange, response)
        } else {
            let target = target, exchange = exchange
            target.loop.execute { target.value.respond(exchange, response) }
        }
    }
}

/// Writes a streamed (chunked) response body from any thread.
public struct ResponseStream: Sendable {
    let target: LoopBound<HTTPConnectionHandler>
    let exchange: UInt64

    /// The loop that owns the connection.
    public var loop: EventLoop { target.loop }

    /// Sends `buffer` as one chunk.
    public func write(_ buffer: SharedBuffer) {
        perform { $0.streamWrite(exchange, buffer, preframed: false) }
    }

    /// Sends `text` as one chunk.
    public func write(_ text: String) {
        write(SharedBuffer(text))
    }

    /// Sends a buffer that already holds complete chunk framing (see
    /// `HTTPResponseSerializer.chunk`): a fan-out frames an event once for every stream.
    public func writePreframed(_ buffer: SharedBuffer) {
        perform { $0.streamWrite(exchange, buffer, preframed: true) }
    }

    /// Ends the body (last chunk); the connection then serves its next request.
    public func finish() {
        perform { $0.streamFinish(exchange) }
    }

    /// Whether the stream's connection still waits for its writes, on the loop; false once the
    /// client has gone or the stream finished.
    public var isOpen: Bool {
        precondition(target.loop.inEventLoop, "ResponseStream.isOpen read off its loop")
        return target.value.isStreaming(exchange)
    }

    private func perform(_ body: @escaping @Sendable (HTTPConnectionHandler) -> Void) {
        if target.loop.inEventLoop {
            body(target.value)
        } else {
            let target = target
            target.loop.execute { body(target.value) }
        }
    }
}

/// Resumes reading a paused request body, from any thread.
public struct HTTPBodyFlowControl: Sendable {
    let target: LoopBound<HTTPConnectionHandler>
    let exchange: UInt64

    /// Delivers the next chunks (after a consumer returned `.pause`).
    public func resume() {
        if target.loop.inEventLoop {
            target.value.resumeBody(exchange)
        } else {
            let target = target, exchange = exchange
            target.loop.execute { target.value.resumeBody(exchange) }
        }
    }
}
