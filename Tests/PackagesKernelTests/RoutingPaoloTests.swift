import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing
import Topology

/// routingpaolo's paolo_* programs on crafted frames, each expected output built from the
/// program's definition (docs/packages.md#routingpaolo) and the RFCs' field layouts.
@Suite(.serialized) struct RoutingPaoloTests {
    let dp: PaoloDataplane

    init() throws { dp = try PaoloDataplane(programs: ["paolo_kroute"]) }  // the routingpaolo object

    /// A chain per program: the call, then exit (the loader's default verdict: carried on).
    func installAlone(_ programs: [String]) throws {
        try dp.install(programs.map { "chain \($0)_only\n    call \($0)\n    exit\n" }.joined())
    }

    static func udp(to destination: String, hopLimit: UInt8 = 64) -> [UInt8] {
        PaoloWire.fromH1(PaoloWire.udp6(destination: destination, hopLimit: hopLimit))
    }

    static let ipv4Frame = PaoloWire.fromH1(PaoloWire.ipv4(), type: 0x0800)

    // MARK: paolo_ip6_dst_filter

    @Test func dstFilterLetsOnlyItsDestinationThrough() throws {
        try installAlone(["paolo_ip6_dst_filter"])
        // No ip6_dst[0] yet: aborted.
        let mine = Self.udp(to: "fc00:2::2")
        #expect(try dp.run("paolo_ip6_dst_filter_only", mine).verdict == PaoloDataplane.aborted)
        try dp.setAddress("ip6_dst", key: 0, "fc00:2::2")

        var out = try dp.run("paolo_ip6_dst_filter_only", mine)
        #expect(out.verdict == PaoloDataplane.continued)
        #expect(out.r0 == 0)
        #expect(out.data == mine)
        let other = Self.udp(to: "fc00:2::3")
        out = try dp.run("paolo_ip6_dst_filter_only", other)
        #expect(out.verdict == PaoloDataplane.pass)
        #expect(out.data == other)
        // Hop limit 1 goes to the kernel before the address is looked at.
        out = try dp.run("paolo_ip6_dst_filter_only", Self.udp(to: "fc00:2::2", hopLimit: 1))
        #expect(out.verdict == PaoloDataplane.pass)
        // Not IPv6: the original's unreadable header, aborted.
        #expect(try dp.run("paolo_ip6_dst_filter_only", Self.ipv4Frame).verdict == PaoloDataplane.aborted)

        let len = UInt64(mine.count)
        #expect(try dp.paoloStat(.dstFilter, .noEntry) == PacketCounter(packets: 1, bytes: len))
        #expect(try dp.paoloStat(.dstFilter, .done) == PacketCounter(packets: 1, bytes: len))
        #expect(try dp.paoloStat(.dstFilter, .notTaken) == PacketCounter(packets: 1, bytes: len))
        #expect(try dp.paoloStat(.dstFilter, .hopLimit) == PacketCounter(packets: 1, bytes: len))
        #expect(try dp.paoloStat(.dstFilter, .notIPv6) == PacketCounter(packets: 1, bytes: UInt64(Self.ipv4Frame.count)))
    }

    // MARK: paolo_chaddr

    @Test func chaddrWritesTheDestinationOfKey2() throws {
        try installAlone(["paolo_chaddr"])
        let packet = Self.udp(to: "fc00:2::2")
        // The key is a host-order u16: big-endian 2 (bytes 00 02) is not it.
        try dp.h.map("routingpaolo", "chaddr").update(key: [0, 2], value: PacketBuilder.address("fc00:7::7"))
        #expect(try dp.run("paolo_chaddr_only", packet).verdict == PaoloDataplane.aborted)
        try dp.setAddress("chaddr", key: 2, "fc00:9::9")

        let out = try dp.run("paolo_chaddr_only", packet)
        #expect(out.verdict == PaoloDataplane.continued)
        #expect(out.r0 == 0)
        // Only the destination changes: the UDP checksum is not fixed, as in the original.
        #expect(out.data == PaoloWire.fromH1(PaoloWire.withDestination(Array(packet[14...]), "fc00:9::9")))
        #expect(try dp.run("paolo_chaddr_only", Self.udp(to: "fc00:2::2", hopLimit: 0)).verdict == PaoloDataplane.pass)
        #expect(try dp.paoloStat(.chaddr, .done).packets == 1)
        #expect(try dp.paoloStat(.chaddr, .noEntry).packets == 1)
        #expect(try dp.paoloStat(.chaddr, .hopLimit).packets == 1)
    }

    // MARK: paolo_adv_usid

