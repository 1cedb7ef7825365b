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
                --cpu) sends 64-byte Eth/IPv6/UDP frames out of a veth; the DUT and an XDP sink that \
                counts per CPU run inline behind it on the same CPU. Each DUT gets its maximum receive \
                rate (MRR) and PDR@0.5 % (SRPerf's bisection), as median [min–max] over the \
                repetitions, and its cost per packet over the no-DUT baseline; the NDR (zero loss) is \
                bisected after the PDR. Scenarios that need an issue not yet landed are listed as \
                skipped. Progress goes to stderr, the report (--format table, markdown, csv or json) \
                to stdout; --plot DIR writes DIR/<scenario>.png. The namespaces (hikeb-<pid>-…) are removed at the end, also on \
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

        @Flag(help: "Print the report as JSON (the same as --format json).")
        var json = false

        @Option(help: "Report format on stdout: table, markdown, csv or json (default table).")
        var format: String?

        @Option(help: ArgumentHelp("Write a PNG bar chart per scenario (PDR and NDR per DUT) into this directory.",
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
            if let format {
                guard let chosen = BenchReportFormat(rawValue: format) else {
                    throw ValidationError("unknown format '\(format)'; known: \(BenchReportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if json && chosen != .json { throw ValidationError("--json contradicts --format \(format)") }
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
            let chosen = scenarios.isEmpty ? [.generator, .ipv6Forwarding] : scenarios.compactMap(TrafficScenario.init(rawValue:))
            let report: TrafficReport
            do {
                report = try TrafficBench.run(chosen, options: options) { Terminal.errorLine($0) }
            } catch {
                Terminal.fail(String(describing: error))
            }
            Terminal.line(try report.rendered(reportFormat))
            if let plot {
                for path in try report.writePlots(to: URL(fileURLWithPath: plot)) { Terminal.errorLine("plot: \(path)") }
            }
        }

        // Dispatch sources must stay alive to fire; written once from the main thread.
        nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

        /// On Ctrl-C or SIGTERM, deletes this process's namespaces before it exits.
        static func cleanUpOnSignal() {
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    let removed = TrafficPipeline.removeOwn()
                    Terminal.errorLine("\ninterrupted" + (removed.isEmpty ? "" : ": removed \(removed.joined(separator: ", "))"))
                    Foundation.exit(128 + number)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
