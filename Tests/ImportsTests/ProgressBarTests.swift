import Progress
import Testing
@testable import Imports

struct ProgressBarTests {
    @Test func rendersPercentCountsRateETAAndStatus() {
        var s = JobSnapshot(id: "abcdefghijkl", kind: .import, name: "f", createdAt: Timestamp(milliseconds: 0))
        s.state = .running
        s.message = "Importing rows"
        s.percent = 42.5
        s.processed = 4250
        s.failed = 50
        s.total = 10000
        s.rate = 1234.4
        s.eta = 65
        #expect(ProgressBar(barWidth: 10).render(s) == "[####------]  42.5%  4,250/~10,000  failed 50  1,234 rows/s  ETA 1:05  Importing rows")
        s.state = .failed
        s.error = JobError(code: "import.stalled", message: "no progress")
        #expect(ProgressBar(barWidth: 4).render(s, columns: 30) == "[#---]  42.5%  4,250/~10,000  ")
        #expect(ProgressBar.duration(3725) == "1:02:05")
        #expect(ProgressBar.grouped(-1234567) == "-1,234,567")
    }
}
