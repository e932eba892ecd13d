import Imports
import Progress

/// `POST /api/imports`: streams the body through an `UploadReceiver` to a spool file, then
/// submits the import (off the loop) and answers `202` with the job and its links.
final class UploadHandler: HTTPBodyConsumer {
    private let receiver: UploadReceiver
    private let responder: HTTPResponder
    private let api: APIContext
    private var failed = false

    private init(receiver: UploadReceiver, responder: HTTPResponder, api: APIContext) {
        self.receiver = receiver
        self.responder = responder
        self.api = api
    }

    static func start(_ request: HTTPRequest, _ responder: HTTPResponder, api: APIContext) {
        let receiver: UploadReceiver
        do {
            receiver = try UploadReceiver(contentType: request.headers["Content-Type"], query: { request.query($0) },
                                          spoolDirectory: api.spoolDirectory, maxBytes: api.configuration.maxUploadBytes)
        } catch {
            return api.respond(responder, .failure(error))
        }
        responder.readBody(UploadHandler(receiver: receiver, responder: responder, api: api))
    }

    func received(_ chunk: UnsafeRawBufferPointer) -> HTTPBodyDemand {
        guard !failed else { return .pause }
        do {
            try receiver.receive(chunk)
            return .more
        } catch {
            // Answering now closes the connection after the answer: the rest is not read.
            failed = true
            receiver.abandon()
            api.respond(responder, .failure(error))
            return .pause
        }
    }

    func finished(_ responder: HTTPResponder) {
        guard !failed else { return }
        let spooled: (path: String, options: ImportOptions)
        do {
            spooled = try receiver.finish()
        } catch {
            receiver.abandon()
            return api.respond(responder, .failure(error))
        }
        let imports = api.imports
        api.respondLater(responder) {
            let result = JobsAPI.run { () throws -> APIResponse in
                .json(JobsAPI.withLinks(try imports.submit(path: spooled.path, options: spooled.options)), status: 202)
            }
            if case .failure = result { UploadReceiver.remove(spoolFile: spooled.path) }
            return result
        }
    }

    func failed(_ failure: HTTPBodyFailure) {
        guard !failed else { return }
        failed = true
        receiver.abandon()
        if case .malformed(let code) = failure, code.contains("too_large") || code.contains("body_limit") {
            api.metrics.countResponse(status: 413)
        }
    }
}
