import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing
import Topology

/// Every srv6 behaviour and flavour on crafted packets, test-run inside a router namespace so
/// bpf_fib_lookup sees real routes and neighbours. Each expected frame is built here from the
/// RFC rules (RFC 8754, RFC 8986, RFC 9800) and the kernel's forwarding (hop limit − 1, the
/// next hop's MAC), never copied from what a program produced.
@Suite(.serialized) struct BehaviourTests {
    init() throws { try KernelTest.prepare() }

    static let redirect = ABI.xdpRedirect, pass = ABI.xdpPass, drop = ABI.xdpDrop

    /// An SRv6 packet from h1: outer IPv6 to the active SID with an SRH (or none), then inner.
    static func srv6(to da: String, hopLimit: UInt8 = 64, srh: [UInt8]?, inner: [UInt8], innerProto: UInt8 = 41,
                     trafficClass: UInt8 = 0, flowLabel: UInt32 = 0) -> [UInt8] {
        let ext = srh ?? []
        return Wire.ipv6(trafficClass: trafficClass, flowLabel: flowLabel, payloadLength: ext.count + inner.count,
                         nextHeader: srh == nil ? innerProto : 43, hopLimit: hopLimit, source: "fc00:1::1", destination: da)
            + ext + inner
    }

    /// An outer IPv6 header rewritten as the endpoint must: new DA, hop limit − 1.
    static func rewritten(_ l3: [UInt8], da: String, hopLimit: UInt8) -> [UInt8] {
        var out = l3
        out.replaceSubrange(24..<40, with: Wire.addr(da))
        out[7] = hopLimit
        return out
    }

    // MARK: Headends

    @Test func hEncapsOfIPv6CopiesTrafficClassFlowLabelAndHopLimit() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setPolicy(3, SRv6Policy(mode: SRv6ABI.encaps, segments: ["fc00:b::2", "fc00:c::3", "fc00:d::4"],
                                       source: "fc00:1::100", flags: 0, tag: 0x1234))
        try dp.chain("encap", [("srv6_h_encaps", 3), ("ip6_kroute", nil)])
        try dp.chain("encap_only", [("srv6_h_encaps", 3), ("hike_pass", nil)])

        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9", hopLimit: 37, trafficClass: 0xb8, flowLabel: 0xabcde)
        // RFC 8986 §5.1 H.Encaps with the kernel's defaults: SRH with the list reversed,
        // SL = Last Entry = n − 1, DA = the first SID; the outer header inherits traffic
        // class, flow label and hop limit (seg6_flowlabel = 0); ip6_kroute then forwards it.
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:c::3", "fc00:b::2"], tag: 0x1234)
        let outer = Wire.ipv6(trafficClass: 0xb8, flowLabel: 0xabcde, payloadLength: srh.count + inner.count, nextHeader: 43,
                              hopLimit: 37, source: "fc00:1::100", destination: "fc00:b::2")

        let only = try net.r.run { try dp.run("encap_only", RouterTopology.fromH1(inner), ingress: net.ingress) }
        #expect(only.verdict == Self.pass)
        #expect(only.data == RouterTopology.fromH1(outer + srh + inner))

