import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import NetKit
import SRv6
import Testing
import Topology

/// Interop with the kernel's own SRv6 on real traffic: hosts h1 and h2 joined by a line of
/// routers, some running hike's srv6 package in XDP, the others the kernel's seg6/seg6local.
/// Ping and a TCP transfer (both ways on one connection, and a connection each way) must pass.
/// Return paths are kernel SRv6 too (an encap route at the far edge), so both directions cross
/// our nodes and the kernel's.
@Suite(.serialized) struct InteropTests {
    init() throws { try KernelTest.requireKernelSRv6() }

    // MARK: (a) our H.Encaps → kernel End → kernel End.DT6

    /// Line (a): r1 (ours) encapsulates towards r2's kernel End and r3's kernel End.DT6; the
    /// return is kernel SRv6 (r3 encapsulates to r2's End and r1's kernel End.DT6).
    static func ourHeadendLine(_ line: RouterLine) throws -> SRv6Node {
        try line.kernel(2, "fc00:2::100", ["End"], dev: "veth1")
        try line.kernel(3, "fc00:3::d6", ["End.DT6", "table", "254"], dev: "veth1")
        try line.kernelEncap(3, "fd00:1::/64", segments: "fc00:2::100,fc00:1::d6", dev: "veth1")
        try line.kernel(1, "fc00:1::d6", ["End.DT6", "table", "254"], dev: "veth2")
        // The policy's kernel mirror (the same seg6 encap) takes the prefix's place: apply
        // refuses to replace a route it did not install.
        _ = try line.topology.ip(["-6", "route", "del", "fd00:2::/64"], in: line.router(1))
        let r1 = try line.hike(1, """
            interfaces: [veth1]
            policies:
              - destination: fd00:2::/64
                mode: encaps
                segments: [fc00:2::100, fc00:3::d6]
                source: fc00:1::1
            """)
        _ = try line.passer(2, ["veth1"])  // r1 redirects to r2's veth1
        return r1
    }


    @Test func ourHEncapsThroughKernelEndAndEndDT6() throws {
        let line = try RouterLine(routers: 3)
        defer { line.tearDown() }
        let r1 = try Self.ourHeadendLine(line)

        try line.expectTrafficBothWays()
        let status = try r1.status()
        let policy = try #require(status.policies.first)
        #expect(policy.packets >= UInt64(RouterLine.pings + RouterLine.tcpMinimumPackets), "\(status)")
        #expect(policy.errors == 0)
        RouterLine.expectFastPath(status)
    }

    /// A headend that cannot finish hands the packet to the kernel, whose mirror route is the
    /// same policy: with r1's policy entry emptied (every packet a NO_ENTRY failure), traffic
    /// still crosses the SR path, encapsulated by the kernel's seg6 route that apply installed
    /// in place of the plain route.
    @Test func aFailingHeadendFallsBackToTheKernelsSamePolicy() throws {
        let line = try RouterLine(routers: 3)
        defer { line.tearDown() }
        let r1 = try Self.ourHeadendLine(line)
        let index = try #require(try r1.status().policies.first).index
        let policies = try BPFMap.openPinned("\(r1.hike.pinRoot)/maps/srv6/srv6_policies")
        try policies.update(key: BPFMap.bytesOf(index), value: [UInt8](repeating: 0, count: policies.valueSize))
        try line.ready()

        try KernelTest.waitUntil("h1 and h2 reach each other", timeout: .seconds(20)) {
            try Traffic.ping(from: line.h1, to: "fd00:2::2", count: 1, interval: 0.2).received == 1
        }
        let pings = try Traffic.ping(from: line.h1, to: "fd00:2::2", count: RouterLine.pings, interval: 0.05)
        #expect(pings.received == RouterLine.pings, "\(pings)")
        let status = try r1.status()
        let policy = try #require(status.policies.first)
        #expect(policy.packets == 0 && policy.errors >= UInt64(RouterLine.pings + 1), "\(policy)")
        #expect((status.reasons["no_entry"] ?? 0) >= UInt64(RouterLine.pings + 1), "\(status.reasons)")
    }

