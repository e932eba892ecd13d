/// The HTTP/1.1 state machine of one connection: parses requests from the loop's read buffer,
/// routes them, and writes responses in order (one exchange at a time; pipelined requests wait
/// in `tail` until the current response is complete). Loop-bound.
final class HTTPConnectionHandler: ConnectionHandler {
    let context: ServerContext
    let connection: Connection
    private var parser: HTTPRequestParser
    /// Received bytes not yet parsed: an incomplete head, or requests pipelined behind one
    /// that is still being answered. Empty (no storage) on an idle connection.
    private var tail: [UInt8] = []
    private var processing = false
    private var closing = false
    private var shuttingDown = false
    private var headerDeadlineArmed = false

    private enum BodyState {
        case none
        case buffering
        case awaitingConsumer
        case streaming(any HTTPBodyConsumer)
        case discarding
    }

    private enum ResponseState: Equatable {
        case pending
        case deferred
        case streaming
        case done
    }

    // The exchange in progress.
    private(set) var exchangeID: UInt64 = 0
    private var active = false
    /// The current request's head and route pattern, for the response-header hook (and the
    /// request of a buffered route once its body is in: one copy of the head per exchange,
    /// which a parked request keeps while it waits).
    private var admitted: (head: HTTPRequestHead, pattern: String?)?
    /// The handler of a buffered route, called once the body is complete.
    private var bufferedHandler: Router.Handler?
    private var parameters = HTTPParameters()
    private var bodyState = BodyState.none
    private var bodyBuffer: [UInt8] = []
    private var bodyComplete = false
    private var bodyPaused = false
    private var responseState = ResponseState.pending
    private var engaged = false
    private var keepAlive = true
    private var isHeadRequest = false
    private var bodyExpected = false
    private var expectsContinue = false
    private var cancelHandler: ((HTTPCancelReason) -> Void)?
    /// A deferred response's deadline (`deferResponse(deadlineMilliseconds:)`), in the
    /// connection's deadline field once the body is in; nil when none was asked for.
    private var deferredDeadline: UInt64?
    private var upgradeTarget: (any ConnectionHandler)?

    init(context: ServerContext, connection: Connection) {
        self.context = context
        self.connection = connection
        self.parser = HTTPRequestParser(limits: context.configuration.limits)
    }

    // MARK: - Input