        let out = try net.r.run { try dp.run("encap", RouterTopology.fromH1(inner), ingress: net.ingress) }
        #expect(out.verdict == Self.redirect)
        #expect(out.data == RouterTopology.toH2(Self.rewritten(outer, da: "fc00:b::2", hopLimit: 36) + srh + inner))
        #expect(try dp.policyStats(3) == [2, UInt64(2 * inner.count), 0])
    }

    @Test func hEncapsOfIPv4UsesThePolicyHopLimitAndTrimsPadding() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let dp = try SRv6Dataplane()
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.encaps, segments: ["fc00:b::2"], source: "fc00:1::100"))
        try dp.setPolicy(1, SRv6Policy(mode: SRv6ABI.encaps, segments: ["fc00:b::2"], source: "fc00:1::100", hopLimit: 9))
        try dp.chain("p0", [("srv6_h_encaps", 0), ("hike_pass", nil)])
        try dp.chain("p1", [("srv6_h_encaps", 1), ("hike_pass", nil)])
        // A small IPv4 packet padded to Ethernet's 60-byte minimum: the padding is not part of it.
        let inner = Wire.ipv4(tos: 0x10, ttl: 7, source: "10.1.0.1", destination: "10.9.0.9", payload: [1, 2, 3, 4, 5, 6, 7, 8])
        let frame = RouterTopology.fromH1(inner, type: 0x0800) + [UInt8](repeating: 0, count: 60 - 14 - inner.count)
        for (chain, hopLimit) in [("p0", UInt8(64)), ("p1", UInt8(9))] {
            let out = try net.r.run { try dp.run(chain, frame, ingress: net.ingress) }
            let srh = Wire.srh(nextHeader: 4, segmentsLeft: 0, segments: ["fc00:b::2"])
            let outer = Wire.ipv6(payloadLength: srh.count + inner.count, nextHeader: 43, hopLimit: hopLimit,
                                  source: "fc00:1::100", destination: "fc00:b::2")
            #expect(out.verdict == Self.pass, "\(chain)")
            #expect(out.data == RouterTopology.fromH1(outer + srh + inner), "\(chain)")
        }
    }

    // MARK: Endpoints

    @Test func endAdvancesToTheNextSegment() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.end))
        try dp.chain("end", [("srv6_end", 1)])

        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9")
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::1"])
        let packet = Self.srv6(to: "fc00:e::1", hopLimit: 50, srh: srh, inner: inner, trafficClass: 3, flowLabel: 77)
        let out = try net.r.run { try dp.run("end", RouterTopology.fromH1(packet), ingress: net.ingress) }
        // RFC 8754 §4.3.1.1: SL − 1, DA = Segment List[SL], hop limit − 1.
        var expected = Self.rewritten(packet, da: "fc00:b::2", hopLimit: 49)
        expected[40 + 3] = 1
        #expect(out.verdict == Self.redirect)
        #expect(out.reason == .ok)
        #expect(out.data == RouterTopology.toH2(expected))
        #expect(try dp.sidStats(1) == [1, UInt64(packet.count), 0])
        #expect(try dp.reasonCount(.ok) == 1)
    }

    @Test func endDT6DecapsulatesAndLooksUpTheSIDsTable() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:d::/64", "via", "fc00:2::2", "dev", "veth2", "table", "100"])
        let dp = try SRv6Dataplane()
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.endDT6, table: 100))
        try dp.chain("dt6", [("srv6_end_dt6", 2)])

        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:d::5", hopLimit: 10)
        var expected = inner
        expected[7] = 9  // the inner packet is forwarded: hop limit − 1
        // With an SRH at SL 0, and without an SRH (plain IPv6-in-IPv6): both decapsulate.
        for srh in [Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:e::6"]), nil] {
            let packet = Self.srv6(to: "fc00:e::6", srh: srh, inner: inner)
            let out = try net.r.run { try dp.run("dt6", RouterTopology.fromH1(packet), ingress: net.ingress) }
            #expect(out.verdict == Self.redirect)
            #expect(out.reason == .ok)
            #expect(out.data == RouterTopology.toH2(expected))
        }
        // The main table knows fc00:2::/64, table 100 does not: the lookup was in table 100, which
        // does not forward it (bpf_fib_lookup's NOT_FWDED), and the packet goes to the kernel untouched.
        let other = Self.srv6(to: "fc00:e::6", srh: nil, inner: Wire.udp6(source: "fc00:1::1", destination: "fc00:2::2"))
        let miss = try net.r.run { try dp.run("dt6", RouterTopology.fromH1(other), ingress: net.ingress) }
        #expect(miss.verdict == Self.pass)
        #expect(miss.reason == .local)
        #expect(miss.data == RouterTopology.fromH1(other))
        #expect(try dp.sidStats(2)[0] == 2)
        #expect(try dp.sidStats(2)[2] == 0, "a packet the table does not forward is the kernel's to handle, not an error")
    }

    @Test func hEncapsRedLeavesTheFirstSIDOutOfTheSRH() throws {
        let dp = try SRv6Dataplane()
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.encapsRed, segments: ["fc00:b::2", "fc00:c::3", "fc00:d::4"],
                                       source: "fc00:1::100"))
        try dp.setPolicy(1, SRv6Policy(mode: SRv6ABI.encapsRed, segments: ["fc00:b::2"], source: "fc00:1::100"))
        try dp.chain("red3", [("srv6_h_encaps_red", 0), ("hike_pass", nil)])
        try dp.chain("red1", [("srv6_h_encaps_red", 1), ("hike_pass", nil)])
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9", hopLimit: 12)
        // RFC 8986 §5.2: the SRH omits the first SID; SL = n − 1, Last Entry = n − 2.
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:c::3"])
        var out = try dp.run("red3", RouterTopology.fromH1(inner))
        #expect(out.reason == .ok)
        #expect(out.data == RouterTopology.fromH1(Wire.ipv6(payloadLength: srh.count + inner.count, nextHeader: 43, hopLimit: 12,
                                                            source: "fc00:1::100", destination: "fc00:b::2") + srh + inner))
        // One SID: no SRH at all, the outer header names IPv6 directly.
        out = try dp.run("red1", RouterTopology.fromH1(inner))
        #expect(out.data == RouterTopology.fromH1(Wire.ipv6(payloadLength: inner.count, nextHeader: 41, hopLimit: 12,
                                                            source: "fc00:1::100", destination: "fc00:b::2") + inner))
    }

    @Test func hInsertPutsAnSRHAfterTheIPv6Header() throws {
        let dp = try SRv6Dataplane()
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.insert, segments: ["fc00:b::2", "fc00:c::3"], source: "fc00:1::100",
                                       flags: 0x20, tag: 7))
        try dp.setPolicy(1, SRv6Policy(mode: SRv6ABI.insertRed, segments: ["fc00:b::2", "fc00:c::3"], source: "fc00:1::100"))
        try dp.chain("insert", [("srv6_h_insert", 0), ("hike_pass", nil)])
        try dp.chain("insert_red", [("srv6_h_insert_red", 1), ("hike_pass", nil)])
        let packet = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9", hopLimit: 20, trafficClass: 0x10, flowLabel: 5)
        let udp = Array(packet[40...])
        // H.Insert (draft-filsfils-spring-srv6-net-pgm-insertion) as the kernel's inline mode:
        // Segment List[0] is the original destination, SL = Last Entry = n, DA = the first SID;
        // traffic class, flow label, hop limit and the source stay; the upper layer (and its
        // checksum over the final destination) is untouched. .Red leaves the first SID out.
        for (chain, segments, flags, tag) in [("insert", ["fc00:9::9", "fc00:c::3", "fc00:b::2"], UInt8(0x20), UInt16(7)),
                                              ("insert_red", ["fc00:9::9", "fc00:c::3"], UInt8(0), UInt16(0))] {
            let srh = Wire.srh(nextHeader: 17, segmentsLeft: 2, segments: segments, flags: flags, tag: tag)
            let out = try dp.run(chain, RouterTopology.fromH1(packet))
            #expect(out.reason == .ok, "\(chain)")
            #expect(out.data == RouterTopology.fromH1(Wire.ipv6(trafficClass: 0x10, flowLabel: 5, payloadLength: srh.count + udp.count,
                                                                nextHeader: 43, hopLimit: 20, source: "fc00:1::1",
                                                                destination: "fc00:b::2") + srh + udp), "\(chain)")
        }
        // H.Insert takes IPv6 only: IPv4 goes to the kernel untouched and the chain ends.
        let v4 = RouterTopology.fromH1(Wire.ipv4(source: "10.1.0.1", destination: "10.9.0.9", payload: Array(repeating: 1, count: 26)),
                                       type: 0x0800)
        let out = try dp.run("insert", v4)
        #expect(out.verdict == Self.pass)
        #expect(out.reason == .notIP)
        #expect(out.data == v4)
    }

    @Test func hEncapsL2CarriesTheWholeFrame() throws {
        let dp = try SRv6Dataplane()
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.encapsL2, segments: ["fc00:b::2", "fc00:c::3"], source: "fc00:1::100"))
        try dp.chain("l2", [("srv6_h_encaps_l2", 0), ("hike_pass", nil)])
        let frame = RouterTopology.fromH1(Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9", hopLimit: 5, flowLabel: 9))
        // Next header 143 (Ethernet); like the kernel's l2encap, an IPv6 frame lends the outer
        // header its traffic class, flow label and hop limit.
        let srh = Wire.srh(nextHeader: 143, segmentsLeft: 1, segments: ["fc00:c::3", "fc00:b::2"])
        let outer = Wire.ipv6(flowLabel: 9, payloadLength: srh.count + frame.count, nextHeader: 43, hopLimit: 5,
                              source: "fc00:1::100", destination: "fc00:b::2")
        var out = try dp.run("l2", frame)
        #expect(out.reason == .ok)
        #expect(out.data == Array(frame.prefix(14)) + outer + srh + frame)
        // An IPv4 frame lends nothing: flow label 0 and the policy's (default) hop limit.
        let v4 = RouterTopology.fromH1(Wire.ipv4(ttl: 3, source: "10.1.0.1", destination: "10.9.0.9", payload: Array(repeating: 0xa5, count: 26)),
                                       type: 0x0800)
        out = try dp.run("l2", v4)
        let outer4 = Wire.ipv6(payloadLength: srh.count + v4.count, nextHeader: 43, hopLimit: 64, source: "fc00:1::100",
                               destination: "fc00:b::2")
        #expect(out.reason == .ok)
        #expect(out.data == Array(v4.prefix(12)) + [0x86, 0xdd] + outer4 + srh + v4)
    }

    @Test func endXSendsToTheAdjacencyWhateverTheRoutes() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.topology.ip(["-6", "neigh", "add", "fe80::2", "lladdr", RouterTopology.h2MAC, "dev", "veth2", "nud", "permanent"], in: net.r)
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.endX, nh6: "fc00:2::2"))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endX, oif: UInt32(net.egress), nh6: "fc00:2::2"))
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.endX, oif: UInt32(net.egress), nh6: "fe80::2"))
        try dp.chain("x", [("srv6_end_x", 0)])
        try dp.chain("x_oif", [("srv6_end_x", 1)])
        try dp.chain("x_linklocal", [("srv6_end_x", 2)])
        // The next SID has no route on this node: End.X forwards to its adjacency anyway.
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:77::1", "fc00:e::1"])
        let packet = Self.srv6(to: "fc00:e::1", srh: srh, inner: Wire.udp6(source: "fc00:1::1", destination: "fc00:77::1"))
        var expected = Self.rewritten(packet, da: "fc00:77::1", hopLimit: 63)
        expected[43] = 0
        for chain in ["x", "x_oif"] {
            let out = try net.r.run { try dp.run(chain, RouterTopology.fromH1(packet), ingress: net.ingress) }
            #expect(out.verdict == Self.redirect, "\(chain)")
            #expect(out.data == RouterTopology.toH2(expected), "\(chain)")
        }
        // bpf_fib_lookup never resolves link-local next hops: such an adjacency is the kernel's.
        let out = try net.r.run { try dp.run("x_linklocal", RouterTopology.fromH1(packet), ingress: net.ingress) }
        #expect(out.verdict == Self.pass)
        #expect(out.reason == .local)
        #expect(out.data == RouterTopology.fromH1(packet))
    }

    @Test func endTLooksUpTheNextSIDInItsTable() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2", "table", "100"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.endT, table: 100))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.end))
        try dp.chain("end_t", [("srv6_end_t", 0)])
        try dp.chain("end", [("srv6_end", 1)])
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:b::2", "fc00:e::1"])
        let packet = Self.srv6(to: "fc00:e::1", srh: srh, inner: Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2"))
        var expected = Self.rewritten(packet, da: "fc00:b::2", hopLimit: 63)
        expected[43] = 0
        let out = try net.r.run { try dp.run("end_t", RouterTopology.fromH1(packet), ingress: net.ingress) }
        #expect(out.verdict == Self.redirect)
        #expect(out.data == RouterTopology.toH2(expected))
        // End looks in the main table, which has no route: the kernel's, untouched.
        let plain = try net.r.run { try dp.run("end", RouterTopology.fromH1(packet), ingress: net.ingress) }
        #expect(plain.verdict == Self.pass)
        #expect(plain.data == RouterTopology.fromH1(packet))
    }

    @Test func pspPopsTheSRHAtThePenultimateSegment() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.psp))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endX, flavours: SRv6ABI.psp, nh6: "fc00:2::2"))
        try dp.chain("end_psp", [("srv6_end", 0)])
        try dp.chain("end_x_psp", [("srv6_end_x", 1)])
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2")
        // SL 1 → 0: RFC 8986 §4.16.1, the SRH goes; the IPv6 header names the SRH's next header.
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:b::2", "fc00:e::1"])
        let popped = Wire.ipv6(payloadLength: inner.count, nextHeader: 41, hopLimit: 63, source: "fc00:1::1", destination: "fc00:b::2")
            + inner
        for chain in ["end_psp", "end_x_psp"] {
            let out = try net.r.run { try dp.run(chain, RouterTopology.fromH1(Self.srv6(to: "fc00:e::1", srh: srh, inner: inner)),
                                                 ingress: net.ingress) }
            #expect(out.verdict == Self.redirect, "\(chain)")
            #expect(out.data == RouterTopology.toH2(popped), "\(chain)")
        }
        // SL 2 → 1 is not the penultimate segment: plain End.
        let srh2 = Wire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::1"])
        let packet = Self.srv6(to: "fc00:e::1", srh: srh2, inner: inner)
        var expected = Self.rewritten(packet, da: "fc00:b::2", hopLimit: 63)
        expected[43] = 1
        let out = try net.r.run { try dp.run("end_psp", RouterTopology.fromH1(packet), ingress: net.ingress) }
        #expect(out.data == RouterTopology.toH2(expected))
    }

    @Test func uspPopsTheSRHAtTheUltimateSegmentForTheKernel() throws {
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.usp))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.end))
        try dp.chain("usp", [("srv6_end", 0)])
        try dp.chain("end", [("srv6_end", 1)])
        let udp = Wire.udp(source: "fc00:1::1", destination: "fc00:e::1", payload: [9, 9, 9, 9])
        let srh = Wire.srh(nextHeader: 17, segmentsLeft: 0, segments: ["fc00:e::1", "fc00:a::1"])
        let packet = Self.srv6(to: "fc00:e::1", hopLimit: 9, srh: srh, inner: udp, innerProto: 17)
        // RFC 8986 §4.16.2: SL = 0 on arrival, the SRH goes and the upper layer is this node's:
        // the kernel gets the packet without its SRH, hop limit unchanged.
        var out = try dp.run("usp", RouterTopology.fromH1(packet))
        #expect(out.verdict == Self.pass)
        #expect(out.reason == .local)
        #expect(out.data == RouterTopology.fromH1(Wire.ipv6(payloadLength: udp.count, nextHeader: 17, hopLimit: 9, source: "fc00:1::1",
                                                            destination: "fc00:e::1") + udp))
        #expect(try dp.sidStats(0) == [1, UInt64(packet.count), 0])
        // Without USP, SL = 0 at End is upper-layer processing too, but untouched.
        out = try dp.run("end", RouterTopology.fromH1(packet))
        #expect(out.verdict == Self.pass)
        #expect(out.reason == .slZero)
        #expect(out.data == RouterTopology.fromH1(packet))
    }

    @Test func usdDecapsulatesAtTheUltimateSegment() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        try net.route(["10.9.0.0/16", "via", "10.2.0.2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.usd))
        try dp.chain("usd", [("srv6_end", 0)])
        let inner6 = Wire.udp6(source: "fc00:1::1", destination: "fc00:b::9", hopLimit: 4)
        var forwarded6 = inner6
        forwarded6[7] = 3
        let srh6 = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:e::1"])
        // RFC 8986 §4.16.3: with SL = 0 (or no SRH) and an IP packet inside, decapsulate and
        // forward the inner packet by the main table.
        for srh in [srh6, nil] {
            let out = try net.r.run { try dp.run("usd", RouterTopology.fromH1(Self.srv6(to: "fc00:e::1", srh: srh, inner: inner6)),
                                                 ingress: net.ingress) }
            #expect(out.verdict == Self.redirect)
            #expect(out.data == RouterTopology.toH2(forwarded6))
        }
        let payload = Array(repeating: UInt8(3), count: 12)
        let inner4 = Wire.ipv4(tos: 4, ttl: 30, source: "10.1.0.1", destination: "10.9.4.4", payload: payload)
        let out = try net.r.run { try dp.run("usd", RouterTopology.fromH1(Self.srv6(to: "fc00:e::1", srh: nil, inner: inner4, innerProto: 4)),
                                             ingress: net.ingress) }
        #expect(out.verdict == Self.redirect)
        #expect(out.data == RouterTopology.toH2(Wire.ipv4(tos: 4, ttl: 29, source: "10.1.0.1", destination: "10.9.4.4", payload: payload),
                                                type: 0x0800))
    }

    @Test func nextCSIDShiftsTheArgumentAndFallsBackToEnd() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fcbb:bbbb:200::/48", "via", "fc00:2::2", "dev", "veth2"])
        try net.route(["2001:db8:aaaa:202::/64", "via", "fc00:2::2", "dev", "veth2"])
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.nextCSID))                       // uN, 32/16
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.nextCSID, lblen: 48, nflen: 16))  // uN, 48/16
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.endX, flavours: SRv6ABI.nextCSID, nh6: "fc00:2::2"))    // uA
        try dp.chain("un", [("srv6_end", 0)])
        try dp.chain("un48", [("srv6_end", 1)])
        try dp.chain("ua", [("srv6_end_x", 2)])
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2")
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:b::2", "fcbb:bbbb:100:200:300::"])

        // RFC 9800 §4.1.1: block kept, the argument moves left by one C-SID, zeros fill in;
        // hop limit − 1; the SRH, present or not, stays as it is.
        for (chain, da, next) in [("un", "fcbb:bbbb:100:200:300::", "fcbb:bbbb:200:300::"),
                                  ("un48", "2001:db8:aaaa:101:202:303::", "2001:db8:aaaa:202:303::"),
                                  ("ua", "fcbb:bbbb:100:f00:abc:1::", "fcbb:bbbb:f00:abc:1::")] {
            for withSRH in [true, false] {
                let packet = Self.srv6(to: da, srh: withSRH ? srh : nil, inner: inner)
                let out = try net.r.run { try dp.run(chain, RouterTopology.fromH1(packet), ingress: net.ingress) }
                #expect(out.verdict == Self.redirect, "\(chain) \(withSRH)")
                #expect(out.data == RouterTopology.toH2(Self.rewritten(packet, da: next, hopLimit: 63)), "\(chain) \(withSRH)")
            }
        }
        // The last C-SID of the container (argument zero): plain End with the SRH.
        let last = Self.srv6(to: "fcbb:bbbb:100::", srh: srh, inner: inner)
        var expected = Self.rewritten(last, da: "fc00:b::2", hopLimit: 63)
        expected[43] = 0
        let out = try net.r.run { try dp.run("un", RouterTopology.fromH1(last), ingress: net.ingress) }
        #expect(out.data == RouterTopology.toH2(expected))
        // … and without an SRH there is nothing left to do: the kernel's.
        let bare = Self.srv6(to: "fcbb:bbbb:100::", srh: nil, inner: inner)
        let noSRH = try net.r.run { try dp.run("un", RouterTopology.fromH1(bare), ingress: net.ingress) }
        #expect(noSRH.verdict == Self.pass)
        #expect(noSRH.reason == .noSRH)
        #expect(noSRH.data == RouterTopology.fromH1(bare))
    }

    @Test func endDT4AndDT46RouteIPv4InTheSIDsTable() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["10.9.0.0/16", "via", "10.2.0.2", "dev", "veth2", "table", "100"])
        try net.route(["fc00:d::/64", "via", "fc00:2::2", "dev", "veth2", "table", "100"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.endDT4, table: 100))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endDT46, table: 100))
        try dp.chain("dt4", [("srv6_end_dt4", 0)])
        try dp.chain("dt46", [("srv6_end_dt46", 1)])
        let payload = Array(repeating: UInt8(0x42), count: 20)
        let inner4 = Wire.ipv4(tos: 0x2e, ttl: 9, source: "10.1.0.1", destination: "10.9.1.2", payload: payload)
        // ip_forward's TTL − 1 with the checksum updated (checked against a fresh computation).
        let forwarded4 = Wire.ipv4(tos: 0x2e, ttl: 8, source: "10.1.0.1", destination: "10.9.1.2", payload: payload)
        let srh4 = Wire.srh(nextHeader: 4, segmentsLeft: 0, segments: ["fc00:e::4"])
        for chain in ["dt4", "dt46"] {
            let out = try net.r.run { try dp.run(chain, RouterTopology.fromH1(Self.srv6(to: "fc00:e::4", srh: srh4, inner: inner4)),
                                                 ingress: net.ingress) }
            #expect(out.verdict == Self.redirect, "\(chain)")
            #expect(out.data == RouterTopology.toH2(forwarded4, type: 0x0800), "\(chain)")
            #expect(Wire.ipv4ChecksumValid(out.data[14..<34]), "\(chain)")
        }
        let inner6 = Wire.udp6(source: "fc00:1::1", destination: "fc00:d::1", hopLimit: 2)
        var forwarded6 = inner6
        forwarded6[7] = 1
        let out6 = try net.r.run { try dp.run("dt46", RouterTopology.fromH1(Self.srv6(to: "fc00:e::4", srh: nil, inner: inner6)),
                                              ingress: net.ingress) }
        #expect(out6.data == RouterTopology.toH2(forwarded6))
        // End.DT4 takes IPv4 only.
        let wrong = Self.srv6(to: "fc00:e::4", srh: nil, inner: inner6)
        let refused = try net.r.run { try dp.run("dt4", RouterTopology.fromH1(wrong), ingress: net.ingress) }
        #expect(refused.reason == .badNextHeader)
        #expect(refused.data == RouterTopology.fromH1(wrong))
    }

    @Test func endDX6AndDX4CrossConnectTheInnerPacket() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.endDX6, nh6: "fc00:2::2"))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endDX6))  // nh6 :: → the inner destination's route
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.endDX4, nh4: "10.2.0.2"))
        try dp.chain("dx6", [("srv6_end_dx6", 0)])
        try dp.chain("dx6_any", [("srv6_end_dx6", 1)])
        try dp.chain("dx4", [("srv6_end_dx4", 2)])
        // No route to the inner destination: the cross-connect does not need one.
        for (chain, destination) in [("dx6", "fc00:99::1"), ("dx6_any", "fc00:b::7")] {
            let inner = Wire.udp6(source: "fc00:1::1", destination: destination, hopLimit: 33)
            var forwarded = inner
            forwarded[7] = 32
            let srh = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:e::5"])
            let out = try net.r.run { try dp.run(chain, RouterTopology.fromH1(Self.srv6(to: "fc00:e::5", srh: srh, inner: inner)),
                                                 ingress: net.ingress) }
            #expect(out.verdict == Self.redirect, "\(chain)")
            #expect(out.data == RouterTopology.toH2(forwarded), "\(chain)")
        }
        let payload = Array(repeating: UInt8(1), count: 8)
        let inner4 = Wire.ipv4(ttl: 2, protocol: 1, source: "10.1.0.1", destination: "192.0.2.1", payload: payload)
        let out = try net.r.run { try dp.run("dx4", RouterTopology.fromH1(Self.srv6(to: "fc00:e::5", srh: nil, inner: inner4, innerProto: 4)),
                                             ingress: net.ingress) }
        #expect(out.verdict == Self.redirect)
        #expect(out.data == RouterTopology.toH2(Wire.ipv4(ttl: 1, protocol: 1, source: "10.1.0.1", destination: "192.0.2.1",
                                                          payload: payload), type: 0x0800))
    }

    @Test func aProgramRefusesAnEntryOfAnotherBehaviourOrNone() throws {
        let dp = try SRv6Dataplane()
        try dp.setSID(4, SRv6SID(behaviour: SRv6ABI.endDT6, table: 254))
        try dp.setPolicy(4, SRv6Policy(mode: SRv6ABI.insert, segments: ["fc00:b::2"], source: "fc00:1::100"))
        try dp.chain("end_on_dt6", [("srv6_end", 4)])
        try dp.chain("end_on_empty", [("srv6_end", 9)])
        try dp.chain("end_out_of_range", [("srv6_end", 5000)])
        try dp.chain("encaps_on_insert", [("srv6_h_encaps", 4), ("ip6_kroute", nil)])
        try dp.chain("encaps_on_empty", [("srv6_h_encaps", 8), ("ip6_kroute", nil)])
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:b::2", "fc00:e::1"])
        let frame = RouterTopology.fromH1(Self.srv6(to: "fc00:e::1", srh: srh, inner: Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2")))
        for (chain, reason) in [("end_on_dt6", SRv6ABI.Reason.wrongBehaviour), ("end_on_empty", .noEntry), ("end_out_of_range", .noEntry),
                                ("encaps_on_insert", .wrongBehaviour), ("encaps_on_empty", .noEntry)] {
            let out = try dp.run(chain, frame)
            #expect(out.verdict == Self.pass, "\(chain)")
            #expect(out.reason == reason, "\(chain)")
            #expect(out.data == frame, "\(chain)")
        }
        #expect(try dp.sidStats(4) == [0, 0, 1])
        #expect(try dp.policyStats(4) == [0, 0, 1])
        #expect(try dp.reasonCount(.noEntry) == 3)
    }

    // MARK: No kernel route for the SID or policy (fallback none)

    /// A SID the kernel has no route for: when the next hop's neighbour is unknown, passing
    /// the packet untouched would make the kernel route it to the SID and drop it, and nothing
    /// would ever resolve the neighbour. The inner packet goes to the kernel instead,
    /// decapsulated and not yet forwarded (hop limit and TTL as they came, the frame's own
    /// MACs), and the kernel resolves the neighbour and forwards it.
    @Test func aDecapsulatingSIDWithoutAKernelRouteHandsTheKernelTheInnerPacket() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        // Gateways with no neighbour entry: bpf_fib_lookup says NO_NEIGH.
        try net.route(["10.8.0.0/16", "via", "10.2.0.3", "dev", "veth2"])
        try net.route(["fc00:8::/64", "via", "fc00:2::3", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.endDT4, table: 254, fallback: SRv6ABI.fallbackNone))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endDT46, table: 254, fallback: SRv6ABI.fallbackNone))
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.usd, fallback: SRv6ABI.fallbackNone))
        try dp.setSID(3, SRv6SID(behaviour: SRv6ABI.endDT4, table: 254))  // with a kernel route
        try dp.chain("dt4", [("srv6_end_dt4", 0)])
        try dp.chain("dt46", [("srv6_end_dt46", 1)])
        try dp.chain("usd", [("srv6_end", 2)])
        try dp.chain("dt4_mirrored", [("srv6_end_dt4", 3)])
        let inner4 = Wire.ipv4(ttl: 20, source: "10.1.0.1", destination: "10.8.0.8", payload: Array(repeating: 4, count: 12))
        let inner6 = Wire.udp6(source: "fc00:1::1", destination: "fc00:8::8", hopLimit: 20)
        let srh4 = Wire.srh(nextHeader: 4, segmentsLeft: 0, segments: ["fc00:e::4"])
        let srh6 = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:e::4"])
        for (chain, srh, inner, type) in [("dt4", srh4, inner4, UInt16(0x0800)), ("dt46", srh4, inner4, 0x0800),
                                          ("dt46", srh6, inner6, 0x86dd), ("usd", srh6, inner6, 0x86dd)] {
            let frame = RouterTopology.fromH1(Self.srv6(to: "fc00:e::4", srh: srh, inner: inner, innerProto: type == 0x0800 ? 4 : 41))
            let out = try net.r.run { try dp.run(chain, frame, ingress: net.ingress) }
            #expect(out.verdict == Self.pass, "\(chain)")
            #expect(out.reason == .fibMiss, "\(chain)")
            #expect(out.data == RouterTopology.fromH1(inner, type: type), "\(chain)")
        }
        // The inner hop limit is out: the kernel answers Time Exceeded to the inner source.
        let expiring = Wire.ipv4(ttl: 1, source: "10.1.0.1", destination: "10.8.0.8", payload: [1, 2, 3, 4])
        let expired = try net.r.run { try dp.run("dt4", RouterTopology.fromH1(Self.srv6(to: "fc00:e::4", srh: srh4, inner: expiring)),
                                                 ingress: net.ingress) }
        #expect(expired.verdict == Self.pass && expired.reason == .hopLimit)
        #expect(expired.data == RouterTopology.fromH1(expiring, type: 0x0800))
        // A local inner destination, looked up in the main table: the kernel delivers the inner packet.
        let toRouter = Wire.ipv4(ttl: 20, source: "10.1.0.1", destination: "10.2.0.100", payload: [5, 6, 7, 8])
        let local = try net.r.run { try dp.run("dt4", RouterTopology.fromH1(Self.srv6(to: "fc00:e::4", srh: srh4, inner: toRouter)),
                                               ingress: net.ingress) }
        #expect(local.verdict == Self.pass && local.reason == .local)
        #expect(local.data == RouterTopology.fromH1(toRouter, type: 0x0800))
        // No route in another table: handing the inner packet over would route it by the main
        // table instead, and the untouched packet by a route to the SID: dropped, as the table says.
        try dp.setSID(4, SRv6SID(behaviour: SRv6ABI.endDT4, table: 100, fallback: SRv6ABI.fallbackNone))
        try dp.chain("dt4_table100", [("srv6_end_dt4", 4)])
        let isolated = RouterTopology.fromH1(Self.srv6(to: "fc00:e::4", srh: srh4, inner: inner4))
        let unrouted = try net.r.run { try dp.run("dt4_table100", isolated, ingress: net.ingress) }
        #expect(unrouted.verdict == ABI.xdpDrop && unrouted.reason == .local)
        // With a kernel route for the SID, the kernel gets the packet untouched and runs the behaviour.
        let frame = RouterTopology.fromH1(Self.srv6(to: "fc00:e::4", srh: srh4, inner: inner4))
        let mirrored = try net.r.run { try dp.run("dt4_mirrored", frame, ingress: net.ingress) }
        #expect(mirrored.verdict == Self.pass && mirrored.reason == .fibMiss)
        #expect(mirrored.data == frame)
        #expect(try dp.sidStats(0) == [0, 0, 1], "fib_miss is not an error; the expired packet is")
    }

    /// A transit SID the kernel has no route for (End.X with PSP, End.T or End with USD/USP):
    /// the packet goes to the kernel rewritten (SL − 1, the next SID as destination, the SRH
    /// popped for PSP), its hop limit left for the kernel's forwarding to decrement.
    @Test func aTransitSIDWithoutAKernelRouteHandsTheKernelTheRewrittenPacket() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:8::/64", "via", "fc00:2::3", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.usd, fallback: SRv6ABI.fallbackNone))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endX, flavours: SRv6ABI.psp, nh6: "fc00:2::3", fallback: SRv6ABI.fallbackNone))
        try dp.chain("end", [("srv6_end", 0)])
        try dp.chain("end_x_psp", [("srv6_end_x", 1)])
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9")
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:8::2", "fc00:e::1"])
        let packet = Self.srv6(to: "fc00:e::1", hopLimit: 30, srh: srh, inner: inner)
        var expected = Self.rewritten(packet, da: "fc00:8::2", hopLimit: 30)
        expected[40 + 3] = 1
        let out = try net.r.run { try dp.run("end", RouterTopology.fromH1(packet), ingress: net.ingress) }
        #expect(out.verdict == Self.pass)
        #expect(out.reason == .fibMiss)
        #expect(out.data == RouterTopology.fromH1(expected))

        let last = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:8::2", "fc00:e::1"])
        let popped = try net.r.run {
            try dp.run("end_x_psp", RouterTopology.fromH1(Self.srv6(to: "fc00:e::1", hopLimit: 30, srh: last, inner: inner)),
                       ingress: net.ingress)
        }
        #expect(popped.verdict == Self.pass)
        #expect(popped.reason == .fibMiss)
        #expect(popped.data == RouterTopology.fromH1(Wire.ipv6(payloadLength: inner.count, nextHeader: 41, hopLimit: 30,
                                                               source: "fc00:1::1", destination: "fc00:8::2") + inner))
    }

    /// A policy the kernel has no seg6 route for: a headend that cannot finish drops the packet,
    /// which the kernel would otherwise forward by its plain route, around the policy.
    @Test func aHeadendWithoutAKernelRouteDropsWhatItCannotEncapsulate() throws {
        let dp = try SRv6Dataplane()
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.insert, segments: ["fc00:b::2"], source: "fc00:1::100",
                                       fallback: SRv6ABI.fallbackNone))
        try dp.setPolicy(1, SRv6Policy(mode: SRv6ABI.insert, segments: ["fc00:b::2"], source: "fc00:1::100"))
        try dp.chain("insert", [("srv6_h_insert", 0), ("ip6_kroute", nil)])
        try dp.chain("insert_mirrored", [("srv6_h_insert", 1), ("ip6_kroute", nil)])
        let v4 = RouterTopology.fromH1(Wire.ipv4(source: "10.1.0.1", destination: "10.9.0.9", payload: Array(repeating: 1, count: 26)),
                                       type: 0x0800)
        let dropped = try dp.run("insert", v4)
        #expect(dropped.verdict == Self.drop)
        #expect(dropped.reason == .notIP)
        let passed = try dp.run("insert_mirrored", v4)
        #expect(passed.verdict == Self.pass)
        #expect(passed.reason == .notIP)
        #expect(passed.data == v4)
    }

    // MARK: The loader

    @Test func localSIDLoaderPicksTheChainByLongestPrefix() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.end))
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.endDT6, table: 254))
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.encaps, segments: ["fc00:b::2"], source: "fc00:1::100"))
        try dp.chain("end", [("srv6_end", 1)])
        try dp.chain("dt6", [("srv6_end_dt6", 2)])
        try dp.chain("encap4", [("srv6_h_encaps", 0), ("ip6_kroute", nil)])
        let record = try dp.hike.attach(loader: "srv6_localsid", interface: "veth1", namespace: net.r, chain: nil,
                                        defaultVerdict: ABI.xdpPass)
        let chains = try dp.hike.registry().chains
        func route6(_ prefix: String, _ length: UInt32, _ chain: String) throws {
            let id = try #require(chains[chain]).id
            try BPFMap.openPinned("\(record.directory)/srv6_lpm6")
                .update(key: BPFMap.bytesOf(length) + Wire.addr(prefix), value: BPFMap.bytesOf(id))
        }
        try route6("fc00:e::", 64, "end")       // the locator: End
        try route6("fc00:e::6", 128, "dt6")     // a longer prefix inside it: End.DT6
        let id4 = try #require(chains["encap4"]).id
        try BPFMap.openPinned("\(record.directory)/srv6_lpm4")
            .update(key: BPFMap.bytesOf(UInt32(16)) + Wire.addr4("10.9.0.0"), value: BPFMap.bytesOf(id4))
        let loader = try BPFProgram.openPinned("\(record.directory)/prog")
        func run(_ frame: [UInt8]) throws -> TestRunResult {
            let context = [0, UInt32(frame.count), 0, UInt32(net.ingress), 0, 0].flatMap { BPFMap.bytesOf($0) }
            return try net.r.run { try loader.testRun(TestRunOptions(data: frame, context: context)) }
        }

        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2", hopLimit: 30)
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:b::2", "fc00:e::1"])
        let toEnd = Self.srv6(to: "fc00:e::1", srh: srh, inner: inner)
        var expected = Self.rewritten(toEnd, da: "fc00:b::2", hopLimit: 63)
        expected[40 + 3] = 0
        var out = try run(RouterTopology.fromH1(toEnd))
        #expect(out.returnValue == Self.redirect)
        #expect(out.data == RouterTopology.toH2(expected))

        out = try run(RouterTopology.fromH1(Self.srv6(to: "fc00:e::6", srh: nil, inner: inner)))
        var decapsulated = inner
        decapsulated[7] = 29
        #expect(out.returnValue == Self.redirect)
        #expect(out.data == RouterTopology.toH2(decapsulated))

        let v4 = Wire.ipv4(source: "10.1.0.1", destination: "10.9.1.1", payload: Array(repeating: 7, count: 26))
        out = try run(RouterTopology.fromH1(v4, type: 0x0800))
        #expect(out.returnValue == Self.redirect)
        #expect(Array(out.data.prefix(14)) == RouterTopology.toH2([]))
        #expect(Array(out.data.suffix(v4.count)) == v4)

        // No match, IPv6 or IPv4, and what is neither: the kernel's, untouched.
        for frame in [RouterTopology.fromH1(Wire.udp6(source: "fc00:1::1", destination: "fc00:7::1")),
                      RouterTopology.fromH1(Wire.ipv4(source: "10.1.0.1", destination: "10.8.0.1", payload: [0, 0]), type: 0x0800),
                      RouterTopology.fromH1([1, 2, 3, 4], type: 0x0806)] {
            out = try run(frame)
            #expect(out.returnValue == Self.pass)
            #expect(out.data == frame)
        }
    }
}
