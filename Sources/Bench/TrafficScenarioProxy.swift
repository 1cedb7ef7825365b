import BPFKit
import HikeControl
import HikeRuntime
import HikeVM
import NetKit
import SRv6
import Topology

/// srv6-proxy: End.AD and End.AS against End on the same input (srv6-end's), with a function
/// behind the proxies:
///
///     gen [g0] ── [d0] dut [d1] ── [s0] sink
///                      [d2] ── [f0] fn          f0: gen_reflect (every frame back, XDP_TX)
///
/// d0's srv6_localsid routes fc00:9::1 to the DUT's chain; an inbound packet is decapsulated
/// and sent out of d2 to fc00:8::2; the reflector sends it back into d2, whose own
/// srv6_localsid hands every frame to the proxy's chain (its interface-in), which puts the
/// headers back (learned: End.AD; written here: End.AS, the same bytes End would send) and
/// forwards to the sink. The sink's output check sees the same shape as End's.
final class ProxyBenchFunction: @unchecked Sendable {  // used from one thread
    let interfaceIndex: UInt32
    let loader: BPFObject
    let links: [XDPLink]

    init(interfaceIndex: UInt32, loader: BPFObject, links: [XDPLink]) {
        self.interfaceIndex = interfaceIndex
        self.loader = loader
        self.links = links
    }
}

extension SRv6BenchPlan {
    static let endADIndex: UInt32 = 3, endASIndex: UInt32 = 4
    static let functionAddress = PacketTemplate.address6(0xfc00, 8, 2)
    static let functionMACs = (d2: [UInt8]([0x02, 0, 0, 0, 0x03, 0x01]), f0: [UInt8]([0x02, 0, 0, 0, 0x03, 0x02]))
}

extension TrafficScenarioPrograms {
    /// The function's namespace, its reflector, and a srv6_localsid of d2's own: made once.
    func proxyFunction(_ pipeline: TrafficPipeline, state: SRv6ScenarioState, hike: HikeInstance) throws -> ProxyBenchFunction {
        if let made = state.proxy { return made }
        let topology = pipeline.topology, dut = pipeline.dut
        let fn = try topology.addNamespace("fn")
        try topology.addVethPair(dut, "d2", fn, "f0")
        for (ns, dev, mac) in [(dut, "d2", SRv6BenchPlan.functionMACs.d2), (fn, "f0", SRv6BenchPlan.functionMACs.f0)] {
            try topology.ip(["link", "set", dev, "address", TrafficPipeline.macText(mac)], in: ns)
        }
        try topology.ip(["-6", "addr", "add", "fc00:8::1/64", "dev", "d2", "nodad"], in: dut)
        try topology.ip(["-6", "addr", "add", "fc00:8::2/64", "dev", "f0", "nodad"], in: fn)
        try topology.ip(["-6", "neigh", "replace", SRv6BenchPlan.text(SRv6BenchPlan.functionAddress), "lladdr",
                         TrafficPipeline.macText(SRv6BenchPlan.functionMACs.f0), "dev", "d2", "nud", "permanent"], in: dut)
        let reflector = pipeline.programs.reflector
        let reflect = try fn.run { try XDPLink.attach(reflector, interface: "f0") }
        let loader = try newLocalsidObject(hike: hike)
        let program = try loader.program(SRv6ABI.loader)
        let attached = try dut.run { try XDPLink.attach(program, interface: "d2") }
        let index = UInt32(bitPattern: try dut.run { try NetworkInterface.index(of: "d2") })
        let made = ProxyBenchFunction(interfaceIndex: index, loader: loader, links: [reflect, attached])
        state.proxy = made
        return made
    }