    /// The control: the same line with the kernel doing every node passes the same checks.
    @Test func theSameLineWithKernelNodesOnly() throws {
        let line = try RouterLine(routers: 3)
        defer { line.tearDown() }
        try line.kernelEncap(1, "fd00:2::/64", segments: "fc00:2::100,fc00:3::d6", dev: "veth2")
        try line.kernel(2, "fc00:2::100", ["End"], dev: "veth1")
        try line.kernel(3, "fc00:3::d6", ["End.DT6", "table", "254"], dev: "veth1")
        try line.kernelEncap(3, "fd00:1::/64", segments: "fc00:2::100,fc00:1::d6", dev: "veth1")
        try line.kernel(1, "fc00:1::d6", ["End.DT6", "table", "254"], dev: "veth2")
        try line.expectTrafficBothWays()
    }

    // MARK: (b) kernel seg6 encap → our End → our End.DT6

    @Test func kernelEncapThroughOurEndAndEndDT6() throws {
        let line = try RouterLine(routers: 3)
        defer { line.tearDown() }
        try line.kernelEncap(1, "fd00:2::/64", segments: "fc00:2::100,fc00:3::d6", dev: "veth2")
        try line.kernelEncap(3, "fd00:1::/64", segments: "fc00:2::100,fc00:1::d6", dev: "veth1")
        try line.kernel(1, "fc00:1::d6", ["End.DT6", "table", "254"], dev: "veth2")

        let r2 = try line.hike(2, """
            interfaces: [veth1, veth2]
            local-sids:
              - sid: fc00:2::100
                behaviour: End
            """)
        let r3 = try line.hike(3, """
            interfaces: [veth1]
            local-sids:
              - sid: fc00:3::d6
                behaviour: End.DT6
                table: 254
            """)
        _ = try line.passer(1, ["veth2"])       // r2 redirects the return traffic to r1
        _ = try line.passerOnHost(2, ["veth0"]) // r3 redirects the decapsulated packets to h2

        try line.expectTrafficBothWays()
        let end = try #require(try r2.status().sids.first)
        let dt6 = try #require(try r3.status().sids.first)
        // r2's End runs both ways; r3's End.DT6 forward only.
        #expect(end.packets >= UInt64(2 * (RouterLine.pings + RouterLine.tcpMinimumPackets)), "\(end)")
        #expect(dt6.packets >= UInt64(RouterLine.pings + RouterLine.tcpMinimumPackets), "\(dt6)")
        #expect(end.errors == 0 && dt6.errors == 0)
        RouterLine.expectFastPath(try r2.status())
        RouterLine.expectFastPath(try r3.status())
    }

    /// The control of (c): the kernel on every node of the same uSID line.
    @Test func theMicroSIDLineWithKernelNodesOnly() throws {
        let line = try RouterLine(routers: 4)
        defer { line.tearDown() }
        try line.kernelEncap(1, "fd00:2::/64", segments: "fcbb:bbbb:200:300:e04::", dev: "veth2")
        try line.kernel(1, "fcbb:bbbb:e01::/48", ["End.DT6", "table", "254"], dev: "veth2")
        for i in 2...3 {
            try line.kernel(i, "fcbb:bbbb:\(i)00::/48", ["End", "flavors", "next-csid", "lblen", "32", "nflen", "16"], dev: "veth1")
        }
        try line.kernel(4, "fcbb:bbbb:e04::/48", ["End.DT6", "table", "254"], dev: "veth1")
        try line.kernelEncap(4, "fd00:1::/64", segments: "fcbb:bbbb:300:200:e01::", dev: "veth1")
        try line.expectTrafficBothWays()
    }

    // MARK: IPv4 over SRv6: our H.Encaps of IPv4 and our End.DT4 (no VRF), kernel End between

