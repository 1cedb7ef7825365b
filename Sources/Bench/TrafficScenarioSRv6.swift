import BPFKit
import BPFObjects
import HikeControl
import HikeRuntime
import HikeVM
import NetKit
import SRv6
import Foundation
import Topology

/// The SRv6 scenarios (issue 6's benchmark): the kernel's seg6/seg6local against hike's srv6
/// package, with the same input and the same output, on the pipeline's DUT.
///
///   srv6-encap    IPv6/UDP to fc00:4::2 → H.Encaps with N SIDs (first fc00:2::2, the sink's
///                 address), outer source fc00:2::1 → sink.
///                 kernel: `fc00:4::/64 encap seg6 mode encap segs …` + `ip sr tunsrc set fc00:2::1`
///   srv6-end      outer fc00:1::1 → fc00:9::1, SRH of N ≥ 2 SIDs with SL = N − 1 → End: SL − 1,
///                 destination fc00:3::… → sink.        kernel: `fc00:9::1/128 seg6local End`
///   srv6-end-dt6  outer fc00:1::1 → fc00:9::6, SRH of N SIDs with SL = 0 → End.DT6 table 254:
///                 the inner fc00:1::1 → fc00:3::2 is forwarded to the sink.
///                 kernel: `fc00:9::6/128 seg6local End.DT6 table 254`
///
/// The kernel's routes are for destinations only these scenarios send to, so they change nothing
/// for the other scenarios. The `xdp` DUT (gen_fwd6, bare XDP forwarding: the reference that needs
/// no kernel SRv6) forwards each input as it is, by its outer destination, so it puts plain routes
/// for the same prefixes in their place (bpf_fib_lookup does not follow an lwtunnel route); the
/// `kernel` DUT puts its own back.
public enum SRv6BenchPlan {
    /// Where H.Encaps inputs go (the encap route's prefix) and the inner destination.
    public static let encapPrefix = "fc00:4::/64"
    public static let encapDestination = PacketTemplate.address6(0xfc00, 4, 2)
    /// The headend's outer source (`ip sr tunsrc`).
    public static let tunnelSource = PacketTemplate.address6(0xfc00, 2, 1)
    public static let endSID = PacketTemplate.address6(0xfc00, 9, 1)
    public static let endDT6SID = PacketTemplate.address6(0xfc00, 9, 6)

    /// The encap policy's SIDs in visiting order: the sink's fc00:2::2 first (so the outer packet
    /// is forwarded to it), then fc00:5::1, fc00:5::2, … (never visited: the sink drops).
    public static func encapSegments(_ count: Int) -> [[UInt8]] {
        [PacketTemplate.address6(0xfc00, 2, 2)] + (1..<max(1, count)).map { PacketTemplate.address6(0xfc00, 5, UInt16($0)) }
    }

    /// End needs a next segment: its SRH has max(2, N) SIDs.
    public static func endSegmentCount(_ segments: Int) -> Int { max(2, segments) }

    /// End's input: SL = N − 1 points at fc00:9::1; the segments after it are fc00:3::2, …
    /// (wire order: segments[0] = fc00:3::2 is the last).
    public static func endInput(segments: Int) -> PacketTemplate {
        let count = endSegmentCount(segments)
        let rest = (0..<(count - 1)).map { PacketTemplate.address6(0xfc00, 3, UInt16(2 + $0)) }
        return .srv6(.init(source: PacketTemplate.ipv6Source, segments: rest + [endSID], segmentsLeft: count - 1))
    }

    /// End.DT6's input: SL = 0, segments[0] = fc00:9::6; the segments already visited are
    /// fc00:5::1, … .
    public static func endDT6Input(segments: Int) -> PacketTemplate {
        let visited = (1..<max(1, segments)).map { PacketTemplate.address6(0xfc00, 5, UInt16($0)) }
        return .srv6(.init(source: PacketTemplate.ipv6Source, segments: [endDT6SID] + visited, segmentsLeft: 0))
    }

