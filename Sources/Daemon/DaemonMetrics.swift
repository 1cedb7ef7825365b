import Foundation
import HikeControl
import HikeRuntime
import HikeVM
import Monitoring
import Prometheus
import SRv6

/// The daemon's Prometheus metrics (swift-prometheus): its own requests, counted as they happen;
/// the data plane's kernel counters, read at each scrape (CounterMirror); and, with a
/// `monitoring:` configuration, the collector's loss per flow and period and the STAMP delays.
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let instance: String
    private let mirror: CounterMirror
    /// The collector's and STAMP's metrics (recorded by the monitoring loop) and the flow
    /// counters of this instance.
    let monitoring: MonitoringMetrics

    /// loop: the monitoring loop's two ends, whose flow counters its metrics read (the
    /// instance's own are read here otherwise).
    /// The namespace of the instance's interfaces (monitored links), nil: the daemon's.
    private let netns: String?

    public init(instance: String, netns: String? = nil, loop: MonitoringLoop? = nil) {
        self.instance = instance
        self.netns = netns
        mirror = CounterMirror(registry: registry)
        monitoring = MonitoringMetrics(nodes: loop.map { [($0.ingress, .ingress), ($0.egress, .egress)] } ?? [], registry: registry)
        readsOwnFlows = loop == nil
    }

    private let readsOwnFlows: Bool

    func countRequest(_ rpc: String, failed: Bool) {
        registry.makeCounter(descriptor: MetricName.descriptor("hike_daemon_requests_total", "Requests the daemon answered, by RPC and outcome."),
                             labels: [("rpc", rpc), ("outcome", failed ? "failed" : "ok")]).increment()
    }

    /// Reads the instance's counters into the registry (blocking: run it off the event loops).
    /// Returns the problems reading them, also counted in hike_daemon_scrape_errors.
    public func refresh() -> [String] {
        var problems: [String] = []
        let base = [("instance", instance)]
        mirror.begin()
        defer { mirror.end() }
        do {
            let hike = try HikeInstance(name: instance)
            let registryFile = try hike.registry()
            if FileManager.default.fileExists(atPath: "\(hike.pinRoot)/vm/hvm_chains") {
                for (chain, runs) in try hike.chainRuns() {
                    mirror.counter("hike_chain_runs_total", help: "Packets loaders started on a chain since it was installed or replaced.",
                                   labels: base + [("chain", chain)], value: runs)
                }
                for fault in try hike.faultCounts() {
                    let chain = registryFile.name(of: fault.chainID) ?? "0x" + String(fault.chainID, radix: 16)
                    let reason = Fault(rawValue: fault.reason)?.name ?? "reason \(fault.reason)"
                    mirror.counter("hike_chain_faults_total", help: "Chain faults by chain and reason (hike faults).",
                                   labels: base + [("chain", chain), ("reason", reason)], value: fault.count)
                }
            }
            for attachment in registryFile.attachments {
                mirror.gauge("hike_loader_attached", help: "Loaders attached, by interface (1 while attached).",
                             labels: base + [("loader", attachment.loader), ("interface", attachment.interface),
                                             ("namespace", attachment.namespace ?? ""), ("mode", attachment.mode),
                                             ("chain", attachment.chain ?? "")], value: 1)
            }
            let status = try SRv6Node(instance: hike).status()
            for (kind, entries) in [("sid", status.sids), ("policy", status.policies)] {
                for entry in entries {
                    let labels = base + [("kind", kind), ("prefix", entry.prefix), ("behaviour", entry.summary)]
                    mirror.counter("hike_srv6_packets_total", help: "Packets per SRv6 SID or policy (hike srv6 show).", labels: labels, value: entry.packets)
                    mirror.counter("hike_srv6_bytes_total", help: "Bytes per SRv6 SID or policy.", labels: labels, value: entry.bytes)
                    mirror.counter("hike_srv6_errors_total", help: "Errors per SRv6 SID or policy.", labels: labels, value: entry.errors)
                }
            }
            for (reason, packets) in status.reasons {
                mirror.counter("hike_srv6_reasons_total", help: "SRv6 packets by reason (SRV6_R_*).", labels: base + [("reason", reason)], value: packets)
            }
            if readsOwnFlows && registryFile.objects.contains("pm") {
                let node = LocalMonitoredNode(instance: hike)
                for point in [CountingPoint.ingress, .egress] { try MonitoringMetrics.mirror(node, at: point, into: mirror) }
            }
            if registryFile.objects.contains("pm") {
                MonitoringMetrics.mirror(try DataPlane(instance: hike).linkReport(netns: netns), into: mirror)
            }
        } catch {
            problems.append("\(error)")
        }
        do { try monitoring.refresh() } catch { problems.append("\(error)") }
        registry.makeGauge(descriptor: MetricName.descriptor("hike_daemon_scrape_errors", "Problems reading the data plane at the last scrape."))
            .set(Double(problems.count))
        return problems
    }
}
