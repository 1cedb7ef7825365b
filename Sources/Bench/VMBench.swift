import BPFKit
import Foundation
import HikeRuntime
import HikeVM
import Topology

/// `hike bench vm`: what a HIKe program call costs next to a raw tail call.
public enum VMBench {
    public struct Options: Sendable {
        /// Runs per sample; nil: calibrated per configuration to take about `targetSeconds`.
        public var repeatCount: UInt32?
        /// Samples per configuration (the report gives their median, min and max).
        public var runs: Int
        /// Pin the measuring thread to this CPU.
        public var cpu: Int?
        /// Chain lengths N (no-op programs traversed); the per-call cost is the slope between
        /// the first and the last.
        public var hops: [Int]
        public var targetSeconds: Double
        /// Chain instructions of the interpreter-cost chain.
        public var aluInstructions: Int

        public init(repeatCount: UInt32? = nil, runs: Int = 5, cpu: Int? = nil, hops: [Int] = [1, 2, 4, 8],
                    targetSeconds: Double = 0.3, aluInstructions: Int = 64) {
            self.repeatCount = repeatCount
            self.runs = runs
            self.cpu = cpu
            self.hops = hops
            self.targetSeconds = targetSeconds
            self.aluInstructions = aluInstructions
        }
    }

    /// The HIKe/raw ratio the VM aims for.
    public static let ratioTarget = 1.5

    /// Measures everything and always resets the bench instance. Progress goes to `progress`.
    public static func run(_ options: Options, progress: (String) -> Void) throws -> VMBenchReport {
        precondition(options.runs > 0 && options.hops.count >= 2, "need runs > 0 and two chain lengths")
        precondition(options.hops.allSatisfy { (1...RawTailCallChains.maxHops).contains($0) }, "hops must be 1–8")
        if let cpu = options.cpu {
            try CPUAffinity.pinCurrentThread(to: cpu)
        }
        HikeBenchInstance.removeStale()

        progress("loading the raw tail-call chains (bench_tailcall)")
        let raw = try RawTailCallChains()
        progress("loading hike_drop, noop and \(options.hops.count + 2) ip6_classifier loaders into instance \(HikeBenchInstance.instanceName())")
        let hike = try HikeBenchInstance()
        do {
            let report = try measure(options, raw: raw, hike: hike, progress: progress)
            try hike.reset()
            return report
        } catch {
            do { try hike.reset() } catch { progress("warning: \(error)") }
            throw error
        }
    }

    static func chainName(_ calls: Int) -> String { "bench_n\(calls)" }