    static func text(_ address: [UInt8]) -> String {
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: address) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension TrafficScenarioPrograms {
    /// The kernel's SRv6 configuration in the DUT namespace (replaced each time: the encap route
    /// depends on the number of SIDs).
    func kernelSRv6(_ pipeline: TrafficPipeline, options: TrafficBench.Options) throws {
        let topology = pipeline.topology, dut = pipeline.dut
        for key in ["net.ipv6.conf.all.seg6_enabled", "net.ipv6.conf.d0.seg6_enabled"] {
            try topology.sysctl(key, "1", in: dut)
        }
        let segments = SRv6BenchPlan.encapSegments(options.segments).map(SRv6BenchPlan.text).joined(separator: ",")
        // Without tunsrc the kernel picks a source address per packet (perf-anchors.md pitfall 8).
        try topology.ip(["sr", "tunsrc", "set", SRv6BenchPlan.text(SRv6BenchPlan.tunnelSource)], in: dut)
        try topology.ip(["-6", "route", "replace", SRv6BenchPlan.encapPrefix, "encap", "seg6", "mode", "encap",
                         "segs", segments, "dev", "d1"], in: dut)
        try topology.ip(["-6", "route", "replace", SRv6BenchPlan.text(SRv6BenchPlan.endSID) + "/128", "encap", "seg6local",
                         "action", "End", "dev", "d0"], in: dut)
        try topology.ip(["-6", "route", "replace", SRv6BenchPlan.text(SRv6BenchPlan.endDT6SID) + "/128", "encap", "seg6local",
                         "action", "End.DT6", "table", "254", "dev", "d0"], in: dut)
    }
}

extension TrafficScenarioPrograms {
    /// The `xdp` DUT's routes: the encap prefix and both SIDs via the sink, as plain IPv6.
    func plainSRv6Routes(_ pipeline: TrafficPipeline) throws {
        let prefixes = [SRv6BenchPlan.encapPrefix, SRv6BenchPlan.text(SRv6BenchPlan.endSID) + "/128",
                        SRv6BenchPlan.text(SRv6BenchPlan.endDT6SID) + "/128"]
        for prefix in prefixes {
            try pipeline.topology.ip(["-6", "route", "replace", prefix, "via", "fc00:2::2", "dev", "d1"], in: pipeline.dut)
        }
    }
}

/// What the hike SRv6 DUTs keep alive: the srv6_localsid loader's object (its LPM maps) and
/// the chains installed, by scenario.
final class SRv6ScenarioState: @unchecked Sendable {  // used from one thread
    var localsid: BPFObject?
    /// Chain IDs by what they run (a scenario, or a DUT of srv6-proxy).
    var chains: [String: UInt32] = [:]
    /// srv6-proxy: the function's side (TrafficScenarioProxy.swift).
    var proxy: ProxyBenchFunction?
}

extension SRv6BenchPlan {
    /// Indexes in srv6_policies and srv6_sids.
    static let encapPolicy: UInt32 = 0, endIndex: UInt32 = 1, endDT6Index: UInt32 = 2
    /// The srv6 package's map values (SRv6's entries, laid out by BTF).
    static func policy(segments: [[UInt8]], source: [UInt8], pmFlow: UInt32 = 0) throws -> SRv6PolicyEntry {
        SRv6PolicyEntry(mode: .encaps, segments: try segments.map { try IPv6Address(bytes: $0) }, flags: 0, hopLimit: 0,
                        tag: 0, source: try IPv6Address(bytes: source), pmFlow: pmFlow)
    }