    func received(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
        if closing { return }
        if tail.isEmpty, !processing {
            let consumed = process(bytes)
            if consumed < bytes.count, !closing, !connection.isClosed {
                tail.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[consumed...]))
            }
        } else {
            tail.append(contentsOf: bytes)
            if !processing { processTail() }
        }
        guard !closing, !connection.isClosed else { return }
        limitTail()
        armHeaderDeadline()
    }

    /// Keeps the unparsed input bounded: a head may grow to its limit (the parser then
    /// answers 431); bytes queued behind an exchange in progress pause reading instead.
    private func limitTail() {
        let cap = context.configuration.limits.maxHeaderBytes + 4096
        if tail.count > cap, active || bodyPaused {
            connection.pauseReading()
        }
    }

    private func armHeaderDeadline() {
        if !active, !parser.isIdle || !tail.isEmpty {
            if !headerDeadlineArmed {
                headerDeadlineArmed = true
                connection.setTimeout(milliseconds: context.configuration.headerTimeoutMilliseconds)
            }
        }
    }

    private func processTail() {
        guard !tail.isEmpty, !processing, !closing, !connection.isClosed else { return }
        var buffer: [UInt8] = []
        swap(&buffer, &tail)
        let consumed = buffer.withUnsafeBytes { process($0) }
        guard !closing, !connection.isClosed else { return }
        if consumed < buffer.count {
            buffer.removeSubrange(0..<consumed)
            buffer.append(contentsOf: tail)
            tail = buffer
        }
        if tail.count <= context.configuration.limits.maxHeaderBytes, !bodyPaused {
            connection.resumeReading()
        }
        armHeaderDeadline()
    }

    /// Parses and dispatches as much of `bytes` as the current exchange allows; returns the
    /// number of bytes consumed.
    private func process(_ bytes: UnsafeRawBufferPointer) -> Int {
        processing = true
        defer { processing = false }
        var reader = ByteReader(bytes)
        while !closing, !connection.isClosed {
            if let target = upgradeTarget {
                performUpgrade(to: target, leftover: reader.unread)
                return bytes.count
            }
            if active, bodyComplete { break }
            if bodyPaused { break }
            if active, case .awaitingConsumer = bodyState {
                // The handler has not said where the body goes yet; hold it in the socket.
                bodyPaused = true
                connection.pauseReading()
                break
            }
            let step: HTTPRequestParser.Step
            do {
                step = try parser.next(&reader)
            } catch {
                parseFailed(error)
                return bytes.count
            }
            switch step {
            case .needMoreData:
                return reader.readerIndex
            case .head(let head):
                beginExchange(head)
            case .body(let chunk):
                deliver(chunk)
            case .end:
                endBody()
            }
        }
        return closing ? bytes.count : reader.readerIndex
    }

    // MARK: - Exchange

    private func beginExchange(_ head: HTTPRequestHead) {
        exchangeID &+= 1
        active = true
        headerDeadlineArmed = false
        bodyComplete = false
        bodyPaused = false
        responseState = .pending
        engaged = false
        keepAlive = head.keepAlive && !shuttingDown
        isHeadRequest = head.method == .HEAD
        bodyExpected = head.framing != .none
        expectsContinue = head.expectsContinue
        cancelHandler = nil
        deferredDeadline = nil
        bufferedHandler = nil
        upgradeTarget = nil
        parameters = HTTPParameters()
        if head.framing == .none {
            connection.cancelTimeout()
        } else {
            connection.setTimeout(milliseconds: context.configuration.bodyTimeoutMilliseconds)
        }
        if context.logger.isEnabled(.debug) {
            context.logger.debug("http.request", ["method": head.method.rawValue, "target": head.target, "fd": String(connection.fd)])
        }
        switch context.router.match(method: head.method, path: head.path) {
        case .found(let route, let parameters):
            self.parameters = parameters
            guard admit(head, pattern: route.pattern) else { return }
            start(route, head)
        case .methodNotAllowed(let allow):
            guard admit(head, pattern: nil) else { return }
            bodyState = .discarding
            var response = HTTPResponse.error(status: 405, code: "http.method_not_allowed", message: "Method \(head.method.rawValue) is not allowed here.")
            response.headers.append(("Allow", allow.joined(separator: ", ")))
            respond(exchangeID, response)
        case .notFound:
            guard admit(head, pattern: nil) else { return }
            if let fallback = context.router.fallback {
                start(Router.Route(method: head.method, pattern: "*", body: .buffered(), handler: fallback), head)
            } else {
                bodyState = .discarding
                respond(exchangeID, .error(status: 404, code: "http.not_found", message: "No route for this path."))
            }
        }
    }

    /// Runs the server's admission check (auth, rate limits, CORS preflight) before the
    /// handler; false when the check answered the request itself.
    private func admit(_ head: HTTPRequestHead, pattern: String?) -> Bool {
        admitted = (head, pattern)
        guard let admission = context.configuration.admission else { return true }
        let request = HTTPAdmissionRequest(head: head, pattern: pattern, parameters: parameters, peerAddress: connection.peerAddress)
        guard let refusal = admission(request) else { return true }
        bodyState = .discarding
        respond(exchangeID, refusal)
        return false
    }

    /// The response headers with the server's own added (security headers, CORS).
    private func decorated(_ headers: [(name: String, value: String)], status: Int) -> [(name: String, value: String)] {
        guard let extra = context.configuration.responseHeaders, let admitted else { return headers }
        return headers + extra(admitted.head, admitted.pattern, status)
    }

    private func start(_ route: Router.Route, _ head: HTTPRequestHead) {
        switch route.body {
        case .buffered(let maxBytes):
            parser.bodyLimit = maxBytes ?? context.configuration.limits.maxBodyBytes
            bufferedHandler = route.handler
            bodyState = .buffering
            if case .length(let length) = head.framing, length <= parser.bodyLimit {
                bodyBuffer.reserveCapacity(length)
            }
            if head.expectsContinue, head.framing != .none { sendContinue() }
        case .streamed(let maxBytes):
            parser.bodyLimit = maxBytes ?? Int.max
            bodyState = head.framing == .none ? .none : .awaitingConsumer
            let request = HTTPRequest(head: head, parameters: parameters, loop: connection.loop)
            invoke(route.handler, request)
        }
    }

    private func invoke(_ handler: Router.Handler, _ request: HTTPRequest) {
        let id = exchangeID
        handler(request, HTTPResponder(handler: self, exchange: id))
        if id == exchangeID, active, !engaged, responseState == .pending {
            context.logger.error("http.handler_no_response", ["target": request.head.target, "code": "http.handler_no_response"])
            respond(id, .error(status: 500, code: "http.internal_error", message: "The handler sent no response."))
        }
    }

    private func sendContinue() {
        connection.write(continueResponse)
    }

    private func deliver(_ chunk: UnsafeRawBufferPointer) {
        connection.setTimeout(milliseconds: context.configuration.bodyTimeoutMilliseconds)
        switch bodyState {
        case .buffering:
            bodyBuffer.append(contentsOf: chunk)
        case .streaming(let consumer):
            if consumer.received(chunk) == .pause, !bodyComplete, case .streaming = bodyState {
                bodyPaused = true
                connection.pauseReading()
            }
        case .none, .discarding, .awaitingConsumer:
            break
        }
    }

    private func endBody() {
        bodyComplete = true
        let id = exchangeID
        if responseState == .pending || responseState == .deferred {
            if let deferredDeadline {
                connection.setTimeout(milliseconds: deferredDeadline)
            } else {
                connection.cancelTimeout()
            }
        }
        switch bodyState {
        case .buffering:
            bodyState = .none
            if let handler = bufferedHandler, let head = admitted?.head {
                bufferedHandler = nil
                var body: [UInt8] = []
                swap(&body, &bodyBuffer)
                invoke(handler, HTTPRequest(head: head, parameters: parameters, body: body, loop: connection.loop))
            }
        case .streaming(let consumer):
            bodyState = .none
            consumer.finished(HTTPResponder(handler: self, exchange: id))
        case .none, .discarding, .awaitingConsumer:
            bodyState = .none
        }
        if id == exchangeID, active, responseState == .done, upgradeTarget == nil {
            finishExchange()
        }
    }

    private func finishExchange() {
        active = false
        bufferedHandler = nil
        // An idle keep-alive connection keeps no request state, and a later parse error is
        // not decorated with the previous request's headers.
        admitted = nil
        cancelHandler = nil
        deferredDeadline = nil
        bodyState = .none
        if bodyBuffer.capacity > 0 { bodyBuffer = [] }
        guard keepAlive, !shuttingDown else {
            closing = true
            connection.closeAfterFlushing()
            return
        }
        connection.setTimeout(milliseconds: context.configuration.idleTimeoutMilliseconds)
        if !processing { processTail() }
    }

    // MARK: - Answers (called through HTTPResponder and its handles)

    func engage(_ id: UInt64) {
        guard id == exchangeID, active else { return }
        engaged = true
        if responseState == .pending { responseState = .deferred }
    }

    func engage(_ id: UInt64, deadlineMilliseconds: UInt64) {
        guard id == exchangeID, active else { return }
        engage(id)
        deferredDeadline = deadlineMilliseconds
        // While a body is still arriving the body timeout rules; `endBody` arms this one.
        if bodyComplete || !bodyExpected { connection.setTimeout(milliseconds: deadlineMilliseconds) }
    }

    func setCancelHandler(_ id: UInt64, _ body: @escaping (HTTPCancelReason) -> Void) {
        guard id == exchangeID, active else { return }
        cancelHandler = body
    }

    func respond(_ id: UInt64, _ response: HTTPResponse) {
        guard id == exchangeID, active, responseState == .pending || responseState == .deferred, !connection.isClosed else { return }
        engaged = true
        responseState = .done
        let bodyPending = bodyExpected && !bodyComplete
        if bodyPending { keepAlive = false }
        writeResponse(response)
        completeResponse(bodyPending: bodyPending)
    }

    /// After the last byte of a response is queued: the next request may start, unless the
    /// request body is still unread (then it is not worth reading: close) or `process` is on
    /// the stack (it finishes the exchange itself when it sees `.end`).
    private func completeResponse(bodyPending: Bool) {
        if bodyPending {
            failBody(.connectionClosed)
            closing = true
            active = false
            connection.closeAfterFlushing()
        } else if !processing {
            finishExchange()
        }
    }

    private func writeResponse(_ response: HTTPResponse) {
        let noBody = response.status < 200 || response.status == 204 || response.status == 304
        let framing: HTTPResponseFraming = noBody ? .none : .length(response.body.count)
        let local = context.local(for: connection.loop)
        local.scratch.removeAll(keepingCapacity: true)
        HTTPResponseSerializer.writeHead(HTTPResponseHead(status: response.status, headers: decorated(response.headers, status: response.status)),
                                         framing: framing, keepAlive: keepAlive && !shuttingDown, into: &local.scratch)
        let sendBody = !noBody && !isHeadRequest
        switch response.body {
        case .bytes(let bytes) where sendBody:
            let head = local.scratch
            connection.write(SharedBuffer(count: head.count + bytes.count) { target in
                head.withUnsafeBytes { target.copyMemory(from: $0) }
                bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: target[head.count...]).copyMemory(from: $0) }
            })
        case .buffer(let buffer) where sendBody:
            connection.write(SharedBuffer(local.scratch))
            connection.write(buffer)
        default:
            connection.write(SharedBuffer(local.scratch))
        }
        if response.status >= 400, context.logger.isEnabled(.debug) {
            context.logger.debug("http.response", ["status": String(response.status), "fd": String(connection.fd)])
        }
    }

    func startStream(_ id: UInt64, _ head: HTTPResponseHead) {
        guard id == exchangeID, active, responseState == .pending || responseState == .deferred, !connection.isClosed else { return }
        engaged = true
        responseState = .streaming
        let local = context.local(for: connection.loop)
        local.scratch.removeAll(keepingCapacity: true)
        let head = HTTPResponseHead(status: head.status, headers: decorated(head.headers, status: head.status))
        HTTPResponseSerializer.writeHead(head, framing: .chunked, keepAlive: keepAlive && !shuttingDown, into: &local.scratch)
        connection.write(SharedBuffer(local.scratch))
        connection.cancelTimeout()
    }

    func isStreaming(_ id: UInt64) -> Bool {
        id == exchangeID && active && responseState == .streaming && !connection.isClosed
    }

    func streamWrite(_ id: UInt64, _ buffer: SharedBuffer, preframed: Bool) {
        guard isStreaming(id), !isHeadRequest, buffer.count > 0 else { return }
        if preframed {
            connection.write(buffer)
            return
        }
        var header: [UInt8] = []
        HTTPResponseSerializer.writeChunkHeader(count: buffer.count, into: &header)
        connection.write(SharedBuffer(header))
        connection.write(buffer)
        connection.write(crlfBuffer)
    }

    func streamFinish(_ id: UInt64) {
        guard isStreaming(id) else { return }
        if !isHeadRequest { connection.write(lastChunkBuffer) }
        responseState = .done
        completeResponse(bodyPending: bodyExpected && !bodyComplete)
    }

    func upgrade(_ id: UInt64, _ head: HTTPResponseHead, to target: any ConnectionHandler) {
        guard id == exchangeID, active, responseState == .pending || responseState == .deferred, !connection.isClosed else { return }
        guard !bodyExpected else {
            respond(id, .error(status: 400, code: "http.bad_upgrade", message: "An upgrade request must not have a body."))
            return
        }
        engaged = true
        responseState = .done
        let local = context.local(for: connection.loop)
        local.scratch.removeAll(keepingCapacity: true)
        HTTPResponseSerializer.writeHead(head, framing: .none, keepAlive: true, into: &local.scratch)
        connection.write(SharedBuffer(local.scratch))
        upgradeTarget = target
        if !processing {
            var leftover: [UInt8] = []
            swap(&leftover, &tail)
            leftover.withUnsafeBytes { performUpgrade(to: target, leftover: $0) }
        }
    }

    private func performUpgrade(to target: any ConnectionHandler, leftover: UnsafeRawBufferPointer) {
        withExtendedLifetime(self) {
            upgradeTarget = nil
            active = false
            closing = true
            connection.cancelTimeout()
            connection.resumeReading()
            connection.handler = target
            target.activated(connection)
            if leftover.count > 0, !connection.isClosed, connection.handler === target {
                target.received(leftover, on: connection)
            }
        }
    }

    func readBody(_ id: UInt64, _ consumer: any HTTPBodyConsumer) {
        guard id == exchangeID, active, case .awaitingConsumer = bodyState else {
            if id == exchangeID, active, bodyComplete || { if case .none = bodyState { return true }; return false }() {
                // No body (or already complete): the consumer hears `finished` at once.
                engaged = true
                consumer.finished(HTTPResponder(handler: self, exchange: id))
            }
            return
        }
        engaged = true
        bodyState = .streaming(consumer)
        if expectsContinue { sendContinue() }
        if bodyPaused { resumeBody(id) }
    }

    func resumeBody(_ id: UInt64) {
        guard id == exchangeID, active, bodyPaused else { return }
        if case .awaitingConsumer = bodyState { return }
        bodyPaused = false
        connection.resumeReading()
        if !processing { processTail() }
    }

    private func failBody(_ failure: HTTPBodyFailure) {
        if case .streaming(let consumer) = bodyState, !bodyComplete {
            bodyState = .none
            consumer.failed(failure)
        }
    }

    // MARK: - Errors, timeouts, shutdown

    private func parseFailed(_ error: HTTPParseError) {
        context.logger.warning("http.bad_request", ["code": error.code, "status": String(error.status), "message": error.message, "fd": String(connection.fd)])
        failBody(.malformed(code: error.code))
        let wasPending = !active || responseState == .pending || responseState == .deferred
        if active { cancelHandler?(.connectionClosed) }
        if wasPending {
            keepAlive = false
            isHeadRequest = false
            writeResponse(.error(status: error.status, code: error.code, message: error.message))
        }
        active = false
        exchangeID &+= 1
        closing = true
        connection.closeAfterFlushing()
    }

    func timedOut(_ connection: Connection) {
        if active, deferredDeadline != nil, responseState == .deferred, bodyComplete || !bodyExpected {
            deferredDeadline = nil
            cancelHandler?(.deadlinePassed)
            return
        }
        if !active {
            if parser.isIdle, tail.isEmpty {
                closing = true
                connection.closeAfterFlushing()
            } else {
                requestTimedOut()
            }
            return
        }
        if !bodyComplete {
            failBody(.timedOut)
            requestTimedOut()
        }
    }

    private func requestTimedOut() {
        context.logger.info("http.request_timeout", ["code": "http.request_timeout", "status": "408", "fd": String(connection.fd)])
        let pending = !active || responseState == .pending || responseState == .deferred
        if active { cancelHandler?(.connectionClosed) }
        if pending {
            keepAlive = false
            isHeadRequest = false
            writeResponse(.error(status: 408, code: "http.request_timeout", message: "The request was not received in time."))
        }
        active = false
        exchangeID &+= 1
        closing = true
        connection.closeAfterFlushing()
    }

    func inputClosed(_ connection: Connection) {
        if active, responseState != .done {
            // The client is gone; nobody will read the answer.
            connection.close()
        } else {
            closing = true
            connection.closeAfterFlushing()
        }
    }

    func shutdownRequested(_ connection: Connection) {
        shuttingDown = true
        if !active {
            closing = true
            if connection.queuedByteCount == 0, tail.isEmpty, parser.isIdle {
                // Nothing in flight either way: close at once rather than linger for the
                // FIN of a browser that keeps its idle connection open.
                connection.close()
            } else {
                connection.closeAfterFlushing()
            }
            return
        }
        keepAlive = false
        if responseState == .deferred || responseState == .streaming {
            cancelHandler?(.serverShutdown)
        }
    }

    func closed(_ connection: Connection, error: IOError?) {
        if active {
            failBody(.connectionClosed)
            if responseState != .done { cancelHandler?(.connectionClosed) }
        }
        active = false
        cancelHandler = nil
        bodyState = .none
        tail = []
    }
}

private let continueResponse = SharedBuffer("HTTP/1.1 100 Continue\r\n\r\n")
private let crlfBuffer = SharedBuffer(HTTPResponseSerializer.chunkTrailer)
private let lastChunkBuffer = SharedBuffer(HTTPResponseSerializer.lastChunk)
