import BPFKit
import BPFObjects
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The harness itself: topologies, traffic senders and counters, checked against the kernel.
@Suite(.serialized) struct TopologyTests {
    init() throws { try KernelTest.prepare() }

    @Test func routedThreeNodeTopology() throws {
        let topology = KernelTest.topology()
        defer { topology.destroy() }
        let h1 = try topology.addNamespace("h1")
        let r = try topology.addNamespace("r")
        let h2 = try topology.addNamespace("h2")
        try topology.addVethPair(h1, "eth0", r, "eth1")
        try topology.addVethPair(r, "eth2", h2, "eth0")
        try topology.addAddress("fc00:1::1/64", interface: "eth0", in: h1)
        try topology.addAddress("fc00:1::2/64", interface: "eth1", in: r)
        try topology.addAddress("fc00:2::2/64", interface: "eth2", in: r)
        try topology.addAddress("fc00:2::1/64", interface: "eth0", in: h2)
        try topology.addAddress("10.1.0.1/24", interface: "eth0", in: h1)
        try topology.addAddress("10.1.0.2/24", interface: "eth1", in: r)
        try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: r)
        try topology.addRoute(["fc00:2::/64", "via", "fc00:1::2"], in: h1)
        try topology.addRoute(["fc00:1::/64", "via", "fc00:2::2"], in: h2)

        let across = try Traffic.ping(from: h1, to: "fc00:2::1", count: 3, interval: 0.05)
        #expect(across.received == 3)
        #expect(try Traffic.ping(from: h1, to: "10.1.0.2", count: 2, interval: 0.05).received == 2)
        // The sysctl landed in r only.
        let forwarding = try r.run { try String(contentsOfFile: "/proc/sys/net/ipv6/conf/all/forwarding", encoding: .utf8) }
        let elsewhere = try h1.run { try String(contentsOfFile: "/proc/sys/net/ipv6/conf/all/forwarding", encoding: .utf8) }
        #expect(forwarding.hasPrefix("1") && elsewhere.hasPrefix("0"))
        // Namespace names are unique to this process and topology.
        #expect(topology.namespaces.allSatisfy { $0.name.hasPrefix("\(KernelTest.prefix)-\(getpid())-") })
    }

    @Test func udpAndRawFramesAreSeenByXDPAndInterfaceCounters() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let link = try b.run { try XDPLink.attach(object.program("xdp_count"), interface: "veth0") }
        defer { withExtendedLifetime(link) {} }
        let counters = try object.map("kind_counters")
        // Neighbour discovery first, so that the UDP datagrams below are not queued behind it.
        #expect(try Traffic.ping(from: a, to: "fc00::2", count: 1).received == 1)
        let ipv6Before = try TypedMap<UInt32, PacketCounter>(counters).lookupSum(UInt32(2)) ?? .zero
        let interfaceBefore = try InterfaceCounters.read("veth0", in: b)

        try Traffic.sendUDP(from: a, to: "fc00::2", port: 9, payload: Array(repeating: 7, count: 100), count: 10)
        try KernelTest.waitUntil("b's XDP has counted 10 UDP datagrams") {
            (try TypedMap<UInt32, PacketCounter>(counters).lookupSum(UInt32(2)) ?? .zero).packets >= ipv6Before.packets + 10
        }
        let udp = try #require(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(UInt32(2))) - ipv6Before
        #expect(udp == PacketCounter(packets: 10, bytes: 10 * (14 + 40 + 8 + 100)))

        // Raw IPv4-typed frames: XDP sees them as kind 1 whatever their payload.
        let frame = PacketBuilder.ethernet(destination: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                                           source: [0x02, 0, 0, 0, 0, 9], etherType: 0x0800)
            + [UInt8](repeating: 0, count: 50)
        try Traffic.sendFrames(Array(repeating: frame, count: 4), interface: "veth0", in: a)
        try KernelTest.waitUntil("b's XDP has counted 4 raw frames") {
            (try TypedMap<UInt32, PacketCounter>(counters).lookupSum(UInt32(1)))?.packets == 4
        }
        #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(UInt32(1))?.bytes == 4 * 64)

        let interfaceAfter = try InterfaceCounters.read("veth0", in: b)
        #expect(interfaceAfter.rxPackets - interfaceBefore.rxPackets >= 14)
    }
}

#if canImport(Glibc)
import Glibc
#endif
