import Foundation
import HikeRuntime
import Monitoring
import NetKit
import Testbed
import BPFKit
import Topology
import Synchronization

/// A request to stop a running demo (Ctrl-C), honoured at the next step or within 50 ms of a
/// wait: the demo then brings its testbed down as on any failure and throws `.interrupted`.
/// Set from a signal handler's thread; the demo's own thread does all the tear-down, so the two
/// never race over the testbed.
public final class VPNDemoCancellation: Sendable {
    private let requested = Atomic<Bool>(false)

    public init() {}

    public func request() {
        requested.store(true, ordering: .releasing)
    }

    public var isRequested: Bool {
        requested.load(ordering: .acquiring)
    }

    func check() throws {
        if isRequested { throw VPNDemoError.interrupted }
    }
}

/// What a running demo exposes to the code around it (the CLI's metrics endpoint, tests that
/// capture packets or scrape the endpoint while the testbed is up).
public struct VPNDemoSession: Sendable {
    public let engine: TestbedEngine
    public let testbed: String
    /// r1 (marks, counts what it sends) and r2 (counts what it receives).
    public let ingress: LocalMonitoredNode
    public let egress: LocalMonitoredNode
    /// Fed by the demo's collector and STAMP sessions as they run.
    public let metrics: MonitoringMetrics
    /// Where the demo serves them (HOST:PORT), when asked to.
    public let metricsEndpoint: String?

    public func namespace(_ node: String) throws -> NetworkNamespace { try engine.namespace(testbed: testbed, node: node) }
}

/// `hike demo vpn`: the HIKe README's VPN testbed with loss and delay monitoring, end to end.
///
/// Brings the testbed up (examples/vpn/demo.yaml), configures the monitored flow at r1 and r2,
/// pings h1 → h2, then runs the data flow, the loss collector and a STAMP session per period at
/// the same time while pm_loss at r2 drops K packets in one period; reports, plots, and brings the
/// testbed down (unless kept), on failure too.
public struct VPNDemo: Sendable {
    public let options: VPNDemoOptions
    public let engine: TestbedEngine
    public let cancellation: VPNDemoCancellation

    /// Called while the testbed is up: after the flow is configured (before the ping), and
    /// after the report is made (before the testbed goes down).
    public struct Hooks: Sendable {
        public var afterUp: (@Sendable (VPNDemoSession) throws -> Void)?
        public var beforeDown: (@Sendable (VPNDemoSession, VPNDemoReport) throws -> Void)?
        public init(afterUp: (@Sendable (VPNDemoSession) throws -> Void)? = nil,
                    beforeDown: (@Sendable (VPNDemoSession, VPNDemoReport) throws -> Void)? = nil) {
            self.afterUp = afterUp
            self.beforeDown = beforeDown
        }
    }

    public init(options: VPNDemoOptions, cancellation: VPNDemoCancellation = VPNDemoCancellation()) {
        self.options = options
        self.cancellation = cancellation
        engine = TestbedEngine(prefix: options.prefix)
    }

