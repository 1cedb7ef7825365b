import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing
import Topology

/// A chain on a veth, seeing real traffic: it counts IPv6 packets by next header, passes
/// ICMPv6, drops UDP to one port; it is replaced under a running ping; detaching the loader
/// gives the interface back to the kernel.
@Suite(.serialized) struct VMTrafficTests {
    init() throws { try KernelTest.prepare() }

    static let blockedPort: UInt16 = 9999
    static let openPort: UInt16 = 7777

    /// monitor(next header + eventBase); drop UDP to blockedPort; pass everything else.
    func filter(_ hike: HikeInstance, eventBase: Int32) throws -> [BPFInstruction] {
        let programs = try hike.registry().programs
        let monitor = Int32(try #require(programs["monitor"]).id)
        let pass = Int32(try #require(programs["hike_pass"]).id)
        let drop = Int32(try #require(programs["hike_drop"]).id)
        return [
            .mov64(.r1, imm: 14 + 6), .call(helper: ABI.fnPktReadU8),           // next header
            .mov64(.r6, .r0),
            .mov64(.r1, imm: monitor), .mov64(.r2, .r6), .alu64(.add, dst: .r2, imm: eventBase),
            .call(helper: ABI.fnCall),
            .jump(.jne, dst: .r6, imm: 17, offset: 5),                          // not UDP: pass
            .mov64(.r1, imm: 14 + 40 + 2), .call(helper: ABI.fnPktReadU16),     // destination port
            .jump(.jne, dst: .r0, imm: Int32(Self.blockedPort), offset: 2),
            .mov64(.r1, imm: drop), .call(helper: ABI.fnCall),
            .mov64(.r1, imm: pass), .call(helper: ABI.fnCall),
        ]
    }

    func install(_ hike: HikeInstance, eventBase: Int32) throws {
        let id = try #require(try hike.symbols(addingChains: ["nh_filter"])["nh_filter"])
        try hike.installChains([(name: "nh_filter", id: id, instructions: try filter(hike, eventBase: eventBase), source: nil)])
    }

    @Test func chainFiltersCountsAndIsReplacedWithoutLoss() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        for program in ["monitor", "hike_pass", "hike_drop"] { try hike.loadProgram(program) }
        try install(hike, eventBase: 0)
        try hike.attach(loader: "ip6_classifier", interface: "veth0", namespace: b, chain: "nh_filter")
        let events = try BPFMap.openPinned("\(hike.pinRoot)/maps/hike_default/monitor_events")
        func count(_ event: UInt32) throws -> UInt64 { try events.lookupSum(event, as: UInt64.self) ?? 0 }

        // ICMPv6 passes.
        let ping = try Traffic.ping(from: a, to: "fc00::2", count: 5, interval: 0.02)
        #expect(ping.received == 5)
        #expect(try count(58) >= 5)  // echo requests, plus neighbour discovery

        // UDP to the blocked port never reaches b's socket; to the open port it does.
        let blocked = try UDPReceiver(in: b, port: Self.blockedPort)
        let open = try UDPReceiver(in: b, port: Self.openPort)
        try Traffic.sendUDP(from: a, to: "fc00::2", port: Self.blockedPort, payload: Array(repeating: 1, count: 20), count: 10)
        try Traffic.sendUDP(from: a, to: "fc00::2", port: Self.openPort, payload: Array(repeating: 2, count: 20), count: 10)
        try KernelTest.waitUntil("the chain has counted 20 UDP datagrams") { try count(17) >= 20 }
        try KernelTest.waitUntil("10 datagrams reached the open port") { open.drain() >= 10 }
        #expect(open.drain() == 10)
        #expect(blocked.drain() == 0)
        #expect(try count(17) == 20)

        // Replace the chain under a running ping: no reply is lost, and the new version runs
        // (it counts under event + 100).
        let running = try Traffic.startPing(from: a, to: "fc00::2", count: 300, interval: 0.005, deadline: 30)
        try KernelTest.waitUntil("the ping is under way") { try count(58) >= 50 }
        try install(hike, eventBase: 100)
        try KernelTest.waitUntil("the new chain has counted 50 pings") { try count(158) >= 50 }
        let result = try running.finish()
        #expect(result.transmitted == 300)
        #expect(result.received == 300, "lost \(result.lost) pings across the replacement")
        #expect(try hike.faultCounts().isEmpty)

        // Detached: the kernel gets every packet again, including UDP to the blocked port.
        try hike.detach(interface: "veth0", namespace: b.name)
        #expect(try hike.attachments().isEmpty)
        try Traffic.sendUDP(from: a, to: "fc00::2", port: Self.blockedPort, payload: Array(repeating: 3, count: 20), count: 5)
        try KernelTest.waitUntil("datagrams reach the blocked port once the loader is gone") { blocked.drain() >= 5 }
        let counted = try count(117)
        _ = try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.02)
        #expect(try count(117) == counted, "the chain still ran after detach")
        let shown = try topology.ip(["-j", "link", "show", "dev", "veth0"], in: b)
        #expect(!shown.contains("\"xdp\""))
    }

    @Test func lpmLoaderRunsChainsByDestinationPrefix() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        for program in ["hike_drop", "hike_pass"] { try hike.loadProgram(program) }
        let programs = try hike.registry().programs
        let drop = Int32(try #require(programs["hike_drop"]).id)
        let ids = try hike.symbols(addingChains: ["dropper"])
        try hike.installChains([(name: "dropper", id: try #require(ids["dropper"]),
                                 instructions: [.mov64(.r1, imm: drop), .call(helper: ABI.fnCall)], source: nil)])
        try topology.addAddress("fc00:dead::2/128", interface: "veth0", in: b)
        try topology.addRoute(["fc00:dead::/64", "via", "fc00::2"], in: a)
        try hike.attach(loader: "ip6_lpm_classifier", interface: "veth0", namespace: b, chain: nil,
                        routes: [(prefix: "fc00:dead::/64", chain: "dropper")])
        // The prefix's packets run the dropping chain; everything else goes to the kernel.
        #expect(try Traffic.ping(from: a, to: "fc00:dead::2", count: 3, interval: 0.02).received == 0)
        #expect(try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.02).received == 3)
    }
}
