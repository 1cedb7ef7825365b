import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// Byte equality with the kernel: h1 sends the same frame twice into r; the first time r's kernel
/// handles it (seg6 / seg6local routes), the second time the srv6_localsid loader on r's ingress
/// runs our chain (real traffic, XDP). h2 captures both; they must be equal byte for byte.
///
/// Same node, same neighbours, `ip sr tunsrc` equal to the policy's source and the kernel's
/// default seg6_flowlabel = 0: no field is left free in this setup. (Fields the RFCs leave
/// free, with other set-ups, are listed in docs/srv6-dataplane.md.)
@Suite(.serialized) struct KernelEqualityTests {
    init() throws { try KernelTest.requireKernelSRv6() }

    /// One comparison: the kernel's configuration on r, ours (a chain behind an LPM prefix, and
    /// the entry it names), and the frame h1 sends (its payload carries the marker).
    struct Case {
        let name: String
        let kernel: [[String]]                      // `ip` arguments run in r
        let prefix: (address: String, length: UInt32)
        let calls: [(program: String, argument: Int32?)]
        let entry: Entry
        let frame: ([UInt8]) -> [UInt8]             // marker → the frame h1 sends

        enum Entry {
            case policy(UInt32, SRv6Policy)
            case sid(UInt32, SRv6SID)
        }
    }

    static func srv6(to da: String, hopLimit: UInt8 = 64, srh: [UInt8]?, inner: [UInt8], innerProto: UInt8 = 41) -> [UInt8] {
        BehaviourTests.srv6(to: da, hopLimit: hopLimit, srh: srh, inner: inner, innerProto: innerProto, trafficClass: 0x28, flowLabel: 0x5eed)
    }

    static func inner6(_ destination: String, _ marker: [UInt8], hopLimit: UInt8 = 40) -> [UInt8] {
        Wire.udp6(source: "fc00:1::1", destination: destination, hopLimit: hopLimit, trafficClass: 0x48, flowLabel: 0xc0ffe, payload: marker)
    }

