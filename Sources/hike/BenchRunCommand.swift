import ArgumentParser
import Bench
import Foundation

extension BenchCommand {
    /// `hike bench run SCENARIO…`: packet rates through veth pairs, side by side with the kernel.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Measure packet rates through generator → DUT → sink namespaces (Mpps, PDR, DUT cost).",
            discussion: """
                Scenarios: \(TrafficScenario.allCases.map(\.rawValue).joined(separator: ", ")). \
                The live-frames generator (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, pinned to \
                --cpu) sends --size-byte frames out of a veth (Eth/IPv6/UDP; the generator scenario \
                takes --template; the SRv6 scenarios wrap the same packet in an outer IPv6 header and \
                an SRH of --segments SIDs); the DUT and an XDP sink that counts per CPU run inline \
                behind it on the same CPU, and the counters are read from --control-cpu. A DUT that \
                cannot be measured (set-up error, nothing at the sink, a stability pre-check that \
                keeps losing packets after --precheck-attempts trials) is reported as failed with \
                the reason; the other DUTs still run. A DUT this host cannot run (the kernel's SRv6 \
                on a kernel built without it) is reported as not measured, with what it lacks; the \
                SRv6 scenarios also measure bare XDP forwarding (xdp) as the reference that needs \
                no kernel SRv6. Each DUT gets its maximum receive \
                rate (MRR) and PDR@0.5 % (SRPerf's bisection), as median [min–max] over the \
                repetitions, and its cost per packet over the no-DUT baseline; the NDR (zero loss) is \
                bisected after the PDR. Scenarios that need an issue not yet landed are listed as \
                skipped. Progress goes to stderr, the report (--format table, markdown, csv or json) \
                to stdout; --plot DIR writes DIR/<scenario>.svg. The namespaces (hikeb-<pid>-…) are removed at the end, also on \
                error or Ctrl-C. See docs/benchmarks.md.
                """
        )

        @Argument(help: "Scenarios to run (default: generator ipv6-forwarding).")
        var scenarios: [String] = []

        @Flag(help: "Short trials, one repetition, 5 % precision.")
        var quick = false

        @Flag(name: .customLong("mrr-only"), help: "Measure only the maximum receive rate (no PDR search).")
        var mrrOnly = false

        @Option(help: "CPU of the generator (the DUT and the sink run inline on it).")
        var cpu = 0

        @Option(help: "Repetitions of every measurement (default 3, 1 with --quick).")
        var repetitions: Int?

        @Option(help: "Seconds per trial (default 2, 0.5 with --quick).")
        var seconds: Double?

        @Option(help: "Distinct flows (source address and UDP port varied per packet).")
        var flows: UInt32 = 256

        @Option(help: "Frame length in bytes, Ethernet header included (SRv6 inputs add their outer header and SRH).")
        var size = 64

        @Option(help: "What the generator scenario sends: ipv6-udp, ipv4-udp or srv6 (an SRH of --segments SIDs).")
        var template = "ipv6-udp"

        @Option(help: "SIDs in the SRv6 scenarios' segment lists (1–8; srv6-end uses at least 2).")
        var segments = 1

        @Option(help: ArgumentHelp("Chain lengths of the tailcalls scenario, comma-separated (default 1,2,…,8).",
                                   valueName: "n,n,…"))
        var calls: String?

        @Option(name: .customLong("precheck-attempts"),
                help: "Trials the stability pre-check may take before a DUT is reported as failed.")
        var precheckAttempts = 3

        @Option(help: ArgumentHelp("After each scenario's DUTs, this many rounds in which the baseline's and every compared "
                                   + "DUT's MRR are measured once, one right after the other (reversed every other round): "
                                   + "slow drift of a shared machine hits them alike, and each comparison is given per round, "
                                   + "median [min–max] (0: none; for small differences such as loss-monitoring's overhead).",
                                   valueName: "rounds"))
        var paired = 0

        @Option(name: .customLong("control-cpu"),
                help: "CPU of the thread that reads the counters (default: the other CPU on a 2-CPU machine).")
        var controlCPU: Int?

        @Flag(help: "Print the report as JSON (the same as --format json).")
        var json = false

        @Option(help: "Report format on stdout: table, markdown, csv or json (default table).")
        var format: String?

        @Option(name: .customLong("save-json"),
                help: ArgumentHelp("Also write the whole report as JSON to this file (whatever --format prints).", valueName: "file"))
        var saveJSON: String?

        @Option(help: ArgumentHelp("Write an SVG bar chart per scenario (PDR and NDR per DUT) into this directory, and "
                                   + "tailcalls-by-length.svg (rate against N, Fig. 7.9) for tailcalls.",
                                   valueName: "dir"))
        var plot: String?

        /// The chosen format: --format, else json with --json, else the terminal table.
        var reportFormat: BenchReportFormat {
            format.flatMap(BenchReportFormat.init(rawValue:)) ?? (json ? .json : .table)
        }

        func validate() throws {
            for name in scenarios where TrafficScenario(rawValue: name) == nil {
                throw ValidationError("unknown scenario '\(name)'; known: \(TrafficScenario.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let repetitions, !(1...100).contains(repetitions) { throw ValidationError("--repetitions must be 1–100") }
            if let seconds, !(0.1...600).contains(seconds) { throw ValidationError("--seconds must be 0.1–600") }
            if cpu < 0 || cpu >= ProcessInfo.processInfo.activeProcessorCount {
                throw ValidationError("--cpu must be one of the \(ProcessInfo.processInfo.activeProcessorCount) online CPUs")
            }
            if flows == 0 { throw ValidationError("--flows must be at least 1") }
            if !(1...8).contains(segments) { throw ValidationError("--segments must be 1–8 (the srv6 package's SRV6_MAX_SEGMENTS)") }
            if !(1...20).contains(precheckAttempts) { throw ValidationError("--precheck-attempts must be 1–20") }
            if !(0...100).contains(paired) { throw ValidationError("--paired must be 0–100 rounds") }
            if let controlCPU, controlCPU < 0 || controlCPU >= ProcessInfo.processInfo.activeProcessorCount {
                throw ValidationError("--control-cpu must be one of the \(ProcessInfo.processInfo.activeProcessorCount) online CPUs")
            }
            _ = try parsedCalls()
            let input = try parsedTemplate()
            // Every scenario but `generator` sends IPv6/UDP (or wraps it): its minimum holds for all.
            let minimum = PacketTemplate.ipv6UDP.minimumFrame
            if !(minimum...PacketTemplate.maximumFrame).contains(size) {
                throw ValidationError("--size must be \(minimum)–\(PacketTemplate.maximumFrame) bytes")
            }
            // SRv6 inputs (and H.Encaps outputs) carry the packet plus 40 + 8 + 16 × SIDs bytes.
            let overhead = 40 + 8 + 16 * SRv6BenchPlan.endSegmentCount(segments)
            let usesSRv6 = scenarios.contains { $0.hasPrefix("srv6") } || input != .ipv4UDP && input != .ipv6UDP
            if usesSRv6, size + overhead > PacketTemplate.maximumFrame {
                throw ValidationError("--size \(size) with \(segments) SID(s) makes SRv6 frames longer than "
                    + "\(PacketTemplate.maximumFrame) bytes; use --size \(PacketTemplate.maximumFrame - overhead) or less")
            }
            if let format {
                guard let chosen = BenchReportFormat(rawValue: format) else {
                    throw ValidationError("unknown format '\(format)'; known: \(BenchReportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if json && chosen != .json { throw ValidationError("--json contradicts --format \(format)") }
            }
        }

        /// --calls as a list of chain lengths.
        func parsedCalls() throws -> [Int] {
            guard let calls else { return Array(1...8) }
            let values = calls.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil && (1...8).contains($0!) }) else {
                throw ValidationError("--calls takes chain lengths 1–8 separated by commas, e.g. 1,4,8; not '\(calls)'")
            }
            return Array(Set(values.compactMap { $0 })).sorted()
        }

        /// --template as a packet template.
        func parsedTemplate() throws -> PacketTemplate {
            switch template {
            case "ipv6-udp": return .ipv6UDP
            case "ipv4-udp": return .ipv4UDP
            case "srv6": return SRv6BenchPlan.endDT6Input(segments: segments)
            default: throw ValidationError("unknown --template '\(template)'; known: ipv6-udp, ipv4-udp, srv6")
            }
        }

        func run() throws {
            Self.cleanUpOnSignal()
            var options: TrafficBench.Options = quick ? .quick : .init()
            options.cpu = cpu
            if let repetitions { options.repetitions = repetitions }
            if let seconds { options.trialSeconds = seconds }
            options.flows = flows
            options.searchPDR = !mrrOnly
            options.frameLength = size
            options.template = try parsedTemplate()
            options.segments = segments
            options.tailcallLengths = try parsedCalls()
            options.precheckAttempts = precheckAttempts
            options.pairedRounds = paired
            let cpus = ProcessInfo.processInfo.activeProcessorCount
            // Keep the reading and searching off the generator's CPU when there is another one.
            options.controlCPU = controlCPU ?? (cpus > 1 ? (cpu == 0 ? 1 : 0) : nil)
            let chosen = scenarios.isEmpty ? [.generator, .ipv6Forwarding] : scenarios.compactMap(TrafficScenario.init(rawValue:))
            let report: TrafficReport
            do {
                report = try TrafficBench.run(chosen, options: options) { Terminal.errorLine($0) }
            } catch {
                Terminal.fail(String(describing: error))
            }
            Terminal.line(try report.rendered(reportFormat))
            if let saveJSON {
                try Data(try report.json().utf8).write(to: URL(fileURLWithPath: saveJSON))
                Terminal.errorLine("report: \(saveJSON)")
            }
            if let plot {
                for path in try report.writePlots(to: URL(fileURLWithPath: plot)) { Terminal.errorLine("plot: \(path)") }
            }
        }

        /// On Ctrl-C or SIGTERM, deletes this process's namespaces before it exits.
        static func cleanUpOnSignal() {
            SignalWatch.exitAfter {
                let removed = TrafficPipeline.removeOwn()
                return removed.isEmpty ? "" : ": removed \(removed.joined(separator: ", "))"
            }
        }
    }
}
