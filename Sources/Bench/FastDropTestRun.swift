import BPFKit
import Foundation
import HikeControl
import HikeRuntime
import HikeVM
import Topology

/// `hike bench fastdrop`: the fastdrop loader with `hike bench run fastdrop`'s 10,000-prefix lists
/// against a bare XDP_DROP (gen_sink: drop and count, the live scenario's baseline), timed by
/// BPF_PROG_TEST_RUN on one 64-byte IPv4 frame from a listed source. What the lookup costs
/// without a packet path around it (the ratio is the harshest one can take), and a measurement
/// for hosts whose kernel refuses the live frames `hike bench run` sends.
public enum FastDropTestRunBench {
    public struct Options: Sendable {
        public var repeatCount: UInt32?
        public var runs: Int
        public var cpu: Int?
        public var targetSeconds = 0.3

        public init(repeatCount: UInt32? = nil, runs: Int = 5, cpu: Int? = nil) {
            self.repeatCount = repeatCount
            self.runs = runs
            self.cpu = cpu
        }
    }

    public struct Report: Codable, Sendable {
        public var kernel: String
        public var prefixes: Int
        /// ns per run: bare XDP_DROP, the index's answer, the trie's.
        public var bare: BenchStat, index: BenchStat, trie: BenchStat

        /// Rates over the bare XDP_DROP's: the median of each run's ratio (the subjects are timed
        /// one after the other in every run, so a drift of the machine falls on both alike).
        public var indexRate: Double { Self.pairedRatio(bare, index) }
        public var trieRate: Double { Self.pairedRatio(bare, trie) }

        static func pairedRatio(_ reference: BenchStat, _ measured: BenchStat) -> Double {
            let ratios = zip(reference.samples, measured.samples).map { $0 / $1 }
            return BenchStat(samples: ratios, repeatCount: 1).median
        }

        public func table() -> String {
            func row(_ label: String, _ stat: BenchStat, _ rate: Double?) -> String {
                label.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + "\(VMBench.format(stat.median, decimals: 1)) [\(VMBench.format(stat.min, decimals: 1))–\(VMBench.format(stat.max, decimals: 1))] ns"
                    + (rate.map { ", rate \(VMBench.format($0 * 100)) % of bare XDP_DROP (median of the runs' ratios)" } ?? "")
            }
            return ["hike bench fastdrop: kernel \(kernel), \(prefixes) prefixes, BPF_PROG_TEST_RUN of a 64-byte Eth/IPv4/UDP frame, "
                    + "median [min–max] over \(bare.samples.count) runs",
                    row("bare XDP_DROP (gen_sink)", bare, nil),
                    row("fastdrop, /24 index", index, indexRate) + " (target ≥ 90 %)",
                    row("fastdrop-trie, the trie asked", trie, trieRate)].joined(separator: "\n") + "\n"
        }
    }

    public static func run(_ options: Options, progress: (String) -> Void) throws -> Report {
        if let cpu = options.cpu { try CPUAffinity.pinCurrentThread(to: cpu) }
        HikeBenchInstance.removeStale()
        let generator = try GeneratorObject()
        progress("loading hike_drop and the fastdrop loader into instance \(HikeBenchInstance.instanceName())")
        let bench = try HikeBenchInstance()
        do {
            let report = try measure(options, generator: generator, bench: bench, progress: progress)
            try bench.reset()
            return report
        } catch {
            do { try bench.reset() } catch { progress("warning: \(error)") }
            throw error
        }
    }

    static func measure(_ options: Options, generator: GeneratorObject, bench: HikeBenchInstance,
                        progress: (String) -> Void) throws -> Report {
        let hike = bench.instance
        let chain = "bench_fastdrop_rest"
        _ = try DataPlane(instance: hike).installChains([AssembledChain(name: chain, instructions: [
            .mov64(.r1, imm: try bench.id("hike_drop")), .call(helper: ABI.fnCall), .exit])], source: nil)
        let loader = try hike.detachedLoader("fastdrop", chain: chain, defaultVerdict: ABI.xdpDrop)
        let frame = try PacketTemplate.ipv4UDP.frame(length: 64, sourceMAC: TrafficPipeline.macs["g0"] ?? [],
                                                     destinationMAC: TrafficPipeline.macs["d0"] ?? []).bytes
        let lists = (index: try FastDropBench.list(trie: false), trie: try FastDropBench.list(trie: true))
        let subjects = [
            Subject(label: "bare XDP_DROP", program: generator.sink, expected: ABI.xdpDrop, frame: frame),
            Subject(label: "fastdrop", program: loader, expected: ABI.xdpDrop, prepare: { try lists.index.apply(to: hike) }, frame: frame),
            Subject(label: "fastdrop-trie", program: loader, expected: ABI.xdpDrop, prepare: { try lists.trie.apply(to: hike) }, frame: frame),
        ]
        var repeats: [UInt32] = []
        for subject in subjects {
            try subject.prepare()
            let count = try options.repeatCount ?? Calibration.repeatCount(for: subject, seconds: options.targetSeconds)
            repeats.append(count)
        }
        var samples = Array(repeating: [Double](), count: subjects.count)
        for run in 1...max(options.runs, 1) {
            for (index, subject) in subjects.enumerated() {
                try subject.prepare()
                let time = try subject.time(repeatCount: repeats[index])
                samples[index].append(time)
                progress("run \(run)/\(options.runs)  \(subject.label.padding(toLength: 16, withPad: " ", startingAt: 0)) \(VMBench.format(time, decimals: 1)) ns")
            }
        }
        let stats = zip(samples, repeats).map { BenchStat(samples: $0.0, repeatCount: $0.1) }
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        return Report(kernel: kernel, prefixes: FastDropBench.prefixes, bare: stats[0], index: stats[1], trie: stats[2])
    }
}
