import Foundation
import HikeRuntime
import HikeVM
import Prometheus
import SRv6
import Synchronization

/// The daemon's Prometheus metrics (swift-prometheus): its own requests, counted as they happen,
/// and the data plane's kernel counters, read at each scrape. A kernel counter becomes a
/// Prometheus counter incremented by what it grew since the last scrape; when it went down
/// (hike reset, counters re-created) the Prometheus counter is reset too, which Prometheus reads
/// as a counter reset.
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let instance: String

    private struct Tracked {
        var counters: [String: (counter: Counter, last: UInt64)] = [:]
        var gauges: [String: Gauge] = [:]
    }
    private let tracked = Mutex(Tracked())

    public init(instance: String) {
        self.instance = instance
    }

    func countRequest(_ rpc: String, failed: Bool) {
        registry.makeCounter(descriptor: Self.descriptor("hike_daemon_requests_total", "Requests the daemon answered, by RPC and outcome."),
                             labels: [("rpc", rpc), ("outcome", failed ? "failed" : "ok")]).increment()
    }

    /// Reads the instance's counters into the registry (blocking: run it off the event loops).
    /// Returns problems reading them, which the scrape reports as hike_daemon_scrape_errors.
    public func refresh() -> [String] {
        var problems: [String] = []
        var seen = Set<String>()
        var seenGauges = Set<String>()
        func count(_ name: String, _ help: String, _ labels: [(String, String)], _ value: UInt64) {
            let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
            seen.insert(key)
            tracked.withLock { state in
                if let (counter, last) = state.counters[key] {
                    if value >= last {
                        counter.increment(by: Int64(clamping: value - last))
                    } else {
                        counter.reset()
                        counter.increment(by: Int64(clamping: value))
                    }
                    state.counters[key] = (counter, value)
                } else {
                    let counter = registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
                    counter.increment(by: Int64(clamping: value))
                    state.counters[key] = (counter, value)
                }
            }
        }
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
            let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
            seenGauges.insert(key)
            tracked.withLock { state in
                let g = state.gauges[key] ?? registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
                g.set(value)
                state.gauges[key] = g
            }
        }
        let base = [("instance", instance)]
        do {
            let hike = try HikeInstance(name: instance)
            let registryFile = try hike.registry()
            if FileManager.default.fileExists(atPath: "\(hike.pinRoot)/vm/hvm_chains") {
                for fault in try hike.faultCounts() {
                    let chain = registryFile.name(of: fault.chainID) ?? "0x" + String(fault.chainID, radix: 16)
                    let reason = Fault(rawValue: fault.reason)?.name ?? "reason \(fault.reason)"
                    count("hike_chain_faults_total", "Chain faults by chain and reason (hike faults).",
                          base + [("chain", chain), ("reason", reason)], fault.count)
                }
            }
            for attachment in registryFile.attachments {
                gauge("hike_loader_attached", "Loaders attached, by interface (1 while attached).",
                      base + [("loader", attachment.loader), ("interface", attachment.interface),
                              ("namespace", attachment.namespace ?? ""), ("mode", attachment.mode)], 1)
            }
            let status = try SRv6Node(instance: hike).status()
            for (kind, entries) in [("sid", status.sids), ("policy", status.policies)] {
                for entry in entries {
                    let labels = base + [("kind", kind), ("prefix", entry.prefix), ("behaviour", entry.summary)]
                    count("hike_srv6_packets_total", "Packets per SRv6 SID or policy (hike srv6 show).", labels, entry.packets)
                    count("hike_srv6_bytes_total", "Bytes per SRv6 SID or policy.", labels, entry.bytes)
                    count("hike_srv6_errors_total", "Errors per SRv6 SID or policy.", labels, entry.errors)
                }
            }
            for (reason, packets) in status.reasons {
                count("hike_srv6_reasons_total", "SRv6 packets by reason (SRV6_R_*).", base + [("reason", reason)], packets)
            }
        } catch {
            problems.append("\(error)")
        }
        // Series whose source is gone (a detached loader, a removed SID) leave the exposition.
        tracked.withLock { state in
            for key in state.counters.keys where !seen.contains(key) {
                registry.unregisterCounter(state.counters.removeValue(forKey: key)!.counter)
            }
            for key in state.gauges.keys where !seenGauges.contains(key) {
                registry.unregisterGauge(state.gauges.removeValue(forKey: key)!)
            }
        }
        registry.makeGauge(descriptor: Self.descriptor("hike_daemon_scrape_errors", "Problems reading the data plane at the last scrape."))
            .set(Double(problems.count))
        return problems
    }

    /// swift-prometheus' descriptor for a full metric name (a _total suffix is its unit).
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        name.hasSuffix("_total")
            ? MetricNameDescriptor(metricName: String(name.dropLast(6)), unitName: "total", helpText: help)
            : MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
