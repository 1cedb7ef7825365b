import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Monitoring
import NetKit
import SRv6
import Testing

/// The pm package through BPF_PROG_TEST_RUN: marking, counting, stripping, loss injection.
@Suite(.serialized) struct PMPackageTests {
    let h: PMHarness
    static let path = ["fd00:12::2", "fd00:99::100"]

    init() throws {
        h = try PMHarness()
        try h.install("""
            chain mark7
                r2 = 7
                call pm_mark
                exit
            chain count0
                r2 = 0
                r3 = 0
                call pm_count
                exit
            chain strip0
                r2 = 0
                r3 = 1
                call pm_count
                exit
            chain count7
                r2 = 7
                r3 = 0
                call pm_count
                exit
            chain loss0
                r2 = 0
                call pm_loss
                r2 = 0
                r3 = 0
                call pm_count
                exit
            """)
    }

    /// The Swift mirror of pm.h against the compiled object's maps.
    @Test func abiMirrorMatchesTheObject() throws {
        let maps = try ObjectSpec(bytes: EmbeddedObjects.pm.bytes, name: "pm").contents().maps
        func spec(_ name: String) throws -> ObjectSpec.MapSpec { try #require(maps.first { $0.name == name }) }
        // Arrays indexed by PMABI.counterIndex: a u32 key.
        #expect(try spec(PMABI.sentMap).keySize == 4)
        #expect(try spec(PMABI.sentMap).valueSize == UInt32(MemoryLayout<PacketCounter>.size))
        #expect(try spec(PMABI.receivedMap).keySize == 4)
        #expect(try spec(PMABI.receivedMap).maxEntries == UInt32(2 * PMABI.maxFlows))
        #expect(try spec(PMABI.flowsMap).maxEntries == UInt32(PMABI.maxFlows))
        #expect(try spec(PMABI.sentMap).maxEntries == UInt32(2 * PMABI.maxFlows))
        #expect(try spec(PMABI.statsMap).maxEntries == UInt32(PMABI.statNames.count))
        #expect(PMABI.statNames[Int(PMABI.statDropped)] == "dropped")
        #expect(try spec(PMABI.destinationFlowMap).keySize == 16)
        #expect(try spec(PMABI.colourMap).valueSize == 4)
        #expect(try spec(PMABI.linksMap).maxEntries == UInt32(PMABI.linkMaxIfindex))
        #expect(try spec(PMABI.linksMap).valueSize == UInt32(MemoryLayout<PMLinkEntry>.size))
        // The Swift entries name every member of their structs (the BTF lays them out).
        let entries: [(String, any Encodable)] = [
            ("pm_flow", PMFlowEntry(mode: 1)), ("pm_loss", PMLossEntry(remaining: 1, flow: 2, colour: 0, dropped: 0)),
            ("pm_counter", PacketCounter.zero), ("pm_link", PMLinkEntry(sendFlow: 1, receiveFlow: 2, dropPPM: 3)),
        ]
        for (name, entry) in entries {
            #expect(try BTFMirror.unshared(entry, BTFMirror.structNamed(name, in: [EmbeddedObjects.pm])) == [], "\(name): members only one side has")
        }
    }

    @Test func altMarkOptionIsInsertedBeforeTheSRH() throws {
        try h.node.addFlow(7, mode: .altmark)
        let frame = SRv6Packet.frame(segments: Self.path)
        let (run, result) = try h.run("mark7", frame)
        #expect(result.r0 == 0 && result.fault == 0)
        #expect(run.data == SRv6Packet.marked(frame, flow: 7, colour: .zero))
        // RFC 9343 by hand: DOH (60) after the IPv6 header, next header the SRH (43), length 0
        // (8 bytes), option 0x12 with 4 bytes: FlowMonID 7, L = 0, D = 0, reserved 0.
        #expect(run.data[20] == 60)
        #expect(Array(run.data[54..<62]) == [43, 0, 0x12, 4, 0x00, 0x00, 0x70, 0x00])
        #expect(try h.counter(7, .zero, .ingress) == (1, UInt64(frame.count)))
        // The other colour after a flip: the L bit.
        try h.node.flip()
        let (second, _) = try h.run("mark7", frame)
        #expect(Array(second.data[58..<62]) == [0x00, 0x00, 0x78, 0x00])
        #expect(try h.counter(7, .one, .ingress) == (1, UInt64(frame.count)))
        #expect(try h.node.statistics()["marked"] == 2)
    }

    @Test func dscpModeSetsTheTwoBitsAndKeepsTheRest() throws {
        try h.node.addFlow(7, mode: .dscp)
        let frame = SRv6Packet.frame(segments: Self.path, trafficClass: 0xb3)  // DSCP 0x2c, ECN 3
        try h.node.setActiveColour(.one)
        let (run, result) = try h.run("mark7", frame)
        #expect(result.r0 == 0)
        var expected = frame
        // TC 0xb3 | monitored 0x08 | colour 0x04 = 0xbf: high nibble in byte 0, low in byte 1.
        expected[15] = 0xf0
        #expect(run.data == expected)
        try h.node.setActiveColour(.zero)
        #expect(try h.run("mark7", frame).0.data[15] == 0xb0)  // 0xb3 | 0x08, colour bit clear
    }

    /// A monitored SR policy (srv6_policy.pm_flow): the headend counts and marks as it
    /// encapsulates, with no pm_mark in the chain. The output equals, byte for byte, the packet
    /// an H.Encaps headend sends (SRv6Packet.frame) with the mark added as pm_mark adds it, and
    /// the egress counts it with the same bytes.
    @Test func aMonitoredPolicyIsCountedAndMarkedByTheHeadend() throws {
        try h.hike.loadProgram("srv6_h_encaps")
        try h.install("""
            chain encap0
                r2 = 0
                call srv6_h_encaps
                exit
            """)
        let segments = try Self.path.map { try NetKit.IPv6Address(parsing: $0) }
        func policy(pmFlow: UInt32) throws {
            try BPFMap.openPinned("\(h.hike.pinRoot)/maps/srv6/\(SRv6.SRv6ABI.policiesMap)").update(
                key: BPFMap.bytesOf(UInt32(0)),
                value: try SRv6.SRv6PolicyEntry(mode: .encaps, segments: segments, flags: 0, hopLimit: 64, tag: 0,
                                                 source: try NetKit.IPv6Address(parsing: "fd00:12::1"), pmFlow: pmFlow).encoded())
        }
        let input = PacketBuilder.udp6(source: SRv6Packet.innerSource, destination: SRv6Packet.innerDestination, sourcePort: 5000,
                                       destinationPort: 6000, payload: Array(repeating: 0x5a, count: 20))
        let encapsulated = SRv6Packet.frame(segments: Self.path)

        try policy(pmFlow: 7)
        try h.node.addFlow(7, mode: .altmark)
        try h.node.setActiveColour(.one)
        let (altMark, r1) = try h.run("encap0", input)
        #expect(r1.r0 == 0 && r1.fault == 0)
        #expect(altMark.data == SRv6Packet.marked(encapsulated, flow: 7, colour: .one))
        #expect(try h.counter(7, .one, .ingress) == (1, UInt64(encapsulated.count)))
        #expect(try h.run("count0", altMark.data).1.r0 == 0)
        #expect(try h.counter(7, .one, .egress) == (1, UInt64(encapsulated.count)))

        try h.node.removeFlow(7)
        try h.node.addFlow(7, mode: .dscp)
        try h.node.setActiveColour(.zero)
        var dscp = encapsulated
        dscp[15] = 0x80  // Traffic Class: monitored 0x08, colour 0
        #expect(try h.run("encap0", input).0.data == dscp)
        #expect(try h.counter(7, .zero, .ingress) == (1, UInt64(encapsulated.count)))
        // pm_sent is the headend's count: pm_stats' "marked" is pm_mark's alone.
        #expect(try h.node.statistics()["marked"] == 0)

        // A policy monitored as a flow this node does not have: encapsulated all the same,
        // unmarked, and counted as an unknown flow.
        try policy(pmFlow: 9)
        let (unmarked, r3) = try h.run("encap0", input)
        #expect(r3.r0 == 0 && unmarked.data == encapsulated)
        #expect(try h.node.statistics()["unknown_flow"] == 1)
        // Not monitored: no pm counter moves.
        try policy(pmFlow: 0)
        #expect(try h.run("encap0", input).0.data == encapsulated)
        #expect(try h.node.statistics()["unknown_flow"] == 1)
        #expect(try h.counter(7, .zero, .ingress).packets == 1)
    }

    /// H.Encaps.Red with one SID has no SRH: the AltMark DOH sits between the outer IPv6 header
    /// and the inner packet (next headers 60, then 41), written out here by hand.
    @Test func aMonitoredReducedPolicyWithOneSIDPutsTheOptionBeforeTheInnerPacket() throws {
        try h.hike.loadProgram("srv6_h_encaps_red")
        try h.install("""
            chain encapred1
                r2 = 1
                call srv6_h_encaps_red
                exit
            """)
        let sid = try NetKit.IPv6Address(parsing: "fd00:12::2"), source = try NetKit.IPv6Address(parsing: "fd00:12::1")
        try BPFMap.openPinned("\(h.hike.pinRoot)/maps/srv6/\(SRv6.SRv6ABI.policiesMap)").update(
            key: BPFMap.bytesOf(UInt32(1)),
            value: try SRv6.SRv6PolicyEntry(mode: .encapsRed, segments: [sid], flags: 0, hopLimit: 64, tag: 0, source: source, pmFlow: 9).encoded())
        try h.node.addFlow(9, mode: .altmark)
        try h.node.setActiveColour(.one)
        let input = PacketBuilder.udp6(source: SRv6Packet.innerSource, destination: SRv6Packet.innerDestination, sourcePort: 5000,
                                       destinationPort: 6000, payload: Array(repeating: 0x5a, count: 20))
        let inner = Array(input[14...])
        let expected = Array(input[..<14]) + [0x60, 0, 0, 0] + Bytes.be16(UInt16(8 + inner.count)) + [60, 64] + source.bytes + sid.bytes
            + [41, 0, 0x12, 4] + SRv6Packet.altMark(flow: 9, colour: .one) + inner
        let (run, result) = try h.run("encapred1", input)
        #expect(result.r0 == 0 && result.fault == 0)
        #expect(run.data == expected)
        // Counted without the DOH: Ethernet + outer IPv6 + the inner packet.
        #expect(try h.counter(9, .one, .ingress) == (1, UInt64(14 + 40 + inner.count)))
    }

    @Test func egressCountsTheAltMarkColourAndStripsTheOption() throws {
        try h.node.addFlow(7, mode: .altmark)
        let frame = SRv6Packet.frame(segments: Self.path)
        let marked = SRv6Packet.marked(frame, flow: 7, colour: .one)
        let (kept, r1) = try h.run("count0", marked)
        #expect(r1.r0 == 0)
        #expect(kept.data == marked)
        let (stripped, r2) = try h.run("strip0", marked)
        #expect(r2.r0 == 0)
        #expect(stripped.data == frame)  // the packet as it was before the ingress marked it
        // Bytes exclude the DOH: the same figure as the ingress counts.
        #expect(try h.counter(7, .one, .egress) == (2, UInt64(2 * frame.count)))
        #expect(try h.counter(7, .zero, .egress).packets == 0)
    }

    @Test func egressFindsDSCPFlowsByTheirDestination() throws {
        try h.node.addFlow(7, mode: nil, destination: "fd00:12::2")
        var frame = SRv6Packet.frame(segments: Self.path)
        frame[15] = 0x80  // monitored, colour 0
        #expect(try h.run("count0", frame).1.r0 == 0)
        frame[15] = 0xc0  // monitored, colour 1
        #expect(try h.run("count7", frame).1.r0 == 0)
        #expect(try h.counter(7, .zero, .egress).packets == 1)
        #expect(try h.counter(7, .one, .egress).packets == 1)
        // strip = 1 clears the two bits, nothing else.
        frame[15] = 0xd0  // monitored, colour 1, flow label bits 0x10
        var cleared = frame
        cleared[15] = 0x10
        #expect(try h.run("strip0", frame).0.data == cleared)
        #expect(try h.counter(7, .one, .egress).packets == 2)
        #expect(try h.node.flows() == [.init(flow: 7, mode: nil, destination: "fd00:12::2")])
        // Unmarked: not counted, r0 = 1.
        frame[15] = 0x40
        #expect(try h.run("count0", frame).1.r0 == PMABI.notMarked)
        #expect(try h.node.statistics()["not_marked"] == 1)
    }

    @Test func badPacketsAreNeitherChangedNorCounted() throws {
        let frame = SRv6Packet.frame(segments: Self.path)
        // No such flow.
        let (run, result) = try h.run("mark7", frame)
        #expect(Int64(bitPattern: result.r0) == -2)
        #expect(run.data == frame)
        // A DOH already after the IPv6 header.
        try h.node.addFlow(7, mode: .altmark)
        let marked = SRv6Packet.marked(frame, flow: 9, colour: .zero)
        let (again, second) = try h.run("mark7", marked)
        #expect(Int64(bitPattern: second.r0) == -17)
        #expect(again.data == marked)
        // Not IPv6.
        var ipv4 = frame
        ipv4[12] = 0x08; ipv4[13] = 0x00
        let loader = try h.hike.detachedLoader("ip46_classifier", chain: "mark7", defaultVerdict: ABI.xdpPass)
        let before = try h.hike.lastResults()
        let v4 = try loader.testRun(TestRunOptions(data: ipv4))
        #expect(v4.data == ipv4)
        #expect(Int64(bitPattern: try #require(try h.hike.resultAfter(before)).r0) == -22)
        // An egress flow that is not configured.
        #expect(Int64(bitPattern: try h.run("count0", SRv6Packet.marked(frame, flow: 9, colour: .zero)).1.r0) == -2)
        #expect(try h.counter(7, .zero, .ingress).packets == 0)
        #expect(try h.node.statistics()["marked"] == 0)
    }

    @Test func badFlowConfigurationChangesNothing() throws {
        #expect(throws: MonitoringError.self) { try h.node.addFlow(0, mode: .dscp) }
        #expect(throws: MonitoringError.self) { try h.node.addFlow(0x100000, mode: .dscp) }
        #expect(throws: MonitoringError.self) { try h.node.addFlow(5, mode: .dscp, destination: "fd00::zz") }
        #expect(throws: MonitoringError.self) { try h.node.removeFlow(5) }
        #expect(throws: MonitoringError.self) { try MarkingMode(parsing: "ecn") }
        #expect(try h.node.flows().isEmpty)
        #expect(try h.node.counters(at: .ingress).isEmpty)
        try h.node.addFlow(5, mode: .dscp, destination: "fd00::5")
        try h.node.removeFlow(5)
        #expect(try h.node.flows().isEmpty)
    }

    /// A flow whose last step fails (pm_dst_flow is full) is taken back whole: no flow entry is
    /// left and the counters it zeroed have their values back.
    @Test func aFlowThatFailsHalfWayLeavesNothing() throws {
        let cpus = try possibleCPUCount(), sentinel = PacketCounter(packets: 5, bytes: 500)
        for map in [PMABI.sentMap, PMABI.receivedMap] {
            let counters = try TypedMap<UInt32, PacketCounter>(BPFMap.openPinned("\(h.hike.pinRoot)/maps/\(PMABI.object)/\(map)"))
            for colour in Colour.allCases { try counters.update(PMABI.counterIndex(flow: 9, colour: colour), sentinel) }
        }
        let destinations = try BPFMap.openPinned("\(h.hike.pinRoot)/maps/\(PMABI.object)/\(PMABI.destinationFlowMap)")
        for i in 0..<PMABI.maxFlows {
            let address: [UInt8] = [0xfd, 0x00] + Array(repeating: 0, count: 10) + Bytes.be32(UInt32(i))
            try destinations.update(key: address, value: BPFMap.bytesOf(UInt32(1)))
        }
        defer {
            for key in (try? destinations.keys()) ?? [] { _ = try? destinations.delete(key: key) }
        }
        #expect(throws: (any Error).self) { try h.node.addFlow(9, mode: .dscp, destination: "fd00:99::9") }
        #expect(try h.node.flows().allSatisfy { $0.flow != 9 })
        for map in [PMABI.sentMap, PMABI.receivedMap] {
            let counters = try BPFMap.openPinned("\(h.hike.pinRoot)/maps/\(PMABI.object)/\(map)")
            for colour in Colour.allCases {
                #expect(try TypedMap<UInt32, PacketCounter>(counters).lookupPerCPU(PMABI.counterIndex(flow: 9, colour: colour))
                    == Array(repeating: sentinel, count: cpus), "\(map)")
            }
        }
    }

