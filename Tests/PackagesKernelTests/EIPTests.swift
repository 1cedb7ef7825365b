import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// eip: mcd() pushes this node's Midpoint Compressed Data on a CPT probe's MCD stack.
@Suite(.serialized) struct EIPTests {
    let h: MeasurementHarness

    init() throws {
        h = try MeasurementHarness(programs: ["mcd"])
        try h.install("chain cpt\n    call mcd\n    exit\n")
    }

    /// The CPT LTV (code 1, type 2) with a 13-entry MCD stack.
    static func cpt(stack: [UInt8]) -> [UInt8] { [0x40 | UInt8(4 + stack.count), 2, 0, 0] + stack }

    /// A probe: Hop-by-Hop header with the EIP option (0x3e) holding LTVs, then UDP.
    static func probe(ltvs: [UInt8]) -> [UInt8] {
        let hbh = ExtPacket.optionsHeader(nextHeader: 17, options: [0x3e, UInt8(ltvs.count)] + ltvs)
        return ExtPacket.udp(firstNextHeader: 0, extensions: hbh)
    }

    static let stack: [UInt8] = (0..<39).map { UInt8($0 + 1) }

    func configure(shift: UInt64 = 20, interface: UInt64 = 0xabc, load: UInt64 = 0x7, clock: Bool = true) throws {
        let map = try h.map("eip", "eip_mcd_cfg")
        // hike writes the offset when the object loads; "no clock" is an offset of 0.
        if clock { try h.hike.syncClocks() } else { try map.update(UInt32(0), UInt64(0)) }
        try map.update(UInt32(1), shift)
        try map.update(UInt32(2), interface)
        try map.update(UInt32(3), load)
    }

    /// Where the stack starts in a probe built by probe(ltvs:) with CPT after `before` bytes of LTVs.
    static func stackOffset(before: Int) -> Int { 14 + 40 + 2 + 2 + before + 4 }

    func expectPushed(_ packet: [UInt8], before: Int, shift: UInt64, id: UInt16, load: UInt16) throws {
        let start = MeasurementClock.nanoseconds(CLOCK_REALTIME)
        let (run, result) = try h.run("cpt", packet)
        let end = MeasurementClock.nanoseconds(CLOCK_REALTIME)
        #expect(result.r0 == 0)
        let at = Self.stackOffset(before: before)
        let out = run.data
        #expect(Bytes.u16(out, at) == id << 4 | load)
        let tts = out[at + 2]
        // The low byte of (time >> shift) between start and end; over 256 steps (shift 0 on a
        // slow machine: a billion) every byte is possible, and the set is not built.
        let (low, high) = (start >> shift, end >> shift)
        if high >= low, high - low < 256 {
            let candidates = Set((low...high).map { UInt8(truncatingIfNeeded: $0) })
            #expect(candidates.contains(tts), "tts \(tts) not in \(candidates)")
        }
        // The old entries moved down by one; the oldest fell off.
        #expect(Array(out[(at + 3)..<(at + 39)]) == Array(packet[at..<(at + 36)]))
        #expect(Array(out[..<at]) == Array(packet[..<at]))
        #expect(Array(out[(at + 39)...]) == Array(packet[(at + 39)...]))
    }

    @Test func mcdIsPushedOnTheStack() throws {
        try configure(shift: 20, interface: 0xabc, load: 7)
        try expectPushed(Self.probe(ltvs: Self.cpt(stack: Self.stack)), before: 0, shift: 20, id: 0xabc, load: 7)
        #expect(try h.perCPUSum("eip", "eip_stats", 0) == 1)
    }

    @Test func otherLTVsBeforeCPTAreSkipped() throws {
        try configure(shift: 0, interface: 0x1fff, load: 0x1f)  // masked to 12 and 4 bits
        let other: [UInt8] = [0x48, 5, 0, 0, 9, 9, 9, 9]  // code 1, type 5, 8 bytes
        try expectPushed(Self.probe(ltvs: other + Self.cpt(stack: Self.stack)), before: 8, shift: 0, id: 0xfff, load: 0xf)
    }

    @Test func probesWithoutCPTAreLeftAlone() throws {
        try configure()
        for packet in [
            ExtPacket.udp(firstNextHeader: 17, extensions: []),
            ExtPacket.udp(firstNextHeader: 0, extensions: ExtPacket.optionsHeader(nextHeader: 17, options: [1, 2, 0, 0])),
            Self.probe(ltvs: [0x48, 5, 0, 0, 9, 9, 9, 9]),
        ] {
            let (run, result) = try h.run("cpt", packet)
            #expect(result.r0 == 1)
            #expect(run.data == packet)
        }
        #expect(try h.perCPUSum("eip", "eip_stats", 1) == 3)
    }

    @Test func aShortStackIsRefused() throws {
        try configure()
        let packet = Self.probe(ltvs: Self.cpt(stack: Array(Self.stack[..<30])))
        let (run, result) = try h.run("cpt", packet)
        #expect(result.r0 == 3)
        #expect(run.data == packet)
    }

    @Test func withoutConfigurationThePacketIsLeftAlone() throws {
        try configure(clock: false)
        let packet = Self.probe(ltvs: Self.cpt(stack: Self.stack))
        let (run, result) = try h.run("cpt", packet)
        #expect(result.r0 == 2)
        #expect(run.data == packet)
        try configure(shift: 23)
        #expect(try h.run("cpt", packet).1.r0 == 2)
    }
}
