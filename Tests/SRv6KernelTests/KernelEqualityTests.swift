import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
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
    init() throws { try KernelTest.prepare() }

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

        for (n, c) in Self.cases.enumerated() {
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

/// Interop on real traffic: h1 ─ A ─ C ─ B ─ h2, A ours, B the kernel's, C both.
///
/// - h1 → h2: our H.Encaps on A (segments C's End, B's End.DT6) → the kernel's End on C → the
///   kernel's End.DT6 on B.
/// - h2 → h1: the kernel's seg6 encap on B (segments C's End, A's End.DT6) → our End on C (on
///   the interface from B) → our End.DT6 on A.
///
/// Every SID and policy of ours has the kernel's route as its fallback, as a hybrid node has:
/// the first packets (neighbours not yet resolved) take it. Core links have MTU 1600, so a full
/// 1500-byte packet still fits once encapsulated.
@Suite(.serialized) struct KernelInteropTests {
    init() throws { try KernelTest.prepare() }

    struct Line {
        let topology: Topology
        let h1: NetworkNamespace, a: NetworkNamespace, c: NetworkNamespace, b: NetworkNamespace, h2: NetworkNamespace
    }

    /// The line with addresses and plain routes; SRv6 routes are each test's.
    func line() throws -> Line {
        let t = KernelTest.topology()
        do {
            let h1 = try t.addNamespace("h1"), a = try t.addNamespace("a"), c = try t.addNamespace("c")
            let b = try t.addNamespace("b"), h2 = try t.addNamespace("h2")
            try t.addVethPair(h1, "veth0", a, "veth1")
            try t.addVethPair(a, "veth2", c, "veth1", mtu: 1600)
            try t.addVethPair(c, "veth2", b, "veth1", mtu: 1600)
            try t.addVethPair(b, "veth2", h2, "veth0")
            // addVethPair's mtu sets the first end only.
            for (ns, dev) in [(c, "veth1"), (b, "veth1")] { try t.ip(["link", "set", "dev", dev, "mtu", "1600"], in: ns) }
            for (ns, dev, cidr) in [(h1, "veth0", "fc00:1::1/64"), (a, "veth1", "fc00:1::a/64"), (a, "veth2", "fc00:ac::a/64"),
                                    (c, "veth1", "fc00:ac::c/64"), (c, "veth2", "fc00:cb::c/64"), (b, "veth1", "fc00:cb::b/64"),
                                    (b, "veth2", "fc00:2::b/64"), (h2, "veth0", "fc00:2::2/64")] {
                try t.addAddress(cidr, interface: dev, in: ns)
            }
            for ns in [a, c, b] { try t.sysctl("net.ipv6.conf.all.forwarding", "1", in: ns) }
            try t.addRoute(["default", "via", "fc00:1::a"], in: h1)
            try t.addRoute(["default", "via", "fc00:2::b"], in: h2)
            try t.addRoute(["fc00:c::/64", "via", "fc00:ac::c"], in: a)
            try t.addRoute(["fc00:b::/64", "via", "fc00:ac::c"], in: a)
            try t.addRoute(["fc00:a::/64", "via", "fc00:ac::a"], in: c)
            try t.addRoute(["fc00:b::/64", "via", "fc00:cb::b"], in: c)
            try t.addRoute(["fc00:c::/64", "via", "fc00:cb::c"], in: b)
            try t.addRoute(["fc00:a::/64", "via", "fc00:cb::c"], in: b)
            for (ns, route) in [(a, ["fcbb:bbbb:c00::/48", "via", "fc00:ac::c"]), (c, ["fcbb:bbbb:a00::/48", "via", "fc00:ac::a"]),
                                (c, ["fcbb:bbbb:b00::/48", "via", "fc00:cb::b"]), (b, ["fcbb:bbbb:c00::/48", "via", "fc00:cb::c"])] {
                try t.addRoute(route, in: ns)
            }
            return Line(topology: t, h1: h1, a: a, c: c, b: b, h2: h2)
        } catch {
            t.destroy()
            throw error
        }
    }

    /// Attaches srv6_localsid to an interface with routes (prefix, length, chain).
    func localSID(_ dp: SRv6Dataplane, _ ns: NetworkNamespace, _ dev: String, _ routes: [(String, UInt32, String)]) throws {
        let chains = try dp.hike.registry().chains
        let record = try dp.hike.attach(loader: "srv6_localsid", interface: dev, namespace: ns, chain: nil, defaultVerdict: ABI.xdpPass)
        let lpm = try BPFMap.openPinned("\(record.directory)/srv6_lpm6")
        for (prefix, length, chain) in routes {
            try lpm.update(key: BPFMap.bytesOf(length) + Wire.addr(prefix), value: BPFMap.bytesOf(try #require(chains[chain]).id))
        }
    }

    /// The kernel's seg6local `count` of a route: its packets.
    func kernelCount(_ route: String, in ns: NetworkNamespace, _ topology: Topology) throws -> UInt64 {
        let text = try topology.ip(["-s", "-6", "route", "show", route], in: ns)
        let words = text.split(whereSeparator: \.isWhitespace)
        let at = try #require(words.firstIndex(of: "packets"), "no counters in: \(text)")
        return try #require(UInt64(words[words.index(after: at)]))
    }

    /// `ip -6 route add` in each namespace.
    func routes(_ net: Line, _ list: [(NetworkNamespace, [String])]) throws {
        for (ns, route) in list { try net.topology.ip(["-6", "route", "add"] + route, in: ns) }
    }

    @Test func pingAndTCPCrossOurNodesAndTheKernelsBothWays() throws {
        let net = try line()
        defer { net.topology.destroy() }
        let (a, c, b) = (net.a, net.c, net.b)
        // The kernel's SRv6: B's End.DT6 and encap, C's End; and A's and C's fallbacks.
        try routes(net, [
            (b, ["fc00:b::d6/128", "encap", "seg6local", "action", "End.DT6", "table", "254", "count", "dev", "veth1"]),
            (b, ["fc00:1::/64", "encap", "seg6", "mode", "encap", "segs", "fc00:c::e,fc00:a::d6", "dev", "veth1"]),
            (c, ["fc00:c::e/128", "encap", "seg6local", "action", "End", "count", "dev", "veth1"]),
            (a, ["fc00:a::d6/128", "encap", "seg6local", "action", "End.DT6", "table", "254", "count", "dev", "veth2"]),
            (a, ["fc00:2::/64", "encap", "seg6", "mode", "encap", "segs", "fc00:c::e,fc00:b::d6", "dev", "veth2"]),
        ])
        try net.topology.ip(["sr", "tunsrc", "set", "fc00:ac::a"], in: a)
        try net.topology.ip(["sr", "tunsrc", "set", "fc00:cb::b"], in: b)
        let dp = try SRv6Dataplane()
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.encaps, segments: ["fc00:c::e", "fc00:b::d6"], source: "fc00:ac::a"))
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end))                    // C
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endDT6, table: 254))     // A
        try dp.chain("a_encap", [("srv6_h_encaps", 0), ("ip6_kroute", nil)])
        try dp.chain("c_end", [("srv6_end", 0)])
        try dp.chain("a_dt6", [("srv6_end_dt6", 1)])
        try dp.chain("pass", [("hike_pass", nil)])
        try localSID(dp, net.a, "veth1", [("fc00:2::", 64, "a_encap")])
        try localSID(dp, net.a, "veth2", [("fc00:a::d6", 128, "a_dt6")])
        try localSID(dp, net.c, "veth2", [("fc00:c::e", 128, "c_end")])
        // Ends that receive our redirected frames need an XDP program of their own.
        try dp.hike.attach(loader: "ip46_classifier", interface: "veth1", namespace: net.c, chain: "pass", defaultVerdict: ABI.xdpPass)
        try dp.hike.attach(loader: "ip46_classifier", interface: "veth0", namespace: net.h1, chain: "pass", defaultVerdict: ABI.xdpPass)

        // The first pings resolve neighbours through the kernel; then the fast path carries them.
        #expect(try Traffic.ping(from: net.h1, to: "fc00:2::2", count: 3, interval: 0.05).received == 3)
        let before = (encap: try dp.policyStats(0)[0], end: try dp.sidStats(0)[0], dt6: try dp.sidStats(1)[0])
        let kernelBefore = (end: try kernelCount("fc00:c::e", in: net.c, net.topology),
                            dt6: try kernelCount("fc00:b::d6", in: net.b, net.topology))
        #expect(try Traffic.ping(from: net.h1, to: "fc00:2::2", count: 20, interval: 0.01).received == 20)
        #expect(try Traffic.ping(from: net.h2, to: "fc00:1::1", count: 20, interval: 0.01).received == 20)
        // h1 → h2 requests and h2 → h1 replies went through A's H.Encaps and B's kernel End.DT6
        // (and the other 20 + 20 through B's encap, C's End and A's End.DT6, ours).
        #expect(try dp.policyStats(0)[0] - before.encap >= 40, "A's H.Encaps did not carry the pings")
        #expect(try dp.sidStats(0)[0] - before.end >= 40, "C's End (ours) did not carry the pings")
        #expect(try dp.sidStats(1)[0] - before.dt6 >= 40, "A's End.DT6 (ours) did not carry the pings")
        #expect(try kernelCount("fc00:c::e", in: net.c, net.topology) - kernelBefore.end >= 40, "C's kernel End did not see them")
        #expect(try kernelCount("fc00:b::d6", in: net.b, net.topology) - kernelBefore.dt6 >= 40, "B's kernel End.DT6 did not see them")

        // A TCP transfer each way: 1 MiB, its SHA-256 checked at the receiver. An XDP_REDIRECT
        // between veths drops the skb's checksum offload state, so the hosts must fill in their
        // TCP checksums themselves (on a NIC the hardware would).
        try TCPTransfer.disableChecksumOffload("veth0", in: net.h1)
        try TCPTransfer.disableChecksumOffload("veth0", in: net.h2)
        for (server, serverAddress, client) in [(net.h2, "fc00:2::2", net.h1), (net.h1, "fc00:1::1", net.h2)] {
            let encaps = try dp.policyStats(0)[0], ends = try dp.sidStats(0)[0]
            let result = try TCPTransfer.run(bytes: 1 << 20, server: server, address: serverAddress, client: client)
            #expect(result.received == result.sent, "TCP to \(serverAddress): \(result)")
            #expect(!result.sent.isEmpty)
            // 1 MiB is over 700 full segments: they crossed our H.Encaps (h1 → h2) or our End (h2 → h1).
            let carried = server == net.h2 ? try dp.policyStats(0)[0] - encaps : try dp.sidStats(0)[0] - ends
            #expect(carried > 700, "TCP to \(serverAddress): our fast path carried \(carried) packets")
        }
        #expect(try dp.hike.faultCounts().isEmpty)
    }

    /// A uSID path (RFC 9800 NEXT-C-SID, 32-bit block fcbb:bbbb::/32, 16-bit C-SIDs) mixing our
    /// nodes and the kernel's, with one container and no SRH (H.Encaps.Red of one SID):
    /// h1 → h2: our H.Encaps.Red on A to fcbb:bbbb:c00:b00:d6:: → the kernel's uN on C → our
    /// uDT6 (End.DT6 on fcbb:bbbb:b00:d6::/64) on B; h2 → h1: the kernel's encap.red on B to
    /// fcbb:bbbb:c00:a00:d6:: → our uN on C → the kernel's uDT6 on A.
    @Test func aUSIDPathMixesOurNodesAndTheKernels() throws {
        let net = try line()
        defer { net.topology.destroy() }
        let (a, c, b) = (net.a, net.c, net.b)
        let uN = ["encap", "seg6local", "action", "End", "flavors", "next-csid", "lblen", "32", "nflen", "16", "count"]
        try routes(net, [
            (c, ["fcbb:bbbb:c00::/48"] + uN + ["dev", "veth1"]),
            (a, ["fcbb:bbbb:a00:d6::/64", "encap", "seg6local", "action", "End.DT6", "table", "254", "count", "dev", "veth2"]),
            (b, ["fc00:1::/64", "encap", "seg6", "mode", "encap.red", "segs", "fcbb:bbbb:c00:a00:d6::", "dev", "veth1"]),
            // Fallbacks of our SIDs and policy.
            (b, ["fcbb:bbbb:b00:d6::/64", "encap", "seg6local", "action", "End.DT6", "table", "254", "dev", "veth1"]),
            (a, ["fc00:2::/64", "encap", "seg6", "mode", "encap.red", "segs", "fcbb:bbbb:c00:b00:d6::", "dev", "veth2"]),
        ])
        try net.topology.ip(["sr", "tunsrc", "set", "fc00:ac::a"], in: a)
        try net.topology.ip(["sr", "tunsrc", "set", "fc00:cb::b"], in: b)

        let dp = try SRv6Dataplane()
        try dp.setPolicy(0, SRv6Policy(mode: SRv6ABI.encapsRed, segments: ["fcbb:bbbb:c00:b00:d6::"], source: "fc00:ac::a"))
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.nextCSID))  // C's uN
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endDT6, table: 254))               // B's uDT6
        try dp.chain("a_encap", [("srv6_h_encaps_red", 0), ("ip6_kroute", nil)])
        try dp.chain("c_un", [("srv6_end", 0)])
        try dp.chain("b_udt6", [("srv6_end_dt6", 1)])
        try dp.chain("pass", [("hike_pass", nil)])
        try localSID(dp, a, "veth1", [("fc00:2::", 64, "a_encap")])
        try localSID(dp, c, "veth2", [("fcbb:bbbb:c00::", 48, "c_un")])
        try localSID(dp, b, "veth1", [("fcbb:bbbb:b00:d6::", 64, "b_udt6")])
        for (ns, dev) in [(c, "veth1"), (net.h2, "veth0"), (a, "veth2")] {
            try dp.hike.attach(loader: "ip46_classifier", interface: dev, namespace: ns, chain: "pass", defaultVerdict: ABI.xdpPass)
        }

        #expect(try Traffic.ping(from: net.h1, to: "fc00:2::2", count: 3, interval: 0.05).received == 3)
        let before = (encap: try dp.policyStats(0)[0], un: try dp.sidStats(0)[0], udt6: try dp.sidStats(1)[0])
        let kernelBefore = (un: try kernelCount("fcbb:bbbb:c00::/48", in: c, net.topology),
                            udt6: try kernelCount("fcbb:bbbb:a00:d6::/64", in: a, net.topology))
        #expect(try Traffic.ping(from: net.h1, to: "fc00:2::2", count: 20, interval: 0.01).received == 20)
        #expect(try Traffic.ping(from: net.h2, to: "fc00:1::1", count: 20, interval: 0.01).received == 20)
        #expect(try dp.policyStats(0)[0] - before.encap >= 40, "A's H.Encaps.Red (ours) did not carry the pings")
        #expect(try dp.sidStats(1)[0] - before.udt6 >= 40, "B's uDT6 (ours) did not carry the pings")
        #expect(try dp.sidStats(0)[0] - before.un >= 40, "C's uN (ours) did not carry the pings")
        #expect(try kernelCount("fcbb:bbbb:c00::/48", in: c, net.topology) - kernelBefore.un >= 40, "C's kernel uN did not see them")
        #expect(try kernelCount("fcbb:bbbb:a00:d6::/64", in: a, net.topology) - kernelBefore.udt6 >= 40,
                "A's kernel uDT6 did not see them")

        try TCPTransfer.disableChecksumOffload("veth0", in: net.h1)
        try TCPTransfer.disableChecksumOffload("veth0", in: net.h2)
        for (server, serverAddress, client) in [(net.h2, "fc00:2::2", net.h1), (net.h1, "fc00:1::1", net.h2)] {
            let result = try TCPTransfer.run(bytes: 1 << 20, server: server, address: serverAddress, client: client)
            #expect(result.received == result.sent, "TCP to \(serverAddress): \(result)")
            #expect(!result.sent.isEmpty)
        }
        #expect(try dp.hike.faultCounts().isEmpty)
    }
}

