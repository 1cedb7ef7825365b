import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Monitoring
import Testing
import Topology

/// STAMP over the SRv6 path against the stamp package's XDP reflector, and the Prometheus
/// endpoint.
@Suite(.serialized) struct STAMPAndMetricsTests {
    static let reflector = """
        chain stamp_reflector
            call filter
            if r0 != 0 goto pass
            call stamp
            if r0 != 0 goto pass
            call l234_addr_swap
            call udp_checksum
            call hike_tx
        pass:
            call hike_pass
        """

    /// The reflector chain on h2's veth0, in an instance of its own.
    static func reflect(on net: VPNTopology) throws -> TestInstance {
        let instance = try KernelTest.instance()
        try instance.instance.loadProgram("hike_pass")
        try instance.instance.loadProgram("stamp")
        try VPNTopology.install(instance.instance, reflector)
        try instance.instance.attach(loader: "ip6_classifier", interface: "veth0", namespace: net.h2, chain: "stamp_reflector",
                                     defaultVerdict: ABI.xdpPass)
        return instance
    }

    @Test func senderMeasuresDelaysAgainstTheXDPReflector() throws {
        let net = try VPNTopology(mode: .altmark)
        let reflector = try Self.reflect(on: net)
        let count = 20
        let sender = try STAMPSessionSender(destination: VPNTopology.h2Address, ssid: 0x5a5a, namespace: net.h1)
        let (result, samples) = try sender.run(count: count, interval: .milliseconds(5), timeout: .seconds(3))
        #expect(result.sent == count && result.received == count && result.lost == 0 && result.lossPercent == 0)
        #expect(samples.map(\.sequence) == (0..<UInt32(count)).map { $0 })
        let rtt = try #require(result.roundTrip)
        #expect(rtt.count == count)
        #expect(rtt.min > 0 && rtt.min <= rtt.median && rtt.median <= rtt.p99 && rtt.p99 <= rtt.max && rtt.max < 1)
        for sample in samples {
            #expect(sample.t1 <= sample.t4 && sample.t2 <= sample.t3)
            // One clock for all namespaces: one-way delays are real, up to the offset's rounding.
            #expect(sample.forward > -0.001 && sample.forward < 1)
            #expect(sample.backward > -0.001 && sample.backward < 1)
            #expect(abs(sample.roundTrip - (sample.forward + sample.backward)) < 1e-6)
        }
        // The reflector answered them all; the test packets travelled in the monitored flow.
        let stats = try BPFMap.openPinned("\(reflector.instance.pinRoot)/maps/stamp/stamp_stats")
        #expect(try stats.lookupSum(UInt32(0), as: UInt64.self) == UInt64(count))
        #expect(try net.marked() >= UInt64(count))
    }

    /// A reply that comes after its session ended stays in the socket; the next session must not
    /// take it for one of its own: sequence numbers run on across sessions and the echoed
    /// sender timestamp must be the one sent.
    @Test func aLateReplyIsNotMatchedToTheNextSession() throws {
        let net = try VPNTopology(mode: .altmark)
        let reflector = try Self.reflect(on: net)
        let sender = try STAMPSessionSender(destination: VPNTopology.h2Address, ssid: 9, namespace: net.h1)
        // No time for the reply: the session ends right after sending.
        let (first, _) = try sender.run(count: 1, interval: .zero, timeout: .zero)
        #expect(first.sent == 1)
        let stats = try BPFMap.openPinned("\(reflector.instance.pinRoot)/maps/stamp/stamp_stats")
        try KernelTest.waitUntil("the reflector answers the first session") { try stats.lookupSum(UInt32(0), as: UInt64.self) == 1 }
        let (second, samples) = try sender.run(count: 5, interval: .milliseconds(5), timeout: .seconds(3))
        #expect(second.sent == 5 && second.received == 5)
        #expect(samples.map(\.sequence) == (1...5).map { UInt32($0) })
        for sample in samples {
            // A stale reply would carry T2 and T3 from before this session's T1.
            #expect(sample.t1 <= sample.t2 && sample.t2 <= sample.t3 && sample.t3 <= sample.t4, "\(sample)")
        }
        #expect(throws: MonitoringError.self) { try sender.run(count: 0) }
        #expect(throws: MonitoringError.self) { try sender.run(count: STAMPSessionSender.maxCount + 1) }
        #expect(throws: MonitoringError.self) { try sender.run(count: 1, interval: .seconds(-1)) }
    }