    static func sid(_ behaviour: EndpointBehaviour, table: UInt32 = 0) -> SRv6SIDEntry {
        SRv6SIDEntry(behaviour: behaviour, flavours: [], table: table, oif: 0, lblen: 0, nflen: 0, nh4: nil, nh6: nil)
    }
}

extension TrafficScenarioPrograms {
    /// hike's side of an SRv6 scenario: the srv6 package's behaviour in a chain, started by the
    /// srv6_localsid loader (longest-prefix match on the destination, as the kernel's FIB picks
    /// the seg6/seg6local route), with the maps written directly:
    ///   srv6-encap    fc00:4::/64   → srv6_h_encaps(0); ip6_kroute()   policy 0: N SIDs, source fc00:2::1
    ///   srv6-end      fc00:9::1/128 → srv6_end(1)                      SID 1: End
    ///   srv6-end-dt6  fc00:9::6/128 → srv6_end_dt6(2)                  SID 2: End.DT6, table 254
    /// pmFlow: the pm flow policy 0 is monitored as (loss-monitoring), 0 for none.
    func hikeSRv6(_ scenario: TrafficScenario, pipeline: TrafficPipeline, options: TrafficBench.Options,
                  pmFlow: UInt32 = 0) throws -> BPFProgram {
        let bench = try hikeInstance()
        let hike = bench.instance
        let state = srv6 ?? SRv6ScenarioState()
        srv6 = state
        if try hike.registry().programs["srv6_end"] == nil { _ = try hike.loadProgram("srv6_end") }
        let object = try hike.catalog.entry("srv6_end").object
        func map(_ name: String) throws -> BPFMap { try BPFMap.openPinned("\(hike.pinRoot)/maps/\(object)/\(name)") }

        let program: String, argument: UInt32, prefix: (address: [UInt8], length: UInt32), forward: Bool
        switch scenario {
        case .srv6Encap:
            try TypedMap<UInt32, SRv6PolicyEntry>(map(SRv6ABI.policiesMap)).update(
                SRv6BenchPlan.encapPolicy,
                try SRv6BenchPlan.policy(segments: SRv6BenchPlan.encapSegments(options.segments), source: SRv6BenchPlan.tunnelSource, pmFlow: pmFlow))
            (program, argument, prefix, forward) = (HeadendMode.encaps.program, SRv6BenchPlan.encapPolicy, (SRv6BenchPlan.encapDestination, 64), true)
        case .srv6End:
            try TypedMap<UInt32, SRv6SIDEntry>(map(SRv6ABI.sidsMap)).update(SRv6BenchPlan.endIndex, SRv6BenchPlan.sid(.end))
            (program, argument, prefix, forward) = (EndpointBehaviour.end.program, SRv6BenchPlan.endIndex, (SRv6BenchPlan.endSID, 128), false)
        case .srv6EndDT6:
            try TypedMap<UInt32, SRv6SIDEntry>(map(SRv6ABI.sidsMap)).update(SRv6BenchPlan.endDT6Index, SRv6BenchPlan.sid(.endDT6, table: 254))
            (program, argument, prefix, forward) = (EndpointBehaviour.endDT6.program, SRv6BenchPlan.endDT6Index, (SRv6BenchPlan.endDT6SID, 128), false)
        default:
            throw BenchError.chainFailed(what: "hike \(scenario.rawValue)", detail: "not an SRv6 scenario")
        }
        // Zero the counters the check after the measurement reads.
        try zeroSRv6Counters(map: map)

        return try routeLocalsid(prefix, to: "bench_\(program)", key: scenario.rawValue, state: state, hike: hike) {
            var code: [BPFInstruction] = [.mov64(.r1, imm: try bench.id(program)), .mov64(.r2, imm: Int32(argument)),
                                          .call(helper: ABI.fnCall)]
            if forward { code += [.mov64(.r1, imm: try bench.id("ip6_kroute")), .call(helper: ABI.fnCall)] }
            return code + [.exit]
        }
    }

    /// Installs the chain `name` once per `key` (its code from `code`), points the
    /// srv6_localsid loader's route for `prefix` at it and returns the loader's program.
    func routeLocalsid(_ prefix: (address: [UInt8], length: UInt32), to name: String, key: String,
                       state: SRv6ScenarioState, hike: HikeInstance, code: () throws -> [BPFInstruction]) throws -> BPFProgram {
        let chainID: UInt32
        if let installed = state.chains[key] {
            chainID = installed
        } else {
            let report = try DataPlane(instance: hike).installChains([AssembledChain(name: name, instructions: try code())], source: nil)
            chainID = report.chains[0].id
            state.chains[key] = chainID
        }
        let loader = try localsidLoader(state, hike: hike)
        let key = LPMKey(prefixlen: prefix.length, addr: try IPv6Address(bytes: prefix.address))
        try TypedMap<LPMKey<IPv6Address>, UInt32>(loader.map(SRv6ABI.lpm6Map)).update(key, chainID)
        return try loader.program("srv6_localsid")
    }