/// A TCP transfer between two namespaces by Python's socket module (`ip netns exec`, a child
/// process: its own view of /sys does not touch ours).
enum TCPTransfer {
    struct Result: CustomStringConvertible {
        let sent: String
        let received: String
        var description: String { "sent \(sent), received \(received)" }
    }

    /// ETHTOOL_STXCSUM off (ioctl SIOCETHTOOL): the stack computes checksums before sending.
    static func disableChecksumOffload(_ interface: String, in namespace: NetworkNamespace) throws {
        let script = """
            import socket, fcntl, struct, array
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            value = array.array("B", struct.pack("II", 0x17, 0))
            fcntl.ioctl(s.fileno(), 0x8946, struct.pack("16sQ16x", b"\(interface)", value.buffer_info()[0]))
            """
        _ = try Command.check(["ip", "netns", "exec", namespace.name, "/usr/bin/python3", "-c", script])
    }

    static func run(bytes: Int, server: NetworkNamespace, address: String, client: NetworkNamespace) throws -> Result {
        let port = Int.random(in: 20000...40000)
        let serve = """
            import socket, hashlib
            s = socket.socket(socket.AF_INET6)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("\(address)", \(port)))
            s.listen(1)
            s.settimeout(30)
            print("listening", flush=True)
            c, _ = s.accept()
            c.settimeout(30)
            h, n = hashlib.sha256(), 0
            while True:
                d = c.recv(65536)
                if not d:
                    break
                h.update(d)
                n += len(d)
            print(n, h.hexdigest())
            """
        let send = """
            import socket, hashlib, time
            data = bytes(range(256)) * (\(bytes) // 256)
            c = socket.create_connection(("\(address)", \(port)), timeout=30)
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            c.recv(1)
            c.close()
            print(len(data), hashlib.sha256(data).hexdigest())
            """
        let listener = try Command.start(["ip", "netns", "exec", server.name, "/usr/bin/python3", "-u", "-c", serve])
        // The client may only connect once the server listens: wait for it to say so.
        try KernelTest.waitUntil("the TCP server listens", timeout: .seconds(15)) {
            try Command.run(["ip", "netns", "exec", server.name, "ss", "-Hltn", "sport", "= :\(port)"]).stdout.contains("\(port)")
        }
        let sender = try Command.run(["ip", "netns", "exec", client.name, "/usr/bin/python3", "-c", send])
        let received = listener.wait()
        #expect(sender.status == 0, "TCP client: \(sender.stderr)")
        #expect(received.status == 0, "TCP server: \(received.stderr)")
        let lines = received.stdout.split(separator: "\n").map(String.init)
        return Result(sent: sender.stdout.trimmingCharacters(in: .whitespacesAndNewlines), received: lines.last ?? "")
    }
}
