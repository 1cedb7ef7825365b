import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import SRv6

/// The SR proxies (End.AS, End.AD, End.AM) on crafted packets in both directions, test-run in a
/// router namespace: h1's side is the SR network, veth2 (towards h2) is the function's
/// interface, both IFACE-OUT and IFACE-IN. Expected frames follow
/// draft-ietf-spring-sr-service-programming §6, built here field by field.
@Suite(.serialized) struct ProxyTests {
    init() throws { try KernelTest.prepare() }

    static let redirect = ABI.xdpRedirect, pass = ABI.xdpPass, drop = ABI.xdpDrop

    /// A frame the function sends back (from h2's MAC to the router's right one).
    static func fromFunction(_ l3: [UInt8], type: UInt16 = 0x86dd) -> [UInt8] {
        Wire.ethernet(RouterTopology.rRightMAC, RouterTopology.h2MAC, type: type) + l3
    }

    static func dataplane(_ net: RouterTopology) throws -> SRv6Dataplane {
        let dp = try SRv6Dataplane()
        for program in ["srv6_end_as", "srv6_end_ad", "srv6_end_am"] { try dp.hike.loadProgram(program) }
        try dp.reloadIDs()
        // The next SID after the function's, and what comes back, route via h2.
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        return dp
    }

    /// to_function, to_function_bytes, from_function, from_function_bytes, learned, then the
    /// reasons, over all CPUs.
    static func proxyStats(_ dp: SRv6Dataplane, _ index: UInt32) throws -> [UInt64] {
        try dp.summedWords("srv6_proxy_stats", index, words: 5 + SRv6ABI.Reason.allCases.count)
    }

