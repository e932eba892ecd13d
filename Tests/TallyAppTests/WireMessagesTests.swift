import Progress
import Testing
@testable import TallyApp

struct WireMessagesTests {
    private func parse(_ text: String) -> Result<ClientMessage, WireError> { ClientMessage.parse(Array(text.utf8)) }

    @Test func parsesSubscribeUnsubscribeAndPing() {
        #expect(parse(#"{"type":"subscribe","job":"abcdefghijkl","after":17}"#) == .success(.subscribe(.job("abcdefghijkl"), after: 17)))
        #expect(parse(#"{"type":"subscribe","job":"*"}"#) == .success(.subscribe(.all, after: nil)))
        #expect(parse(#"{"type":"subscribe","job":"abcdefghijkl","after":null}"#) == .success(.subscribe(.job("abcdefghijkl"), after: nil)))
        #expect(parse(#"{"job":"*","type":"unsubscribe"}"#) == .success(.unsubscribe(.all)))
        #expect(parse(#"{"type":"ping"}"#) == .success(.ping))
    }

    @Test(arguments: [
        "", "nope", "[]", "42", #"{"job":"*"}"#, #"{"type":7}"#, #"{"type":"dance"}"#,
        #"{"type":"subscribe"}"#, #"{"type":"subscribe","job":""}"#, #"{"type":"subscribe","job":5}"#,
        #"{"type":"subscribe","job":"*","after":-1}"#, #"{"type":"subscribe","job":"*","after":1.5}"#,
        #"{"type":"subscribe","job":"*","after":"3"}"#, #"{"type":"subscribe","job":"*","x":[[[[[[1]]]]]]}"#,
    ])
    func malformedMessagesGetABadMessageError(_ text: String) {
        guard case .failure(let error) = parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(error.code == "ws.bad_message")
    }

    @Test func jobIdsThatCannotExistAreNotFound() {
        guard case .failure(let error) = parse(#"{"type":"subscribe","job":"../etc"}"#) else {
            Issue.record("accepted")
            return
        }
        #expect(error.code == "job.not_found")
        #expect(error.job == "../etc")
    }

    @Test func refusesHugeMessages() {
        let huge = #"{"type":"ping","pad":""# + String(repeating: "a", count: 5000) + #""}"#
        #expect((try? parse(huge).get()) == nil)
    }

    @Test func writesServerMessages() throws {
        #expect(String(decoding: ServerMessage.subscribed(.all), as: UTF8.self) == #"{"type":"subscribed","job":"*"}"#)
        #expect(String(decoding: ServerMessage.unsubscribed(.job("a")), as: UTF8.self) == #"{"type":"unsubscribed","job":"a"}"#)
        let error = try JSONParser().parse(ServerMessage.error(WireError(code: "ws.bad_message", message: "m\"", job: "j")))
        #expect(error == ["type": "error", "code": "ws.bad_message", "message": "m\"", "job": "j"])
    }

    @Test func encodesSSERecordsOnOneDataLine() {
        let draft = HubEventDraft(job: "a", seq: 18, type: .progress, isTerminal: false, isResync: false,
                                  json: Array("{\"type\":\"progress\",\n\"seq\":18}".utf8))
        #expect(String(decoding: EventEncoding.sse(draft), as: UTF8.self)
                == "id: 18\nevent: progress\ndata: {\"type\":\"progress\", \"seq\":18}\n\n")
    }
}
