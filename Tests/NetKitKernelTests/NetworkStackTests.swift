import BPFKit
import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// Links, addresses and plain routes made over rtnetlink, checked with iproute2 (an independent
/// reader) and with real packets.
@Suite struct NetworkStackTests {
    @Test func aVethPairMadeOverNetlinkCarriesPingsWithItsMTUAndAddresses() throws {
        try KernelTest.prepare()
        let topology = Topology(prefix: KernelTest.prefix)
        defer { topology.destroy() }
        let a = try topology.addNamespace("a"), b = try topology.addNamespace("b")
        try NetworkStack().addVethPair(.init("left", in: a, mtu: 1400, mac: MACAddress(parsing: "02:00:00:00:77:01")),
                                       .init("right", in: b, mtu: 1400))
        try NetworkStack(namespace: a).setUp("left")
        try NetworkStack(namespace: b).setUp("right")
        try NetworkStack(namespace: a).addAddress(InterfaceAddress(parsing: "fc00:77::1/64"), interface: "left")
        try NetworkStack(namespace: b).addAddress(InterfaceAddress(parsing: "fc00:77::2/64"), interface: "right")
        try NetworkStack(namespace: b).addAddress(InterfaceAddress(parsing: "10.77.0.2/24"), interface: "right")

        let link = try JSONSerialization.jsonObject(with: Data(topology.ip(["-j", "link", "show", "dev", "left"], in: a).utf8)) as? [[String: Any]]
        #expect(link?.first?["mtu"] as? Int == 1400)
        #expect((link?.first?["flags"] as? [String])?.contains("UP") == true)
        #expect(link?.first?["address"] as? String == "02:00:00:00:77:01")
        let addresses = try topology.ip(["-o", "address", "show", "dev", "right"], in: b)
        #expect(addresses.contains("inet6 fc00:77::2/64") && addresses.contains("inet 10.77.0.2/24"))
        #expect(addresses.contains("nodad"))
        #expect(try NetworkStack(namespace: a).interfaceIndex("left") > 1)

        let result = try a.run { try Command.run(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fc00:77::2"]) }
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test func aRouteIsReplacedReadBackAndDeleted() throws {
        try KernelTest.prepare()
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let stack = NetworkStack(namespace: a)
        let prefix = DestinationPrefix.v6(try IPv6Network(parsing: "fc00:9::/64"))
        try stack.replace(Route(destination: prefix, device: "veth0"))
        #expect(try topology.ip(["-6", "route", "show", "exact", "fc00:9::/64"], in: a).hasPrefix("fc00:9::/64 dev veth0 "))
        #expect(try stack.routes(family: AF_INET6, exactly: prefix) == [Route(destination: prefix, device: "veth0")])

        // The local table holds the node's own addresses.
        let own = DestinationPrefix.v6(try IPv6Network(parsing: "fc00::1/128"))
        #expect(try stack.routes(family: AF_INET6, table: Route.localTable, exactly: own).map(\.kind) == [.local])

        try stack.deleteRoute(to: prefix)
        #expect(try topology.ip(["-6", "route", "show", "exact", "fc00:9::/64"], in: a).isEmpty)
        #expect(throws: NetworkError.self) { try stack.deleteRoute(to: prefix) }
    }

    @Test func refusalsSayWhatAndChangeNothing() throws {
        try KernelTest.prepare()
        let (topology, a, b) = try KernelTest.pair()
        defer { topology.destroy() }
        let stack = NetworkStack(namespace: a)
        let before = try topology.ip(["-6", "route", "show"], in: a)
        let prefix = DestinationPrefix.v6(try IPv6Network(parsing: "fc00:9::/64"))

        do {
            try stack.replace(Route(destination: prefix, device: "nosuch0"))
            Issue.record("a route through a missing device was accepted")
        } catch {
            #expect(error.code == "network.not-found")
            #expect(error.message.contains("interface 'nosuch0' does not exist in namespace \(a.name)"))
        }
        do {
            try NetworkStack().addVethPair(.init("veth0", in: a), .init("other0", in: b))
            Issue.record("a second veth0 in \(a.name) was accepted")
        } catch {
            #expect(error.code == "network.exists")
        }
        #expect(try topology.ip(["-6", "route", "show"], in: a) == before)
        #expect(!(try topology.ip(["link", "show"], in: b)).contains("other0"))
    }
}
