import BPFKit
import BPFObjects
import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology
@testable import Wing

/// Starting and stopping hike wing on an interface: all or nothing, and nothing left after stop.
@Suite("hike wing start and stop", .serialized)
struct WingHostTests {
    init() throws { try KernelTest.prepare() }

    static let yaml = """
        services:
          web:
            ipv6_addresses: [fc00::2]
            applications:
              - {port: 80, sid: [fc00:9::1]}
        """

    /// Whether anything of the site is on disk or in bpffs.
    static func traces(_ site: WingSite) -> [String] {
        [site.pinDirectory, site.recordFile].filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// tc filters on the interface's egress hook (`tc filter show dev IF egress`).
    static func egressFilters(_ namespace: NetworkNamespace) throws -> String {
        try namespace.run { try Command.check(["tc", "filter", "show", "dev", "veth0", "egress"]) }
    }

    @Test("start, show and stop leave the interface and the file systems as they were")
    func startAndStop() throws {
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let site = WingSite(interface: "veth0", namespace: a.name)
        let status = try WingHost.startClient(WingConfiguration.parse(Self.yaml), on: site)
        #expect(status.services.first?.applications.first?.segments == ["fc00:9::1"])
        #expect(try NetworkStack(namespace: a).links().first { $0.name == "veth0" }?.hasXDP == true)
        #expect(try Self.egressFilters(a).contains("wing_egress"))
        #expect(WingSite.all().contains(site))
        try WingHost.stop(site)
        #expect(try NetworkStack(namespace: a).links().first { $0.name == "veth0" }?.hasXDP == false)
        #expect(try !Self.egressFilters(a).contains("wing_egress"))
        #expect(Self.traces(site) == [])
    }

    @Test("a start that fails changes nothing: no such interface, one already served, XDP taken")
    func failedStartsChangeNothing() throws {
        let (topology, a, _) = try KernelTest.pair()
        defer { topology.destroy() }
        let configuration = try WingConfiguration.parse(Self.yaml)

        let missing = WingSite(interface: "nosuch0", namespace: a.name)
        #expect(throws: WingError.self) { try WingHost.startClient(configuration, on: missing) }
        #expect(Self.traces(missing) == [])

        // Another XDP program holds the interface: wing's attach fails, its tc filter goes too.
        let other = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let link = try a.run { try XDPLink.attach(other.program("xdp_count"), interface: "veth0") }
        let site = WingSite(interface: "veth0", namespace: a.name)
        #expect(throws: WingError.self) { try WingHost.startClient(configuration, on: site) }
        #expect(Self.traces(site) == [])
        #expect(try !Self.egressFilters(a).contains("wing_egress"))
        try link.detach()

        // The interface served already: the second start is refused, the first is untouched.
        try WingHost.startServer(on: site)
        defer { try? WingHost.stop(site) }
        do {
            try WingHost.startClient(configuration, on: site)
            Issue.record("a second start on \(site) was accepted")
        } catch {
            #expect("\(error)".contains("already serves"))
        }
        #expect(try WingHost.status(of: site).role == .server)
    }
}