    @Test func advUSIDShiftsTheNextUSIDIn() throws {
        try installAlone(["paolo_adv_usid"])
        // Block fcbb:bbbb (32 bits), 16-bit uSIDs: the active one (0100) goes, the rest move up.
        for (before, after) in [("fcbb:bbbb:100:200:300::", "fcbb:bbbb:200:300::"),
                                ("fcbb:bbbb:100:200:300:400:500:600", "fcbb:bbbb:200:300:400:500:600:0"),
                                ("fcbb:bbbb:100:0:0:0:0:1", "fcbb:bbbb::1:0")] {
            let packet = Self.udp(to: before)
            let out = try dp.run("paolo_adv_usid_only", packet)
            #expect(out.verdict == PaoloDataplane.continued, "\(before)")
            #expect(out.r0 == 0)
            // No hop-limit decrement, nothing else touched.
            #expect(out.data == PaoloWire.fromH1(PaoloWire.withDestination(Array(packet[14...]), after)), "\(before)")
        }
        // The last uSID of the container (bytes 6–15 zero): dropped, as XDP_ABORTED.
        #expect(try dp.run("paolo_adv_usid_only", Self.udp(to: "fcbb:bbbb:100::")).verdict == PaoloDataplane.aborted)
        #expect(try dp.run("paolo_adv_usid_only", Self.udp(to: "fcbb:bbbb:100:200::", hopLimit: 1)).verdict == PaoloDataplane.pass)
        #expect(try dp.paoloStat(.advUSID, .done).packets == 3)
        #expect(try dp.paoloStat(.advUSID, .notTaken).packets == 1)
        #expect(try dp.paoloStat(.advUSID, .hopLimit).packets == 1)
    }

    // MARK: paolo_seg6_end, paolo_seg6_end2

    /// An SRv6 packet with three segments, SRH order [d, b, e]: e is the first visited.
    static func endPacket(segmentsLeft: UInt8, destination: String, routingType: UInt8 = 4, before: [UInt8] = []) -> [UInt8] {
        let inner = PaoloWire.udp6(destination: "fc00:9::9")
        let srh = PaoloWire.srh(nextHeader: 41, segmentsLeft: segmentsLeft, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::1"],
                                routingType: routingType)
        return PaoloWire.fromH1(PaoloWire.srv6(to: destination, hopLimit: 50, extensions: before + srh,
                                               firstNextHeader: before.isEmpty ? 43 : 60, inner: inner))
    }

    /// The frame with Segments Left and the destination rewritten (the SRH at srhOffset).
    static func advanced(_ frame: [UInt8], srhOffset: Int = 54, segmentsLeft: UInt8, destination: String) -> [UInt8] {
        var out = frame
        out[srhOffset + 3] = segmentsLeft
        out.replaceSubrange(38..<54, with: PacketBuilder.address(destination))
        return out
    }

    @Test func seg6EndTakesSegmentListOfTheNewSegmentsLeft() throws {
        try installAlone(["paolo_seg6_end", "paolo_seg6_end2"])
        for program in ["paolo_seg6_end", "paolo_seg6_end2"] {
            // SL 2 → 1: DA = Segment List[1] (the original copied Segment List[0], fc00:d::4).
            let two = Self.endPacket(segmentsLeft: 2, destination: "fc00:e::1")
            var out = try dp.run("\(program)_only", two)
            #expect(out.verdict == PaoloDataplane.continued, "\(program)")
            #expect(out.r0 == 0)
            #expect(out.data == Self.advanced(two, segmentsLeft: 1, destination: "fc00:b::2"), "\(program)")
            // SL 1 → 0: DA = Segment List[0].
            let one = Self.endPacket(segmentsLeft: 1, destination: "fc00:b::2")
            out = try dp.run("\(program)_only", one)
            #expect(out.data == Self.advanced(one, segmentsLeft: 0, destination: "fc00:d::4"), "\(program)")
            // The SRH after a Destination Options header is found too.
            let behind = Self.endPacket(segmentsLeft: 2, destination: "fc00:e::1", before: PaoloWire.destinationOptions(nextHeader: 43))
            out = try dp.run("\(program)_only", behind)
            #expect(out.verdict == PaoloDataplane.continued, "\(program)")
            #expect(out.data == Self.advanced(behind, srhOffset: 62, segmentsLeft: 1, destination: "fc00:b::2"), "\(program)")
        }
        #expect(try dp.paoloStat(.seg6End, .done).packets == 3)
        #expect(try dp.paoloStat(.seg6End2, .done).packets == 3)
    }

