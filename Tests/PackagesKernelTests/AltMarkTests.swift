import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// alt_mark: the RFC 9343 Alternate Marking option in Hop-by-Hop and Destination Options headers.
@Suite(.serialized) struct AltMarkTests {
    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["ip6_alt_mark"])
        try h.install("chain am\n    call ip6_alt_mark\n    exit\n")
    }

    /// The option: type 0x12, length 4, FlowMonID(20) | L | D | reserved(10).
    static func option(flow: UInt32, l: Bool, d: Bool, reserved: UInt32 = 0) -> [UInt8] {
        [0x12, 4] + Bytes.be32(flow << 12 | (l ? 1 << 11 : 0) | (d ? 1 << 10 : 0) | reserved & 0x3ff)
    }

    static func packed(where place: UInt64, flow: UInt32, l: Bool, d: Bool) -> UInt64 {
        place << 32 | UInt64(flow) << 12 | (l ? 1 << 11 : 0) | (d ? 1 << 10 : 0)
    }

    /// struct alt_mark_counters.
    struct Counters: Codable, Equatable {
        var packets: [UInt64]
        var bytes: [UInt64]
        var doubleMarked: UInt64

        enum CodingKeys: String, CodingKey { case packets, bytes, doubleMarked = "double_marked" }
    }

    func counters(flow: UInt32) throws -> Counters? {
        let map = try TypedMap<UInt32, Counters>(h.map("alt_mark", "alt_mark_flows"))
        guard let perCPU = try map.lookupPerCPU(flow) else { return nil }
        return perCPU.reduce(Counters(packets: [0, 0], bytes: [0, 0], doubleMarked: 0)) { sum, v in
            Counters(packets: [sum.packets[0] + v.packets[0], sum.packets[1] + v.packets[1]],
                     bytes: [sum.bytes[0] + v.bytes[0], sum.bytes[1] + v.bytes[1]], doubleMarked: sum.doubleMarked + v.doubleMarked)
        }
    }

    @Test func hopByHopOptionIsDecoded() throws {
        let hbh = ExtPacket.optionsHeader(nextHeader: 17, options: Self.option(flow: 0xabcde, l: true, d: false, reserved: 0x3ff))
        let packet = ExtPacket.udp(firstNextHeader: 0, extensions: hbh)
        let (run, result) = try h.run("am", packet)
        #expect(result.r0 == Self.packed(where: 1, flow: 0xabcde, l: true, d: false))
        #expect(run.data == packet)
        #expect(try counters(flow: 0xabcde) == Counters(packets: [0, 1], bytes: [0, UInt64(packet.count)], doubleMarked: 0))
    }

    @Test func destinationOptionsAfterOtherOptionsAreDecoded() throws {
        // A Pad1, a PadN and an unknown option before the mark.
        let options: [UInt8] = [0, 1, 2, 0, 0, 0x3e, 1, 0xff] + Self.option(flow: 7, l: false, d: true)
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: options)
        let (_, result) = try h.run("am", ExtPacket.udp(firstNextHeader: 60, extensions: doh))
        #expect(result.r0 == Self.packed(where: 2, flow: 7, l: false, d: true))
        #expect(try counters(flow: 7)?.packets == [1, 0])
        #expect(try counters(flow: 7)?.doubleMarked == 1)
    }

    @Test func destinationOptionsBehindHopByHopAndRoutingAreDecoded() throws {
        let hbh = ExtPacket.optionsHeader(nextHeader: 43, options: [1, 2, 0, 0])  // no mark
        let routing: [UInt8] = [60, 2, 4, 0, 0, 0, 0, 0] + Array(repeating: 0, count: 16)  // SRH, one segment
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: Self.option(flow: 0xfffff, l: true, d: true))
        let (_, result) = try h.run("am", ExtPacket.udp(firstNextHeader: 0, extensions: hbh + routing + doh))
        #expect(result.r0 == Self.packed(where: 2, flow: 0xfffff, l: true, d: true))
    }

    @Test func hopByHopWinsWhenBothCarryTheOption() throws {
        let hbh = ExtPacket.optionsHeader(nextHeader: 60, options: Self.option(flow: 1, l: false, d: false))
        let doh = ExtPacket.optionsHeader(nextHeader: 17, options: Self.option(flow: 2, l: true, d: false))
        let (_, result) = try h.run("am", ExtPacket.udp(firstNextHeader: 0, extensions: hbh + doh))
        #expect(result.r0 == Self.packed(where: 1, flow: 1, l: false, d: false))
    }

    @Test func packetsWithoutTheOptionGiveZero() throws {
        let plain = ExtPacket.udp(firstNextHeader: 17, extensions: [])
        #expect(try h.run("am", plain).1.r0 == 0)
        let padOnly = ExtPacket.optionsHeader(nextHeader: 17, options: [1, 4, 0, 0, 0, 0])
        #expect(try h.run("am", ExtPacket.udp(firstNextHeader: 0, extensions: padOnly)).1.r0 == 0)
        // Wrong length: not the option.
        let wrongLength = ExtPacket.optionsHeader(nextHeader: 17, options: [0x12, 2, 0xff, 0xff])
        #expect(try h.run("am", ExtPacket.udp(firstNextHeader: 60, extensions: wrongLength)).1.r0 == 0)
        // Truncated: the header claims more than the packet holds.
        var truncated = ExtPacket.udp(firstNextHeader: 0, extensions: [17, 0, 0x12, 4])
        truncated.removeLast(truncated.count - 58)
        #expect(try h.run("am", truncated).1.r0 == 0)
        // Not IPv6 (ip46_classifier runs chains for IPv4 too).
        var ipv4 = plain
        ipv4[12] = 0x08; ipv4[13] = 0x00
        #expect(try h.run("am", ipv4, loader: "ip46_classifier").1.r0 == 0)
        #expect(try h.map("alt_mark", "alt_mark_flows").keys().isEmpty)
    }
}
