import Testing
@testable import TallyApp

struct APIErrorTests {
    @Test func encodesTheErrorEnvelope() throws {
        let error = APIError.jobNotFound("x\"y")
        #expect(error.status == 404)
        let body = try JSONParser().parse(error.body)
        #expect(body["error"]?["code"]?.stringValue == "job.not_found")
        #expect(body["error"]?["message"]?.stringValue == "No job with id 'x\"y'.")
    }

    @Test func clipsEchoedInput() {
        let error = APIError.jobNotFound(String(repeating: "a", count: 10_000))
        #expect(error.body.count < 200)
    }
}