    /// The core carries no IPv4: h1 and h2 reach each other only through the tunnels. r1 and r3
    /// each encapsulate IPv4 for the far host (srv6_lpm4) and decapsulate with End.DT4 in the
    /// main table, which the kernel could only do with a VRF; r2 is the kernel's End.
    @Test func ipv4OverOurHEncapsAndEndDT4() throws {
        let line = try RouterLine(routers: 3, ipv4: true)
        defer { line.tearDown() }
        try line.kernel(2, "fc00:2::100", ["End"], dev: "veth1")
        func edge(_ i: Int, far: String, back: Int) throws -> SRv6Node {
            try line.hike(i, """
                interfaces: [veth1, veth2]
                local-sids:
                  - sid: fc00:\(i)::d4
                    behaviour: End.DT4
                    table: 254
                policies:
                  - destination: \(far)
                    mode: encaps
                    segments: [fc00:2::100, fc00:\(back)::d4]
                    source: fc00:\(i)::1
                """)
        }
        let r1 = try edge(1, far: "10.2.0.0/16", back: 3)
        let r3 = try edge(3, far: "10.1.0.0/16", back: 1)
        _ = try line.passer(2, ["veth1", "veth2"])
        _ = try line.passerOnHost(1, ["veth0"])
        _ = try line.passerOnHost(2, ["veth0"])

        try line.expectTrafficBothWays(h1Address: "10.1.0.1", h2Address: "10.2.0.2")
        for node in [r1, r3] {
            let status = try node.status()
            let policy = try #require(status.policies.first), dt4 = try #require(status.sids.first)
            #expect(policy.packets >= UInt64(RouterLine.pings + RouterLine.tcpMinimumPackets), "\(policy)")
            #expect(dt4.packets >= UInt64(RouterLine.pings + RouterLine.tcpMinimumPackets), "\(dt4)")
            // End.DT4 has no kernel mirror: the packets before ARP resolved the host went to the
            // kernel decapsulated, which resolved it; no more of them than with a mirror.
            RouterLine.expectFastPath(status)
        }
    }

    /// A one-way flow through our End.DT4, which has no kernel mirror, to a host whose
    /// neighbour entry nothing has made yet (h2 sends nothing): the first datagram arrives.
    /// The inner packet goes to the kernel decapsulated, the kernel resolves h2 and forwards
    /// it; passed untouched it would be routed to the SID and dropped, every time.
    @Test func aOneWayFlowThroughEndDT4ResolvesTheInnerNeighbour() throws {
        let line = try RouterLine(routers: 3, ipv4: true)
        defer { line.tearDown() }
        try line.kernel(2, "fc00:2::100", ["End"], dev: "veth1")
        _ = try line.hike(1, """
            interfaces: [veth1, veth2]
            policies:
              - destination: 10.2.0.0/16
                mode: encaps
                segments: [fc00:2::100, fc00:3::d4]
                source: fc00:1::1
            """)
        let r3 = try line.hike(3, """
            interfaces: [veth1]
            local-sids:
              - sid: fc00:3::d4
                behaviour: End.DT4
                table: 254
            """)
        _ = try line.passer(2, ["veth1"])
        _ = try line.passerOnHost(2, ["veth0"])
        #expect(try line.topology.ip(["neigh", "show", "10.2.0.2"], in: line.router(3))
            .trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "r3 must not know h2 yet")
        try line.ready()

