import BPFKit
import BPFObjects
import HikeTestSupport
import Testing

/// BPF_PROG_TEST_RUN on crafted packets.
@Suite(.serialized) struct TestRunTests {
    init() throws { try KernelTest.prepare() }

    let macA: [UInt8] = [0x02, 0xaa, 0, 0, 0, 0x01]
    let macB: [UInt8] = [0x02, 0xbb, 0, 0, 0, 0x02]

    @Test func reflectSwapsAddressesAndTransmits() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.xdpReflect.bytes, name: "xdp_reflect")
        let source = try #require(PacketBuilder.ipv6("fc00::1"))
        let destination = try #require(PacketBuilder.ipv6("fc00:0:0:1::99"))
        let packet = PacketBuilder.udp6(sourceMAC: macA, destinationMAC: macB, source: source,
                                        destination: destination, sourcePort: 4000, destinationPort: 5000,
                                        payload: Array("hike".utf8))
        let result = try object.program("xdp_reflect").testRun(TestRunOptions(data: packet))
        #expect(result.returnValue == 3)  // XDP_TX

        // Expected: the same packet with both address pairs swapped, nothing else touched.
        var expected = packet
        expected.replaceSubrange(0..<6, with: macA)
        expected.replaceSubrange(6..<12, with: macB)
        expected.replaceSubrange(22..<38, with: destination)
        expected.replaceSubrange(38..<54, with: source)
        #expect(result.data == expected)

        let counted = try TypedMap<UInt32, PacketCounter>(object.map("reflect_counters")).lookupSum(UInt32(0))
        #expect(counted == PacketCounter(packets: 1, bytes: UInt64(packet.count)))
    }

    @Test func nonIPv6GoesToTheKernelUnchanged() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.xdpReflect.bytes, name: "xdp_reflect")
        let arp = PacketBuilder.ethernet(destination: macB, source: macA, etherType: 0x0806) + [UInt8](repeating: 0, count: 28)
        let result = try object.program("xdp_reflect").testRun(TestRunOptions(data: arp))
        #expect(result.returnValue == 2)  // XDP_PASS
        #expect(result.data == arp)
    }

    @Test func repeatedRunsAreCountedAndTimed() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let frame = PacketBuilder.ethernet(destination: macB, source: macA, etherType: 0x0800) + [UInt8](repeating: 0, count: 46)
        let result = try object.program("xdp_count").testRun(TestRunOptions(data: frame, repeatCount: 1000))
        #expect(result.returnValue == 2)
        #expect(result.duration > .zero)
        let counters = try object.map("kind_counters")
        // Kind 1 = IPv4 (bpf/include/hike/packet.h).
        #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupSum(UInt32(1)) == PacketCounter(packets: 1000, bytes: 60_000))
    }

    @Test func liveFramesAreAccepted() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.doctorTailcall.bytes, name: "doctor_tailcall")
        let frame = PacketBuilder.ethernet(destination: macB, source: macA, etherType: 0x0800) + [UInt8](repeating: 0, count: 46)
        let result = try object.program("probe_drop").testRun(
            TestRunOptions(data: frame, repeatCount: 64, flags: .xdpLiveFrames))
        #expect(result.returnValue == 0)  // live frames report no verdict
        #expect(result.data.isEmpty)
    }

    @Test func liveFramesTakeAContext() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.doctorTailcall.bytes, name: "doctor_tailcall")
        let frame = PacketBuilder.ethernet(destination: macB, source: macA, etherType: 0x0800) + [UInt8](repeating: 0, count: 46)
        // struct xdp_md: data, data_end (= the frame's size), data_meta, ingress_ifindex (1 = lo),
        // rx_queue_index, egress_ifindex.
        var context = [UInt8](repeating: 0, count: 24)
        context[4] = UInt8(frame.count)
        context[12] = 1
        let result = try object.program("probe_drop").testRun(
            TestRunOptions(data: frame, context: context, repeatCount: 8, flags: .xdpLiveFrames))
        #expect(result.context == nil)
    }

    @Test func tailCallReachesItsTarget() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.doctorTailcall.bytes, name: "doctor_tailcall")
        let frame = PacketBuilder.ethernet(destination: macB, source: macA, etherType: 0x0800) + [UInt8](repeating: 0, count: 46)
        let entry = try object.program("probe_entry")
        #expect(try entry.testRun(TestRunOptions(data: frame)).returnValue == 0)  // XDP_ABORTED: empty slot
        try object.map("probe_jumps").update(UInt32(0), UInt32(bitPattern: try object.program("probe_target").fd))
        #expect(try entry.testRun(TestRunOptions(data: frame)).returnValue == 3)  // the target's XDP_TX
    }
}
