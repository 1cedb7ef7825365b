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
        let record = try dp.hike.attach(loader: "srv6_localsid", interface: "veth1", namespace: net.r, mode: .native, chain: nil,
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
