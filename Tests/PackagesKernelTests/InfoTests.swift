import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// info: show_pkt_info(select_layers, user_info) sends one info_event per packet.
@Suite(.serialized) struct InfoTests {
    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["show_pkt_info"])
    }

    func events() throws -> [InfoEvent] {
        try BPFRingBuffer(map: h.map("info", "info_events")).drain().compactMap(InfoEvent.init(record:))
    }

    func runInfo(layers: Int, user: Int, _ packet: [UInt8]) throws -> (UInt64, [InfoEvent]) {
        try h.install("chain info\n    r2 = \(layers)\n    r3 = \(user)\n    call show_pkt_info\n    exit\n")
        let (run, result) = try h.run("info", packet)
        #expect(run.data == packet)
        return (result.r0, try events())
    }

    @Test func allLayersOfAUDPPacket() throws {
        var packet = PacketBuilder.udp6(source: ExtPacket.source, destination: ExtPacket.destination, sourcePort: 1234,
                                        destinationPort: 862, payload: Array(repeating: 1, count: 20), hopLimit: 17)
        packet[14] = 0x6a; packet[15] = 0xb1; packet[16] = 0x23; packet[17] = 0x45  // tc 0xab, flow 0x12345
        let (r0, events) = try runInfo(layers: 7, user: 4242, packet)
        #expect(r0 == 7)
        let e = try #require(events.first)
        #expect(events.count == 1)
        #expect(e.userInfo == 4242 && e.selected == 7 && e.present == 7)
        #expect(e.packetLength == UInt32(packet.count) && e.etherType == 0x86dd)
        #expect(e.sourceMAC == [2, 0, 0, 0, 0, 1] && e.destinationMAC == [2, 0, 0, 0, 0, 2])
        #expect(e.ipVersion == 6 && e.hopLimit == 17 && e.trafficClass == 0xab && e.flowLabel == 0x12345)
        #expect(e.sourceAddress == ExtPacket.source && e.destinationAddress == ExtPacket.destination)
        #expect(e.l4Protocol == 17 && e.ipPayloadLength == 28 && e.l4Offset == 54)
        #expect(e.sourcePort == 1234 && e.destinationPort == 862 && e.l4Length == 28)
        #expect(e.description.contains("fc00::1 > fc00::2"))
        FileHandle.standardError.write(Data("info event: \(e)\n".utf8))
    }

    @Test func onlyTheSelectedLayers() throws {
        let packet = ExtPacket.udp(firstNextHeader: 17, extensions: [])
        let (r0, events) = try runInfo(layers: 1, user: 0, packet)
        #expect(r0 == 1)
        let e = try #require(events.first)
        #expect(e.present == 1 && e.ipVersion == 0 && e.sourcePort == 0 && e.sourceAddress == Array(repeating: 0, count: 16))
        let (r0b, transport) = try runInfo(layers: 4, user: 1, packet)
        #expect(r0b == 4)
        #expect(transport.first?.destinationMAC == [0, 0, 0, 0, 0, 0])
        #expect(transport.first?.destinationPort == 2000)
        // A large user value comes back whole.
        try h.install("chain big\n    r2 = 2\n    r3 = 0x123456789abcdef0 ll\n    call show_pkt_info\n    exit\n")
        _ = try h.run("big", packet)
        #expect(try self.events().first?.userInfo == 0x1234_5678_9abc_def0)
    }

    @Test func extensionHeadersAreSkippedToTheTransportLayer() throws {
        let hbh = ExtPacket.optionsHeader(nextHeader: 60, options: [1, 2, 0, 0])
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: [1, 2, 0, 0])
        let packet = ExtPacket.udp(firstNextHeader: 0, extensions: hbh + doh)
        let (r0, events) = try runInfo(layers: 6, user: 9, packet)
        #expect(r0 == 6)
        #expect(events.first?.l4Protocol == 17 && events.first?.l4Offset == 70 && events.first?.sourcePort == 1000)
    }

    @Test func theWalkStopsAfterFourExtensionHeadersOrAtOneCutShort() throws {
        func doh(_ next: UInt8) -> [UInt8] { ExtPacket.optionsHeader(nextHeader: next, options: [1, 4, 0, 0, 0, 0]) }  // 8 bytes
        let four = ExtPacket.udp(firstNextHeader: 60, extensions: doh(60) + doh(60) + doh(60) + doh(17))
        var (r0, events) = try runInfo(layers: 6, user: 0, four)
        #expect(r0 == 6)
        #expect(events.first?.l4Protocol == 17 && events.first?.l4Offset == 54 + 32 && events.first?.sourcePort == 1000)
        // A fifth: the walk stops at it, and names it as the upper layer (no transport decoded).
        let five = ExtPacket.udp(firstNextHeader: 60, extensions: doh(60) + doh(60) + doh(60) + doh(60) + doh(17))
        (r0, events) = try runInfo(layers: 6, user: 0, five)
        #expect(r0 == 2)
        #expect(events.first?.l4Protocol == 60 && events.first?.l4Offset == 54 + 32 && events.first?.sourcePort == 0)
        // An extension header whose first two bytes are not in the frame: no network layer either.
        let cut = Array(ExtPacket.udp(firstNextHeader: 60, extensions: doh(17))[..<(14 + 40 + 1)])
        (r0, events) = try runInfo(layers: 6, user: 0, cut)
        #expect(r0 == 0)
        #expect(events.first?.present == 0 && events.first?.ipVersion == 0)
    }

    @Test func anIPv4TotalLengthBelowTheHeaderGivesAPayloadLengthOfZero() throws {
        var ipv4 = NetKeys.ipv4
        ipv4[16] = 0
        ipv4[17] = 12  // total length 12: less than the 20-byte header
        try h.install("chain info4\n    r2 = 2\n    r3 = 0\n    call show_pkt_info\n    exit\n")
        let (_, result) = try h.run("info4", ipv4, loader: "ip46_classifier")
        #expect(result.r0 == 2)
        let e = try #require(try events().first)
        #expect(e.ipVersion == 4 && e.ipPayloadLength == 0 && e.l4Offset == 34)
    }

    @Test func icmpv6AndTCPAndIPv4() throws {
        var icmp = ExtPacket.udp(firstNextHeader: 58, extensions: [])
        icmp[54] = 128; icmp[55] = 0; icmp[58] = 0x12; icmp[59] = 0x34  // echo request, id 0x1234
        let (_, e1) = try runInfo(layers: 7, user: 0, icmp)
        #expect(e1.first?.l4Protocol == 58 && e1.first?.sourcePort == 128 << 8 && e1.first?.destinationPort == 0x1234)

        var tcp = ExtPacket.udp(firstNextHeader: 6, extensions: [], payload: Array(repeating: 0, count: 12))
        tcp[58] = 0xde; tcp[59] = 0xad; tcp[60] = 0xbe; tcp[61] = 0xef; tcp[67] = 0x12  // seq, SYN+ACK
        let (_, e2) = try runInfo(layers: 4, user: 0, tcp)
        #expect(e2.first?.tcpSequence == 0xdeadbeef && e2.first?.tcpFlags == 0x12 && e2.first?.sourcePort == 1000)

        // IPv4 (the classifier only runs chains for IPv6, so this goes through ip46_classifier).
        let ipv4: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                             0x45, 0x10, 0, 28, 0, 0, 0, 0, 33, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
                             0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0]
        try h.install("chain info4\n    r2 = 7\n    r3 = 4\n    call show_pkt_info\n    exit\n")
        let loader = try h.hike.detachedLoader("ip46_classifier", chain: "info4", defaultVerdict: ABI.xdpPass)
        _ = try loader.testRun(TestRunOptions(data: ipv4))
        let e3 = try #require(try self.events().first)
        #expect(e3.ipVersion == 4 && e3.hopLimit == 33 && e3.trafficClass == 0x10 && e3.ipPayloadLength == 8)
        #expect(Array(e3.sourceAddress[0..<4]) == [10, 0, 0, 1] && e3.sourcePort == 1234 && e3.destinationPort == 53)
        #expect(e3.description.contains("IPv4 10.0.0.1 > 10.0.0.2"))
    }

    @Test func aFullRingBufferReturnsMinusOne() throws {
        try h.install("chain info\n    r2 = 7\n    r3 = 0\n    call show_pkt_info\n    exit\n")
        // 256 KiB / (104 + 8 header) ≈ 2340 events fit.
        let loader = try h.hike.detachedLoader("ip6_classifier", chain: "info", defaultVerdict: ABI.xdpPass)
        let before = try h.hike.lastResults()
        _ = try loader.testRun(TestRunOptions(data: ExtPacket.udp(firstNextHeader: 17, extensions: []), repeatCount: 2400))
        #expect(try h.hike.resultAfter(before)?.r0 == UInt64.max)
        #expect(try h.perCPUSum("info", "info_stats", 1) > 0)
        #expect(try h.perCPUSum("info", "info_stats", 0) + h.perCPUSum("info", "info_stats", 1) == 2400)
    }
}