    static var cases: [Case] { [
        Case(name: "H.Encaps of IPv6 (seg6 mode encap)",
             kernel: [["-6", "route", "add", "fc00:90::/64", "encap", "seg6", "mode", "encap", "segs", "fc00:b::2,fc00:c::3,fc00:d::4",
                       "dev", "veth2"]],
             prefix: ("fc00:90::", 64), calls: [("srv6_h_encaps", 0), ("ip6_kroute", nil)],
             entry: .policy(0, SRv6Policy(mode: SRv6ABI.encaps, segments: ["fc00:b::2", "fc00:c::3", "fc00:d::4"], source: "fc00:1::100")),
             frame: { RouterTopology.fromH1(inner6("fc00:90::9", $0)) }),
        Case(name: "H.Encaps of IPv4 (seg6 mode encap, IPv4 route)",
             kernel: [["route", "add", "10.90.0.0/16", "encap", "seg6", "mode", "encap", "segs", "fc00:b::2,fc00:c::3", "dev", "veth2"]],
             prefix: ("10.90.0.0", 16), calls: [("srv6_h_encaps", 1), ("ip6_kroute", nil)],
             entry: .policy(1, SRv6Policy(mode: SRv6ABI.encaps, segments: ["fc00:b::2", "fc00:c::3"], source: "fc00:1::100")),
             frame: { RouterTopology.fromH1(Wire.ipv4(tos: 0x20, ttl: 17, source: "10.1.0.1", destination: "10.90.0.1", payload: $0),
                                            type: 0x0800) }),
        Case(name: "H.Encaps.Red (seg6 mode encap.red)",
             kernel: [["-6", "route", "add", "fc00:91::/64", "encap", "seg6", "mode", "encap.red", "segs", "fc00:b::2,fc00:c::3,fc00:d::4",
                       "dev", "veth2"]],
             prefix: ("fc00:91::", 64), calls: [("srv6_h_encaps_red", 2), ("ip6_kroute", nil)],
             entry: .policy(2, SRv6Policy(mode: SRv6ABI.encapsRed, segments: ["fc00:b::2", "fc00:c::3", "fc00:d::4"], source: "fc00:1::100")),
             frame: { RouterTopology.fromH1(inner6("fc00:91::9", $0)) }),
        Case(name: "H.Insert (seg6 mode inline)",
             kernel: [["-6", "route", "add", "fc00:92::/64", "encap", "seg6", "mode", "inline", "segs", "fc00:b::2,fc00:c::3", "dev", "veth2"]],
             prefix: ("fc00:92::", 64), calls: [("srv6_h_insert", 3), ("ip6_kroute", nil)],
             entry: .policy(3, SRv6Policy(mode: SRv6ABI.insert, segments: ["fc00:b::2", "fc00:c::3"], source: "fc00:1::100")),
             frame: { RouterTopology.fromH1(inner6("fc00:92::9", $0)) }),
        Case(name: "End (seg6local End)",
             kernel: [["-6", "route", "add", "fc00:e::1/128", "encap", "seg6local", "action", "End", "dev", "veth1"]],
             prefix: ("fc00:e::1", 128), calls: [("srv6_end", 0)], entry: .sid(0, SRv6SID(behaviour: SRv6ABI.end)),
             frame: { RouterTopology.fromH1(srv6(to: "fc00:e::1", srh: Wire.srh(nextHeader: 41, segmentsLeft: 2,
                                                                                  segments: ["fc00:d::4", "fc00:b::2", "fc00:e::1"]),
                                                 inner: inner6("fc00:d::4", $0))) }),
        Case(name: "End with PSP (seg6local End flavors psp)",
             kernel: [["-6", "route", "add", "fc00:e::2/128", "encap", "seg6local", "action", "End", "flavors", "psp", "dev", "veth1"]],
             prefix: ("fc00:e::2", 128), calls: [("srv6_end", 1)], entry: .sid(1, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.psp)),
             frame: { RouterTopology.fromH1(srv6(to: "fc00:e::2", srh: Wire.srh(nextHeader: 41, segmentsLeft: 1,
                                                                                  segments: ["fc00:b::2", "fc00:e::2"]),
                                                 inner: inner6("fc00:b::2", $0))) }),
        Case(name: "uN (seg6local End flavors next-csid lblen 32 nflen 16)",
             kernel: [["-6", "route", "add", "fcbb:bbbb:100::/48", "encap", "seg6local", "action", "End", "flavors", "next-csid",
                       "lblen", "32", "nflen", "16", "dev", "veth1"]],
             prefix: ("fcbb:bbbb:100::", 48), calls: [("srv6_end", 2)],
             entry: .sid(2, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.nextCSID, lblen: 32, nflen: 16)),
             frame: { RouterTopology.fromH1(srv6(to: "fcbb:bbbb:100:200:300::", srh: nil, inner: inner6("fc00:b::2", $0))) }),
        Case(name: "uN, last C-SID: End (next-csid, argument zero)",
             kernel: [["-6", "route", "add", "fcbb:bbbb:400::/48", "encap", "seg6local", "action", "End", "flavors", "next-csid",
                       "lblen", "32", "nflen", "16", "dev", "veth1"]],
             prefix: ("fcbb:bbbb:400::", 48), calls: [("srv6_end", 3)],
             entry: .sid(3, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.nextCSID)),
             frame: { RouterTopology.fromH1(srv6(to: "fcbb:bbbb:400::", srh: Wire.srh(nextHeader: 41, segmentsLeft: 1,
                                                                                        segments: ["fc00:b::2", "fcbb:bbbb:400::"]),
                                                 inner: inner6("fc00:b::2", $0))) }),
        Case(name: "End.X (seg6local End.X nh6)",
             kernel: [["-6", "route", "add", "fc00:e::3/128", "encap", "seg6local", "action", "End.X", "nh6", "fc00:2::2", "dev", "veth1"]],
             prefix: ("fc00:e::3", 128), calls: [("srv6_end_x", 4)], entry: .sid(4, SRv6SID(behaviour: SRv6ABI.endX, nh6: "fc00:2::2")),
             frame: { RouterTopology.fromH1(srv6(to: "fc00:e::3", srh: Wire.srh(nextHeader: 41, segmentsLeft: 1,
                                                                                  segments: ["fc00:77::1", "fc00:e::3"]),
                                                 inner: inner6("fc00:77::1", $0))) }),
        Case(name: "End.T (seg6local End.T table 100)",
             kernel: [["-6", "route", "add", "fc00:e::4/128", "encap", "seg6local", "action", "End.T", "table", "100", "dev", "veth1"]],
             prefix: ("fc00:e::4", 128), calls: [("srv6_end_t", 5)], entry: .sid(5, SRv6SID(behaviour: SRv6ABI.endT, table: 100)),
             frame: { RouterTopology.fromH1(srv6(to: "fc00:e::4", srh: Wire.srh(nextHeader: 41, segmentsLeft: 1,
                                                                                  segments: ["fc00:d::8", "fc00:e::4"]),
                                                 inner: inner6("fc00:d::8", $0))) }),
        Case(name: "End.DT6 (seg6local End.DT6 table 100)",
             kernel: [["-6", "route", "add", "fc00:e::6/128", "encap", "seg6local", "action", "End.DT6", "table", "100", "dev", "veth1"]],
             prefix: ("fc00:e::6", 128), calls: [("srv6_end_dt6", 6)], entry: .sid(6, SRv6SID(behaviour: SRv6ABI.endDT6, table: 100)),
             frame: { RouterTopology.fromH1(srv6(to: "fc00:e::6", srh: Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:e::6"]),
                                                 inner: inner6("fc00:d::5", $0))) }),
        Case(name: "End.DX6 (seg6local End.DX6 nh6)",
             kernel: [["-6", "route", "add", "fc00:e::7/128", "encap", "seg6local", "action", "End.DX6", "nh6", "fc00:2::2", "dev", "veth1"]],
             prefix: ("fc00:e::7", 128), calls: [("srv6_end_dx6", 7)], entry: .sid(7, SRv6SID(behaviour: SRv6ABI.endDX6, nh6: "fc00:2::2")),
             frame: { RouterTopology.fromH1(srv6(to: "fc00:e::7", srh: nil, inner: inner6("fc00:99::1", $0))) }),
        // nh4 behind a gateway: with nh4 on a connected subnet the kernel resolves the inner
        // destination's neighbour instead of nh4's (see docs/srv6-dataplane.md), we nh4's.
        Case(name: "End.DX4 (seg6local End.DX4 nh4)",
             kernel: [["route", "add", "10.3.0.0/24", "via", "10.2.0.2", "dev", "veth2"],
                      ["-6", "route", "add", "fc00:e::8/128", "encap", "seg6local", "action", "End.DX4", "nh4", "10.3.0.1", "dev", "veth1"]],
             prefix: ("fc00:e::8", 128), calls: [("srv6_end_dx4", 8)], entry: .sid(8, SRv6SID(behaviour: SRv6ABI.endDX4, nh4: "10.3.0.1")),
             frame: { RouterTopology.fromH1(srv6(to: "fc00:e::8", srh: Wire.srh(nextHeader: 4, segmentsLeft: 0, segments: ["fc00:e::8"]),
                                                 inner: Wire.ipv4(tos: 8, ttl: 21, source: "10.1.0.1", destination: "192.0.2.7", payload: $0),
                                                 innerProto: 4)) }),
    ] }

    @Test func ourOutputEqualsTheKernelsByteForByte() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let r = net.r
        try net.topology.ip(["sr", "tunsrc", "set", "fc00:1::100"], in: r)
        for route in [["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"], ["fc00:77::/64", "via", "fc00:2::2", "dev", "veth2"],
                      ["fcbb:bbbb:200::/48", "via", "fc00:2::2", "dev", "veth2"],
                      ["fc00:d::/64", "via", "fc00:2::2", "dev", "veth2", "table", "100"]] {
            try net.route(route)
        }

        let dp = try SRv6Dataplane()
        try dp.chain("pass", [("hike_pass", nil)])
        // h2 takes redirected frames only with an XDP program on its end of the veth.
        try dp.hike.attach(loader: "ip46_classifier", interface: "veth0", namespace: net.h2, chain: "pass", defaultVerdict: ABI.xdpPass)
        let loader = try dp.hike.attach(loader: "srv6_localsid", interface: "veth1", namespace: r, chain: nil, defaultVerdict: ABI.xdpPass)
        let lpm6 = try BPFMap.openPinned("\(loader.directory)/srv6_lpm6")
        let lpm4 = try BPFMap.openPinned("\(loader.directory)/srv6_lpm4")
        let capture = try FrameCapture(interface: "veth0", in: net.h2)

        let kernelEndFlavours = try KernelSRv6.support.endFlavours
        for (n, c) in Self.cases.enumerated() {
            // 6.1's End takes no psp (6.3+): no kernel reference there, and the kernel must say
            // so. Our PSP is checked against RFC 8986 without it (BehaviourTests).
            if c.kernel.joined().contains("psp"), !kernelEndFlavours.contains("psp") {
                for command in c.kernel {
                    let refused = try Command.run(["ip", "-n", r.name] + command)
                    #expect(refused.status != 0 && refused.stderr.contains("Unsupported Flavor"), "\(c.name): \(refused.stderr)")
                }
                continue
            }
            for command in c.kernel { try net.topology.ip(command, in: r) }
            let chain = "case\(n)"
            try dp.chain(chain, c.calls)
            let statsMap: String, index: UInt32
            switch c.entry {
            case let .policy(i, policy):
                try dp.setPolicy(i, policy)
                (statsMap, index) = ("srv6_policy_stats", i)
            case let .sid(i, sid):
                try dp.setSID(i, sid)
                (statsMap, index) = ("srv6_sid_stats", i)
            }
            let marker = randomMarker()
            let frame = c.frame(marker)

            _ = capture.drain()
            try Traffic.sendFrames([frame], interface: "veth0", in: net.h1)
            let kernel = try capture.frame(containing: marker)

            let isV4 = c.prefix.address.contains(".")
            let key = BPFMap.bytesOf(c.prefix.length) + (isV4 ? Wire.addr4(c.prefix.address) : Wire.addr(c.prefix.address))
            let chainID = try #require(try dp.hike.registry().chains[chain]).id
            try (isV4 ? lpm4 : lpm6).update(key: key, value: BPFMap.bytesOf(chainID))
            let before = try dp.stats(statsMap, index)
            _ = capture.drain()
            try Traffic.sendFrames([frame], interface: "veth0", in: net.h1)
            let ours = try capture.frame(containing: marker)
            _ = try (isV4 ? lpm4 : lpm6).delete(key: key)

            #expect(ours == kernel, "\(c.name):\n kernel \(hex(kernel))\n ours   \(hex(ours))")
            // Ours really ran in XDP: the entry counted the packet.
            #expect(try dp.stats(statsMap, index)[0] == before[0] + 1, "\(c.name): the fast path did not count the packet")
        }
        #expect(try dp.hike.faultCounts().isEmpty)
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