        let receiver = try UDPReceiver(in: line.h2, port: 4000)
        try Traffic.sendUDP(from: line.h1, to: "10.2.0.2", port: 4000, payload: Array(repeating: 0x5a, count: 64))
        try KernelTest.waitUntil("h2 receives the first datagram") { receiver.drain() == 1 }
        let status = try r3.status()
        #expect(status.reasons["fib_miss"] == 1, "the first packet found no neighbour: \(status.reasons)")
        #expect(status.sids.first?.errors == 0)
        // Once the kernel resolved h2, the flow takes the fast path.
        try Traffic.sendUDP(from: line.h1, to: "10.2.0.2", port: 4000, payload: Array(repeating: 0x5b, count: 64), count: 3)
        try KernelTest.waitUntil("h2 receives the next three") { receiver.drain() == 4 }
        #expect(try r3.status().sids.first?.packets == 3)
    }

    // MARK: (c) uSID: our uN and the kernel's NEXT-C-SID on one path

    /// Block fcbb:bbbb::/32 with 16-bit C-SIDs: router i is uN fcbb:bbbb:i00::/48 and its
    /// End.DT6 is fcbb:bbbb:e0i::/48. Forward h1 → h2: r1 (kernel) encapsulates to the
    /// container fcbb:bbbb:200:300:e04::, r2 (ours) shifts, r3 (kernel NEXT-C-SID) shifts, r4
    /// (ours) decapsulates. Return: r4 (kernel) to fcbb:bbbb:300:200:e01::, r3 (kernel), r2
    /// (ours), r1 (kernel End.DT6).
    @Test func microSIDPathMixingOurUNAndKernelNextCSID() throws {
        let line = try RouterLine(routers: 4)
        defer { line.tearDown() }
        try line.kernelEncap(1, "fd00:2::/64", segments: "fcbb:bbbb:200:300:e04::", dev: "veth2")
        try line.kernel(1, "fcbb:bbbb:e01::/48", ["End.DT6", "table", "254"], dev: "veth2")
        try line.kernel(3, "fcbb:bbbb:300::/48", ["End", "flavors", "next-csid", "lblen", "32", "nflen", "16"], dev: "veth1")
        try line.kernelEncap(4, "fd00:1::/64", segments: "fcbb:bbbb:300:200:e01::", dev: "veth1")

        let r2 = try line.hike(2, """
            interfaces: [veth1, veth2]
            locators:
              - name: usid
                prefix: fcbb:bbbb:200::/48
                block-bits: 32
                node-bits: 16
            local-sids:
              - sid: fcbb:bbbb:200::/48
                behaviour: uN
                locator: usid
            """)
        let r4 = try line.hike(4, """
            interfaces: [veth1]
            local-sids:
              - sid: fcbb:bbbb:e04::/48
                behaviour: End.DT6
                table: 254
            """)
        _ = try line.passer(1, ["veth2"])        // r2 redirects the return traffic to r1
        _ = try line.passer(3, ["veth1"])        // r2 redirects the forward traffic to r3
        _ = try line.passerOnHost(2, ["veth0"])  // r4 redirects to h2

        try line.expectTrafficBothWays()
        let un = try #require(try r2.status().sids.first)
        let dt6 = try #require(try r4.status().sids.first)
        #expect(un.packets >= UInt64(2 * (RouterLine.pings + RouterLine.tcpMinimumPackets)), "\(un)")
        #expect(dt6.packets >= UInt64(RouterLine.pings + RouterLine.tcpMinimumPackets), "\(dt6)")
        #expect(un.errors == 0 && dt6.errors == 0)
        RouterLine.expectFastPath(try r2.status())
        RouterLine.expectFastPath(try r4.status())
    }
}

/// h1 — r1 — … — rN — h2 in namespaces of their own.
///
///     h1 veth0 fd00:1::1/64 ↔ r1 veth1 fd00:1::100/64
///     ri veth2 fc00:i(i+1)::i/64 ↔ r(i+1) veth1 fc00:i(i+1)::(i+1)/64
///     rN veth2 fd00:2::100/64 ↔ h2 veth0 fd00:2::2/64
///
/// Router i owns fc00:i::/48 (SIDs), fcbb:bbbb:i00::/48 (uN) and fcbb:bbbb:e0i::/48 (uDT);
/// every router has routes to the others' and to both host prefixes. Host links have an MTU
/// of 1400 so that encapsulated packets fit the 1500 of the core links.
final class RouterLine {
    static let pings = 5
    /// A 256 KiB transfer each way takes at least this many segments of ≤ 1340 bytes.
    static let tcpMinimumPackets = 2 * 195
    static let transferBytes = 256 * 1024

    let topology: Topology
    let h1: NetworkNamespace, h2: NetworkNamespace
    let routers: [NetworkNamespace]
    /// Instances made by this line: reset when it is released, before its namespaces go.
    private var instances: [TestInstance] = []
    /// The SRv6 nodes applied on the line, in order.
    private var nodes: [SRv6Node] = []

