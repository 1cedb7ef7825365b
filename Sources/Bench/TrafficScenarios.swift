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
    case srv6Proxy = "srv6-proxy"
    case ddos
    case tailcalls
    case lossMonitoring = "loss-monitoring"
    case fastdrop

    /// Why the scenario cannot run yet; nil when it can.
    public var skipReason: String? {
        switch self {
        case .generator, .ipv6Forwarding, .tailcalls, .fastdrop: nil
        case .ddos:
            Command.find("ipset") != nil && Command.find("ip6tables") != nil ? nil
                : "needs the ipset and ip6tables tools for its ipset DUT (apt-get install ipset iptables), skipped"
        case .srv6Encap, .srv6End, .srv6EndDT6, .srv6Proxy:
            TrafficScenarioPrograms.srv6Available ? nil
                : "needs the srv6 package of issue 6 (srv6_h_encaps, srv6_end, srv6_end_dt6) built into hike, skipped"
        case .lossMonitoring:
            TrafficScenarioPrograms.pmAvailable && TrafficScenarioPrograms.srv6Available ? nil
                : "needs the pm package of issue 8 (alternate marking) and the srv6 package built into hike, skipped"
        }
    }

    /// The DUTs compared, the baseline first.
    func duts(_ options: TrafficBench.Options) -> [TrafficPipeline.DUT] {
        switch self {
        case .generator: [.baseline]
        case .ipv6Forwarding: [.baseline, .kernelForwarding, .xdpForwarding, .hike]
        case .tailcalls: [.baseline] + options.tailcallLengths.flatMap { [TrafficPipeline.DUT.raw($0), .hike($0)] }
        case .ddos: [.baseline, .ddosRaw, .ddosHike, .ddosIpset]
        case .srv6Encap, .srv6End, .srv6EndDT6: [.baseline, .xdpForwarding, .kernelForwarding, .hike]
        case .srv6Proxy: [.baseline, .hike, .endAD, .endAS]
        case .lossMonitoring: [.baseline, .hike, .hikeMonitored, .hikeAltMark, .hikePMMark]
        case .fastdrop: [.baseline, .fastdrop, .fastdropTrie]
        }
    }

    var isSRv6: Bool { self == .srv6Encap || self == .srv6End || self == .srv6EndDT6 || self == .srv6Proxy }

    /// What the generator sends in this scenario and the (inner) IPv6 destination.
    func input(_ options: TrafficBench.Options) -> (template: PacketTemplate, destination: [UInt8]) {
        switch self {
        case .generator: (options.template, PacketTemplate.ipv6Destination)
        case .srv6Encap, .lossMonitoring: (.ipv6UDP, SRv6BenchPlan.encapDestination)
        case .srv6End, .srv6Proxy: (SRv6BenchPlan.endInput(segments: options.segments), PacketTemplate.ipv6Destination)
        case .srv6EndDT6: (SRv6BenchPlan.endDT6Input(segments: options.segments), PacketTemplate.ipv6Destination)
        case .fastdrop: (.ipv4UDP, PacketTemplate.ipv6Destination)
        default: (.ipv6UDP, PacketTemplate.ipv6Destination)
        }
    }

    /// Pairs (ours, reference) the report compares, with the reference figure from the thesis
    /// or the issue.
    var comparisons: [(ours: TrafficPipeline.DUT, reference: TrafficPipeline.DUT, note: String)] {
        switch self {
        case .ipv6Forwarding: [(.xdpForwarding, .kernelForwarding, ""), (.hike, .kernelForwarding, "")]
        // Bare XDP forwarding is the reference that needs no kernel SRv6 (issue 13's goal ≤ 1.3×).
        case .srv6Encap, .srv6EndDT6: [(.hike, .xdpForwarding, "target: DUT cost ≤ 1.3× bare XDP forwarding"),
                                       (.hike, .kernelForwarding, "target: hike DUT cost ≤ 1/6 of the kernel's")]
        case .srv6End: [(.hike, .xdpForwarding, "target: DUT cost ≤ 1.3× bare XDP forwarding"), (.hike, .kernelForwarding, "")]
        // The proxies' cost includes their function (gen_reflect, XDP_TX) and the veth hop to it
        // and back; the thesis' End baseline had an SR-aware function run End instead.
        case .srv6Proxy: [(.endAD, .hike, "thesis SRNKv2: −3.7 % vs End, its function's forwarding included"),
                          (.endAS, .hike, "hike: End; End.AD/AS include the function (an XDP reflector) and its veth hop")]
        case .ddos: [(.ddosHike, .ddosRaw, "thesis 72 %"), (.ddosIpset, .ddosRaw, "thesis 39 %")]
        case .tailcalls: []  // a line per N, see TrafficReport.tailcallRows
        case .lossMonitoring: [(.hikeMonitored, .hike, "target: added cost ≤ 3 % (thesis: 5.4 % with XDP)"),
                               (.hikeAltMark, .hike, ""), (.hikePMMark, .hike, "pm_mark as a program of its own")]
        case .fastdrop: [(.fastdrop, .baseline, "target: ≥ 90 % of bare XDP_DROP's rate, \(FastDropBench.prefixes) prefixes"),
                          (.fastdropTrie, .baseline, "the sources' /24s hold /32s: every lookup asks the trie")]
        case .generator: []
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
        /// Which CPU runs what (nil in reports written before it was recorded).
        public var placement: String? = nil
        /// CPU model, spectre_v2 mitigation and hypervisor: kernel paths cost several times more on
        /// some hosts than on others (docs/benchmarks.md), so figures compare within one platform.
        public var platform: String? = nil
    }

    public struct ScenarioResult: Sendable, Codable {
        public var scenario: String
        public var skipped: String?
        public var results: [TrafficBench.DUTResult]
        /// `--paired` rounds: the scenario's comparisons measured per round (nil without).
        public var paired: [PairedComparison]? = nil
    }

    /// A comparison of `--paired N`: N rounds in which each compared DUT's MRR is measured once,
    /// one DUT right after the other, so that the slow drift of a shared machine hits both
    /// alike. Its figures are per round, over the scenario's baseline (median MRR): the spread
    /// says how precise the comparison is, which separate medians do not.
    public struct PairedComparison: Sendable, Codable {
        public var ours: String
        public var reference: String
        /// Per round: ours' DUT cost / the reference's.
        public var costRatio: TrafficBench.Spread
        /// Per round: (ours − reference) / reference DUT cost, in percent.
        public var addedPercent: TrafficBench.Spread
        /// The MRRs of each round, pps.
        public var oursMRR: [Double]
        public var referenceMRR: [Double]
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
            guard let spread, !spread.samples.isEmpty else { return "–" }
            return "\(TrafficBench.mpps(spread.median)) [\(TrafficBench.mpps(spread.min))–\(TrafficBench.mpps(spread.max))]"
        }
        let o = setup.options
        var lines: [String] = []
        lines.append("hike bench run: live-frames generator, \(o.flows) flows, frames of \(setup.frameBytes) B "
            + "(SRv6 inputs: the same packet inside an outer IPv6 header and an SRH)")
        lines.append(setup.placement ?? "placement: generator on CPU \(o.cpu), DUT and sink inline on the same CPU")
        if let platform = setup.platform { lines.append("platform: \(platform)") }
        lines.append("kernel \(setup.kernel), \(setup.cpus) CPUs, \(setup.date); \(o.repetitions) repetition(s), "
            + "trials of \(TrafficBench.format(o.trialSeconds, decimals: 1)) s, "
            + (o.searchPDR ? "PDR@\(TrafficBench.format(o.lossThreshold * 100, decimals: 1)) % to \(TrafficBench.format(o.precision * 100, decimals: 0)) %" : "no PDR search"))
        lines.append("Mpps cells: median [min–max]; ns/pkt = 1e9 / median; DUT cost = ns/pkt − ns/pkt of the baseline")
        lines.append("")
        lines.append(pad("scenario", 17) + pad("DUT", 14) + pad("MRR Mpps", 24) + pad("PDR Mpps", 24)
            + pad("ns/pkt", 8, right: true) + pad("DUT cost ns", 13, right: true))
        for scenario in scenarios {
            if let skipped = scenario.skipped {
                lines.append(pad(scenario.scenario, 17) + skipped)
                continue
            }
            if let input = scenario.results.first(where: { $0.failure == nil })?.input {
                lines.append(pad(scenario.scenario, 17) + "input: \(input)")
            }
            for result in scenario.results {
                if let failure = result.failure {
                    lines.append(pad(scenario.scenario, 17) + pad(result.dut.rawValue, 14) + result.failureText(failure))
                    continue
                }
                let (nsPerPacket, dutCost) = Self.costs(result, in: scenario)
                lines.append(pad(scenario.scenario, 17) + pad(result.dut.rawValue, 14) + pad(cell(result.mrr), 24)
                    + pad(cell(result.pdr), 24) + pad(TrafficBench.format(nsPerPacket), 8, right: true)
                    + pad(dutCost.map { TrafficBench.format($0) } ?? "–", 13, right: true))
            }
            lines += comparisonLines(scenario).map { pad("", 17) + $0 }
            if scenario.scenario == TrafficScenario.generator.rawValue,
               let base = scenario.results.first(where: { $0.dut == .baseline && $0.failure == nil }) {
                let ok = base.mrr.median >= 4e6
                lines.append(pad("", 17) + "target ≥ 4 Mpps into an XDP_DROP sink: \(ok ? "met" : "not met")")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The rate and DUT cost of one measured DUT of a scenario.
    func figures(_ dut: TrafficPipeline.DUT, in scenario: ScenarioResult) -> (rate: Double, cost: Double?, mrrCost: Double?)? {
        guard let result = scenario.results.first(where: { $0.dut == dut && $0.failure == nil }) else { return nil }
        var mrrCost: Double?
        if result.pdr != nil, let base = scenario.results.first(where: { $0.dut == .baseline && $0.failure == nil }) {
            mrrCost = Self.cost(result.mrr.median) - Self.cost(base.mrr.median)
        }
        return (Self.costRate(result), Self.costs(result, in: scenario).dutCost, mrrCost)
    }

    /// The ratios of a scenario: ours against the reference DUT, as rates and as DUT costs; the
    /// tailcalls scenario gets one line per chain length.
    public func comparisonLines(_ scenario: ScenarioResult) -> [String] {
        guard let kind = TrafficScenario(rawValue: scenario.scenario) else { return [] }
        var lines: [String] = []
        for (ours, reference, note) in kind.comparisons {
            guard let a = figures(ours, in: scenario), let b = figures(reference, in: scenario) else { continue }
            var line = "\(ours.rawValue)/\(reference.rawValue): rate \(TrafficBench.format(a.rate / b.rate * 100, decimals: 0)) %"
            if let ca = a.cost, let cb = b.cost, cb > 0 {
                line += ", DUT cost \(TrafficBench.format(ca / cb, decimals: 2)) (\(TrafficBench.format(ca)) / \(TrafficBench.format(cb)) ns)"
                if kind == .lossMonitoring { line += ", added \(TrafficBench.format((ca - cb) / cb * 100, decimals: 1)) %" }
            }
            // The MRR clocks itself and is steadier than the PDR on a shared VM: its costs too.
            if let ma = a.mrrCost, let mb = b.mrrCost, mb > 0 {
                line += "; by MRR: DUT cost \(TrafficBench.format(ma / mb, decimals: 2)) (\(TrafficBench.format(ma)) / \(TrafficBench.format(mb)) ns)"
                if kind == .lossMonitoring { line += ", added \(TrafficBench.format((ma - mb) / mb * 100, decimals: 1)) %" }
            }
            if let paired = scenario.paired?.first(where: { $0.ours == ours.rawValue && $0.reference == reference.rawValue }) {
                let f = { (value: Double) in TrafficBench.format(value, decimals: 2) }
                line += "; paired MRR (\(paired.costRatio.samples.count) rounds): DUT cost \(f(paired.costRatio.median)) "
                    + "[\(f(paired.costRatio.min))–\(f(paired.costRatio.max))]"
                if kind == .lossMonitoring {
                    let p = { (value: Double) in TrafficBench.format(value, decimals: 1) }
                    line += ", added \(p(paired.addedPercent.median)) % [\(p(paired.addedPercent.min))–\(p(paired.addedPercent.max))]"
                }
            }
            if !note.isEmpty { line += "; \(note)" }
            lines.append(line)
        }
        if kind == .tailcalls {
            for row in tailcallRows(scenario) {
                var line = "N = \(row.calls): raw \(TrafficBench.mpps(row.raw)), hike \(TrafficBench.mpps(row.hike)) Mpps, "
                    + "hike/raw \(TrafficBench.format(row.hike / row.raw * 100, decimals: 0)) %"
                if let raw = scenario.results.first(where: { $0.dut == .raw(row.calls) })?.mrr.median,
                   let hike = scenario.results.first(where: { $0.dut == .hike(row.calls) })?.mrr.median,
                   scenario.results.contains(where: { $0.pdr != nil }) {
                    line += " (by MRR \(TrafficBench.format(hike / raw * 100, decimals: 0)) %)"
                }
                lines.append(line)
            }
            if !lines.isEmpty { lines.append("(thesis: hike/raw 46 % with 8 calls; our target ≥ 70 %)") }
        }
        return lines
    }

    /// Per chain length of the tailcalls scenario: the raw and HIKe rates (PDR, else MRR).
    public func tailcallRows(_ scenario: ScenarioResult) -> [(calls: Int, raw: Double, hike: Double)] {
        setup.options.tailcallLengths.compactMap { calls in
            guard let raw = figures(.raw(calls), in: scenario), let hike = figures(.hike(calls), in: scenario) else { return nil }
            return (calls, raw.rate, hike.rate)
        }
    }
}

extension TrafficBench {
    /// Runs the scenarios in order (skipped ones are reported as such) in one pipeline, always
    /// destroyed at the end. A DUT that cannot be measured is reported as failed, with the
    /// reason, and the run goes on with the next one.
    public static func run(_ scenarios: [TrafficScenario], options: Options,
                           progress: (String) -> Void) throws -> TrafficReport {
        precondition(options.repetitions > 0, "need at least one repetition")
        if let control = options.controlCPU { try CPUAffinity.pinCurrentThread(to: control) }
        let runnable = scenarios.filter { $0.skipReason == nil }
        var pipeline: TrafficPipeline?
        defer { pipeline?.destroy() }
        if !runnable.isEmpty {
            progress("creating the namespaces gen → dut → sink (prefix \(TrafficPipeline.prefix)) and loading gen.bpf.o")
            pipeline = try TrafficPipeline()
            try pipeline?.programs.checkLiveFrames()
        }
        progress(placement(options))
        let results = runScenarios(scenarios, options: options, progress: progress, afterEach: { scenario, results in
            // --paired: right after the scenario's DUTs, while the machine is as it was for them.
            guard options.pairedRounds > 0, let pipeline else { return nil }
            do {
                return try paired(scenario, results: results, pipeline: pipeline, options: options, progress: progress)
            } catch {
                progress("  \(scenario.rawValue): paired rounds failed: \(error)")
                return nil
            }
        }) { scenario, dut in
            guard let pipeline else { throw BenchError.chainFailed(what: "pipeline", detail: "not created") }
            let (template, destination) = scenario.input(options)
            try pipeline.configure(dut, in: scenario, options: options)
            let frame = try pipeline.frame(template, options: options, innerDestination: destination)
            if let expected = expectedOutput(scenario, dut: dut, frame: frame, options: options) {
                try checkOutput(pipeline, frame: frame, expected: expected, options: options)
                progress("  \(dut.rawValue): output checked at the sink: \(expected)")
            }
            let result = try measure(pipeline, dut: dut, input: template, destination: destination, options: options,
                                     progress: progress)
            try verify(scenario, dut: dut, pipeline: pipeline)
            return result
        }
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let setup = TrafficReport.Setup(date: ISO8601DateFormatter().string(from: Date()), kernel: kernel,
                                        cpus: ProcessInfo.processInfo.activeProcessorCount, options: options,
                                        frameBytes: options.frameLength, placement: placement(options),
                                        platform: platform())
        return TrafficReport(setup: setup, scenarios: results)
    }

    /// After a DUT's trials (the sink counted since the last reset): what the scenario's DUT
    /// must have done to every delivered packet, checked in its own counters.
    static func verify(_ scenario: TrafficScenario, dut: TrafficPipeline.DUT, pipeline: TrafficPipeline) throws {
        if scenario == .fastdrop, dut != .baseline { try pipeline.scenarioPrograms.verifyFastDrop(dut, pipeline: pipeline) }
        let delivered = try pipeline.programs.sinkCounter().packets
        if scenario == .lossMonitoring { try pipeline.scenarioPrograms.verifyMonitoring(dut, delivered: delivered) }
        if scenario.isSRv6, dut == .hike, let hike = pipeline.scenarioPrograms.hike?.instance {
            try pipeline.scenarioPrograms.verifySRv6(scenario, hike: hike, delivered: delivered)
        }
        if scenario == .srv6Proxy, dut == .endAD || dut == .endAS, let hike = pipeline.scenarioPrograms.hike?.instance {
            try pipeline.scenarioPrograms.verifyProxy(dut, hike: hike, delivered: delivered)
        }
    }

    /// `--paired`: rounds of one MRR trial per compared DUT and the baseline
    /// (`pairedComparisons`), each DUT put back in place, its output checked at the sink and its
    /// counters after the trial, as in its own measurement.
    static func paired(_ scenario: TrafficScenario, results: [DUTResult], pipeline: TrafficPipeline, options: Options,
                       progress: (String) -> Void) throws -> [TrafficReport.PairedComparison]? {
        let measured = Set(results.filter { $0.failure == nil && !$0.mrr.samples.isEmpty }.map(\.dut))
        let comparisons = scenario.comparisons.filter { measured.contains($0.ours) && measured.contains($0.reference) }
        guard measured.contains(.baseline), !comparisons.isEmpty else { return nil }
        let (template, destination) = scenario.input(options)
        let frame = try pipeline.frame(template, options: options, innerDestination: destination)
        return try pairedComparisons(comparisons.map { ($0.ours, $0.reference) }, rounds: options.pairedRounds,
                                     progress: progress) { dut, round in
            try pipeline.configure(dut, in: scenario, options: options)
            if let expected = expectedOutput(scenario, dut: dut, frame: frame, options: options) {
                try checkOutput(pipeline, frame: frame, expected: expected, options: options)
            }
            try pipeline.resetCounters()
            let trial = try mrrTrial(pipeline, frame: frame, options: options) { share, _ in
                progress("  \(dut.rawValue) paired round \(round): other tasks took \(format(100 * share, decimals: 0)) %, repeating")
            }
            try verify(scenario, dut: dut, pipeline: pipeline)
            return trial.deliveredPPS
        }
    }

    /// The rounds of `--paired` on any way of measuring a DUT's MRR (pps): each round measures
    /// the baseline and every compared DUT once, every other round in reverse order, so that a
    /// drift within a round, or what one DUT leaves behind for the next, falls on each side
    /// alike; each DUT's cost is taken over its own round's baseline.
    static func pairedComparisons(_ comparisons: [(ours: TrafficPipeline.DUT, reference: TrafficPipeline.DUT)], rounds: Int,
                                  progress: (String) -> Void,
                                  measure: (TrafficPipeline.DUT, Int) throws -> Double) throws -> [TrafficReport.PairedComparison] {
        var duts: [TrafficPipeline.DUT] = [.baseline]
        for (ours, reference) in comparisons {
            for dut in [reference, ours] where !duts.contains(dut) { duts.append(dut) }
        }
        var rates: [TrafficPipeline.DUT: [Double]] = [:]
        for round in 1...max(rounds, 1) {
            var line: [String] = []
            for dut in round % 2 == 1 ? duts : duts.reversed() {
                let rate = try measure(dut, round)
                rates[dut, default: []].append(rate)
                line.append("\(dut.rawValue) \(mpps(rate))")
            }
            progress("  paired round \(round)/\(rounds): " + line.joined(separator: ", ") + " Mpps")
        }
        let baseline = rates[.baseline] ?? []
        return comparisons.compactMap { ours, reference in
            guard let a = rates[ours], let b = rates[reference] else { return nil }
            let pairs = zip(zip(a, b), baseline).map { rates, base in
                (TrafficReport.cost(rates.0) - TrafficReport.cost(base), TrafficReport.cost(rates.1) - TrafficReport.cost(base))
            }
            return TrafficReport.PairedComparison(
                ours: ours.rawValue, reference: reference.rawValue,
                costRatio: Spread(pairs.map { $0.0 / $0.1 }), addedPercent: Spread(pairs.map { ($0.0 - $0.1) / $0.1 * 100 }),
                oursMRR: a, referenceMRR: b)
        }
    }

    /// "CPU model; spectre_v2: mitigation; hypervisor", from what the kernel reports (parts it does
    /// not report are left out).
    public static func platform() -> String {
        func read(_ path: String) -> String? {
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
        var parts: [String] = []
        let cpuinfo = read("/proc/cpuinfo") ?? ""
        if let model = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = model.firstIndex(of: ":") {
            parts.append(model[model.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        if let spectre = read("/sys/devices/system/cpu/vulnerabilities/spectre_v2") {
            parts.append("spectre_v2: " + spectre.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let hypervisor = read("/sys/hypervisor/type")?.trimmingCharacters(in: .whitespacesAndNewlines), !hypervisor.isEmpty {
            parts.append("hypervisor: \(hypervisor)")
        } else if cpuinfo.contains(" hypervisor") {
            parts.append("virtualised")
        }
        return parts.isEmpty ? "unknown" : parts.joined(separator: "; ")
    }

    /// Where everything runs, said explicitly (printed and kept in the report).
    public static func placement(_ options: Options) -> String {
        let control = options.controlCPU.map { "CPU \($0)" } ?? "any CPU"
        return "placement: generator thread pinned to CPU \(options.cpu); d0's DUT, the forwarding and the sink run "
            + "inline behind it in CPU \(options.cpu)'s NET_RX softirq (one-core pipeline); counters read and the "
            + "search run from \(control)"
    }

    /// The scenario loop on any way of measuring a DUT: skipped scenarios are listed with their
    /// reason; a DUT whose measurement throws is reported as failed with the error, and the
    /// others go on. The baseline of one input is measured once and shared by the scenarios
    /// that send the same frames.
    /// `afterEach` runs once a scenario's DUTs are measured (`--paired`), its comparisons kept
    /// with the scenario.
    public static func runScenarios(_ scenarios: [TrafficScenario], options: Options, progress: (String) -> Void,
                                    afterEach: (TrafficScenario, [DUTResult]) -> [TrafficReport.PairedComparison]? = { _, _ in nil },
                                    measure: (TrafficScenario, TrafficPipeline.DUT) throws -> DUTResult)
        -> [TrafficReport.ScenarioResult] {
        var results: [TrafficReport.ScenarioResult] = []
        var baselines: [String: DUTResult] = [:]
        for scenario in scenarios {
            if let reason = scenario.skipReason {
                progress("\(scenario.rawValue): \(reason)")
                results.append(.init(scenario: scenario.rawValue, skipped: reason, results: []))
                continue
            }
            progress("\(scenario.rawValue):")
            let (template, _) = scenario.input(options)
            let baselineKey = "\(template.name) \(options.frameLength + template.encapsulationOverhead)"
            var rows: [DUTResult] = []
            for dut in scenario.duts(options) {
                if dut == .baseline, let baseline = baselines[baselineKey] {
                    rows.append(baseline)
                    continue
                }
                do {
                    let result = try measure(scenario, dut)
                    if dut == .baseline { baselines[baselineKey] = result }
                    rows.append(result)
                } catch BenchError.unavailable(let why) {
                    progress("  \(dut.rawValue): not measured: \(why)")
                    var row = DUTResult.failed(dut, reason: why, input: template.name)
                    row.unavailable = true
                    rows.append(row)
                } catch {
                    let reason = String(describing: error)
                    progress("  \(dut.rawValue): failed: \(reason)")
                    rows.append(.failed(dut, reason: reason, input: template.name))
                }
            }
            results.append(.init(scenario: scenario.rawValue, skipped: nil, results: rows, paired: afterEach(scenario, rows)))
        }
        return results
    }
}