    @Test func lossInjectionDropsExactlyKPacketsOfOneColour() throws {
        try h.node.addFlow(7, mode: .altmark)
        let frame = SRv6Packet.frame(segments: Self.path)
        try h.node.injectLoss(flow: 7, colour: .one, count: 3)
        var dropped = 0
        for i in 0..<10 {
            let colour: Colour = i % 2 == 0 ? .zero : .one
            let (run, _) = try h.run("loss0", SRv6Packet.marked(frame, flow: 7, colour: colour))
            if run.returnValue == ABI.xdpDrop { dropped += 1; #expect(colour == .one) }
        }
        #expect(dropped == 3)
        #expect(try h.node.lossInjection() == (0, 3))
        #expect(try h.counter(7, .zero, .egress).packets == 5)
        #expect(try h.counter(7, .one, .egress).packets == 2)
        // Arming again keeps the total (pm_stats, written by the program only) and drops the
        // next one of colour 0.
        try h.node.injectLoss(flow: 7, colour: .zero, count: 1)
        #expect(try h.node.lossInjection() == (1, 3))
        #expect(try h.run("loss0", SRv6Packet.marked(frame, flow: 7, colour: .zero)).0.returnValue == ABI.xdpDrop)
        #expect(try h.node.lossInjection() == (0, 4))
        #expect(throws: MonitoringError.self) { try h.node.injectLoss(flow: 0, colour: .zero, count: 1) }
    }

    /// RFC 8200 §4.1: a Hop-by-Hop header comes right after the IPv6 header. pm_mark does not
    /// put the AltMark DOH in front of one: it refuses (r0 = -EOPNOTSUPP, stat has_hbh) and
    /// leaves the packet as it was; DSCP marking (in the fixed header) still works.
    @Test func altMarkIsNotInsertedInFrontOfAHopByHopHeader() throws {
        try h.node.addFlow(7, mode: .altmark)
        let plain = SRv6Packet.frame(segments: Self.path)
        var ip = Array(plain[14..<54])
        let nextHeader = ip[6]
        ip[6] = PMABI.nextHeaderHopByHop
        let length = Bytes.u16(ip, 4) + 8
        ip[4] = UInt8(length >> 8)
        ip[5] = UInt8(length & 0xff)
        // HbH: next header, length 0 (8 bytes), PadN of 4 bytes.
        let frame = Array(plain[..<14]) + ip + [nextHeader, 0, 1, 4, 0, 0, 0, 0] + Array(plain[54...])
        let (run, result) = try h.run("mark7", frame)
        #expect(Int64(bitPattern: result.r0) == -95)
        #expect(run.data == frame)
        #expect(try h.node.statistics()["has_hbh"] == 1)
        #expect(try h.node.statistics()["marked"] == 0)
        #expect(try h.counter(7, .zero, .ingress).packets == 0)
        try h.node.removeFlow(7)
        try h.node.addFlow(7, mode: .dscp)
        let (dscp, marked) = try h.run("mark7", frame)
        #expect(marked.r0 == 0)
        #expect(dscp.data[15] == 0x80 && Array(dscp.data[54..<62]) == [nextHeader, 0, 1, 4, 0, 0, 0, 0])
    }
}
