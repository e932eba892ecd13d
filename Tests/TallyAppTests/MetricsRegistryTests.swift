import Testing
@testable import TallyApp

struct MetricsRegistryTests {
    @Test func responsesAreCountedByStatusThroughTheKeptCounters() {
        let metrics = APIMetrics()
        for status in [200, 200, 404, 200] { metrics.countResponse(status: status) }
        let text = metrics.registry.exposition()
        #expect(text.contains("tally_http_requests_total{status=\"200\"} 3\n"), "\(text)")
        #expect(text.contains("tally_http_requests_total{status=\"404\"} 1\n"), "\(text)")
        // The kept counter is the registry's own: counting through either moves the same figure.
        metrics.registry.counter("tally_http_requests_total", help: "", labels: [("status", "404")]).increment()
        metrics.countResponse(status: 404)
        #expect(metrics.registry.exposition().contains("tally_http_requests_total{status=\"404\"} 3\n"))
    }

    @Test func writesTheTextExpositionFormat() {
        let registry = MetricsRegistry()
        let ok = registry.counter("tally_http_requests_total", help: "Requests by status.", labels: [("status", "200")])
        let missing = registry.counter("tally_http_requests_total", help: "Requests by status.", labels: [("status", "404")])
        ok.increment()
        ok.increment(by: 2)
        missing.increment()
        #expect(registry.counter("tally_http_requests_total", help: "", labels: [("status", "200")]) === ok)
        let gauge = registry.gauge("tally_connections", help: "Open connections.", labels: [("transport", "ws")])
        gauge.add(5)
        gauge.add(-2)
        registry.register("tally_jobs", help: "Jobs by state.", type: .gauge) {
            [MetricSample(labels: [("state", "running")], value: 2), MetricSample(labels: [("state", "a\"b\\c\nd")], value: 0.5)]
        }
        #expect(registry.exposition() == """
        # HELP tally_http_requests_total Requests by status.
        # TYPE tally_http_requests_total counter
        tally_http_requests_total{status="200"} 3
        tally_http_requests_total{status="404"} 1
        # HELP tally_connections Open connections.
        # TYPE tally_connections gauge
        tally_connections{transport="ws"} 3
        # HELP tally_jobs Jobs by state.
        # TYPE tally_jobs gauge
        tally_jobs{state="running"} 2
        tally_jobs{state="a\\"b\\\\c\\nd"} 0.5

        """)
    }
}
