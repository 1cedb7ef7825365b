import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// ip6_kroute: forwarding in XDP with the kernel's routes and neighbours, on crafted packets
/// (test runs inside a router namespace) and on real pings across the router.
@Suite(.serialized) struct IP6KrouteTests {
    init() throws { try KernelTest.prepare() }

    static let routerLeftMAC = "02:00:00:00:01:64", routerRightMAC = "02:00:00:00:02:64"
    static let h2MAC = "02:00:00:00:02:02"

    /// h1 (fc00:1::1) ↔ r (fc00:1::100 on veth1, fc00:2::100 on veth2) ↔ h2 (fc00:2::2).
    func router() throws -> (topology: Topology, h1: NetworkNamespace, r: NetworkNamespace, h2: NetworkNamespace) {
        let topology = KernelTest.topology()
        do {
            let h1 = try topology.addNamespace("h1"), r = try topology.addNamespace("r"), h2 = try topology.addNamespace("h2")
            try topology.addVethPair(h1, "veth0", r, "veth1")
            try topology.addVethPair(r, "veth2", h2, "veth0")
            try topology.ip(["link", "set", "dev", "veth1", "address", Self.routerLeftMAC], in: r)
            try topology.ip(["link", "set", "dev", "veth2", "address", Self.routerRightMAC], in: r)
            try topology.ip(["link", "set", "dev", "veth0", "address", Self.h2MAC], in: h2)
            try topology.addAddress("fc00:1::1/64", interface: "veth0", in: h1)
            try topology.addAddress("fc00:1::100/64", interface: "veth1", in: r)
            try topology.addAddress("fc00:2::100/64", interface: "veth2", in: r)
            try topology.addAddress("fc00:2::2/64", interface: "veth0", in: h2)
            try topology.addRoute(["default", "via", "fc00:1::100"], in: h1)
            try topology.addRoute(["default", "via", "fc00:2::100"], in: h2)
            try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: r)
            return (topology, h1, r, h2)
        } catch {
            topology.destroy()
            throw error
        }
    }

    static func mac(_ text: String) -> [UInt8] { text.split(separator: ":").map { UInt8($0, radix: 16) ?? 0 } }

    @Test func routesCraftedPacketsWithTheKernelTables() throws {
        let (topology, _, r, _) = try router()
        defer { topology.destroy() }
        try topology.ip(["-6", "neigh", "add", "fc00:2::2", "lladdr", Self.h2MAC, "dev", "veth2", "nud", "permanent"], in: r)
        let runner = try NetPackageRunner(program: "ip6_kroute", final: true)
        let ingress = try r.run { try NetworkInterface.index(of: "veth1") }
        let egress = try r.run { try NetworkInterface.index(of: "veth2") }
        #expect(ingress != egress)
        func run(_ packet: [UInt8]) throws -> (run: TestRunResult, result: VMResult) {
            try r.run { try runner.run(packet, context: NetKeys.xdpContext(length: packet.count, ingress: UInt32(ingress))) }
        }

        // Resolved neighbour: new MACs, hop limit - 1, redirected.
        let packet = NetKeys.udp("fc00:1::1", "fc00:2::2", hopLimit: 64)
        var (out, result) = try run(packet)
        #expect(out.returnValue == ABI.xdpRedirect)
        #expect(result.verdict == ABI.xdpRedirect)
        var expected = packet
        expected.replaceSubrange(0..<6, with: Self.mac(Self.h2MAC))
        expected.replaceSubrange(6..<12, with: Self.mac(Self.routerRightMAC))
        expected[14 + 7] = 63
        #expect(out.data == expected)

        // What the fast path leaves to the kernel, untouched: hop limit 1, an unresolved
        // neighbour, the router's own address, a destination without a route.
        for (what, packet) in [("hop limit 1", NetKeys.udp("fc00:1::1", "fc00:2::2", hopLimit: 1)),
                               ("unresolved neighbour", NetKeys.udp("fc00:1::1", "fc00:2::77")),
                               ("local", NetKeys.udp("fc00:1::1", "fc00:2::100")),
                               ("no route", NetKeys.udp("fc00:1::1", "fc00:9::1"))] {
            (out, result) = try run(packet)
            #expect(out.returnValue == ABI.xdpPass, "\(what)")
            #expect(out.data == packet, "\(what)")
        }

        // veth2 marked as unable to take redirected frames (hike srv6 apply does it when h2's
        // end has no XDP program and GRO off): to the kernel, untouched, and counted.
        try runner.map("hike_default", "hike_tx_unready").update(UInt32(egress), UInt32(1))
        (out, result) = try run(packet)
        #expect(out.returnValue == ABI.xdpPass)
        #expect(out.data == packet)
        let object = try runner.hike.catalog.entry("ip6_kroute").object
        let counted = try TypedMap<UInt32, PacketCounter>(runner.map(object, "ip6_kroute_tx_unready")).lookupSum(UInt32(0))
        #expect(counted == PacketCounter(packets: 1, bytes: UInt64(packet.count)))
    }

    @Test func pingsCrossTheRouterOnTheFastPath() throws {
        let (topology, h1, r, h2) = try router()
        defer { topology.destroy() }
        let test = try KernelTest.instance()
        let hike = test.instance
        for program in ["ip6_kroute", "hike_pass"] { try hike.loadProgram(program) }
        let programs = try hike.registry().programs
        let kroute = Int32(try #require(programs["ip6_kroute"]).id), pass = Int32(try #require(programs["hike_pass"]).id)
        let ids = try hike.symbols(addingChains: ["route", "pass"])
        try hike.installChains([
            (name: "route", id: try #require(ids["route"]), instructions: [.mov64(.r1, imm: kroute), .call(helper: ABI.fnCall), .exit], source: nil),
            (name: "pass", id: try #require(ids["pass"]), instructions: [.mov64(.r1, imm: pass), .call(helper: ABI.fnCall), .exit], source: nil),
        ])
        // Control: without XDP on the router, the kernel forwards (and counts) every packet.
        try hike.attach(loader: "ip6_classifier", interface: "veth0", namespace: h1, chain: "pass", defaultVerdict: ABI.xdpPass)
        try hike.attach(loader: "ip6_classifier", interface: "veth0", namespace: h2, chain: "pass", defaultVerdict: ABI.xdpPass)
        let start = try forwarded(topology, r)
        #expect(try Traffic.ping(from: h1, to: "fc00:2::2", count: 10, interval: 0.01).received == 10)
        #expect(try forwarded(topology, r) - start >= 20)

        // The router routes both ways in XDP; the hosts' ends carry a passing program, which a
        // veth needs to take redirected frames.
        try hike.attach(loader: "ip6_classifier", interface: "veth1", namespace: r, chain: "route", defaultVerdict: ABI.xdpPass)
        try hike.attach(loader: "ip6_classifier", interface: "veth2", namespace: r, chain: "route", defaultVerdict: ABI.xdpPass)

        // The first packets resolve the neighbours through the kernel.
        #expect(try Traffic.ping(from: h1, to: "fc00:2::2", count: 3, interval: 0.05).received == 3)
        let before = try forwarded(topology, r)
        let ping = try Traffic.ping(from: h1, to: "fc00:2::2", count: 50, interval: 0.01)
        #expect(ping.received == 50)
        let after = try forwarded(topology, r)
        // 100 packets crossed the router (requests and replies); the kernel forwarded hardly any.
        #expect(after - before < 10, "the kernel forwarded \(after - before) packets: the XDP fast path did not")
        #expect(try hike.faultCounts().isEmpty)
    }

    /// Ip6OutForwDatagrams of the namespace: packets the kernel itself forwarded.
    func forwarded(_ topology: Topology, _ namespace: NetworkNamespace) throws -> UInt64 {
        let text = try namespace.run { try String(contentsOfFile: "/proc/thread-self/net/snmp6", encoding: .utf8) }
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("Ip6OutForwDatagrams") })
        return UInt64(line.split(whereSeparator: \.isWhitespace).last ?? "") ?? 0
    }
}
