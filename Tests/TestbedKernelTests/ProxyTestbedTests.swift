import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import NetKit
import SRv6
import Testbed
import Testing

/// examples/proxy/proxy.yaml: flows cross SRv6 paths through network functions that know
/// nothing of SRv6 (two nftables firewalls, a plain router) behind hike's SR proxies in XDP.
@Suite(.serialized) struct ProxyTestbedTests {
    init() throws { try KernelTest.prepare() }

    static let file = Examples.root.appendingPathComponent("examples/proxy/proxy.yaml").path

    /// packets of an nftables named counter in table inet fw of a node.
    static func nftPackets(_ name: String, _ node: String, _ counter: String) throws -> Int {
        let result = try TestbedHarness.engine.run(testbed: name, node: node, ["nft", "-j", "list", "counter", "inet", "fw", counter])
        try result.checked()
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let items = json?["nftables"] as? [[String: Any]] ?? []
        let found = items.compactMap { $0["counter"] as? [String: Any] }.first
        return try #require(found?["packets"] as? Int, "no counter \(counter) in \(result.stdout)")
    }

    /// An SR proxy's counters, read from the node's maps.
    static func proxy(_ name: String, _ node: String, _ sid: String) throws -> ProxyStatus {
        let instance = try #require(try TestbedHarness.engine.instance(testbed: name, node: node))
        let status = try SRv6Node(instance: instance).status()
        return try #require(status.sids.first { $0.prefix == sid }?.proxy, "no proxy \(sid) on \(node): \(status.sids.map(\.prefix))")
    }

    /// SRv6 packets on a node's interface while h1 pings `destination`: the destinations (outer,
    /// then inner), SL, the segment list and the ICMPv6 type of each.
    static func captured(_ name: String, node: String, interface: String, pinging destination: String) throws -> [String] {
        let ping = try NodeShell.start(["ping", "-n", "-q", "-i", "0.05", destination],
                                       in: TestbedHarness.engine.namespace(testbed: name, node: "h1"))
        defer {
            ping.interrupt()
            _ = ping.wait()
        }
        let capture = try TestbedHarness.engine.run(testbed: name, node: node, [
            "tshark", "-n", "-i", interface, "-c", "4", "-a", "duration:120", "-f", "ip6 proto 43",
            "-T", "fields", "-E", "separator=|", "-e", "ipv6.dst", "-e", "ipv6.routing.segleft", "-e", "ipv6.routing.srh.addr",
            "-e", "icmpv6.type",
        ])
        try capture.checked()
        return capture.stdout.split(separator: "\n").map(String.init)
    }

    /// UDP datagrams from h1 to h2's port until h2 has received `count` of them (or 30 s).
    static func udp(_ name: String, to port: Int, count: Int) throws -> Int {
        let receiver = try NodeShell.start(["python3", "-c", """
            import socket
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.bind(("cafe:2::2", \(port)))
            s.settimeout(30)
            n = 0
            try:
                while n < \(count):
                    s.recv(2048)
                    n += 1
            except socket.timeout:
                pass
            print(n)
            """], in: TestbedHarness.engine.namespace(testbed: name, node: "h2"))
        let sender = try NodeShell.start(["python3", "-c", """
            import socket, time
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            for _ in range(600):
                s.sendto(b"hike proxy testbed", ("cafe:2::2", \(port)))
                time.sleep(0.05)
            """], in: TestbedHarness.engine.namespace(testbed: name, node: "h1"))
        let received = receiver.wait()
        sender.interrupt()
        _ = sender.wait()
        return Int(received.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test func firewallsBehindEndADAndEndASSeeOnlyInnerPacketsAndTheSRHIsRestored() throws {
        try TestbedHarness.withTestbed(Self.file) { name, _ in
            let ping = try TestbedHarness.ping(name, from: "h1", to: "cafe:2::2", count: 5)
            #expect(ping.received == 5, "\(ping.output)")
            // Each firewall forwarded the echo requests as plain IPv6 (its nftables rules match
            // inner headers only); the replies come back by plain routing, not through them.
            #expect(try Self.nftPackets(name, "fw1", "forwarded") >= 5)
            #expect(try Self.nftPackets(name, "fw2", "forwarded") >= 5)
            let ad = try Self.proxy(name, "p1", "fc00:1::a1/128")
            #expect(ad.toFunction >= 5 && ad.fromFunction >= 5 && ad.learned >= 1, "\(ad)")
            #expect(ad.segments == ["fc00:1::a1", "fc00:2::a2", "fc00:3::d6"] && ad.segmentsLeft == 1, "\(ad)")
            let staticProxy = try Self.proxy(name, "p2", "fc00:2::a2/128")
            #expect(staticProxy.toFunction >= 5 && staticProxy.fromFunction >= 5, "\(staticProxy)")

            // Between p1 and p2 (at m) the echo requests carry the SRH again, as r1 wrote it, advanced
            // by End.AD: DA fc00:2::a2, SL 1, with the echo request to h2 inside.
            let restored = try Self.captured(name, node: "m", interface: "m-p1", pinging: "cafe:2::2")
            #expect(restored.count == 4 && restored.allSatisfy { $0 == "fc00:2::a2,cafe:2::2|1|fc00:3::d6,fc00:2::a2,fc00:1::a1|128" },
                    "\(restored)")

            // UDP: port 5000 crosses both firewalls; port 6000 is dropped by fw1, and fw2 never
            // sees it.
            #expect(try Self.udp(name, to: 5000, count: 5) == 5)
            let fw2Before = try Self.nftPackets(name, "fw2", "forwarded")
            #expect(try Self.udp(name, to: 6000, count: 1) == 0)
            #expect(try Self.nftPackets(name, "fw1", "blocked") > 0)
            #expect(try Self.nftPackets(name, "fw2", "forwarded") == fw2Before)
        }
    }

    @Test func aFunctionBehindEndAMSeesTheFinalDestinationAndForwardsTheSRHUnchanged() throws {
        try TestbedHarness.withTestbed(Self.file) { name, _ in
            let ping = try TestbedHarness.ping(name, from: "h1", to: "cafe:2::3", count: 5)
            #expect(ping.received == 5, "\(ping.output)")
            // fn3 sees h2's address as the destination, with the whole SRH (SL 2, as inserted),
            // both ways across its interface.
            let seen = try Self.captured(name, node: "fn3", interface: "fn3-p1", pinging: "cafe:2::3")
            #expect(seen.count == 4 && seen.allSatisfy { $0 == "cafe:2::3|2|cafe:2::3,fc00:3::e,fc00:1::a3|128" }, "\(seen)")
            // Back from fn3, p1 restores the next SID (End: SL 1, DA fc00:3::e).
            let onward = try Self.captured(name, node: "m", interface: "m-p1", pinging: "cafe:2::3")
            #expect(onward.count == 4 && onward.allSatisfy { $0 == "fc00:3::e|1|cafe:2::3,fc00:3::e,fc00:1::a3|128" }, "\(onward)")
            let am = try Self.proxy(name, "p1", "fc00:1::a3/128")
            #expect(am.toFunction >= 5 && am.fromFunction >= 5, "\(am)")
        }
    }
}
