import Monitoring
import Testing

/// The Prometheus side of monitoring, without packets: addresses, quantiles.
@Suite struct MetricsTests {
    @Test func theMetricsEndpointRejectsBadAddresses() throws {
        for bad in ["9464", "127.0.0.1", "127.0.0.1:port", "127.0.0.1:70000", "[::1]9464", "no-such-host.invalid:9464"] {
            #expect(throws: MonitoringError.self, "\(bad)") { try MetricsEndpoint(listen: bad) { "" } }
        }
    }

    @Test func delayQuantilesAreNearestRank() throws {
        let stats = try #require(DelayStatistics((1...100).map { Double($0) }.shuffled()))
        #expect(stats.min == 1 && stats.median == 50 && stats.p99 == 99 && stats.max == 100 && stats.count == 100)
        let one = try #require(DelayStatistics([0.5]))
        #expect(one.min == 0.5 && one.median == 0.5 && one.p99 == 0.5 && one.max == 0.5)
        #expect(DelayStatistics([]) == nil)
    }
}
