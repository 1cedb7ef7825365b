import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Monitoring
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
        #expect(try spec(PMABI.sentMap).keySize == UInt32(MemoryLayout<PMKey>.size))
        #expect(try spec(PMABI.sentMap).valueSize == UInt32(MemoryLayout<PacketCounter>.size))
        #expect(try spec(PMABI.receivedMap).keySize == UInt32(MemoryLayout<PMKey>.size))
        #expect(try spec(PMABI.flowsMap).valueSize == UInt32(MemoryLayout<PMFlowEntry>.size))
        #expect(try spec(PMABI.flowsMap).maxEntries == UInt32(PMABI.maxFlows))
        #expect(try spec(PMABI.sentMap).maxEntries == UInt32(2 * PMABI.maxFlows))
        #expect(try spec(PMABI.lossMap).valueSize == UInt32(MemoryLayout<PMLossEntry>.size))
        #expect(try spec(PMABI.statsMap).maxEntries == UInt32(PMABI.statNames.count))
        #expect(try spec(PMABI.destinationFlowMap).keySize == 16)
        #expect(try spec(PMABI.colourMap).valueSize == 4)
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
    }
}
