import BPFKit
import Foundation
import Topology

/// The scenarios of `hike bench run`, each a side-by-side comparison in one run.
public enum TrafficScenario: String, CaseIterable, Sendable, Codable {
    case generator
    case ipv6Forwarding = "ipv6-forwarding"
    case srv6Encap = "srv6-encap"
    case srv6End = "srv6-end"
    case srv6EndDT6 = "srv6-end-dt6"
    case ddos
    case tailcalls
    case lossMonitoring = "loss-monitoring"

    /// Why the scenario cannot run yet; nil when it can.
    public var skipReason: String? {
        switch self {
        case .generator, .ipv6Forwarding, .tailcalls: nil
        case .ddos:
            Command.find("ipset") != nil && Command.find("ip6tables") != nil ? nil
                : "needs the ipset and ip6tables tools for its ipset DUT (apt-get install ipset iptables), skipped"
        case .srv6Encap, .srv6End, .srv6EndDT6: "needs issue 6 (SRv6 in XDP), skipped"
        case .lossMonitoring: "needs issue 8 (alternate marking), skipped"
        }
    }

    /// The DUTs compared, the baseline first.
    var duts: [TrafficPipeline.DUT] {
        switch self {
        case .generator: [.baseline]
        case .ipv6Forwarding: [.baseline, .kernelForwarding, .xdpForwarding]
        case .tailcalls: [.baseline, .raw1, .hike1, .raw8, .hike8]
        case .ddos: [.baseline, .ddosRaw, .ddosHike, .ddosIpset]
        default: []
        }
    }
}

/// Everything `hike bench run` measured.
public struct TrafficReport: Sendable, Codable {
    public struct Setup: Sendable, Codable {
        public var date: String
        public var kernel: String
        public var cpus: Int
        public var options: TrafficBench.Options
        public var frameBytes: Int
    }

    public struct ScenarioResult: Sendable, Codable {
        public var scenario: String
        public var skipped: String?
        public var results: [TrafficBench.DUTResult]
    }

    public var setup: Setup
    public var scenarios: [ScenarioResult]

    /// The no-DUT cost per packet, ns: 1 / baseline rate.
    static func cost(_ rate: Double) -> Double { rate > 0 ? 1e9 / rate : .nan }

    public func table() -> String {
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            guard text.count < width else { return text }
            let fill = String(repeating: " ", count: width - text.count)
            return right ? fill + text : text + fill
        }
        func cell(_ spread: TrafficBench.Spread?) -> String {
            guard let spread else { return "–" }
            return "\(TrafficBench.mpps(spread.median)) [\(TrafficBench.mpps(spread.min))–\(TrafficBench.mpps(spread.max))]"
        }
        let o = setup.options
        var lines: [String] = []
        lines.append("hike bench run: \(setup.frameBytes)-byte Eth/IPv6/UDP frames, live-frames generator on CPU \(o.cpu) "
            + "(DUT and sink inline on the same CPU), \(o.flows) flows")
        lines.append("kernel \(setup.kernel), \(setup.cpus) CPUs, \(setup.date); \(o.repetitions) repetition(s), "
            + "trials of \(TrafficBench.format(o.trialSeconds, decimals: 1)) s, "
            + (o.searchPDR ? "PDR@\(TrafficBench.format(o.lossThreshold * 100, decimals: 1)) % to \(TrafficBench.format(o.precision * 100, decimals: 0)) %" : "no PDR search"))
        lines.append("Mpps cells: median [min–max]; ns/pkt = 1e9 / median; DUT cost = ns/pkt − ns/pkt of the baseline")
        lines.append("")
        lines.append(pad("scenario", 17) + pad("DUT", 10) + pad("MRR Mpps", 24) + pad("PDR Mpps", 24)
            + pad("ns/pkt", 8, right: true) + pad("DUT cost ns", 13, right: true))
        for scenario in scenarios {
            if let skipped = scenario.skipped {
                lines.append(pad(scenario.scenario, 17) + skipped)
                continue
            }
            let base = scenario.results.first { $0.dut == .baseline }
            func rate(_ r: TrafficBench.DUTResult) -> Double { r.pdr?.median ?? r.mrr.median }
            for result in scenario.results {
                let nsPerPacket = Self.cost(rate(result))
                var dutCost = "–"
                if let base, result.dut != .baseline { dutCost = TrafficBench.format(nsPerPacket - Self.cost(rate(base))) }
                lines.append(pad(scenario.scenario, 17) + pad(result.dut.rawValue, 10) + pad(cell(result.mrr), 24)
                    + pad(cell(result.pdr), 24) + pad(TrafficBench.format(nsPerPacket), 8, right: true)
                    + pad(dutCost, 13, right: true))
            }
            if let kernel = scenario.results.first(where: { $0.dut == .kernelForwarding }),
               let xdp = scenario.results.first(where: { $0.dut == .xdpForwarding }), let base {
                let kernelCost = Self.cost(rate(kernel)) - Self.cost(rate(base))
                let xdpCost = Self.cost(rate(xdp)) - Self.cost(rate(base))
                lines.append(pad("", 17) + "xdp/kernel: rate × \(TrafficBench.format(rate(xdp) / rate(kernel), decimals: 2)), "
                    + "DUT cost kernel/xdp × \(TrafficBench.format(kernelCost / xdpCost, decimals: 1))")
            }
            lines += Self.comparisonLines(scenario)
            if scenario.scenario == TrafficScenario.generator.rawValue, let base {
                let ok = base.mrr.median >= 4e6
                lines.append(pad("", 17) + "target ≥ 4 Mpps into an XDP_DROP sink: \(ok ? "met" : "not met")")
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension TrafficBench {
    /// Runs the scenarios in order (skipped ones are reported as such) in one pipeline, always
    /// destroyed at the end.
    public static func run(_ scenarios: [TrafficScenario], options: Options,
                           progress: (String) -> Void) throws -> TrafficReport {
        precondition(options.repetitions > 0, "need at least one repetition")
        let runnable = scenarios.filter { $0.skipReason == nil }
        var results: [TrafficReport.ScenarioResult] = []
        var pipeline: TrafficPipeline?
        defer { pipeline?.destroy() }
        if !runnable.isEmpty {
            progress("creating the namespaces gen → dut → sink (prefix \(TrafficPipeline.prefix)) and loading gen.bpf.o")
            pipeline = try TrafficPipeline()
        }
        // The baseline is measured once per run and shared by the scenarios.
        var baseline: DUTResult?
        for scenario in scenarios {
            if let reason = scenario.skipReason {
                progress("\(scenario.rawValue): \(reason)")
                results.append(.init(scenario: scenario.rawValue, skipped: reason, results: []))
                continue
            }
            progress("\(scenario.rawValue):")
            var rows: [DUTResult] = []
            for dut in scenario.duts {
                if dut == .baseline, let baseline {
                    rows.append(baseline)
                    continue
                }
                let result = try measure(pipeline!, dut: dut, options: options, progress: progress)
                if dut == .baseline { baseline = result }
                rows.append(result)
            }
            results.append(.init(scenario: scenario.rawValue, skipped: nil, results: rows))
        }
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let setup = TrafficReport.Setup(date: ISO8601DateFormatter().string(from: Date()), kernel: kernel,
                                        cpus: ProcessInfo.processInfo.activeProcessorCount, options: options,
                                        frameBytes: options.frameLength)
        return TrafficReport(setup: setup, scenarios: results)
    }
}