    /// ipv4: the hosts also get 10.1.0.1/24 and 10.2.0.2/24 (edge routers .100); the core has
    /// no IPv4 at all, so IPv4 crosses it only inside SRv6.
    init(routers count: Int, ipv4: Bool = false) throws {
        let topology = KernelTest.topology()
        self.topology = topology
        do {
            h1 = try topology.addNamespace("h1")
            var routers: [NetworkNamespace] = []
            for i in 1...count {
                let router = try topology.addNamespace("r\(i)")
                for scope in ["all", "default"] {
                    try topology.sysctl("net.ipv6.conf.\(scope).forwarding", "1", in: router)
                    try topology.sysctl("net.ipv6.conf.\(scope).seg6_enabled", "1", in: router)
                }
                routers.append(router)
            }
            h2 = try topology.addNamespace("h2")
            self.routers = routers
            try topology.addVethPair(h1, "veth0", routers[0], "veth1", mtu: 1400)
            try topology.addAddress("fd00:1::1/64", interface: "veth0", in: h1)
            try topology.addAddress("fd00:1::100/64", interface: "veth1", in: routers[0])
            for i in 1..<count {
                try topology.addVethPair(routers[i - 1], "veth2", routers[i], "veth1")
                try topology.addAddress("fc00:\(i)\(i + 1)::\(i)/64", interface: "veth2", in: routers[i - 1])
                try topology.addAddress("fc00:\(i)\(i + 1)::\(i + 1)/64", interface: "veth1", in: routers[i])
            }
            try topology.addVethPair(routers[count - 1], "veth2", h2, "veth0", mtu: 1400)
            try topology.addAddress("fd00:2::100/64", interface: "veth2", in: routers[count - 1])
            try topology.addAddress("fd00:2::2/64", interface: "veth0", in: h2)
            if ipv4 {
                try topology.addAddress("10.1.0.1/24", interface: "veth0", in: h1)
                try topology.addAddress("10.1.0.100/24", interface: "veth1", in: routers[0])
                try topology.addAddress("10.2.0.100/24", interface: "veth2", in: routers[count - 1])
                try topology.addAddress("10.2.0.2/24", interface: "veth0", in: h2)
                try topology.addRoute(["default", "via", "10.1.0.100"], in: h1)
                try topology.addRoute(["default", "via", "10.2.0.100"], in: h2)
                for router in routers { try topology.sysctl("net.ipv4.ip_forward", "1", in: router) }
            }
            // The hosts compute TCP checksums themselves: a veth hands a partial checksum on with
            // the skb, but an XDP_REDIRECTed frame carries no such metadata.
            for host in [h1, h2] { try Self.disableChecksumOffload("veth0", in: host) }
            try topology.addRoute(["default", "via", "fd00:1::100"], in: h1)
            try topology.addRoute(["default", "via", "fd00:2::100"], in: h2)
            for i in 1...count {
                let router = routers[i - 1]
                let left = "fc00:\(i - 1)\(i)::\(i - 1)", right = "fc00:\(i)\(i + 1)::\(i + 1)"
                for j in 1...count where j != i {
                    let via = j < i ? left : right
                    for prefix in ["fc00:\(j)::/48", "fcbb:bbbb:\(j)00::/48", "fcbb:bbbb:e0\(j)::/48"] {
                        try topology.addRoute([prefix, "via", via], in: router)
                    }
                }
                if i > 1 { try topology.addRoute(["fd00:1::/64", "via", left], in: router) }
                if i < count { try topology.addRoute(["fd00:2::/64", "via", right], in: router) }
            }
        } catch {
            topology.destroy()
            throw error
        }
    }

    deinit { tearDown() }

    /// Resets the instances (detaching every loader) before the namespaces are deleted.
    func tearDown() {
        instances.removeAll()
        topology.destroy()
    }

    func router(_ i: Int) -> NetworkNamespace { routers[i - 1] }

