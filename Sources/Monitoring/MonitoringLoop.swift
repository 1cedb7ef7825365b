import Foundation
import NetKit

/// The collector every period, with a STAMP session after each read when asked, all recorded
/// into the metrics: what `hike pm serve` runs in the foreground and the daemon among its
/// services. No report is kept (it runs for days).
public struct MonitoringLoop: Sendable {
    /// The two ends of the monitored flows (HIKe instances of this machine), the period and the
    /// STAMP reflector; what `hike pm serve` and the daemon's `monitoring:` set.
    public struct Settings: Codable, Sendable, Equatable {
        public var ingress: String
        public var egress: String
        /// Seconds.
        public var period: Double
        public var stampTo: String?
        public var stampNetns: String?
        public var stampCount: Int

        public init(ingress: String, egress: String, period: Double, stampTo: String? = nil, stampNetns: String? = nil, stampCount: Int = 10) {
            self.ingress = ingress
            self.egress = egress
            self.period = period
            self.stampTo = stampTo
            self.stampNetns = stampNetns
            self.stampCount = stampCount
        }

        enum CodingKeys: String, CodingKey {
            case ingress, egress, period
            case stampTo = "stamp-to"
            case stampNetns = "stamp-netns"
            case stampCount = "stamp-count"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(ingress: try c.decode(String.self, forKey: .ingress), egress: try c.decode(String.self, forKey: .egress),
                      period: try c.decode(Double.self, forKey: .period), stampTo: try c.decodeIfPresent(String.self, forKey: .stampTo),
                      stampNetns: try c.decodeIfPresent(String.self, forKey: .stampNetns),
                      stampCount: try c.decodeIfPresent(Int.self, forKey: .stampCount) ?? 10)
        }

        /// What is wrong with them, checked before anything runs.
        public func check() throws(MonitoringError) {
            guard period.isFinite, (0.01...86_400).contains(period) else {
                throw .invalidArgument("period \(period): give 0.01–86400 seconds")
            }
            guard (1...10_000).contains(stampCount) else { throw .stamp("stamp-count \(stampCount): give 1–10000") }
            if stampNetns != nil && stampTo == nil { throw .stamp("stamp-netns needs stamp-to") }
        }
    }

    public let settings: Settings
    public let ingress: LocalMonitoredNode
    public let egress: LocalMonitoredNode

    public init(_ settings: Settings, ingress: LocalMonitoredNode, egress: LocalMonitoredNode) throws(MonitoringError) {
        try settings.check()
        self.settings = settings
        self.ingress = ingress
        self.egress = egress
    }

    /// Runs until shouldStop says so (checked after each period's read).
    public func run(metrics: MonitoringMetrics, shouldStop: @Sendable () -> Bool = { false }) throws {
        let period = Self.duration(settings.period)
        let stamp = try settings.stampTo.map { address in
            try STAMPSessionSender(destination: address, ssid: 1, namespace: try settings.stampNetns.map { try NetworkNamespace(existing: $0) })
        }
        let collector = try LossCollector(ingress: ingress, egress: egress, period: period)
        let count = settings.stampCount, seconds = settings.period
        try collector.runUntilStopped(report: { report in
            metrics.record(report)
            if let stamp {
                let (result, samples) = try stamp.run(count: count, interval: Self.duration(seconds / 4 / Double(count)),
                                                      timeout: Self.duration(seconds / 8))
                metrics.record(result, samples: samples)
            }
            return !shouldStop()
        })
    }

    static func duration(_ seconds: Double) -> Duration { .nanoseconds(Int64(seconds * 1e9)) }
}
