import Testing
@testable import TallyApp

struct APIFlagsTests {
    @Test func takesItsFlagsAndLeavesTheRest() throws {
        let (configuration, rest) = try APIConfiguration.parse([
            "--port", "0", "--max-upload=1000", "--rate-limit", "5/0.5", "--event-log", "64", "--mailbox=4",
            "--long-poll-wait", "10", "--ws-ping", "5", "--max-subscriptions", "3", "--progress-interval", "0.01", "--data", "x",
        ])
        #expect(rest == ["--port", "0", "--data", "x"])
        #expect(configuration.maxUploadBytes == 1000)
        #expect(configuration.rateLimit == RateLimitPolicy(burst: 5, refillPerSecond: 0.5))
        #expect(configuration.hub.logCapacity == 64)
        #expect(configuration.hub.mailboxCapacity == 4)
        #expect(configuration.longPollDefaultSeconds == 10)
        #expect(configuration.webSocketPingSeconds == 5)
        #expect(configuration.maxSubscriptionsPerSocket == 3)
        #expect(configuration.progressInterval == 0.01)
        #expect(try APIConfiguration.parse(["--rate-limit", "off"]).0.rateLimit == nil)
        #expect(configuration.fanoutBudget == 10_000)
        #expect(try APIConfiguration.parse(["--fanout-budget", "0"]).0.fanoutBudget == 0)
        #expect(try APIConfiguration.parse(["--fanout-budget=5000"]).0.fanoutBudget == 5000)
    }

    @Test(arguments: [["--max-upload", "-1"], ["--rate-limit", "5"], ["--mailbox"], ["--ws-ping", "nan"],
                      ["--long-poll-wait", "90"], ["--progress-interval", "0"],
                      ["--fanout-budget", "-1"]])
    func refusesBadValues(_ arguments: [String]) {
        #expect(throws: APIFlagError.self) { _ = try APIConfiguration.parse(arguments) }
    }
}