    /// `ethtool -K DEV tx off` (ETHTOOL_STXCSUM through SIOCETHTOOL; ethtool is not installed).
    static func disableChecksumOffload(_ interface: String, in namespace: NetworkNamespace) throws {
        try namespace.run {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw TCPTransfer.SocketError(description: "socket: errno \(errno)") }
            defer { close(fd) }
            var value: (UInt32, UInt32) = (0x17, 0)  // struct ethtool_value { cmd = ETHTOOL_STXCSUM, data = 0 }
            var request = ifreq()
            withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { name in
                for (i, byte) in interface.utf8.prefix(15).enumerated() { name[i] = byte }
            }
            let result = withUnsafeMutablePointer(to: &value) { pointer in
                request.ifr_ifru.ifru_data = UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: CChar.self)
                return ioctl(fd, 0x8946, &request)  // SIOCETHTOOL
            }
            guard result == 0 else { throw TCPTransfer.SocketError(description: "SIOCETHTOOL on \(interface): errno \(errno)") }
        }
    }

    /// A kernel seg6local route on router i.
    func kernel(_ i: Int, _ prefix: String, _ action: [String], dev: String) throws {
        try topology.addRoute([prefix, "encap", "seg6local", "action"] + action + ["dev", dev], in: router(i))
    }

    /// A kernel seg6 encap route on router i (H.Encaps).
    func kernelEncap(_ i: Int, _ prefix: String, segments: String, dev: String) throws {
        // It replaces the plain route to the same prefix.
        try topology.ip(["-6", "route", "replace", prefix, "encap", "seg6", "mode", "encap", "segs", segments, "dev", dev], in: router(i))
    }

    /// Applies an SRv6 configuration (the namespace is added) on router i with an instance of its own.
    func hike(_ i: Int, _ yaml: String) throws -> SRv6Node {
        try hike(namespace: router(i), yaml)
    }

    func hike(namespace: NetworkNamespace, _ yaml: String) throws -> SRv6Node {
        let test = try KernelTest.instance()
        instances.append(test)
        let configuration = try SRv6Configuration.parse("namespace: \(namespace.name)\n" + yaml, file: "r.yaml")
        let node = SRv6Node(instance: test.instance)
        try node.apply(configuration)
        nodes.append(node)
        return node
    }

    /// The srv6_localsid loader with no entries on router i's interfaces: it passes every
    /// packet to the kernel, and lets the veth take frames another node redirects to it.
    func passer(_ i: Int, _ interfaces: [String]) throws -> SRv6Node {
        try hike(namespace: router(i), "interfaces: [\(interfaces.joined(separator: ", "))]\n")
    }

    func passerOnHost(_ i: Int, _ interfaces: [String]) throws -> SRv6Node {
        try hike(namespace: i == 1 ? h1 : h2, "interfaces: [\(interfaces.joined(separator: ", "))]\n")
    }

    /// As `testbed up` does once every node is up: a node applied before its neighbour's veth
    /// got an XDP program looks again at which interfaces take redirected frames.
    func ready() throws {
        for node in nodes { try node.refreshRedirectMarks() }
    }

    /// The node's programs finished the packets themselves: only the first ones, before the
    /// kernel resolved a neighbour, went to the kernel (fib_miss), and no other reason counted.
    static func expectFastPath(_ status: SRv6Status, fibMisses: UInt64 = 4, sourceLocation: SourceLocation = #_sourceLocation) {
        let processed = (status.sids + status.policies).reduce(0) { $0 + $1.packets }
        #expect(status.reasons["ok"] == processed, "\(status.reasons)", sourceLocation: sourceLocation)
        #expect((status.reasons["fib_miss"] ?? 0) <= fibMisses, "\(status.reasons)", sourceLocation: sourceLocation)
        let others = status.reasons.filter { $0.key != "ok" && $0.key != "fib_miss" && $0.value != 0 }
        #expect(others.isEmpty, "\(others)", sourceLocation: sourceLocation)
    }

    /// Pings h2 from h1 and h1 from h2, then TCP: one connection from h1 carrying data both
    /// ways, and one from h2. IPv4 addresses go over IPv4 (through v4-mapped sockets).
    func expectTrafficBothWays(h1Address: String = "fd00:1::1", h2Address: String = "fd00:2::2",
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        try ready()
        // Neighbours are resolved by the kernel on the first packets: wait until a ping passes
        // each way (a host's own packets make its router learn it).
        try KernelTest.waitUntil("h1 and h2 reach each other", timeout: .seconds(20)) {
            let forward = try Traffic.ping(from: h1, to: h2Address, count: 1, interval: 0.2).received
            let back = try Traffic.ping(from: h2, to: h1Address, count: 1, interval: 0.2).received
            return forward == 1 && back == 1
        }
        let forward = try Traffic.ping(from: h1, to: h2Address, count: Self.pings, interval: 0.05)
        #expect(forward.received == Self.pings, "h1 → h2: \(forward)", sourceLocation: sourceLocation)
        let back = try Traffic.ping(from: h2, to: h1Address, count: Self.pings, interval: 0.05)
        #expect(back.received == Self.pings, "h2 → h1: \(back)", sourceLocation: sourceLocation)
        func socketAddress(_ address: String) -> String { address.contains(":") ? address : "::ffff:" + address }
        let one = try TCPTransfer.exchange(server: h2, address: socketAddress(h2Address), client: h1, bytes: Self.transferBytes)
        #expect(one.serverReceived && one.clientReceived, "TCP h1 → h2: \(one)", sourceLocation: sourceLocation)
        let two = try TCPTransfer.exchange(server: h1, address: socketAddress(h1Address), client: h2, bytes: Self.transferBytes)
        #expect(two.serverReceived && two.clientReceived, "TCP h2 → h1: \(two)", sourceLocation: sourceLocation)
    }
}

