import BPFKit
import HikeRuntime
import HikeVM
import NetKit

/// fastdrop: the fastdrop loader on d0 with a 10,000-prefix list holding the generator's IPv4
/// sources, against the baseline's bare XDP_DROP (gen_sink on d0): both drop every frame and count
/// it in a per-CPU array, so the rates compare the lookup alone. Two lists: the sources' /24s are
/// decided by the /24 index ("fastdrop"), or hold longer prefixes and ask the trie
/// ("fastdrop-trie"). Nothing reaches the sink: the DUT's own counter is the delivered count.
enum FastDropBench {
    static let prefixes = 10_000

    /// 10,000 distinct prefixes: 10.0.0.0/16, which holds every source the generator sends
    /// (10.0.1.1 plus the flow number in its last 16 bits: 10.0.1.1–10.0.2.0), and random ones,
    /// /8 to /32 from a fixed seed, outside 10.0.0.0/8. For the trie variant, two exceptions (/32s
    /// no frame carries) make the sources' /24s ask the trie.
    static func list(trie: Bool) throws -> FastDropList {
        var entries = [FastDropList.Entry(prefix: try DestinationPrefix(parsing: "10.0.0.0/16"))]
        if trie {
            entries += [.init(prefix: try DestinationPrefix(parsing: "10.0.1.0/32"), drop: false),
                        .init(prefix: try DestinationPrefix(parsing: "10.0.2.255/32"), drop: false)]
        }
        var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
        var seen: Set<String> = []
        while entries.count < prefixes {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = 8 + Int((seed >> 59) % 25)
            var address = UInt32(truncatingIfNeeded: seed >> 16)
            if address >> 24 == 10 { continue }
            address &= ~UInt32(0) << UInt32(32 - length)
            let text = "\(address >> 24).\(address >> 16 & 0xff).\(address >> 8 & 0xff).\(address & 0xff)/\(length)"
            guard seen.insert(text).inserted else { continue }
            entries.append(.init(prefix: try DestinationPrefix(parsing: text)))
        }
        return FastDropList(entries)
    }
}

extension TrafficPipeline.DUT {
    /// fastdrop: the loader, the sources' /24s in the index; fastdrop-trie: they ask the trie.
    public static let fastdrop = TrafficPipeline.DUT(rawValue: "fastdrop"), fastdropTrie = TrafficPipeline.DUT(rawValue: "fastdrop-trie")
}

extension TrafficScenarioPrograms {
    /// The list for the DUT written into the bench instance, and a detached fastdrop loader (its
    /// chain for unlisted frames is hike_drop: none should come).
    func fastdropProgram(_ dut: TrafficPipeline.DUT) throws -> (program: BPFProgram, counter: TypedMap<UInt32, PacketCounter>) {
        let bench = try hikeInstance()
        let hike = bench.instance
        try FastDropBench.list(trie: dut == .fastdropTrie).apply(to: hike)
        let chain = "bench_fastdrop_rest"
        if hikeLoaders[chain] == nil {
            _ = try installHikeChains([AssembledChain(name: chain, instructions: [.mov64(.r1, imm: try bench.id("hike_drop")),
                                                                                  .call(helper: ABI.fnCall), .exit])], start: chain)
            hikeLoaders[chain] = try hike.detachedLoader("fastdrop", chain: chain, defaultVerdict: ABI.xdpDrop)
        }
        guard let loader = hikeLoaders[chain] else { throw BenchError.chainFailed(what: dut.rawValue, detail: "no loader") }
        let stats = try TypedMap<UInt32, PacketCounter>(BPFMap.openPinned("\(hike.pinRoot)/maps/\(FastDropList.object)/\(FastDropList.statsMap)"))
        return (loader, stats)
    }

    /// After a fastdrop DUT's trials: the generator's frames were dropped by the list (what passed
    /// on to the chain is the link's own ND and MLD, a few), and the sink saw none of them.
    func verifyFastDrop(_ dut: TrafficPipeline.DUT, pipeline: TrafficPipeline) throws {
        guard let hike = hike?.instance else { return }
        let counters = try FastDropList.counters(hike)
        let sink = try pipeline.programs.sinkCounter().packets
        guard counters.dropped.packets > 0, counters.passed.packets * 1000 < counters.dropped.packets, sink == 0 else {
            throw BenchError.chainFailed(what: "hike \(dut.rawValue)", detail: "\(counters.dropped.packets) dropped, "
                + "\(counters.passed.packets) passed on to the chain, \(sink) at the sink: the list does not hold the generator's source")
        }
    }
}
