import BPFKit
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The kernel's SRv6 routes made over rtnetlink equal those iproute2 makes from the same words:
/// each case is added by `ip` in one namespace and by NetworkStack in another, and `ip route
/// show` must print the two alike. Needs the kernel's seg6 (the reference VM where the host
/// lacks it).
@Suite struct SegmentRoutingRouteTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let words: String
        let route: @Sendable () throws -> Route
        var testDescription: String { words }
    }

    static func sid(_ text: String) throws -> DestinationPrefix { .v6(try IPv6Network(parsing: text)) }
    static func address(_ text: String) throws -> IPv6Address { try IPv6Address(parsing: text) }

    static let cases: [Case] = [
        Case(words: "fc00:1::1/128 encap seg6local action End dev veth0") {
            Route(destination: try sid("fc00:1::1/128"), device: "veth0", encap: .seg6local(SegmentRoutingLocal(action: .end)))
        },
        Case(words: "fc00:1::2/128 encap seg6local action End flavors psp count dev veth0") {
            Route(destination: try sid("fc00:1::2/128"), device: "veth0",
                  encap: .seg6local(SegmentRoutingLocal(action: .end, flavours: .psp, counters: true)))
        },
        Case(words: "fc00:1:2::/48 encap seg6local action End flavors next-csid lblen 32 nflen 16 dev veth0") {
            Route(destination: try sid("fc00:1:2::/48"), device: "veth0",
                  encap: .seg6local(SegmentRoutingLocal(action: .end, flavours: .nextCSID, blockBits: 32, nodeFunctionBits: 16)))
        },
        Case(words: "fc00:1::3/128 encap seg6local action End.X nh6 fc00::2 dev veth0") {
            Route(destination: try sid("fc00:1::3/128"), device: "veth0",
                  encap: .seg6local(SegmentRoutingLocal(action: .endX, nextHop6: try address("fc00::2"))))
        },
        Case(words: "fc00:1::4/128 encap seg6local action End.T table 100 dev veth0") {
            Route(destination: try sid("fc00:1::4/128"), device: "veth0", encap: .seg6local(SegmentRoutingLocal(action: .endT, table: 100)))
        },
        Case(words: "fc00:1::5/128 encap seg6local action End.DX6 nh6 fc00::2 dev veth0") {
            Route(destination: try sid("fc00:1::5/128"), device: "veth0",
                  encap: .seg6local(SegmentRoutingLocal(action: .endDX6, nextHop6: try address("fc00::2"))))
        },
        Case(words: "fc00:1::6/128 encap seg6local action End.DX4 nh4 10.0.0.2 dev veth0") {
            Route(destination: try sid("fc00:1::6/128"), device: "veth0",
                  encap: .seg6local(SegmentRoutingLocal(action: .endDX4, nextHop4: try IPv4Address(parsing: "10.0.0.2"))))
        },
        Case(words: "fc00:1::7/128 encap seg6local action End.DT6 table 254 count dev veth0") {
            Route(destination: try sid("fc00:1::7/128"), device: "veth0",
                  encap: .seg6local(SegmentRoutingLocal(action: .endDT6, table: 254, counters: true)))
        },
        Case(words: "fc00:2::/64 encap seg6 mode encap segs fc00:1::1,fc00:1::7 dev veth0") {
            Route(destination: try sid("fc00:2::/64"), device: "veth0",
                  encap: .seg6(SegmentRoutingEncap(mode: .encap, segments: [try address("fc00:1::1"), try address("fc00:1::7")])))
        },
        Case(words: "fc00:3::/64 encap seg6 mode encap.red segs fc00:1::1,fc00:1::3,fc00:1::7 dev veth0") {
            Route(destination: try sid("fc00:3::/64"), device: "veth0",
                  encap: .seg6(SegmentRoutingEncap(mode: .encapRed, segments: try ["fc00:1::1", "fc00:1::3", "fc00:1::7"].map(address))))
        },
        Case(words: "fc00:4::/64 encap seg6 mode inline segs fc00:1::1 dev veth0") {
            Route(destination: try sid("fc00:4::/64"), device: "veth0",
                  encap: .seg6(SegmentRoutingEncap(mode: .inline, segments: [try address("fc00:1::1")])))
        },
        Case(words: "10.9.0.0/24 encap seg6 mode encap segs fc00:1::7 dev veth0") {
            Route(destination: .v4(try IPv4Network(parsing: "10.9.0.0/24")), device: "veth0",
                  encap: .seg6(SegmentRoutingEncap(mode: .encap, segments: [try address("fc00:1::7")])))
        },
    ]

    @Test(arguments: cases)
    func theRouteEqualsWhatIPMakesOfTheSameWords(_ example: Case) throws {
        try KernelTest.requireKernelSRv6()
        let topology = Topology(prefix: KernelTest.prefix)
        defer { topology.destroy() }
        let byIP = try topology.addNamespace("ip"), byNetKit = try topology.addNamespace("nk")
        for namespace in [byIP, byNetKit] {
            try topology.addVethPair(namespace, "veth0", namespace, "veth1")
            try topology.addAddress("fc00::1/64", interface: "veth0", in: namespace)
            try topology.addAddress("10.0.0.1/24", interface: "veth0", in: namespace)
        }
        let route = try example.route()
        let family = example.words.hasPrefix("10.") ? "-4" : "-6"
        let destination = String(example.words.prefix { $0 != " " })
        let words = [family, "route", "add"] + example.words.split(separator: " ").map(String.init)
        // 6.1's End takes no psp (6.3+): there both must be refused, as unsupported.
        if case .seg6local(let local) = route.encap, local.flavours.contains(.psp), try !KernelSRv6.support.endFlavours.contains("psp") {
            #expect(try Command.run(["ip", "-n", byIP.name] + words).status != 0)
            #expect { try NetworkStack(namespace: byNetKit).add(route) } throws: { ($0 as? NetworkError)?.isUnsupported == true }
            return
        }
        try topology.ip(words, in: byIP)
        try NetworkStack(namespace: byNetKit).add(route)

        let shown = try [byIP, byNetKit].map { try topology.ip([family, "route", "show", "exact", destination], in: $0) }
        #expect(!shown[0].isEmpty)
        #expect(shown[1] == shown[0])
        // What NetKit reads back is what it wrote.
        let read = try NetworkStack(namespace: byNetKit).routes(family: route.destination.family, exactly: route.destination)
        #expect(read == [route])
    }
}