/// A TCP connection between two namespaces: the client sends a pattern, the server checks it
/// and sends it back, the client checks the echo. Sockets are made inside the namespaces
/// (setns on a thread of their own) and stay there.
enum TCPTransfer {
    struct Outcome: CustomStringConvertible {
        var serverReceived = false
        var clientReceived = false
        var failure: String?
        var description: String {
            "server got the data: \(serverReceived), client got the echo: \(clientReceived)" + (failure.map { " (\($0))" } ?? "")
        }
    }

    struct SocketError: Error, CustomStringConvertible {
        let description: String
    }

    static func pattern(_ count: Int) -> [UInt8] {
        var state: UInt32 = 0x1234_5678
        return (0..<count).map { _ in
            state = state &* 1_103_515_245 &+ 12345
            return UInt8(truncatingIfNeeded: state >> 16)
        }
    }

    static func exchange(server: NetworkNamespace, address: String, client: NetworkNamespace, bytes: Int) throws -> Outcome {
        let data = pattern(bytes)
        let listener = try server.run { try makeSocket() }
        defer { close(listener) }
        var any = sockaddr_in6()
        any.sin6_family = sa_family_t(AF_INET6)
        guard withSockaddr(&any, { bind(listener, $0, $1) }) == 0, listen(listener, 1) == 0 else {
            throw SocketError(description: "bind/listen: errno \(errno)")
        }
        var bound = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: bound.sin6_port)

        let serverDone = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var serverGot = false
        nonisolated(unsafe) var serverFailure: String?
        Thread.detachNewThread {
            defer { serverDone.signal() }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { serverFailure = "accept: errno \(errno)"; return }
            defer { close(connection) }
            setTimeouts(connection)
            do {
                let received = try readExactly(connection, bytes)
                serverGot = received == data
                try writeAll(connection, received)
            } catch { serverFailure = "\(error)" }
        }
        var outcome = Outcome()
        do {
            let socket = try client.run { try makeSocket() }
            defer { close(socket) }
            setTimeouts(socket)
            var peer = sockaddr_in6()
            peer.sin6_family = sa_family_t(AF_INET6)
            peer.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, address, &peer.sin6_addr) == 1 else { throw SocketError(description: "bad address \(address)") }
            guard withSockaddr(&peer, { connect(socket, $0, $1) }) == 0 else {
                throw SocketError(description: "connect to [\(address)]:\(port): errno \(errno)")
            }
            // Send and read back at once: the echo flows while the rest is still being sent.
            let writer = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var writeFailure: String?
            Thread.detachNewThread {
                do { try writeAll(socket, data) } catch { writeFailure = "\(error)" }
                writer.signal()
            }
            let echo = try readExactly(socket, bytes)
            writer.wait()
            if let writeFailure { throw SocketError(description: writeFailure) }
            outcome.clientReceived = echo == data
        } catch {
            outcome.failure = "\(error)"
            shutdown(listener, Int32(SHUT_RDWR))
        }
        serverDone.wait()
        outcome.serverReceived = serverGot
        if let serverFailure { outcome.failure = (outcome.failure.map { $0 + "; " } ?? "") + "server: " + serverFailure }
        return outcome
    }

    static func makeSocket() throws -> Int32 {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(description: "socket: errno \(errno)") }
        return fd
    }

    /// 10 s without progress fails the transfer instead of hanging the test.
    static func setTimeouts(_ fd: Int32) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    static func withSockaddr(_ address: inout sockaddr_in6, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    }

    static func readExactly(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SocketError(description: "read after \(got) of \(count) bytes: " + (n == 0 ? "connection closed" : "errno \(errno)")) }
            got += n
        }
        return buffer
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, bytes.count - sent) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SocketError(description: "write after \(sent) of \(bytes.count) bytes: errno \(errno)") }
            sent += n
        }
    }
}
