import Foundation
import Synchronization

/// The Prometheus text exposition format (version 0.0.4): metric families with HELP and TYPE
/// lines, then one sample per line.
public struct PrometheusExposition: Sendable {
    public enum MetricType: String, Sendable { case counter, gauge }

    struct Family {
        let name: String
        let help: String
        let type: MetricType
        var samples: [(labels: [(String, String)], value: String)] = []
    }

    private var families: [Family] = []

    public init() {}

    /// Adds a sample to the family name (created with help and type the first time).
    public mutating func add(_ name: String, help: String, type: MetricType, labels: [(String, String)] = [], value: Double) {
        add(name, help: help, type: type, labels: labels, text: Self.format(value))
    }

    public mutating func add(_ name: String, help: String, type: MetricType, labels: [(String, String)] = [], value: UInt64) {
        add(name, help: help, type: type, labels: labels, text: String(value))
    }

    private mutating func add(_ name: String, help: String, type: MetricType, labels: [(String, String)], text: String) {
        if let index = families.firstIndex(where: { $0.name == name }) {
            families[index].samples.append((labels, text))
        } else {
            families.append(Family(name: name, help: help, type: type, samples: [(labels, text)]))
        }
    }

    public var text: String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(Self.escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.type.rawValue)\n"
            for sample in family.samples {
                let labels = sample.labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
                out += family.name + (labels.isEmpty ? "" : "{\(labels)}") + " " + sample.value + "\n"
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }

    static func escapeLabel(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// What `hike pm serve` exposes: the nodes' counters (read at each scrape), the collector's
/// per-period reports and the STAMP sessions' delays. Thread-safe: the collector and the STAMP
/// sender write while the server reads.
public final class MonitoringMetrics: Sendable {
    private let nodes: [(node: any MonitoredNode, point: CountingPoint)]
    private struct State {
        var lastPeriod: [UInt32: (period: Int, loss: FlowLoss)] = [:]
        /// Sums over periods; lost and excess are kept apart so that both only grow (Prometheus
        /// counters): a period with more received than sent adds to excess, never takes from lost.
        var totals: [UInt32: (sent: UInt64, received: UInt64, lost: UInt64, excess: UInt64, periods: Int)] = [:]
        var stamp: [UInt16: STAMPResult] = [:]
    }
    private let state = Mutex(State())

    /// nodes: the counting points whose counters each scrape reads.
    public init(nodes: [(node: any MonitoredNode, point: CountingPoint)]) {
        self.nodes = nodes
    }

    /// Records a period's report: its figures become the "last period" gauges and are added to
    /// the totals.
    public func record(_ report: PeriodReport) {
        state.withLock { state in
            for loss in report.flows {
                state.lastPeriod[loss.flow] = (report.period, loss)
                var total = state.totals[loss.flow] ?? (0, 0, 0, 0, 0)
                total.sent &+= loss.sent
                total.received &+= loss.received
                if loss.lost >= 0 { total.lost &+= UInt64(loss.lost) } else { total.excess &+= loss.lost.magnitude }
                total.periods += 1
                state.totals[loss.flow] = total
            }
        }
    }

    public func record(_ result: STAMPResult) {
        state.withLock { $0.stamp[result.ssid] = result }
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
    }

    /// The exposition now: reads every node's counters.
    public func exposition() throws -> String {
        var e = PrometheusExposition()
        for (node, point) in nodes {
            for c in try node.counters(at: point) {
                let labels = [("node", node.name), ("point", point.rawValue), ("flow", String(c.flow)), ("colour", String(c.colour.rawValue))]
                e.add(Name.packets, help: "Packets of a monitored flow counted at a node, by counting point and colour.",
                      type: .counter, labels: labels, value: c.packets)
                e.add(Name.bytes, help: "Bytes (frames without the AltMark header) of a monitored flow counted at a node.",
                      type: .counter, labels: labels, value: c.bytes)
            }
        }
        let (last, sums, sessions) = state.withLock { ($0.lastPeriod, $0.totals, $0.stamp) }
        for flow in last.keys.sorted() {
            guard let (period, loss) = last[flow] else { continue }
            let labels = [("flow", String(flow))]
            e.add(Name.periodNumber, help: "Number of the last period read by the collector.", type: .gauge, labels: labels, value: UInt64(period))
            e.add(Name.periodSent, help: "Packets the ingress marked in the last period read.", type: .gauge, labels: labels, value: loss.sent)
            e.add(Name.periodReceived, help: "Packets the egress counted of the last period read.", type: .gauge, labels: labels, value: loss.received)
            e.add(Name.periodLost, help: "Packets lost in the last period read (sent - received).", type: .gauge, labels: labels,
                  value: Double(loss.lost))
            e.add(Name.periodLossPercent, help: "Lost packets in the last period read, percent of those sent.", type: .gauge,
                  labels: labels, value: loss.lossPercent)
        }
        for flow in sums.keys.sorted() {
            guard let total = sums[flow] else { continue }
            let labels = [("flow", String(flow))]
            e.add(Name.sentTotal, help: "Packets sent over all periods read.", type: .counter, labels: labels, value: total.sent)
            e.add(Name.lostTotal, help: "Packets lost over all periods read (periods with a positive loss).", type: .counter,
                  labels: labels, value: total.lost)
            e.add(Name.excessTotal, help: "Packets received beyond those sent, over periods with more received than sent (duplicates).",
                  type: .counter, labels: labels, value: total.excess)
            e.add(Name.periodsTotal, help: "Periods read.", type: .counter, labels: labels, value: UInt64(total.periods))
        }
        for ssid in sessions.keys.sorted() {
            guard let result = sessions[ssid] else { continue }
            let labels = [("ssid", String(ssid)), ("destination", result.destination)]
            e.add(Name.stampSent, help: "STAMP test packets sent in the last session.", type: .gauge, labels: labels, value: UInt64(result.sent))
            e.add(Name.stampReceived, help: "STAMP replies received in the last session.", type: .gauge, labels: labels,
                  value: UInt64(result.received))
            e.add(Name.stampLost, help: "STAMP test packets without a reply in the last session.", type: .gauge, labels: labels,
                  value: UInt64(result.lost))
            for (direction, stats) in [("round_trip", result.roundTrip), ("forward", result.forward), ("backward", result.backward)] {
                guard let stats else { continue }
                for (stat, value) in [("min", stats.min), ("median", stats.median), ("p99", stats.p99), ("max", stats.max)] {
                    e.add(Name.stampDelay, help: "STAMP delay of the last session: round trip (T4-T1)-(T3-T2), forward T2-T1, backward T4-T3.",
                          type: .gauge, labels: labels + [("direction", direction), ("stat", stat)], value: value)
                }
            }
        }
        return e.text
    }
}