    /// Runs the demo; progress lines go to `progress` as it goes.
    public func run(progress: @escaping @Sendable (String) -> Void, hooks: Hooks = Hooks()) throws -> VPNDemoReport {
        try options.validate()
        let file = try TestbedFile.read(options.testbedFile)
        let missing = ["h1", "r1", "r2", "h2"].filter { file.spec.node($0) == nil }
        guard missing.isEmpty else {
            throw VPNDemoError.testbed("\(options.testbedFile) has no node \(missing.joined(separator: ", ")): the demo needs h1, r1, r2 and h2")
        }
        if engine.store.names().contains(options.name) {
            throw VPNDemoError.testbed("a testbed named \(options.name) is up already (a run with --keep?): "
                                       + "take it down with `hike testbed down \(options.name)` or give another --name")
        }
        // The endpoint is bound before anything is made, so a bad --listen changes nothing; it
        // serves the metrics once the flow exists.
        let slot = MetricsSlot()
        var server: MetricsEndpoint?
        if let listen = options.metricsListen {
            let started = try MetricsEndpoint(listen: listen) { try slot.metrics?.exposition() ?? "" }
            server = started
            progress("Prometheus metrics on \(started.url) while the demo runs")
        }
        defer { server?.stop() }
        if let summary = options.srv6Summary { progress(summary) }
        let hikeNodes = file.spec.nodes.filter { $0.hike != nil }.map(\.name)
        progress("bringing up testbed \(options.name) (\(options.testbedFile)): \(file.spec.nodes.count) namespaces, "
                 + "\(file.spec.links.count) veth links" + (hikeNodes.isEmpty ? "" : ", HIKe on \(hikeNodes.joined(separator: ", "))"))
        let cancellation = self.cancellation
        do {
            // Ctrl-C during up: up removes what it made, on this thread.
            try engine.up(file, name: options.name, options: TestbedEngine.UpOptions(shouldStop: { cancellation.isRequested }))
        } catch TestbedError.interrupted(_, let leftovers) {
            if !leftovers.isEmpty { progress("could not remove: " + leftovers.joined(separator: "; ")) }
            throw VPNDemoError.interrupted
        }
        let report: VPNDemoReport
        do {
            try cancellation.check()
            report = try measure(progress: progress, hooks: hooks, slot: slot,
                                 endpoint: server.map { Self.hostPort($0.host, UInt16($0.port)) })
        } catch {
            if !options.keep || cancellation.isRequested {
                progress("bringing testbed \(options.name) down" + (cancellation.isRequested ? "" : " after the failure"))
                do { try engine.down(options.name) } catch { progress("could not bring it down: \(error)") }
            }
            throw error
        }
        if !options.keep || cancellation.isRequested {
            progress("bringing testbed \(options.name) down")
            try engine.down(options.name)
        }
        try cancellation.check()
        return report
    }

