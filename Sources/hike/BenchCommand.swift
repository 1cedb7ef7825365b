import ArgumentParser
import Bench
import Foundation

/// `hike bench …`: measurements of the data plane (benchmarks, not tests).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure what the data plane costs.",
        subcommands: [VM.self, Compile.self, Run.self, FastDrop.self, Wing.self, Controller.self]
    )
}

/// How the test-run benchmarks (vm, fastdrop) sample: runs per sample, samples, CPU, output.
struct TestRunSampling: ParsableArguments {
    @Option(name: .customLong("repeat"), help: "Runs per sample (default: calibrated to about 0.3 s per sample).")
    var repeatCount: UInt32?

    @Option(help: "Samples per configuration (1–100).")
    var runs = 5

    @Option(help: "Pin the measuring thread to this CPU.")
    var cpu: Int?

    @Flag(help: "Print the report as JSON (progress goes to stderr).")
    var json = false

    func validate() throws {
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be between 1 and 100, not \(runs)") }
        if let repeatCount, repeatCount == 0 { throw ValidationError("--repeat must be at least 1") }
        if let cpu, cpu < 0 { throw ValidationError("--cpu must be a CPU number, not \(cpu)") }
    }
}

extension BenchCommand {
    /// The fastdrop loader's lookup against a bare XDP_DROP, by test runs.
    struct FastDrop: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fastdrop",
            abstract: "Time the fastdrop loader against a bare XDP_DROP (ns per packet, BPF_PROG_TEST_RUN).",
            discussion: """
                Test-runs a 64-byte Eth/IPv4/UDP frame from a listed source through gen_sink (drop and \
                count: the baseline of hike bench run) and through the fastdrop loader with the \
                10,000-prefix lists of hike bench run fastdrop: the source's /24 decided by the /24 \
                index, then asking the trie. Prints the median, min and max of the runs and each rate \
                as a share of the bare XDP_DROP's. Works where the kernel refuses the live frames of \
                hike bench run. Uses an instance of its own (hike-bench-<pid>), removed afterwards. \
                See docs/benchmarks.md.
                """
        )

        @OptionGroup var sampling: TestRunSampling

        func run() throws {
            VM.resetOnSignal(instance: HikeBenchInstance.instanceName())
            let report: FastDropTestRunBench.Report
            do {
                report = try FastDropTestRunBench.run(.init(repeatCount: sampling.repeatCount, runs: sampling.runs, cpu: sampling.cpu)) {
                    Terminal.errorLine($0)
                }
            } catch {
                Terminal.fail(String(describing: error))
            }
            Terminal.line(sampling.json ? try Terminal.json(report) : report.table())
        }
    }

    /// hike wing's SRH push at tc egress against no program (and the kernel's inline seg6 route).
    struct Wing: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "wing",
            abstract: "Time hike wing's SRH push at tc egress against no program and the kernel's inline seg6 route.",
            discussion: """
                One thread sends 64-byte UDP datagrams as fast as it can (sendmmsg) from one \
                namespace to another over a veth whose far end drops them in XDP: with nothing at tc \
                egress, with wing_egress pushing a 3-SID SRH, and through the kernel's seg6 inline \
                route with the same SIDs where the kernel has seg6 routes. The configurations take \
                turns in every run; the cost is the median of the runs' ratios of rates to no \
                program. See docs/benchmarks.md.
                """
        )

        @Option(help: "Runs (1–100); each sends for --seconds per configuration.")
        var runs = 5
        @Option(help: "Seconds each configuration sends per run.")
        var seconds = 0.5
        @Option(help: "Pin the sending thread to this CPU.")
        var cpu: Int?
        @Flag(help: "Print the report as JSON (progress goes to stderr).")
        var json = false

        func validate() throws {
            guard (1...100).contains(runs) else { throw ValidationError("--runs must be between 1 and 100, not \(runs)") }
            guard seconds >= 0.05 && seconds <= 60 else { throw ValidationError("--seconds must be between 0.05 and 60") }
        }

        func run() throws {
            let report: WingPushBench.Report
            do {
                report = try WingPushBench.run(.init(runs: runs, seconds: seconds, cpu: cpu)) { Terminal.errorLine($0) }
            } catch {
                Terminal.fail(String(describing: error))
            }
            Terminal.line(json ? try Terminal.json(report) : report.table())
        }
    }

    /// The intent controller's path computation on generated networks of growing size.
    struct Controller: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "controller",
            abstract: "Time the intent controller's path computation on generated networks of 100 to 10,000 routers.",
            discussion: """
                Each network is a ring where every router also reaches the next two, plus one random \
                chord per router, with random delay, jitter, loss, bandwidth and utilization, flex-algo \
                128 on every other router and three fw and ids functions. For each size, the same \
                random router pairs are asked for: the IGP shortest path (the reference), each kind \
                of intent, three weighted intents, a loss bound (searched among the k shortest \
                paths when the best one breaks it), flex-algo and a two-function chain. Prints µs \
                per computation (median, p99) and the median against the reference. Then, for each \
                --streams count, a controller on loopback is asked by that many streams (100 per \
                connection), one metric change moves every path, and the time until every stream \
                is answered and then pushed is printed, with the memory per stream. No kernel is \
                needed. See docs/controller.md.
                """
        )
        @Option(help: ArgumentHelp("Network sizes in routers, comma-separated.", valueName: "n,n,…")) var sizes = "100,1000,10000"
        @Option(help: "Requests per size (default: 200 up to 1,000 routers, 50 above, 20 from 10,000).") var requests: Int?
        @Option(help: "The seed of the generated networks and pairs.") var seed: UInt64 = 1
        @Option(help: ArgumentHelp("Stream counts to hold, comma-separated (none: 0).", valueName: "n,n,…")) var streams = "1000,10000"
        @Flag(help: "Print the report as JSON (progress goes to stderr).") var json = false

        func parsedStreams() throws -> [Int] {
            if streams == "0" { return [] }
            let values = streams.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 100_000 }) else {
                throw ValidationError("--streams takes stream counts of 1–100000, comma-separated, or 0 for none")
            }
            return values.map { $0! }
        }

        func parsedSizes() throws -> [Int] {
            let values = sizes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 4 && ($0 ?? 0) <= 1_000_000 }) else {
                throw ValidationError("--sizes takes router counts of 4–1000000, comma-separated, like 100,1000,10000")
            }
            return values.map { $0! }
        }

        func validate() throws {
            _ = try parsedSizes()
            _ = try parsedStreams()
            if let requests, !(1...100_000).contains(requests) { throw ValidationError("--requests must be 1–100000") }
        }

        func run() async throws {
            var report = ControllerScaleBench.run(.init(sizes: try parsedSizes(), requests: requests, seed: seed)) { Terminal.errorLine($0) }
            report.streams = try await ControllerStreamBench.run(streams: try parsedStreams(), seed: seed) { Terminal.errorLine($0) }
            Terminal.line(json ? try Terminal.json(report) : report.table())
        }
    }

    /// Raw tail-call chains against HIKe chains of N no-op program calls.
    struct VM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vm",
            abstract: "Time a HIKe program call against raw tail calls (ns per packet, BPF_PROG_TEST_RUN).",
            discussion: """
                Test-runs a 64-byte Eth/IPv6/UDP frame through: XDP_DROP; raw tail-call chains of N \
                no-op programs with constant and with runtime indexes; HIKe chains of N calls to \
                the no-op program `noop` and one to hike_drop, through ip6_classifier (N = 1, 2, 4, 8; \
                and 0 for HIKe). Prints the median, min and max of the runs, the added cost per call \
                and the HIKe/raw ratio. Loads the HIKe programs into an instance of its own \
                (hike-bench-<pid>), removed afterwards, also on error or Ctrl-C. See docs/bench.md.
                """
        )

        @OptionGroup var sampling: TestRunSampling

        func run() throws {
            Self.resetOnSignal(instance: HikeBenchInstance.instanceName())
            let options = VMBench.Options(repeatCount: sampling.repeatCount, runs: sampling.runs, cpu: sampling.cpu)
            let report: VMBenchReport
            do {
                report = try VMBench.run(options) { Terminal.errorLine($0) }
            } catch {
                // BenchError, BPFError and the runtime's errors all say what to fix.
                Terminal.fail(String(describing: error))
            }
            Terminal.line(sampling.json ? try Terminal.json(report) : report.table())
        }

        /// On Ctrl-C or SIGTERM, removes the bench instance before the process exits (its own
        /// clean-up does not run when a signal ends it).
        static func resetOnSignal(instance name: String) {
            SignalWatch.exitAfter { HikeBenchInstance.remove(named: name) ? ": removed instance \(name)" : "" }
        }
    }
}