    private static func measure(_ options: Options, raw: RawTailCallChains, hike: HikeBenchInstance,
                                progress: (String) -> Void) throws -> VMBenchReport {
        let aluChain = "bench_alu\(options.aluInstructions)"
        var chains = try ([0] + options.hops).map { (name: chainName($0), instructions: try hike.noopChain(calls: $0)) }
        chains.append((name: aluChain, instructions: try hike.aluChain(instructions: options.aluInstructions)))
        try hike.install(chains)
        for chain in chains { try hike.check(chain.name) }
        try hike.addVerifierStats()

        // Every configuration, in the order each run measures them.
        var subjects: [Subject] = [Subject(label: "XDP_DROP", program: raw.drop, expected: ABI.xdpDrop)]
        for kind in RawTailCallChains.Kind.allCases {
            for n in options.hops {
                subjects.append(Subject(label: "raw-\(kind == .constant ? "const" : "runtime") N=\(n)",
                                        program: try raw.entry(kind), expected: ABI.xdpDrop,
                                        prepare: { try raw.configure(kind, hops: n) }))
            }
        }
        for n in [0] + options.hops {
            subjects.append(Subject(label: "hike N=\(n)", program: try hike.loader(chainName(n)), expected: ABI.xdpDrop))
        }
        subjects.append(Subject(label: "hike \(options.aluInstructions) ALU insns", program: try hike.loader(aluChain),
                                expected: ABI.xdpDrop))

        var repeats: [UInt32] = []
        for subject in subjects {
            try subject.prepare()
            if let fixed = options.repeatCount {
                repeats.append(fixed)
            } else {
                let count = try Calibration.repeatCount(for: subject, seconds: options.targetSeconds)
                progress("calibrated \(subject.label): repeat \(count)")
                repeats.append(count)
            }
        }

        var samples = Array(repeating: [Double](), count: subjects.count)
        for run in 1...options.runs {
            for (index, subject) in subjects.enumerated() {
                try subject.prepare()
                let time = try subject.time(repeatCount: repeats[index])
                samples[index].append(time)
                progress("run \(run)/\(options.runs)  \(subject.label.padding(toLength: 20, withPad: " ", startingAt: 0)) \(format(time)) ns")
            }
        }
        let stats = zip(samples, repeats).map { BenchStat(samples: $0.0, repeatCount: $0.1) }

        let k = options.hops.count
        var at = 1
        let constant = Array(stats[at..<at + k]); at += k
        let runtime = Array(stats[at..<at + k]); at += k
        let hikeEmpty = stats[at]; at += 1
        let hikeRows = Array(stats[at..<at + k]); at += k
        let alu = stats[at]

        let rows = options.hops.indices.map {
            VMBenchReport.Row(n: options.hops[$0], rawConstant: constant[$0], rawRuntime: runtime[$0], hike: hikeRows[$0])
        }
        func slope(_ column: [BenchStat]) -> Double {
            guard let first = column.first, let last = column.last, let n0 = options.hops.first,
                  let n1 = options.hops.last, n1 > n0 else { return .nan }
            return (last.median - first.median) / Double(n1 - n0)
        }
        let perCall = VMBenchReport.PerCall(rawConstant: slope(constant), rawRuntime: slope(runtime), hike: slope(hikeRows))
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        return VMBenchReport(
            setup: .init(kernel: kernel, cpu: options.cpu, runs: options.runs, repeatCount: options.repeatCount,
                         targetSeconds: options.targetSeconds, frameBytes: BenchFrame.bytes.count, hops: options.hops),
            xdpDrop: stats[0], hikeEmpty: hikeEmpty, rows: rows, perCall: perCall,
            ratio: perCall.hike / perCall.rawRuntime, ratioTarget: ratioTarget,
            interpreter: .init(instructions: options.aluInstructions, stat: alu,
                               nsPerInstruction: (alu.median - hikeEmpty.median) / Double(options.aluInstructions)),
            programs: hike.stats)
    }

    static func format(_ value: Double, decimals: Int = 0) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "–"
    }
}

/// What `hike bench vm` measured.
public struct VMBenchReport: Codable, Sendable {
    public struct Setup: Codable, Sendable {
        public let kernel: String
        /// The CPU the measuring thread was pinned to, if any.
        public let cpu: Int?
        public let runs: Int
        /// The fixed repeat count, or nil when each configuration was calibrated.
        public let repeatCount: UInt32?
        public let targetSeconds: Double
        public let frameBytes: Int
        public let hops: [Int]
    }

    public struct Row: Codable, Sendable {
        /// No-op programs traversed.
        public let n: Int
        public let rawConstant: BenchStat
        public let rawRuntime: BenchStat
        public let hike: BenchStat
    }

    /// ns each further call adds: the slope of the medians between the shortest and longest chain.
    public struct PerCall: Codable, Sendable {
        public let rawConstant: Double
        public let rawRuntime: Double
        public let hike: Double
    }

    public struct Interpreter: Codable, Sendable {
        /// `r2 += 1` instructions in the chain before the hike_drop call.
        public let instructions: Int
        public let stat: BenchStat
        /// (that chain − the N = 0 chain) / instructions.
        public let nsPerInstruction: Double
    }

    public let setup: Setup
    /// A program that returns XDP_DROP: the test-run harness alone.
    public let xdpDrop: BenchStat
    /// The HIKe chain with N = 0: the loader, the VM's start and the hike_drop call.
    public let hikeEmpty: BenchStat
    public let rows: [Row]
    public let perCall: PerCall
    /// HIKe per-call cost / raw runtime-index per-call cost.
    public let ratio: Double
    public let ratioTarget: Double
    public let interpreter: Interpreter
    /// Load time and size of the HIKe objects' programs.
    public let programs: [ProgramLoadStats]