    @Test func senderReportsLossWhenNothingReflects() throws {
        let net = try VPNTopology(mode: .dscp)  // no reflector on h2: the kernel drops them (port closed)
        let sender = try STAMPSessionSender(destination: VPNTopology.h2Address, ssid: 1, namespace: net.h1)
        let (result, samples) = try sender.run(count: 3, interval: .milliseconds(5), timeout: .milliseconds(300))
        #expect(result.sent == 3 && result.received == 0 && result.lost == 3 && result.lossPercent == 100)
        #expect(samples.isEmpty && result.roundTrip == nil)
        #expect(throws: MonitoringError.self) { try STAMPSessionSender(destination: "h2", ssid: 1) }
    }

    /// The figures of the collector's reports and of a STAMP session, served by the metrics
    /// server and parsed by the Prometheus client's text parser (python3 prometheus-client).
    @Test func prometheusEndpointCarriesTheReportedFigures() throws {
        let net = try VPNTopology(mode: .altmark)
        let reflector = try Self.reflect(on: net)
        defer { withExtendedLifetime(reflector) {} }
        let sender = try FlowSender(in: net.h1, to: VPNTopology.h2Address, port: VPNTopology.port)
        let collector = try LossCollector(ingress: net.ingress, egress: net.egress, period: .seconds(1))
        let metrics = MonitoringMetrics(nodes: [(net.ingress, .ingress), (net.egress, .egress)])
        try collector.start()
        var reports: [PeriodReport] = []
        for p in 1...3 {
            if p == 2 { try net.egress.injectLoss(flow: VPNTopology.flow, colour: try net.ingress.activeColour(), count: 2) }
            try sender.send(15)
            try net.waitUntilSettled()
            try collector.flip()
            try net.waitUntilSettled()
            let report = try collector.read()
            metrics.record(report)
            reports.append(report)
        }
        // STAMP after the last read: its test packets are counted under the active colour only.
        let stamp = try STAMPSessionSender(destination: VPNTopology.h2Address, ssid: 77, namespace: net.h1)
        let (result, timestamps) = try stamp.run(count: 10, interval: .milliseconds(5), timeout: .seconds(3))
        metrics.record(result, samples: timestamps)
        try net.waitUntilSettled()

        let server = try MetricsEndpoint(listen: "127.0.0.1:0") { try metrics.exposition() }
        defer { server.stop() }
        let script = """
            import json, sys, urllib.request, urllib.error
            from prometheus_client.parser import text_string_to_metric_families
            base = "http://127.0.0.1:%s" % sys.argv[1]
            with urllib.request.urlopen(base + "/metrics") as r:
                ctype = r.headers["Content-Type"]
                text = r.read().decode()
            try:
                urllib.request.urlopen(base + "/nothing")
                missing = 200
            except urllib.error.HTTPError as e:
                missing = e.code
            samples = [[s.name, s.labels, repr(s.value)] for f in text_string_to_metric_families(text) for s in f.samples]
            print(json.dumps({"type": ctype, "missing": missing, "samples": samples}))
            """
        // Debian's interpreter: scripts/install-deps.sh installs python3-prometheus-client for it.
        let output = try Command.check(["/usr/bin/python3", "-c", script, String(server.port)])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(parsed["type"] as? String == MetricsEndpoint.contentType)
        #expect(parsed["missing"] as? Int == 404)
        // Values as Python's repr, read by Double(_:) (exact; a JSON number may lose a digit).
        let samples = try #require(parsed["samples"] as? [[Any]])
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { ($0[0] as? String) == name && ($0[1] as? [String: String]).map { l in labels.allSatisfy { l[$0.key] == $0.value } } == true }.flatMap { ($0[2] as? String).flatMap(Double.init) }
        }
        let flow = String(VPNTopology.flow)
        // Per-flow counters: the nodes' own.
        for (node, point) in [(net.ingress, CountingPoint.ingress), (net.egress, .egress)] {
            for c in try node.counters(at: point) {
                let labels = ["node": node.name, "point": point.rawValue, "flow": String(c.flow), "colour": String(c.colour.rawValue)]
                #expect(value(MonitoringMetrics.Name.packets, labels) == Double(c.packets), "\(labels)")
                #expect(value(MonitoringMetrics.Name.bytes, labels) == Double(c.bytes), "\(labels)")
            }
        }
        // The last period, and the totals over the three.
        let last = try #require(reports.last?.flows.first { $0.flow == VPNTopology.flow })
        #expect(value(MonitoringMetrics.Name.periodNumber, ["flow": flow]) == 3)
        #expect(value(MonitoringMetrics.Name.periodSent, ["flow": flow]) == Double(last.sent))
        #expect(value(MonitoringMetrics.Name.periodReceived, ["flow": flow]) == Double(last.received))
        #expect(value(MonitoringMetrics.Name.periodLost, ["flow": flow]) == Double(last.lost))
        #expect(value(MonitoringMetrics.Name.periodLossPercent, ["flow": flow]) == last.lossPercent)
        let lost = reports.flatMap(\.flows).reduce(Int64(0)) { $0 + $1.lost }
        #expect(lost == 2)
        #expect(value(MonitoringMetrics.Name.lostTotal, ["flow": flow]) == 2)
        #expect(value(MonitoringMetrics.Name.sentTotal, ["flow": flow]) == 45)
        #expect(value(MonitoringMetrics.Name.periodsTotal, ["flow": flow]) == 3)
        // STAMP.
        let session = ["ssid": "77"]
        #expect(value(MonitoringMetrics.Name.stampSent, session) == 10)
        #expect(value(MonitoringMetrics.Name.stampReceived, session) == Double(result.received))
        #expect(value(MonitoringMetrics.Name.stampLost, session) == Double(result.lost))
        for (direction, delays) in [("round_trip", result.roundTrip), ("forward", result.forward), ("backward", result.backward)] {
            let d = try #require(delays, "\(direction)")
            for (stat, figure) in [("min", d.min), ("median", d.median), ("p99", d.p99), ("max", d.max)] {
                #expect(value(MonitoringMetrics.Name.stampDelay, session.merging(["direction": direction, "stat": stat]) { a, _ in a }) == figure,
                        "\(direction) \(stat)")
            }
        }
        #expect(value(MonitoringMetrics.Name.excessTotal, ["flow": flow]) == 0)
        // Each test packet's delay in the histogram: as many as replies, each under the largest bucket.
        for (direction, delay) in [("round_trip", \STAMPTimestamps.roundTrip), ("forward", \.forward), ("backward", \.backward)] {
            let labels = session.merging(["direction": direction]) { a, _ in a }
            #expect(value(MonitoringMetrics.Name.stampPacketDelay + "_count", labels) == Double(timestamps.count), "\(direction)")
            let sum = try #require(value(MonitoringMetrics.Name.stampPacketDelay + "_sum", labels))
            #expect(abs(sum - timestamps.map { $0[keyPath: delay] }.reduce(0, +)) < 1e-9, "\(direction)")
            #expect(value(MonitoringMetrics.Name.stampPacketDelay + "_bucket", labels.merging(["le": "+Inf"]) { a, _ in a })
                    == Double(timestamps.count), "\(direction)")
        }
        #expect(timestamps.count == result.received)
    }

    /// The lost total is a counter: a period with more received than sent (duplicates) adds to
    /// the excess total and never takes from the lost one.
    @Test func lostTotalNeverDecreases() throws {
        let metrics = MonitoringMetrics(nodes: [])
        func report(_ period: Int, sent: UInt64, received: UInt64) -> PeriodReport {
            PeriodReport(period: period, colour: period % 2 == 0 ? .zero : .one, ended: Date(), read: Date(),
                         flows: [FlowLoss(flow: 3, sent: sent, received: received, sentBytes: sent * 100, receivedBytes: received * 100)])
        }
        func totals() throws -> (lost: Double?, excess: Double?) {
            let text = try metrics.exposition()
            func sample(_ name: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(name + "{flow=\"3\"} ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            return (sample(MonitoringMetrics.Name.lostTotal), sample(MonitoringMetrics.Name.excessTotal))
        }
        metrics.record(report(1, sent: 10, received: 8))
        #expect(try totals() == (2, 0))
        metrics.record(report(2, sent: 10, received: 11))
        #expect(try totals() == (2, 1))
        metrics.record(report(3, sent: 10, received: 7))
        #expect(try totals() == (5, 1))
    }
}
