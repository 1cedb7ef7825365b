import NetKit
import Topology

/// h1 — r1 — r2 — h2 in plain IPv6, the line several suites build on (their own routes on top):
/// veth0 (h1, fd00:1::1) — veth-h1 (r1, fd00:1::2); veth-r2 (r1, fd00:12::1) — veth-r1 (r2,
/// fd00:12::2); veth-h2 (r2, fd00:2::1) — veth0 (h2, fd00:2::2). The routers forward; h1's
/// default route is r1, h2's is r2.
public struct RouterLine: Sendable {
    public let h1, r1, r2, h2: NetworkNamespace

    public init(in topology: Topology) throws {
        h1 = try topology.addNamespace("h1")
        r1 = try topology.addNamespace("r1")
        r2 = try topology.addNamespace("r2")
        h2 = try topology.addNamespace("h2")
        try topology.addVethPair(h1, "veth0", r1, "veth-h1")
        try topology.addVethPair(r1, "veth-r2", r2, "veth-r1")
        try topology.addVethPair(r2, "veth-h2", h2, "veth0")
        for (address, interface, namespace) in [("fd00:1::1/64", "veth0", h1), ("fd00:1::2/64", "veth-h1", r1),
                                                ("fd00:12::1/64", "veth-r2", r1), ("fd00:12::2/64", "veth-r1", r2),
                                                ("fd00:2::1/64", "veth-h2", r2), ("fd00:2::2/64", "veth0", h2)] {
            try topology.addAddress(address, interface: interface, in: namespace)
        }
        for router in [r1, r2] { try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: router) }
        try topology.addRoute(["default", "via", "fd00:1::2", "dev", "veth0"], in: h1)
        try topology.addRoute(["default", "via", "fd00:2::1", "dev", "veth0"], in: h2)
    }
}