    @Test func endADLearnsTheOuterHeadersAndRestoresThemOnTheWayBack() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let dp = try Self.dataplane(net)
        let iif = UInt32(net.egress)
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endAD, oif: iif, nh4: "10.2.0.2", nh6: "fc00:2::2", iif: iif,
                                 inner: SRv6ABI.innerV6 | SRv6ABI.innerV4, ageMs: 60_000))
        try dp.chain("ad", [("srv6_end_ad", 1)])

        // Before anything is learned, what the function sends is dropped.
        let reply = Wire.udp6(source: "fc00:9::9", destination: "fc00:1::1", hopLimit: 20)
        let early = try net.r.run { try dp.run("ad", Self.fromFunction(reply), ingress: net.egress) }
        #expect(early.verdict == Self.drop)
        #expect(early.reason == .noCache)

        // Inbound: SL 2 at the proxy SID; the function gets the inner packet, hop limit − 1.
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9", hopLimit: 33)
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::ad"], tag: 7)
        let packet = BehaviourTests.srv6(to: "fc00:e::ad", hopLimit: 50, srh: srh, inner: inner, trafficClass: 0x20, flowLabel: 0x12345)
        let out = try net.r.run { try dp.run("ad", RouterTopology.fromH1(packet), ingress: net.ingress) }
        var delivered = inner
        delivered[7] = 32
        #expect(out.verdict == Self.redirect)
        #expect(out.reason == .ok)
        #expect(out.data == RouterTopology.toH2(delivered))

        // Back: the headers as End would have forwarded them (SL 1, DA the next SID, hop limit
        // 49), with the function's packet (hop limit − 1) inside.
        let back = try net.r.run { try dp.run("ad", Self.fromFunction(reply), ingress: net.egress) }
        var srhBack = srh
        srhBack[3] = 1
        var forwarded = reply
        forwarded[7] = 19
        let outer = Wire.ipv6(trafficClass: 0x20, flowLabel: 0x12345, payloadLength: srh.count + reply.count, nextHeader: 43,
                              hopLimit: 49, source: "fc00:1::1", destination: "fc00:b::2")
        #expect(back.verdict == Self.redirect)
        #expect(back.reason == .ok)
        #expect(back.data == RouterTopology.toH2(outer + srhBack + forwarded))

        // IPv4 both ways: to 10.2.0.2, TTL − 1 with its checksum; back with next header 4.
        let payload = [UInt8](repeating: 9, count: 12)
        let inner4 = Wire.ipv4(ttl: 9, source: "10.1.0.1", destination: "10.9.0.9", payload: payload)
        let out4 = try net.r.run { try dp.run("ad", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::ad", hopLimit: 50,
            srh: Wire.srh(nextHeader: 4, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::ad"], tag: 7),
            inner: inner4, trafficClass: 0x20, flowLabel: 0x12345)), ingress: net.ingress) }
        #expect(out4.verdict == Self.redirect)
        #expect(out4.data == RouterTopology.toH2(Wire.ipv4(ttl: 8, source: "10.1.0.1", destination: "10.9.0.9", payload: payload), type: 0x0800))
        let reply4 = Wire.ipv4(ttl: 30, source: "10.9.0.9", destination: "10.1.0.1", payload: payload)
        let back4 = try net.r.run { try dp.run("ad", Self.fromFunction(reply4, type: 0x0800), ingress: net.egress) }
        var srh4 = srhBack
        srh4[0] = 4
        let outer4 = Wire.ipv6(trafficClass: 0x20, flowLabel: 0x12345, payloadLength: srh.count + reply4.count, nextHeader: 43,
                               hopLimit: 49, source: "fc00:1::1", destination: "fc00:b::2")
        #expect(back4.verdict == Self.redirect)
        #expect(back4.data == RouterTopology.toH2(outer4 + srh4 + Wire.ipv4(ttl: 29, source: "10.9.0.9", destination: "10.1.0.1",
                                                                            payload: payload)))

        // The function's own neighbour discovery goes to the kernel untouched.
        let solicit = Wire.ipv6(payloadLength: 8, nextHeader: 58, hopLimit: 255, source: "fe80::2", destination: "ff02::1:ff00:100")
            + [135, 0, 0, 0, 0, 0, 0, 0]
        let nd = try net.r.run { try dp.run("ad", Self.fromFunction(solicit), ingress: net.egress) }
        #expect(nd.verdict == Self.pass)
        #expect(nd.reason == .control)
        #expect(nd.data == Self.fromFunction(solicit))

        // Learned once (the second inbound packet came within the age); two each way; a reason each.
        let stats = try Self.proxyStats(dp, 1)
        #expect(Array(stats[0..<5]) == [2, UInt64(packet.count) + UInt64(srh.count + 40 + inner4.count), 2,
                                         UInt64(reply.count + reply4.count), 1])
        #expect(stats[5 + Int(SRv6ABI.Reason.noCache.rawValue)] == 1)
        #expect(stats[5 + Int(SRv6ABI.Reason.control.rawValue)] == 1)
    }

    @Test func endADWithAgeZeroLearnsEveryPacketAndRefusesTheLastSegment() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let dp = try Self.dataplane(net)
        let iif = UInt32(net.egress)
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.endAD, oif: iif, nh6: "fc00:2::2", iif: iif, inner: SRv6ABI.innerV6, ageMs: 0))
        try dp.chain("ad0", [("srv6_end_ad", 2)])
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9", hopLimit: 33)
        for next in ["fc00:b::2", "fc00:b::3"] {
            let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: [next, "fc00:e::ad"])
            let out = try net.r.run { try dp.run("ad0", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::ad", srh: srh, inner: inner)),
                                                 ingress: net.ingress) }
            #expect(out.verdict == Self.redirect)
            let back = try net.r.run { try dp.run("ad0", Self.fromFunction(inner), ingress: net.egress) }
            // The headers of the last packet: DA the segment it names.
            #expect(back.verdict == Self.redirect)
            #expect(Array(back.data[14 + 24..<14 + 40]) == Wire.addr(next))
        }
        // SL = 0 at a dynamic proxy: nothing to restore afterwards, dropped.
        let last = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:e::ad"])
        let refused = try net.r.run { try dp.run("ad0", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::ad", srh: last, inner: inner)),
                                                 ingress: net.ingress) }
        #expect(refused.verdict == Self.drop)
        #expect(refused.reason == .slZero)
        // Hop limit 1: End would answer Time Exceeded; nothing is learned or sent to the function.
        let expiring = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:b::2", "fc00:e::ad"])
        let expired = try net.r.run { try dp.run("ad0", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::ad", hopLimit: 1,
                                                                                                    srh: expiring, inner: inner)),
                                                 ingress: net.ingress) }
        #expect(expired.reason == .hopLimit)
        let stats = try Self.proxyStats(dp, 2)
        #expect(stats[0] == 2 && stats[4] == 2, "to the function, learned: \(stats)")
    }

    @Test func endASDecapsulatesAndReencapsulatesWithItsConfiguredHeaders() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let dp = try Self.dataplane(net)
        let iif = UInt32(net.egress)
        try dp.setSID(3, SRv6SID(behaviour: SRv6ABI.endAS, oif: iif, nh6: "fc00:2::2", iif: iif, inner: SRv6ABI.innerV6))
        let headers = ProxyHeaders(source: try IPv6Address(parsing: "fc00:1::100"),
                                   segments: [try IPv6Address(parsing: "fc00:b::2"), try IPv6Address(parsing: "fc00:d::4")], hopLimit: 40)
        try dp.map("srv6_proxy_cache").update(key: BPFMap.bytesOf(UInt32(3)), value: try SRv6ProxyCache(headers: headers).encoded())
        try dp.chain("as", [("srv6_end_as", 3)])

        // Inbound without an SRH (plain IPv6-in-IPv6) is decapsulated too: a static proxy
        // learns nothing.
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9", hopLimit: 33)
        let out = try net.r.run { try dp.run("as", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::a5", srh: nil, inner: inner)),
                                             ingress: net.ingress) }
        var delivered = inner
        delivered[7] = 32
        #expect(out.verdict == Self.redirect)
        #expect(out.data == RouterTopology.toH2(delivered))
        // IPv4 is not among its inner types.
        let v4 = Wire.ipv4(source: "10.1.0.1", destination: "10.9.0.9", payload: [1, 2, 3, 4])
        let refused = try net.r.run { try dp.run("as", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::a5", srh: nil, inner: v4,
                                                                                                   innerProto: 4)), ingress: net.ingress) }
        #expect(refused.verdict == Self.drop)
        #expect(refused.reason == .badNextHeader)

        // Back: H.Encaps's headers for [fc00:b::2, fc00:d::4] from fc00:1::100, hop limit 40.
        let reply = Wire.udp6(source: "fc00:9::9", destination: "fc00:1::1", hopLimit: 20)
        let back = try net.r.run { try dp.run("as", Self.fromFunction(reply), ingress: net.egress) }
        let srh = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:d::4", "fc00:b::2"])
        let outer = Wire.ipv6(payloadLength: srh.count + reply.count, nextHeader: 43, hopLimit: 40, source: "fc00:1::100",
                              destination: "fc00:b::2")
        var forwarded = reply
        forwarded[7] = 19
        #expect(back.verdict == Self.redirect)
        #expect(back.data == RouterTopology.toH2(outer + srh + forwarded))
        #expect(Array(try Self.proxyStats(dp, 3)[0..<5]) == [1, UInt64(40 + inner.count), 1, UInt64(reply.count), 0])
    }

    /// L2 mode (inner ethernet): the function gets the inner Ethernet frame as it came, and
    /// every frame it sends back (an ARP request too, which L3 mode leaves to the kernel) is
    /// carried whole behind the headers, next header 143. End.AD learns them, End.AS has them.
    @Test func endADAndEndASCarryWholeEthernetFramesInL2Mode() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let dp = try Self.dataplane(net)
        let iif = UInt32(net.egress)
        try dp.setSID(4, SRv6SID(behaviour: SRv6ABI.endAD, oif: iif, iif: iif, inner: SRv6ABI.innerEth, ageMs: 60_000))
        try dp.chain("adl2", [("srv6_end_ad", 4)], loader: "srv6_localsid")

        let frame = Wire.ethernet("02:00:00:00:0a:0a", "02:00:00:00:0b:0b", type: 0x0800)
            + Wire.ipv4(source: "10.1.0.1", destination: "10.9.0.9", payload: [1, 2, 3, 4, 5, 6, 7, 8])
        let srh = Wire.srh(nextHeader: 143, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::ad"])
        let out = try net.r.run { try dp.run("adl2", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::ad", hopLimit: 50, srh: srh,
                                                                                                  inner: frame)), ingress: net.ingress) }
        #expect(out.verdict == Self.redirect)
        #expect(out.reason == .ok)
        #expect(out.data == frame)
        // An IPv6 packet is not an inner type of an L2 proxy.
        let refused = try net.r.run { try dp.run("adl2", RouterTopology.fromH1(BehaviourTests.srv6(to: "fc00:e::ad", srh: nil,
            inner: Wire.udp6(source: "fc00:1::1", destination: "fc00:9::9"))), ingress: net.ingress) }
        #expect(refused.reason == .badNextHeader)

        let arp = Wire.ethernet("ff:ff:ff:ff:ff:ff", "02:00:00:00:0a:0a", type: 0x0806) + [UInt8](repeating: 0x11, count: 28)
        let back = try net.r.run { try dp.run("adl2", arp, ingress: net.egress) }
        var srhBack = srh
        srhBack[3] = 1
        let outer = Wire.ipv6(payloadLength: srh.count + arp.count, nextHeader: 43, hopLimit: 49, source: "fc00:1::1", destination: "fc00:b::2")
        #expect(back.verdict == Self.redirect)
        #expect(back.reason == .ok)
        #expect(back.data == RouterTopology.toH2(outer + srhBack + arp))

        try dp.setSID(5, SRv6SID(behaviour: SRv6ABI.endAS, oif: iif, iif: iif, inner: SRv6ABI.innerEth))
        let headers = ProxyHeaders(source: try IPv6Address(parsing: "fc00:1::100"), segments: [try IPv6Address(parsing: "fc00:b::2")], hopLimit: 40)
        try dp.map("srv6_proxy_cache").update(key: BPFMap.bytesOf(UInt32(5)), value: try SRv6ProxyCache(headers: headers).encoded())
        try dp.chain("asl2", [("srv6_end_as", 5)], loader: "srv6_localsid")
        let asBack = try net.r.run { try dp.run("asl2", frame, ingress: net.egress) }
        let asSRH = Wire.srh(nextHeader: 143, segmentsLeft: 0, segments: ["fc00:b::2"])
        #expect(asBack.verdict == Self.redirect)
        #expect(asBack.data == RouterTopology.toH2(Wire.ipv6(payloadLength: asSRH.count + frame.count, nextHeader: 43, hopLimit: 40,
                                                             source: "fc00:1::100", destination: "fc00:b::2") + asSRH + frame))
        #expect(Array(try Self.proxyStats(dp, 4)[0..<5]) == [1, UInt64(40 + srh.count + frame.count), 1, UInt64(arp.count), 1])
    }

    @Test func endAMShowsTheFunctionTheFinalDestinationAndRestoresTheSIDOnReturn() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let dp = try Self.dataplane(net)
        let iif = UInt32(net.egress)
        try dp.setSID(4, SRv6SID(behaviour: SRv6ABI.endAM, oif: iif, nh6: "fc00:2::2", fallback: SRv6ABI.fallbackNone, iif: iif,
                                 inner: SRv6ABI.innerV6))
        try dp.chain("am", [("srv6_end_am", 4)])
        let inner = Wire.udp(source: "fc00:1::1", destination: "fc00:d::4", payload: Array(0..<16))
        let srh = Wire.srh(nextHeader: 17, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::a3"])
        let packet = BehaviourTests.srv6(to: "fc00:e::a3", hopLimit: 50, srh: srh, inner: inner)
        let out = try net.r.run { try dp.run("am", RouterTopology.fromH1(packet), ingress: net.ingress) }
        // Masqueraded: DA = Segment List[0], SL unchanged, hop limit − 1, to the function.
        let masqueraded = BehaviourTests.rewritten(packet, da: "fc00:d::4", hopLimit: 49)
        #expect(out.verdict == Self.redirect)
        #expect(out.data == RouterTopology.toH2(masqueraded))

        // The function forwards it unchanged (hop limit − 1): de-masquerading is End, SL 1 and
        // DA = Segment List[1], on to fc00:b::2.
        let back = try net.r.run { try dp.run("am", Self.fromFunction(BehaviourTests.rewritten(packet, da: "fc00:d::4", hopLimit: 48)),
                                              ingress: net.egress) }
        var restored = BehaviourTests.rewritten(packet, da: "fc00:b::2", hopLimit: 47)
        restored[40 + 3] = 1
        #expect(back.verdict == Self.redirect)
        #expect(back.data == RouterTopology.toH2(restored))
        // A packet without an SRH from the function has no SID to restore: dropped.
        let plain = try net.r.run { try dp.run("am", Self.fromFunction(Wire.udp6(source: "fc00:9::9", destination: "fc00:1::1")),
                                               ingress: net.egress) }
        #expect(plain.verdict == Self.drop)
        #expect(plain.reason == .noSRH)
        #expect(Array(try Self.proxyStats(dp, 4)[0..<5]) == [1, UInt64(packet.count), 1, UInt64(packet.count), 0])
    }
}
