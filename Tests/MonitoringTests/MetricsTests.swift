import Monitoring
import Testing

/// The Prometheus side of monitoring, without packets: addresses, exposition text, quantiles.
@Suite struct MetricsTests {
    @Test func metricsServerRejectsBadAddresses() throws {
        for bad in ["9464", "127.0.0.1", "127.0.0.1:port", "127.0.0.1:70000", "[::1]9464", "no-such-host.invalid:9464"] {
            #expect(throws: MonitoringError.self, "\(bad)") { try MetricsServer(listen: bad) { "" } }
        }
    }

    @Test func expositionEscapesLabelsAndFormatsNumbers() {
        var e = PrometheusExposition()
        e.add("m", help: "a \\ help\nline", type: .gauge, labels: [("node", "r\"1\\\n")], value: 0.25)
        e.add("m", help: "ignored", type: .gauge, value: UInt64(3))
        #expect(e.text == "# HELP m a \\\\ help\\nline\n# TYPE m gauge\nm{node=\"r\\\"1\\\\\\n\"} 0.25\nm 3\n")
    }

    @Test func delayQuantilesAreNearestRank() throws {
        let stats = try #require(DelayStatistics((1...100).map { Double($0) }.shuffled()))
        #expect(stats.min == 1 && stats.median == 50 && stats.p99 == 99 && stats.max == 100 && stats.count == 100)
        let one = try #require(DelayStatistics([0.5]))
        #expect(one.min == 0.5 && one.median == 0.5 && one.p99 == 0.5 && one.max == 0.5)
        #expect(DelayStatistics([]) == nil)
    }
}