    private func measure(progress: @escaping @Sendable (String) -> Void, hooks: Hooks, slot: MetricsSlot,
                         endpoint: String?) throws -> VPNDemoReport {
        let o = options
        guard let r1 = try engine.instance(testbed: o.name, node: "r1"), let r2 = try engine.instance(testbed: o.name, node: "r2") else {
            throw VPNDemoError.testbed("r1 and r2 must run hike (a `hike:` section) in \(o.testbedFile)")
        }
        let h1 = try engine.namespace(testbed: o.name, node: "h1")
        let h2 = try engine.namespace(testbed: o.name, node: "h2")
        let ingress = LocalMonitoredNode(instance: r1, name: "r1")
        let egress = LocalMonitoredNode(instance: r2, name: "r2")
        progress("monitoring flow \(VPNDemoOptions.flow): AltMark marks at r1, counted at r2")
        // r1's chain has no pm program: the headend marks (policy 0's pm_flow), so load the package here.
        try ingress.loadPackage()
        try ingress.addFlow(VPNDemoOptions.flow, mode: .altmark)
        try egress.addFlow(VPNDemoOptions.flow, mode: nil)
        let metrics = MonitoringMetrics(nodes: [(ingress, .ingress), (egress, .egress)])
        slot.metrics = metrics
        let session = VPNDemoSession(engine: engine, testbed: o.name, ingress: ingress, egress: egress, metrics: metrics,
                                     metricsEndpoint: endpoint)
        try hooks.afterUp?(session)

        // 1. Connectivity.
        try cancellation.check()
        progress("ping h1 → h2 (\(VPNDemoOptions.h2Address))")
        let pinged = try NodeShell.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", VPNDemoOptions.h2Address], in: h1)
        guard let ping = PingResult.parse(pinged.stdout, destination: VPNDemoOptions.h2Address), ping.received > 0 else {
            throw VPNDemoError.noConnectivity((pinged.stdout + pinged.stderr).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        progress("  \(ping.received)/\(ping.transmitted) replies" + (ping.rttAverage.map { String(format: ", rtt avg %.3f ms", $0) } ?? ""))

        // 2. The data flow, running before the first period so that every period is full.
        try cancellation.check()
        let receiver = try UDPFlowReceiver(in: h2, port: VPNDemoOptions.dataPort)
        defer { receiver.stop() }
        let sender = try UDPFlowSender(in: h1, to: VPNDemoOptions.h2Address, port: VPNDemoOptions.dataPort, rate: o.rate)
        defer { sender.stop() }
        progress("data flow h1 → h2 UDP port \(VPNDemoOptions.dataPort) at \(o.rate) packets/s")
        sender.start()
        try waitUntil("r2 counts the flow", sender: sender) { try Self.total(egress, .egress) > 0 }
        // The collector's baseline must see every packet r1 marked already counted at r2: hold
        // the flow while it is read (else one packet in flight would count as lost later).
        sender.pause()
        try waitUntil("r2 counts every packet r1 marked", sender: nil) {
            try Self.total(ingress, .ingress) == Self.total(egress, .egress) + egress.lossInjection().dropped
        }
        let collector = try LossCollector(ingress: ingress, egress: egress, period: o.period, flows: [VPNDemoOptions.flow])
        try collector.start()
        if o.drop > 0 && o.dropPeriod == 1 {
            try egress.injectLoss(flow: VPNDemoOptions.flow, colour: try ingress.activeColour(), count: Int64(o.drop))
        }
        sender.resume()

        // 3. STAMP, one session per period, on a thread of its own.
        let stamp = STAMPRunner(namespace: h1, count: o.stampPacketsPerPeriod, interval: o.stampInterval,
                                timeout: o.stampTimeout ?? o.period / 5, periods: o.periods, metrics: metrics)
        stamp.start()
        stamp.periodStarted()

        // 4. The periods: flip every T from the start, read T/2 after each flip.
        progress("\(o.periods) periods of \(VPNDemoReport.number(o.periodSeconds)) s"
                 + (o.drop > 0 ? "; pm_loss at r2 drops \(o.drop) packets in period \(o.dropPeriod)" : "; no injected drops"))
        let clock = ContinuousClock()
        let begin = clock.now
        var reports: [PeriodReport] = []
        do {
            for k in 1...o.periods {
                try sleep(until: begin + o.period * k, clock: clock)
                // Armed before the flip, for the colour the flip makes active: the first K packets
                // of the period are dropped (that colour's previous period is read and over).
                if o.drop > 0 && k + 1 == o.dropPeriod {
                    try egress.injectLoss(flow: VPNDemoOptions.flow, colour: try ingress.activeColour().other, count: Int64(o.drop))
                }
                try collector.flip()
                let flipped = clock.now
                if k < o.periods { stamp.periodStarted() }
                try sleep(until: max(begin + o.period * k + o.period / 2, flipped + o.period / 2), clock: clock)
                let report = try collector.read()
                metrics.record(report)
                reports.append(report)
                if let loss = report.flows.first {
                    progress("  period \(k): sent \(loss.sent), received \(loss.received), lost \(loss.lost) "
                             + String(format: "(%.2f %%)", loss.lossPercent))
                }
            }
        } catch {
            stamp.cancel()
            throw error
        }
        sender.stop()
        let sessions = try stamp.wait()
        if let failure = sender.failure { throw VPNDemoError.measurement("the data flow stopped: \(failure)") }
        // pm_loss's drops include STAMP packets, so `sent - dropped` is no count of what h2 gets.
        // Exact instead: once r2 has counted every packet r1 marked but the dropped ones, nothing
        // of the flow is before r2 any more; then h2's socket is drained into the receiver.
        try waitUntil("r2 counts every packet r1 marked, but the dropped ones", sender: nil) {
            try Self.total(ingress, .ingress) == Self.total(egress, .egress) + egress.lossInjection().dropped
        }
        let dropped = try egress.lossInjection().dropped
        try waitUntil("h2's receiver reads every datagram queued for it", sender: nil) { try receiver.isDrained() }

        var periods: [VPNDemoReport.Period] = []
        for (index, report) in reports.enumerated() {
            let loss = report.flows.first { $0.flow == VPNDemoOptions.flow }
            periods.append(VPNDemoReport.Period(period: report.period, colour: Int(report.colour.rawValue), sent: loss?.sent ?? 0,
                                                received: loss?.received ?? 0, lost: loss?.lost ?? 0,
                                                lossPercent: loss?.lossPercent ?? 0,
                                                stamp: sessions.indices.contains(index) ? sessions[index].result : nil))
        }
        let samples = sessions.flatMap(\.samples)
        let allStamp = STAMPResult(ssid: VPNDemoOptions.stampSSID, destination: VPNDemoOptions.h2Address,
                                   sent: sessions.reduce(0) { $0 + $1.result.sent }, received: samples.count,
                                   roundTrip: DelayStatistics(samples.map(\.roundTrip)), forward: DelayStatistics(samples.map(\.forward)),
                                   backward: DelayStatistics(samples.map(\.backward)))
        var report = VPNDemoReport(testbed: o.name, flow: VPNDemoOptions.flow, periodSeconds: o.periodSeconds, rate: o.rate,
                                   drop: o.drop, dropPeriod: o.drop > 0 ? o.dropPeriod : nil, ping: ping, periods: periods,
                                   stamp: allStamp, dataSent: sender.sent, dataDelivered: receiver.received, injectedDrops: dropped,
                                   plot: nil, kept: o.keep)
        let plot = try VPNDemoPlot.write(report, to: o.outputDirectory, name: "vpn-\(Self.timestamp()).svg")
        report = report.with(plot: plot)
        try hooks.beforeDown?(session, report)
        return report
    }

    // MARK: Helpers

    static func total(_ node: LocalMonitoredNode, _ point: CountingPoint) throws -> UInt64 {
        try node.counters(at: point).filter { $0.flow == VPNDemoOptions.flow }.reduce(0) { $0 + $1.packets }
    }

    /// Polls an observable condition every 10 ms for up to 5 s.
    func waitUntil(_ what: String, sender: UDPFlowSender?, _ condition: () throws -> Bool) throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while try !condition() {
            if let failure = sender?.failure { throw VPNDemoError.measurement("the data flow stopped: \(failure)") }
            guard clock.now < deadline else {
                throw VPNDemoError.measurement("timed out after 5 s waiting until \(what)")
            }
            try sleep(until: clock.now + .milliseconds(10), clock: clock)
        }
    }

    /// Sleeps until the deadline in slices of at most 50 ms, so that a stop request is seen.
    func sleep(until deadline: ContinuousClock.Instant, clock: ContinuousClock) throws {
        while true {
            try cancellation.check()
            let left = clock.now.duration(to: deadline)
            guard left > .zero else { return }
            UDPFlowSender.sleep(min(left, .milliseconds(50)))
        }
    }

    static func hostPort(_ host: String, _ port: UInt16) -> String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }
}

/// The metrics the endpoint serves: none until the demo has configured the flow.
final class MetricsSlot: Sendable {
    private let value = Mutex<MonitoringMetrics?>(nil)

    var metrics: MonitoringMetrics? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

extension VPNDemoReport {
    func with(plot: String) -> VPNDemoReport {
        VPNDemoReport(testbed: testbed, flow: flow, periodSeconds: periodSeconds, rate: rate, drop: drop, dropPeriod: dropPeriod,
                      ping: ping, periods: periods, stamp: stamp, dataSent: dataSent, dataDelivered: dataDelivered,
                      injectedDrops: injectedDrops, plot: plot, kept: kept)
    }
}
