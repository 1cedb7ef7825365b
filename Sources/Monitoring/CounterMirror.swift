import Prometheus
import Synchronization

/// Kernel counters (absolute values read at a scrape) as Prometheus counters: each is
/// incremented by what it grew since the last scrape; one that went down (re-created, reset)
/// restarts from its new value, which Prometheus reads as a counter reset. Series not seen in a
/// scrape (a removed flow, SID or loader) leave the registry.
public final class CounterMirror: Sendable {
    private let registry: PrometheusCollectorRegistry
    private struct State {
        var counters: [String: (counter: Counter, last: UInt64)] = [:]
        var gauges: [String: Gauge] = [:]
        var seen = Set<String>()
    }
    private let state = Mutex(State())

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Starts a scrape: what is not set again before `end()` is removed.
    public func begin() {
        state.withLock { $0.seen = [] }
    }

    public func counter(_ name: String, help: String, labels: [(String, String)], value: UInt64) {
        let key = Self.key(name, labels)
        state.withLock { state in
            state.seen.insert(key)
            if let (counter, last) = state.counters[key] {
                if value >= last {
                    counter.increment(by: Int64(clamping: value - last))
                } else {
                    counter.reset()
                    counter.increment(by: Int64(clamping: value))
                }
                state.counters[key] = (counter, value)
            } else {
                let counter = registry.makeCounter(descriptor: MetricName.descriptor(name, help), labels: labels)
                counter.reset()
                counter.increment(by: Int64(clamping: value))
                state.counters[key] = (counter, value)
            }
        }
    }

    public func gauge(_ name: String, help: String, labels: [(String, String)], value: Double) {
        let key = Self.key(name, labels)
        state.withLock { state in
            state.seen.insert(key)
            let gauge = state.gauges[key] ?? registry.makeGauge(descriptor: MetricName.descriptor(name, help), labels: labels)
            gauge.set(value)
            state.gauges[key] = gauge
        }
    }

    /// Ends a scrape: series not set since `begin()` are unregistered.
    public func end() {
        state.withLock { state in
            for key in state.counters.keys where !state.seen.contains(key) {
                registry.unregisterCounter(state.counters.removeValue(forKey: key)!.counter)
            }
            for key in state.gauges.keys where !state.seen.contains(key) {
                registry.unregisterGauge(state.gauges.removeValue(forKey: key)!)
            }
        }
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + labels.map { "\u{0}\($0.0)=\($0.1)" }.joined()
    }
}

/// swift-prometheus' descriptor for a full metric name: a `_total` suffix is its unit.
public enum MetricName {
    public static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        name.hasSuffix("_total")
            ? MetricNameDescriptor(metricName: String(name.dropLast(6)), unitName: "total", helpText: help)
            : MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