    /// The report as the terminal shows it.
    public func table() -> String {
        func cell(_ stat: BenchStat) -> String {
            "\(VMBench.format(stat.median)) [\(VMBench.format(stat.min))–\(VMBench.format(stat.max))]"
        }
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            let count = text.count
            guard count < width else { return text }
            let fill = String(repeating: " ", count: width - count)
            return right ? fill + text : text + fill
        }
        var lines: [String] = []
        let first = setup.hops.first ?? 1, last = setup.hops.last ?? 8
        let repeatText = setup.repeatCount.map { "repeat \($0)" }
            ?? "repeat calibrated to ≈\(VMBench.format(setup.targetSeconds, decimals: 1)) s per run"
        lines.append("hike bench vm: ns per packet, BPF_PROG_TEST_RUN on a \(setup.frameBytes)-byte Eth/IPv6/UDP frame")
        lines.append("kernel \(setup.kernel), \(setup.cpu.map { "pinned to CPU \($0)" } ?? "not pinned"), "
            + "\(setup.runs) runs per cell, \(repeatText); cells: median [min–max]")
        lines.append("")
        lines.append("baselines")
        lines.append("  XDP_DROP                            \(cell(xdpDrop))")
        lines.append("  HIKe chain N=0 (hike_drop only)     \(cell(hikeEmpty))")
        lines.append("")
        lines.append("   N  \(pad("raw-const ns", 20))\(pad("raw-runtime ns", 20))hike ns")
        for row in rows {
            lines.append(pad("\(row.n)", 4, right: true) + "  " + pad(cell(row.rawConstant), 20)
                + pad(cell(row.rawRuntime), 20) + cell(row.hike))
        }
        lines.append("")
        lines.append("added cost per call, (t\(last) − t\(first))/\(last - first):")
        lines.append("  raw-const    \(pad(VMBench.format(perCall.rawConstant, decimals: 1), 6, right: true)) ns")
        lines.append("  raw-runtime  \(pad(VMBench.format(perCall.rawRuntime, decimals: 1), 6, right: true)) ns")
        lines.append("  hike         \(pad(VMBench.format(perCall.hike, decimals: 1), 6, right: true)) ns")
        let met = ratio.isFinite && ratio <= ratioTarget
        lines.append("HIKe added cost per call / raw runtime-index cost per call = \(VMBench.format(ratio, decimals: 2))"
            + "   (target ≤ \(VMBench.format(ratioTarget, decimals: 1)): \(met ? "met" : "not met"))")
        lines.append("")
        lines.append("VM interpreter: a chain of \(interpreter.instructions) ALU instructions + hike_drop takes \(cell(interpreter.stat)) ns: "
            + "\(VMBench.format(interpreter.nsPerInstruction, decimals: 2)) ns per chain instruction over N=0")
        lines.append("fixed cost of a HIKe packet (N=0 − XDP_DROP): \(VMBench.format(hikeEmpty.median - xdpDrop.median)) ns")
        lines.append("")
        lines.append("HIKe program objects (load: wall clock of loading the whole object; verifier: a second load with BPF_LOG_STATS)")
        lines.append("  \(pad("program", 16))\(pad("object", 16))\(pad("progs", 7, right: true))\(pad("load ms", 10, right: true))"
            + "\(pad("xlated B", 10, right: true))\(pad("jited B", 9, right: true))\(pad("verified insns", 16, right: true))"
            + "\(pad("verifier µs", 13, right: true))")
        for program in programs {
            lines.append("  \(pad(program.program, 16))\(pad(program.object, 16))\(pad("\(program.programsInObject)", 7, right: true))"
                + pad(VMBench.format(program.loadMilliseconds, decimals: 1), 10, right: true)
                + pad("\(program.translatedBytes)", 10, right: true) + pad("\(program.jitedBytes)", 9, right: true)
                + pad(program.verifiedInstructions.map { "\($0)" } ?? "–", 16, right: true)
                + pad(program.verificationMicroseconds.map { "\($0)" } ?? "–", 13, right: true))
        }
        return lines.joined(separator: "\n")
    }
}