    /// An SR proxy DUT: its SID entry (and End.AS's headers), its chain behind fc00:9::1 on d0 and
    /// as d2's chain for everything the function sends back.
    func hikeProxy(_ dut: TrafficPipeline.DUT, pipeline: TrafficPipeline, options: TrafficBench.Options) throws -> BPFProgram {
        let bench = try hikeInstance()
        let hike = bench.instance
        let state = srv6 ?? SRv6ScenarioState()
        srv6 = state
        let behaviour: EndpointBehaviour = dut == .endAD ? .endAD : .endAS
        let index = dut == .endAD ? SRv6BenchPlan.endADIndex : SRv6BenchPlan.endASIndex
        for program in ["srv6_end", behaviour.program] where try hike.registry().programs[program] == nil {
            _ = try hike.loadProgram(program)
        }
        let object = try hike.catalog.entry(behaviour.program).object
        func map(_ name: String) throws -> BPFMap { try BPFMap.openPinned("\(hike.pinRoot)/maps/\(object)/\(name)") }
        let function = try proxyFunction(pipeline, state: state, hike: hike)

        var entry = SRv6SIDEntry(behaviour: behaviour, flavours: [], table: 0, oif: function.interfaceIndex, lblen: 0, nflen: 0,
                                 nh4: nil, nh6: try IPv6Address(bytes: SRv6BenchPlan.functionAddress), fallback: .none)
        entry.iif = function.interfaceIndex
        entry.inner = InnerTypes.ipv6.rawValue
        entry.ageMs = behaviour == .endAD ? 1000 : 0
        try TypedMap<UInt32, SRv6SIDEntry>(map(SRv6ABI.sidsMap)).update(index, entry)
        try TypedMap<UInt32, SRv6ProxyCache>(map(SRv6ABI.proxyCacheMap)).update(index, try proxyHeaders(behaviour, pipeline, options))
        try zeroSRv6Counters(map: map)

        let program = try routeLocalsid((SRv6BenchPlan.endSID, 128), to: "bench_\(behaviour.program)", key: dut.rawValue,
                                        state: state, hike: hike) {
            [.mov64(.r1, imm: try bench.id(behaviour.program)), .mov64(.r2, imm: Int32(index)), .call(helper: ABI.fnCall), .exit]
        }
        guard let chain = state.chains[dut.rawValue] else { throw BenchError.chainFailed(what: dut.rawValue, detail: "no chain") }
        try TypedMap<UInt32, LoaderConfigEntry>(function.loader.map(SRv6ABI.loaderConfigMap))
            .update(0, LoaderConfigEntry(chainID: chain, defaultVerdict: ABI.xdpDrop))
        return program
    }

    /// End.AD starts with nothing learned; End.AS gets what End would send: the input's outer
    /// header and SRH with SL − 1, the next SID as destination, hop limit − 1.
    func proxyHeaders(_ behaviour: EndpointBehaviour, _ pipeline: TrafficPipeline, _ options: TrafficBench.Options) throws -> SRv6ProxyCache {
        guard behaviour == .endAS else { return .empty }
        let sids = SRv6BenchPlan.endSegmentCount(options.segments)
        let frame = try pipeline.frame(SRv6BenchPlan.endInput(segments: options.segments), options: options)
        var headers = Array(frame.bytes[14..<(14 + 40 + 8 + 16 * sids)])
        headers[7] -= 1
        headers[40 + 3] -= 1
        let next = 40 + 8 + 16 * Int(headers[40 + 3])
        headers.replaceSubrange(24..<40, with: headers[next..<next + 16])
        return SRv6ProxyCache(learnedNs: 0, h: .init(len: UInt32(headers.count), nhOff: 40,
                                                     hdr: headers + [UInt8](repeating: 0, count: SRv6ABI.proxyHeadersMax - headers.count)))
    }

    /// After a proxy DUT's measurement: the function sent back at least every packet the sink
    /// counted, and nothing but the function's link traffic left the fast path.
    func verifyProxy(_ dut: TrafficPipeline.DUT, hike: HikeInstance, delivered: UInt64) throws {
        let behaviour: EndpointBehaviour = dut == .endAD ? .endAD : .endAS
        let index = dut == .endAD ? SRv6BenchPlan.endADIndex : SRv6BenchPlan.endASIndex
        let object = try hike.catalog.entry(behaviour.program).object
        let stats = try TypedMap<UInt32, SRv6ProxyStats>(BPFMap.openPinned("\(hike.pinRoot)/maps/\(object)/\(SRv6ABI.proxyStatsMap)"))
        let sums = (try stats.lookupPerCPU(index) ?? []).reduce(SRv6ProxyStats.zero, +)
        let control = SRv6ABI.reasons.first { $0.name == "control" }?.value ?? -1
        let refused = SRv6ABI.reasons.filter { $0.value != 0 && $0.value != control && $0.value < sums.reasons.count && sums.reasons[$0.value] > 0 }
            .map { "\($0.name): \(sums.reasons[$0.value])" }
        guard sums.fromFunction >= delivered, sums.toFunction >= sums.fromFunction, refused.isEmpty,
              behaviour != .endAD || sums.learned >= 1 else {
            throw BenchError.chainFailed(what: "hike \(dut.rawValue)", detail: "\(sums.toFunction) packets to the function, "
                + "\(sums.fromFunction) back, \(sums.learned) learnings, for \(delivered) delivered"
                + (refused.isEmpty ? "" : "; refused: \(refused.joined(separator: ", "))"))
        }
    }
}