    func zeroSRv6Counters(map: (String) throws -> BPFMap) throws {
        for name in ["srv6_policy_stats", "srv6_sid_stats", "srv6_reasons", SRv6ABI.proxyStatsMap] {
            let counters = try map(name)
            let zero = [UInt8](repeating: 0, count: try counters.valueBufferSize())
            for key in 0..<counters.info.maxEntries { try counters.update(key: BPFMap.bytesOf(key), value: zero) }
        }
    }

    /// The srv6_localsid loader, loaded once, sharing the bench instance's VM maps; its
    /// srv6_localsid_cfg default verdict is XDP_DROP (a chain that faults loses the packet, so
    /// the benchmark sees loss).
    func localsidLoader(_ state: SRv6ScenarioState, hike: HikeInstance) throws -> BPFObject {
        if let object = state.localsid { return object }
        let object = try newLocalsidObject(hike: hike)
        // chain_id unused: the routes choose.
        try TypedMap<UInt32, LoaderConfigEntry>(object.map("srv6_localsid_cfg")).update(0, LoaderConfigEntry(chainID: 0, defaultVerdict: ABI.xdpDrop))
        state.localsid = object
        return object
    }

    /// A srv6_localsid object of its own (its maps are an attachment's), sharing the bench
    /// instance's VM maps.
    func newLocalsidObject(hike: HikeInstance) throws -> BPFObject {
        let name = try hike.catalog.entry(SRv6ABI.loader).object
        guard let embedded = EmbeddedObjects.named(name) else { throw BenchError.missingObject(name) }
        let spec = ObjectSpec(bytes: embedded.bytes, name: embedded.name)
        let maps = Set(try spec.contents().maps.map(\.name))
        let pins = Dictionary(uniqueKeysWithValues: HikeInstance.systemMaps.filter(maps.contains).map {
            ($0, "\(hike.pinRoot)/vm/\($0)")
        })
        return try BPFObject(spec: spec, options: ObjectOptions(pinnedMaps: pins))
    }

    /// After a hike SRv6 DUT's measurement: the behaviour processed at least every packet the
    /// sink counted (its stats' packets), and none left the fast path (srv6_reasons other than
    /// OK are 0): the kernel has the same routes, so a packet handed to it would still reach the
    /// sink, and its time would be the kernel's.
    func verifySRv6(_ scenario: TrafficScenario, hike: HikeInstance, delivered: UInt64) throws {
        if scenario == .srv6Proxy { return try verifySRv6(.srv6End, hike: hike, delivered: delivered) }
        let object = try hike.catalog.entry("srv6_end").object
        func map(_ name: String) throws -> BPFMap { try BPFMap.openPinned("\(hike.pinRoot)/maps/\(object)/\(name)") }
        func packets(_ map: BPFMap, _ key: UInt32) throws -> UInt64 {
            try TypedMap<UInt32, SRv6Stats>(map).lookupPerCPU(key)?.reduce(.zero, +).packets ?? 0
        }
        let processed = scenario == .srv6Encap
            ? try packets(map(SRv6ABI.policyStatsMap), SRv6BenchPlan.encapPolicy)
            : try packets(map(SRv6ABI.sidStatsMap), scenario == .srv6End ? SRv6BenchPlan.endIndex : SRv6BenchPlan.endDT6Index)
        let reasons = try map(SRv6ABI.reasonsMap)
        var leftFastPath: [String] = []
        // control: an SR proxy's function's own link traffic (srv6-proxy's veth), not this behaviour's.
        for reason in SRv6ABI.reasons where reason.value != 0 && reason.name != "control" {
            let count = try reasons.lookupSum(UInt32(reason.value), as: UInt64.self) ?? 0
            if count > 0 { leftFastPath.append("\(reason.name): \(count)") }
        }
        guard processed >= delivered, leftFastPath.isEmpty else {
            throw BenchError.chainFailed(what: "hike \(scenario.rawValue)", detail: "the behaviour processed \(processed) packets "
                + "for \(delivered) delivered" + (leftFastPath.isEmpty ? "" : "; left the fast path: \(leftFastPath.joined(separator: ", "))"))
        }
    }
}