    @Test func seg6EndAbortsWithoutASegmentToGoTo() throws {
        try installAlone(["paolo_seg6_end"])
        let cases: [(String, [UInt8], PaoloOutcome)] = [
            ("SL 0", Self.endPacket(segmentsLeft: 0, destination: "fc00:d::4"), .segmentsLeft),
            ("SL past the list", Self.endPacket(segmentsLeft: 5, destination: "fc00:e::1"), .badSRH),
            ("Routing type 2", Self.endPacket(segmentsLeft: 2, destination: "fc00:e::1", routingType: 2), .badSRH),
            ("no SRH", Self.udp(to: "fc00:e::1"), .badSRH),
        ]
        for (what, frame, outcome) in cases {
            let before = try dp.paoloStat(.seg6End, outcome).packets
            #expect(try dp.run("paolo_seg6_end_only", frame).verdict == PaoloDataplane.aborted, "\(what)")
            #expect(try dp.paoloStat(.seg6End, outcome).packets == before + 1, "\(what)")
        }
        #expect(try dp.run("paolo_seg6_end_only", Self.endPacket(segmentsLeft: 2, destination: "fc00:e::1").withHopLimit(1)).verdict
                == PaoloDataplane.pass)
    }

    @Test func theSRHIsLookedForAmongTheFirstFourExtensionHeaders() throws {
        try installAlone(["paolo_seg6_end"])
        let doh = PaoloWire.destinationOptions(nextHeader: 60), beforeSRH = PaoloWire.destinationOptions(nextHeader: 43)
        // Three Destination Options headers, then the SRH: the fourth header, found.
        let fourth = Self.endPacket(segmentsLeft: 2, destination: "fc00:e::1", before: doh + doh + beforeSRH)
        let out = try dp.run("paolo_seg6_end_only", fourth)
        #expect(out.verdict == PaoloDataplane.continued)
        #expect(out.data == Self.advanced(fourth, srhOffset: 54 + 24, segmentsLeft: 1, destination: "fc00:b::2"))
        // The SRH as the fifth header is not looked for.
        let fifth = Self.endPacket(segmentsLeft: 2, destination: "fc00:e::1", before: doh + doh + doh + beforeSRH)
        #expect(try dp.run("paolo_seg6_end_only", fifth).verdict == PaoloDataplane.aborted)
        // A header in front of the SRH cut inside its first two bytes.
        let cut = Array(Self.endPacket(segmentsLeft: 2, destination: "fc00:e::1", before: beforeSRH)[..<(14 + 40 + 1)])
        #expect(try dp.run("paolo_seg6_end_only", cut).verdict == PaoloDataplane.aborted)
        #expect(try dp.paoloStat(.seg6End, .done).packets == 1)
        #expect(try dp.paoloStat(.seg6End, .badSRH).packets == 2)
    }

    // MARK: paolo_seg6_decap, paolo_seg6_decap2

    @Test func seg6DecapLeavesTheInnerPacketBehindTheEthernetHeader() throws {
        try installAlone(["paolo_seg6_decap", "paolo_seg6_decap2"])
        let inner6 = PaoloWire.udp6(destination: "fc00:9::9", hopLimit: 33)
        let inner4 = PaoloWire.ipv4(ttl: 33)
        let srh6 = PaoloWire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:d::4", "fc00:b::2"])
        let srh4 = PaoloWire.srh(nextHeader: 4, segmentsLeft: 0, segments: ["fc00:d::4"])
        let v6 = PaoloWire.fromH1(PaoloWire.srv6(to: "fc00:d::4", extensions: srh6, firstNextHeader: 43, inner: inner6))
        let v4 = PaoloWire.fromH1(PaoloWire.srv6(to: "fc00:d::4", extensions: srh4, firstNextHeader: 43, inner: inner4))
        for program in ["paolo_seg6_decap", "paolo_seg6_decap2"] {
            var out = try dp.run("\(program)_only", v6)
            #expect(out.verdict == PaoloDataplane.continued, "\(program)")
            #expect(out.r0 == 0)
            #expect(out.data == PaoloWire.fromH1(inner6), "\(program)")
            out = try dp.run("\(program)_only", v4)
            #expect(out.verdict == PaoloDataplane.continued, "\(program)")
            #expect(out.data == PaoloWire.fromH1(inner4, type: 0x0800), "\(program)")
        }
        // paolo_seg6_decap finds the SRH behind other extension headers and removes them all.
        let behind = PaoloWire.fromH1(PaoloWire.srv6(to: "fc00:d::4", extensions: PaoloWire.destinationOptions(nextHeader: 43) + srh6,
                                                     firstNextHeader: 60, inner: inner6))
        #expect(try dp.run("paolo_seg6_decap_only", behind).data == PaoloWire.fromH1(inner6))
        #expect(try dp.paoloStat(.seg6Decap, .done).packets == 3)
        #expect(try dp.paoloStat(.seg6Decap2, .done).packets == 2)
    }

    @Test func seg6DecapRefusesWhatItCannotDecapsulate() throws {
        try installAlone(["paolo_seg6_decap", "paolo_seg6_decap2"])
        let inner4 = PaoloWire.ipv4()
        func frame(_ srh: [UInt8]?, next: UInt8 = 41, inner: [UInt8] = PaoloWire.udp6(destination: "fc00:9::9")) -> [UInt8] {
            PaoloWire.fromH1(PaoloWire.srv6(to: "fc00:d::4", extensions: srh ?? [], firstNextHeader: srh == nil ? next : 43, inner: inner))
        }
        let cases: [(String, [UInt8], PaoloOutcome, PaoloOutcome)] = [
            // The original's next header for IPv4 (0) is not IPv4.
            ("SRH next header 0", frame(PaoloWire.srh(nextHeader: 0, segmentsLeft: 0, segments: ["fc00:d::4"]), inner: inner4), .other, .other),
            ("SL 1", frame(PaoloWire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:d::4", "fc00:b::2"])), .segmentsLeft,
             .segmentsLeft),
            ("no SRH, UDP", Self.udp(to: "fc00:d::4"), .badSRH, .other),
        ]
        for (what, packet, decap, decap2) in cases {
            for (program, row, outcome) in [("paolo_seg6_decap", PaoloProgram.seg6Decap, decap), ("paolo_seg6_decap2", .seg6Decap2, decap2)] {
                let before = try dp.paoloStat(row, outcome).packets
                #expect(try dp.run("\(program)_only", packet).verdict == PaoloDataplane.aborted, "\(program): \(what)")
                #expect(try dp.paoloStat(row, outcome).packets == before + 1, "\(program): \(what)")
            }
        }
        #expect(try dp.paoloStat(.seg6Decap, .done).packets == 0)
        #expect(try dp.paoloStat(.seg6Decap2, .done).packets == 0)
    }

    @Test func seg6Decap2TakesPacketsWithoutSRHAndEthernetFrames() throws {
        try installAlone(["paolo_seg6_decap2", "paolo_seg6_decap"])
        let inner4 = PaoloWire.ipv4()
        let v4 = PaoloWire.fromH1(PaoloWire.srv6(to: "fc00:d::4", extensions: [], firstNextHeader: 4, inner: inner4))
        var out = try dp.run("paolo_seg6_decap2_only", v4)
        #expect(out.verdict == PaoloDataplane.continued)
        #expect(out.data == PaoloWire.fromH1(inner4, type: 0x0800))
        // paolo_seg6_decap needs an SRH.
        #expect(try dp.run("paolo_seg6_decap_only", v4).verdict == PaoloDataplane.aborted)

        // Next header 143: the inner Ethernet frame, its own header first, becomes the frame.
        let innerFrame = PacketBuilder.ethernet(destination: [2, 0, 0, 0, 9, 9], source: [2, 0, 0, 0, 8, 8], etherType: 0x86dd)
            + PaoloWire.udp6(source: "fc00:8::8", destination: "fc00:9::9")
        let srhs: [(what: String, srh: [UInt8]?)] = [
            ("without an SRH", nil), ("behind an SRH", PaoloWire.srh(nextHeader: 143, segmentsLeft: 0, segments: ["fc00:d::4"])),
        ]
        for (what, srh) in srhs {
            let l2 = PaoloWire.fromH1(PaoloWire.srv6(to: "fc00:d::4", extensions: srh ?? [], firstNextHeader: srh == nil ? 143 : 43,
                                                     inner: innerFrame))
            out = try dp.run("paolo_seg6_decap2_only", l2)
            #expect(out.verdict == PaoloDataplane.continued, "\(what)")
            #expect(out.r0 == 0, "\(what)")
            #expect(out.data == innerFrame, "\(what)")
        }
        #expect(try dp.paoloStat(.seg6Decap2, .done).packets == 3)
    }

    // MARK: paolo_kroute, and chains of the programs

    @Test func krouteForwardsDropsOrPassesAsTheOriginal() throws {
        let net = try PaoloRouter()
        defer { net.topology.destroy() }
        for (kind, prefix) in [("blackhole", "fc00:66::/64"), ("unreachable", "fc00:67::/64"), ("prohibit", "fc00:68::/64")] {
            _ = try net.topology.ip(["-6", "route", "add", kind, prefix], in: net.r)
        }
        try installAlone(["paolo_kroute"])
        func run(_ frame: [UInt8]) throws -> PaoloDataplane.Outcome {
            try net.r.run { try dp.run("paolo_kroute_only", frame, ingress: net.ingress) }
        }
        let packet = Self.udp(to: "fc00:2::2")
        var out = try run(packet)
        #expect(out.verdict == PaoloDataplane.redirect)
        #expect(out.data == PaoloWire.toH2(PaoloWire.withDestination(Array(packet[14...]), "fc00:2::2", hopLimit: 63)))

        // Blackhole, unreachable and prohibited routes: dropped (ip6_kroute leaves them to the kernel).
        for destination in ["fc00:66::1", "fc00:67::1", "fc00:68::1"] {
            #expect(try run(Self.udp(to: destination)).verdict == PaoloDataplane.drop, "\(destination)")
        }
        // The kernel's, untouched: unresolved neighbour, local, no route, hop limit 1.
        for (what, frame) in [("unresolved neighbour", Self.udp(to: "fc00:2::77")), ("local", Self.udp(to: "fc00:2::100")),
                              ("no route", Self.udp(to: "fc00:9::1")), ("hop limit 1", Self.udp(to: "fc00:2::2", hopLimit: 1))] {
            out = try run(frame)
            #expect(out.verdict == PaoloDataplane.pass, "\(what)")
            #expect(out.data == frame, "\(what)")
        }
        #expect(try dp.paoloStat(.kroute, .done) == PacketCounter(packets: 1, bytes: UInt64(packet.count)))
        #expect(try dp.paoloStat(.kroute, .other).packets == 3)
        #expect(try dp.paoloStat(.kroute, .notTaken).packets == 3)
        #expect(try dp.paoloStat(.kroute, .hopLimit).packets == 1)
        #expect(try dp.hike.catalog.entry("paolo_kroute").isFinal)
    }

    @Test func chainsOfTheProgramsForward() throws {
        let net = try PaoloRouter()
        defer { net.topology.destroy() }
        try dp.setAddress("ip6_dst", key: 0, "fc00:1::100")
        try dp.setAddress("chaddr", key: 2, "fc00:2::2")
        try dp.install("""
            chain rewrite
                call paolo_ip6_dst_filter
                call paolo_chaddr
                call paolo_kroute
            chain end
                call paolo_seg6_end
                call paolo_kroute
            chain decap
                call paolo_seg6_decap2
                call paolo_kroute
            """)
        func run(_ chain: String, _ frame: [UInt8]) throws -> PaoloDataplane.Outcome {
            try net.r.run { try dp.run(chain, frame, ingress: net.ingress) }
        }
        // Filter (to the router's address) → new destination h2 → forwarded.
        let toRouter = Self.udp(to: "fc00:1::100")
        var out = try run("rewrite", toRouter)
        #expect(out.verdict == PaoloDataplane.redirect)
        #expect(out.data == PaoloWire.toH2(PaoloWire.withDestination(Array(toRouter[14...]), "fc00:2::2", hopLimit: 63)))
        #expect(try run("rewrite", Self.udp(to: "fc00:1::101")).verdict == PaoloDataplane.pass)

        // End: the next segment is h2, forwarded with hop limit − 1.
        let inner = PaoloWire.udp6(destination: "fc00:9::9")
        let srh = PaoloWire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:2::2", "fc00:1::100"])
        let sr = PaoloWire.srv6(to: "fc00:1::100", hopLimit: 50, extensions: srh, firstNextHeader: 43, inner: inner)
        out = try run("end", PaoloWire.fromH1(sr))
        var expected = PaoloWire.withDestination(sr, "fc00:2::2", hopLimit: 49)
        expected[40 + 3] = 1
        #expect(out.verdict == PaoloDataplane.redirect)
        #expect(out.data == PaoloWire.toH2(expected))

        // Decapsulation: the inner packet to h2 is forwarded.
        let toH2 = PaoloWire.udp6(destination: "fc00:2::2", hopLimit: 20)
        let outer = PaoloWire.srv6(to: "fc00:1::100", extensions: PaoloWire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:1::100"]),
                                   firstNextHeader: 43, inner: toH2)
        out = try run("decap", PaoloWire.fromH1(outer))
        #expect(out.verdict == PaoloDataplane.redirect)
        var forwarded = toH2
        forwarded[7] = 19
        #expect(out.data == PaoloWire.toH2(forwarded))
    }
}

private extension Array where Element == UInt8 {
    /// An Ethernet + IPv6 frame with another hop limit.
    func withHopLimit(_ hopLimit: UInt8) -> [UInt8] {
        var out = self
        out[14 + 7] = hopLimit
        return out
    }
}
