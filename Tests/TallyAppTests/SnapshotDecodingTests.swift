import Progress
import Testing
@testable import TallyApp

struct SnapshotDecodingTests {
    @Test func readsBackWhatTheServerWrites() throws {
        var snapshot = JobSnapshot(id: "k3v9q2m8x4c7", kind: .external, name: "orders.csv",
                                   createdAt: Timestamp(milliseconds: 1_796_400_000_123), message: "Importing rows",
                                   table: "orders", total: 10_000, totalExact: false, bytesTotal: 2_467_000)
        snapshot.seq = 17
        snapshot.state = .failed
        snapshot.processed = 4250
        snapshot.failed = 50
        snapshot.rate = 1234.5
        snapshot.error = JobError(code: "import.stalled", message: "No progress.")
        snapshot.startedAt = Timestamp(milliseconds: 1_796_400_001_000)
        let decoded = try #require(JobSnapshot.decode(try JSONParser().parse(snapshot.json)))
        #expect(decoded.json == snapshot.json)
    }

    @Test func parsesTimestamps() {
        #expect(JobSnapshot.parseRFC3339("1970-01-01T00:00:00.000Z")?.milliseconds == 0)
        #expect(JobSnapshot.parseRFC3339("2000-03-01T00:00:01.500Z")?.milliseconds == 951_868_801_500)
        #expect(JobSnapshot.parseRFC3339("nonsense") == nil)
    }
}
