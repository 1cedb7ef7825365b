import Foundation
import Prometheus
import Synchronization

/// What `hike pm serve`, the daemon and the VPN demo expose (swift-prometheus): the nodes' flow
/// counters (read at each scrape), the collector's per-period reports and the STAMP sessions'
/// delays, each test packet's delay in a histogram. Thread-safe: the collector and the STAMP
/// sender record while the endpoint scrapes.
public final class MonitoringMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let nodes: [(node: any MonitoredNode, point: CountingPoint)]
    private let mirror: CounterMirror

    /// Delay buckets of the STAMP histogram: 5 µs to 1 s.
    public static let delayBuckets: [Double] = [5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
                                                1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1]

    /// nodes: the counting points whose counters each scrape reads; registry: where the metrics
    /// go (the daemon passes its own, shared with its other metrics).
    public init(nodes: [(node: any MonitoredNode, point: CountingPoint)], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.nodes = nodes
        self.registry = registry
        mirror = CounterMirror(registry: registry)
    }

    /// Metric names, for the documentation and the tests.
    public enum Name {
        public static let packets = "hike_pm_packets_total"
        public static let bytes = "hike_pm_bytes_total"
        public static let periodNumber = "hike_pm_period"
        public static let periodSent = "hike_pm_period_sent_packets"
        public static let periodReceived = "hike_pm_period_received_packets"
        public static let periodLost = "hike_pm_period_lost_packets"
        public static let periodLossPercent = "hike_pm_period_loss_percent"
        public static let sentTotal = "hike_pm_measured_sent_packets_total"
        public static let lostTotal = "hike_pm_measured_lost_packets_total"
        public static let excessTotal = "hike_pm_measured_excess_packets_total"
        public static let periodsTotal = "hike_pm_periods_total"
        public static let stampSent = "hike_stamp_sent_packets"
        public static let stampReceived = "hike_stamp_received_packets"
        public static let stampLost = "hike_stamp_lost_packets"
        public static let stampDelay = "hike_stamp_delay_seconds"
        /// A histogram: each test packet's delay, by direction.
        public static let stampPacketDelay = "hike_stamp_packet_delay_seconds"
        public static let colour = "hike_pm_colour"
        public static let colourSince = "hike_pm_colour_since_seconds"
        public static let link = "hike_link_monitored"
        public static let linkDrop = "hike_link_drop_ratio"
        public static let linkTransmitBytes = "hike_link_transmit_bytes_total"
        public static let linkReceiveBytes = "hike_link_receive_bytes_total"
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        registry.makeGauge(descriptor: MetricName.descriptor(name, help), labels: labels).set(value)
    }

    private func count(_ name: String, _ help: String, _ labels: [(String, String)], by amount: UInt64) {
        registry.makeCounter(descriptor: MetricName.descriptor(name, help), labels: labels).increment(by: Int64(clamping: amount))
    }

    /// Records a period's report: its figures become the "last period" gauges and are added to
    /// the totals. Lost and excess are kept apart so that both only grow: a period with more
    /// received than sent adds to excess and never takes from lost.
    public func record(_ report: PeriodReport) {
        for loss in report.flows {
            let labels = [("flow", String(loss.flow))]
            gauge(Name.periodNumber, "Number of the last period read by the collector.", labels, Double(report.period))
            gauge(Name.periodSent, "Packets the ingress marked in the last period read.", labels, Double(loss.sent))
            gauge(Name.periodReceived, "Packets the egress counted of the last period read.", labels, Double(loss.received))
            gauge(Name.periodLost, "Packets lost in the last period read (sent - received).", labels, Double(loss.lost))
            gauge(Name.periodLossPercent, "Lost packets in the last period read, percent of those sent.", labels, loss.lossPercent)
            count(Name.sentTotal, "Packets sent over all periods read.", labels, by: loss.sent)
            count(Name.lostTotal, "Packets lost over all periods read (periods with a positive loss).", labels,
                  by: loss.lost > 0 ? UInt64(loss.lost) : 0)
            count(Name.excessTotal, "Packets received beyond those sent, over periods with more received than sent (duplicates).",
                  labels, by: loss.lost < 0 ? loss.lost.magnitude : 0)
            count(Name.periodsTotal, "Periods read.", labels, by: 1)
        }
    }

    /// Records a STAMP session: its counts and quantiles as gauges (the last session), and each
    /// test packet's delays in the histogram.
    public func record(_ result: STAMPResult, samples: [STAMPTimestamps] = []) {
        let labels = [("ssid", String(result.ssid)), ("destination", result.destination)]
        gauge(Name.stampSent, "STAMP test packets sent in the last session.", labels, Double(result.sent))
        gauge(Name.stampReceived, "STAMP replies received in the last session.", labels, Double(result.received))
        gauge(Name.stampLost, "STAMP test packets without a reply in the last session.", labels, Double(result.lost))
        for (direction, stats) in [("round_trip", result.roundTrip), ("forward", result.forward), ("backward", result.backward)] {
            guard let stats else { continue }
            for (stat, value) in [("min", stats.min), ("median", stats.median), ("p99", stats.p99), ("max", stats.max)] {
                gauge(Name.stampDelay, "STAMP delay of the last session: round trip (T4-T1)-(T3-T2), forward T2-T1, backward T4-T3.",
                      labels + [("direction", direction), ("stat", stat)], value)
            }
        }
        for (direction, delay) in [("round_trip", \STAMPTimestamps.roundTrip), ("forward", \.forward), ("backward", \.backward)] {
            let histogram = registry.makeValueHistogram(
                descriptor: MetricName.descriptor(Name.stampPacketDelay, "Each STAMP test packet's delay, by direction."),
                labels: labels + [("direction", direction)], buckets: Self.delayBuckets)
            for sample in samples { histogram.record(sample[keyPath: delay]) }
        }
    }

    /// Reads every node's counters into the registry.
    public func refresh() throws {
        mirror.begin()
        defer { mirror.end() }
        for (node, point) in nodes { try Self.mirror(node, at: point, into: mirror) }
    }

    /// A node's flow counters at a counting point, into a scrape of mirror.
    public static func mirror(_ node: any MonitoredNode, at point: CountingPoint, into mirror: CounterMirror) throws {
        for c in try node.counters(at: point) {
            let labels = [("node", node.name), ("point", point.rawValue), ("flow", String(c.flow)), ("colour", String(c.colour.rawValue))]
            mirror.counter(Name.packets, help: "Packets of a monitored flow counted at a node, by counting point and colour.",
                           labels: labels, value: c.packets)
            mirror.counter(Name.bytes, help: "Bytes (frames without the AltMark header) of a monitored flow counted at a node.",
                           labels: labels, value: c.bytes)
        }
    }

    /// A node's link monitoring (LinkReport): its colour and since when, each monitored
    /// interface with its flows, and the interface's byte counters — what a controller that
    /// reads Prometheus needs besides the flows' counters.
    public static func mirror(_ report: LinkReport, into mirror: CounterMirror) {
        let node = [("node", report.node)]
        mirror.gauge(Name.colour, help: "The colour the node marks with now (alternate marking).", labels: node,
                     value: Double(report.activeColour.rawValue))
        if let since = report.colourSince {
            mirror.gauge(Name.colourSince, help: "Since when the node marks with its colour, Unix seconds (the last flip hike made).",
                         labels: node, value: since)
        }
        for link in report.links {
            let interface = node + [("interface", link.interface)]
            mirror.gauge(Name.link, help: "A monitored link at the node, with its send and receive flows (0: none); always 1.",
                         labels: interface + [("send_flow", String(link.sendFlow ?? 0)), ("receive_flow", String(link.receiveFlow ?? 0))],
                         value: 1)
            mirror.gauge(Name.linkDrop, help: "The share of what the interface receives that it drops (loss injection).",
                         labels: interface, value: link.dropPercent / 100)
            if let totals = link.interfaceCounters {
                mirror.counter(Name.linkTransmitBytes, help: "Bytes the monitored interface transmitted (ip -s link).", labels: interface, value: totals.txBytes)
                mirror.counter(Name.linkReceiveBytes, help: "Bytes the monitored interface received (ip -s link).", labels: interface, value: totals.rxBytes)
            }
        }
    }

    /// The exposition now (text format 0.0.4): reads every node's counters first.
    public func exposition() throws -> String {
        try refresh()
        return String(decoding: registry.emitToBuffer(), as: UTF8.self)
    }
}
