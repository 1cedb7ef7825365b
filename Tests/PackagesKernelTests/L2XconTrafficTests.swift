import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing
import Topology

/// l2xcon on real traffic: a namespace between two hosts of one subnet becomes a wire.
@Suite(.serialized) struct L2XconTrafficTests {
    init() throws { try KernelTest.prepare() }

    @Test func crossConnectedInterfacesCarryPings() throws {
        let topology = KernelTest.topology()
        defer { topology.destroy() }
        let h1 = try topology.addNamespace("h1"), x = try topology.addNamespace("x"), h2 = try topology.addNamespace("h2")
        try topology.addVethPair(h1, "veth0", x, "veth1")
        try topology.addVethPair(x, "veth2", h2, "veth0")
        try topology.addAddress("fc00::1/64", interface: "veth0", in: h1)
        try topology.addAddress("fc00::2/64", interface: "veth0", in: h2)
        // No bridge, no forwarding in x: without the cross-connect nothing crosses.
        #expect(try Traffic.ping(from: h1, to: "fc00::2", count: 2, interval: 0.05).received == 0)
        // That ping left fc00::2 INCOMPLETE in h1, to be probed again only at the next retransmit
        // timer (1 s): forget it, so the next ping solicits at once.
        try topology.ip(["-6", "neigh", "flush", "dev", "veth0"], in: h1)

        let test = try KernelTest.instance()
        let hike = test.instance
        for program in ["l2xcon", "hike_pass"] { try hike.loadProgram(program) }
        let programs = try hike.registry().programs
        let xcon = Int32(try #require(programs["l2xcon"]).id), pass = Int32(try #require(programs["hike_pass"]).id)
        let ids = try hike.symbols(addingChains: ["xcon", "pass"])
        try hike.installChains([
            (name: "xcon", id: try #require(ids["xcon"]), instructions: [.mov64(.r1, imm: xcon), .call(helper: ABI.fnCall), .exit], source: nil),
            (name: "pass", id: try #require(ids["pass"]), instructions: [.mov64(.r1, imm: pass), .call(helper: ABI.fnCall), .exit], source: nil),
        ])
        let left = UInt32(try x.run { try NetworkInterface.index(of: "veth1") })
        let right = UInt32(try x.run { try NetworkInterface.index(of: "veth2") })
        let map = try BPFMap.openPinned("\(hike.pinRoot)/maps/l2_redirect/l2xcon_map")
        try map.update(left, right)
        try map.update(right, left)
        try hike.attach(loader: "ip6_classifier", interface: "veth1", namespace: x, chain: "xcon")
        try hike.attach(loader: "ip6_classifier", interface: "veth2", namespace: x, chain: "xcon")
        // The hosts' ends take redirected frames only with an XDP program of their own.
        try hike.attach(loader: "ip6_classifier", interface: "veth0", namespace: h1, chain: "pass", defaultVerdict: ABI.xdpPass)
        try hike.attach(loader: "ip6_classifier", interface: "veth0", namespace: h2, chain: "pass", defaultVerdict: ABI.xdpPass)

        let ping = try Traffic.ping(from: h1, to: "fc00::2", count: 20, interval: 0.01)
        #expect(ping.received == 20)
        #expect(try hike.faultCounts().isEmpty)
    }
}
