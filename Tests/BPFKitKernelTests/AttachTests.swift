import BPFKit
import BPFObjects
import HikeTestSupport
import Testing
import Topology

/// Programs attached to veth interfaces in namespaces, seeing real packets.
@Suite(.serialized) struct AttachTests {
    init() throws { try KernelTest.prepare() }

    /// Kinds of bpf/include/hike/packet.h.
    let echoRequest = UInt32(3)
    let echoReply = UInt32(4)

    @Test func nativeXDPCountsRealPings() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let link = try b.run { try XDPLink.attach(object.program("xdp_count"), interface: "veth0", mode: .native) }

        let ping = try Traffic.ping(from: a, to: "fc00::2", count: 5, interval: 0.05)
        #expect(ping.transmitted == 5 && ping.received == 5)

        let counters = try object.map("kind_counters")
        let requests = try #require(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(echoRequest))
        #expect(requests.packets == 5)
        // Echo request: 14 Ethernet + 40 IPv6 + 8 ICMPv6 + 56 bytes of ping data.
        #expect(requests.bytes == 5 * 118)
        // b's replies leave through veth0 and are not seen by b's XDP.
        #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(echoReply)?.packets == 0)
        // Each CPU's share adds up to the total.
        let perCPU = try #require(try TypedMap<UInt32, PacketCounter>(counters).lookupPerCPU(echoRequest))
        #expect(perCPU.count == (try possibleCPUCount()))
        #expect(perCPU.reduce(.zero, +) == requests)

        try link.detach()
        _ = try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.05)
        #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(echoRequest)?.packets == 5)
    }

    @Test func genericXDPAlsoWorks() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let link = try b.run { try XDPLink.attach(object.program("xdp_count"), interface: "veth0", mode: .generic) }
        #expect(link.mode == .generic)
        let ping = try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.05)
        #expect(ping.received == 3)
        #expect(try TypedMap<UInt32, PacketCounter>(object.map("kind_counters")).lookupSum(echoRequest)?.packets == 3)
        // The kernel reports the program as attached in generic mode.
        let shown = try topology.ip(["-j", "link", "show", "dev", "veth0"], in: b)
        #expect(shown.contains("\"mode\":2") || shown.contains("xdpgeneric"))
    }

    @Test func secondAttachOnTheSameInterfaceIsRefused() throws {
        let (topology, _, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let first = try b.run { try XDPLink.attach(object.program("xdp_count"), interface: "veth0") }
        let error = #expect(throws: BPFError.self) {
            _ = try b.run { try XDPLink.attach(object.program("xdp_count_alt"), interface: "veth0") }
        }
        #expect(error?.errno == EBUSY)
        #expect(try first.programID() == object.program("xdp_count").info().id)
    }

    @Test func tcEgressCountsWhatLeaves() throws {
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let object = try BPFObject(bytes: EmbeddedObjects.tcCount.bytes, name: "tc_count")
        let attachment = try a.run { try TCAttachment.attach(object.program("tc_count"), interface: "veth0", direction: .egress) }

        let ping = try Traffic.ping(from: a, to: "fc00::2", count: 4, interval: 0.05)
        #expect(ping.received == 4)
        let counters = try object.map("tc_counters")
        // a sends the requests (egress) and receives the replies (not egress).
        #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(echoRequest)?.packets == 4)
        #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(echoReply)?.packets == 0)

        try a.run { try attachment.detach() }
        _ = try Traffic.ping(from: a, to: "fc00::2", count: 2, interval: 0.05)
        #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(echoRequest)?.packets == 4)
    }

    @Test func tcIngressCountsWhatArrives() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let object = try BPFObject(bytes: EmbeddedObjects.tcCount.bytes, name: "tc_count")
        _ = try b.run { try TCAttachment.attach(object.program("tc_count"), interface: "veth0", direction: .ingress) }
        let ping = try Traffic.ping(from: a, to: "fc00::2", count: 3, interval: 0.05)
        #expect(ping.received == 3)
        #expect(try TypedMap<UInt32, PacketCounter>(object.map("tc_counters")).lookupSum(echoRequest)?.packets == 3)
    }

    /// The link swaps programs atomically: a ping running through the swap loses nothing, and
    /// both programs saw part of it.
    @Test func atomicReplacementUnderRunningPingLosesNothing() throws {
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let original = try object.program("xdp_count")
        let replacement = try object.program("xdp_count_alt")
        let link = try b.run { try XDPLink.attach(original, interface: "veth0", mode: .native) }
        let byProgram = try object.map("prog_counters")
        func seen(by slot: UInt32) throws -> UInt64 {
            try TypedMap<UInt32, PacketCounter>(byProgram).lookupSum(slot)?.packets ?? 0
        }

        let count = 300
        let ping = try Traffic.startPing(from: a, to: "fc00::2", count: count, interval: 0.005, deadline: 30)
        try KernelTest.waitUntil("the first program has seen 50 packets") { try seen(by: 0) >= 50 }
        // Only if the original is still attached (compare-and-swap).
        try link.update(to: replacement, expected: original)
        let atSwap = try seen(by: 0)
        try KernelTest.waitUntil("the replacement has seen 50 packets") { try seen(by: 1) >= 50 }
        let result = try ping.finish()

        #expect(result.transmitted == count)
        #expect(result.received == count, "lost \(result.lost) of \(count) echo replies across the swap")
        #expect(try link.programID() == replacement.info().id)
        #expect(try seen(by: 0) == atSwap, "the old program ran after the swap returned")
        // Every packet b received (requests plus neighbour discovery) was seen by exactly one program.
        #expect(try seen(by: 0) + seen(by: 1) >= UInt64(count))

        // A second swap that expects the old program is refused: it is no longer attached.
        let stale = #expect(throws: BPFError.self) { try link.update(to: original, expected: original) }
        #expect(stale?.errno == EPERM)
    }
}

#if canImport(Glibc)
import Glibc
#endif
