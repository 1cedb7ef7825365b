import Foundation
import HikeTestSupport
import NetKit
import Testbed
import Testing
import Topology
import Wing

/// examples/wing/wing.yaml: the client h1 pushes a SID list per application, the server h2
/// learns each flow's path and replies along it reversed; no router has an SR policy.
@Suite(.serialized) struct WingTestbedTests {
    init() throws { try KernelTest.prepare() }

    static let file = Examples.root.appendingPathComponent("examples/wing/wing.yaml").path
    static let links = ["r1-r2", "r1-r3", "r1-r4"]

    /// Packets each way on r1's links to r2, r3 and r4: which path a flow took, both directions.
    static func linkCounters(_ name: String) throws -> [String: InterfaceCounters] {
        let r1 = try TestbedHarness.engine.namespace(testbed: name, node: "r1")
        var counters: [String: InterfaceCounters] = [:]
        for link in links { counters[link] = try InterfaceCounters.read(link, in: r1) }
        return counters
    }

    /// What crossed each of r1's links while body ran: (to the router, from the router) packets.
    static func crossed(_ name: String, _ body: () throws -> Void) throws -> [String: (out: UInt64, back: UInt64)] {
        let before = try linkCounters(name)
        try body()
        let after = try linkCounters(name)
        var result: [String: (out: UInt64, back: UInt64)] = [:]
        for link in links {
            guard let old = before[link], let new = after[link] else { continue }
            result[link] = (new.txPackets - old.txPackets, new.rxPackets - old.rxPackets)
        }
        return result
    }

    /// Every packet of the flow went out and came back by `link`; the other links saw at most
    /// a few (neighbour discovery).
    static func expectPath(_ crossed: [String: (out: UInt64, back: UInt64)], _ link: String, atLeast: UInt64,
                           _ what: String) {
        for other in links {
            let count = crossed[other] ?? (0, 0)
            if other == link {
                #expect(count.out >= atLeast && count.back >= atLeast, "\(what) by \(link): \(count)")
            } else {
                #expect(count.out <= 10 && count.back <= 10, "\(what) not by \(other): \(count)")
            }
        }
    }

    /// UDP datagrams from h1 to [address]:port, 1 ms apart; returns the replies h2's echo sent back.
    static func udpEcho(_ name: String, to address: String, port: Int, count: Int) throws -> Int {
        let result = try TestbedHarness.engine.run(testbed: name, node: "h1", ["python3", "-c", """
            import socket, time
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.settimeout(0.001)
            got = 0
            for i in range(\(count)):
                s.sendto(b"wing %d" % i, ("\(address)", \(port)))
                try:
                    while True:
                        s.recv(100); got += 1
                except socket.timeout:
                    pass
            s.settimeout(3)
            try:
                while got < \(count):
                    s.recv(100); got += 1
            except socket.timeout:
                pass
            print(got)
            """])
        try result.checked()
        return Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func sha256(_ path: String) throws -> String {
        String(try Command.check(["sha256sum", path]).prefix(64))
    }

    @Test("HTTP (100 MiB), UDP and ping take their applications' three paths, replies each reversed; DNS through a CNAME")
    func threeApplicationsThreePaths() throws {
        try TestbedHarness.withDirectory { directory in
            let blob = directory + "/blob", copy = directory + "/copy"
            try Command.check(["dd", "if=/dev/urandom", "of=\(blob)", "bs=1M", "count=100", "status=none"])
            try TestbedHarness.withTestbed(Self.file) { name, _ in
                let h2 = try TestbedHarness.engine.namespace(testbed: name, node: "h2")
                // Both servers end with the testbed: down kills what runs in its namespaces (they
                // inherit the test runner's blocked SIGINT, so an interrupt would not end them).
                _ = try NodeShell.start(["python3", "-m", "http.server", "8000", "--bind", "fd00:5::10", "--directory", directory], in: h2)
                _ = try NodeShell.start(["python3", "-c", """
                    import select, socket
                    sockets = []
                    for port in (5001, 5002, 5003):
                        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                        s.bind(("fd00:5::10", port))
                        sockets.append(s)
                    while True:
                        for s in select.select(sockets, [], [])[0]:
                            data, peer = s.recvfrom(2048)
                            s.sendto(data, peer)
                    """], in: h2)
                try KernelTest.waitUntil("h2's HTTP server answers", timeout: .seconds(30)) {
                    (try? TestbedHarness.engine.run(testbed: name, node: "h2", ["curl", "-sf", "-o", "/dev/null", "http://[fd00:5::10]:8000/"]))?.status == 0
                }

                // HTTP by r2: 100 MiB, the same bytes.
                let http = try Self.crossed(name) {
                    try TestbedHarness.engine.run(testbed: name, node: "h1",
                                                  ["curl", "-sS", "--fail", "-o", copy, "http://[fd00:5::10]:8000/blob"]).checked()
                }
                #expect(try Self.sha256(copy) == Self.sha256(blob))
                // Every reply got its path (a failed push, or a flow taken for idle, would go by plain
                // routing, by r4).
                let serverCounters = try WingHost.status(of: WingSite(interface: "h2-r5", namespace: h2.name)).counters
                #expect(serverCounters["egress_failed"] == 0 && serverCounters["egress_dropped"] == 0 && serverCounters["egress_expired"] == 0,
                        "\(serverCounters)")
                Self.expectPath(http, "r1-r2", atLeast: 1000, "HTTP")
                #expect((http["r1-r2"]?.back ?? 0) >= 100 * 1024 * 1024 / 1500, "the data came back by r2: \(String(describing: http["r1-r2"]))")

                // UDP by r3, every datagram echoed.
                var echoed = 0
                let udp = try Self.crossed(name) { echoed = try Self.udpEcho(name, to: "fd00:5::10", port: 5001, count: 500) }
                #expect(echoed == 500)
                Self.expectPath(udp, "r1-r3", atLeast: 500, "UDP")

                // ping by r4.
                let ping = try Self.crossed(name) {
                    let result = try TestbedHarness.ping(name, from: "h1", to: "fd00:5::10", count: 20)
                    #expect(result.received == 20)
                }
                Self.expectPath(ping, "r1-r4", atLeast: 20, "ping")

                // The server learned each flow's path from the client's SRH, reversed.
                let server = try WingHost.status(of: WingSite(interface: "h2-r5", namespace: h2.name))
                let paths = Set(server.flows.map { "\($0.proto) " + $0.segments.joined(separator: ",") })
                #expect(paths == ["tcp fc00:5::e,fc00:2::e", "udp fc00:5::e,fc00:3::e", "icmpv6 fc00:5::e,fc00:4::e"])

                // UDP 5002 by r4 and r5's uN SIDs, packed in one NEXT-C-SID container (usid: 32/16).
                let h1Site = WingSite(interface: "h1-r1", namespace: try TestbedHarness.engine.namespace(testbed: name, node: "h1").name)
                let web = try #require(try WingHost.status(of: h1Site).services.first { $0.name == "web" })
                #expect(web.applications.first { $0.port == 5002 }?.segments == ["fcbb:bb00:4:5::"])
                var packed = 0
                let usid = try Self.crossed(name) { packed = try Self.udpEcho(name, to: "fd00:5::10", port: 5002, count: 200) }
                #expect(packed == 200)
                Self.expectPath(usid, "r1-r4", atLeast: 200, "UDP 5002 in a uSID container")
                // The server (usid: 32/16) reversed the container's C-SIDs: back by r5, then r4.
                let learned = try WingHost.status(of: WingSite(interface: "h2-r5", namespace: h2.name)).flows
                #expect(learned.contains { $0.proto == "udp" && $0.segments == ["fcbb:bb00:5:4::"] }, "\(learned)")

                // UDP 5003 encapsulated by h1 (H.Encaps), by r3; r5 decapsulates; plain replies by r4.
                var encapsulated = 0
                let encap = try Self.crossed(name) { encapsulated = try Self.udpEcho(name, to: "fd00:5::10", port: 5003, count: 200) }
                #expect(encapsulated == 200)
                #expect((encap["r1-r3"]?.out ?? 0) >= 200 && (encap["r1-r4"]?.back ?? 0) >= 200,
                        "out by r3, back by r4: \(String(describing: encap["r1-r3"])), \(String(describing: encap["r1-r4"]))")

                // What the routers' links carry: the client's SRH out, the server's back.
                let captured = try Self.capture(name, link: "r1-r3") {
                    _ = try Self.udpEcho(name, to: "fd00:5::10", port: 5001, count: 3000)
                }
                #expect(captured.contains("fc00:3::e|2|fd00:5::10,fc00:5::e,fc00:3::e"), "\(captured)")
                #expect(captured.contains("fd00:1::10|0|fd00:1::10,fc00:3::e,fc00:5::e"), "\(captured)")

                // DNS: www.wing.test is a CNAME of web.wing.test; its AAAA becomes service `named`'s.
                #expect(try WingHost.status(of: h1Site).services.first { $0.name == "named" }?.addresses == [])
                try TestbedHarness.engine.run(testbed: name, node: "h1", ["python3", "-c", Self.dnsQuery]).checked()
                #expect(try WingHost.status(of: h1Site).services.first { $0.name == "named" }?.addresses == ["fd00:5::20"])
                let named = try Self.crossed(name) { _ = try Self.udpEcho(name, to: "fd00:5::20", port: 8080, count: 50) }
                #expect((named["r1-r3"]?.out ?? 0) >= 50, "service named's port 8080 by r3: \(String(describing: named["r1-r3"]))")
            }
        }
    }

    /// A query for www.wing.test AAAA to h2's dnsmasq; prints the answer count.
    static let dnsQuery = """
        import socket, struct
        q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\\3www\\4wing\\4test\\0" + struct.pack(">HH", 28, 1)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(q, ("fd00:5::10", 53))
        r = s.recv(4096)
        assert struct.unpack(">H", r[6:8])[0] == 2, r
        """

    /// SRv6 packets on one of r1's links while body runs: destination|segments left|segments.
    static func capture(_ name: String, link: String, while body: () throws -> Void) throws -> [String] {
        let r1 = try TestbedHarness.engine.namespace(testbed: name, node: "r1")
        let tshark = try NodeShell.start([
            "tshark", "-n", "-l", "-i", link, "-c", "6", "-a", "duration:60", "-f", "ip6 proto 43",
            "-T", "fields", "-E", "separator=|", "-e", "ipv6.dst", "-e", "ipv6.routing.segleft", "-e", "ipv6.routing.srh.addr",
        ], in: r1)
        try body()
        let result = tshark.wait()
        try result.checked()
        return result.stdout.split(separator: "\n").map(String.init)
    }
}

/// The wing testbed with a kernel SRv6 node in the path: r3 runs End as the kernel's seg6local
/// route instead of hike's XDP. Reference VM where the host kernel has no seg6 routes.
extension WingTestbedTests {
    /// examples/wing with r3's srv6 file replaced by a kernel End route, in directory.
    static func kernelVariant(in directory: String) throws -> String {
        let source = Examples.root.appendingPathComponent("examples/wing").path
        for file in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(directory)/\(file)")
        }
        let path = directory + "/wing.yaml"
        var text = try String(contentsOfFile: path, encoding: .utf8)
        let hikeR3 = """
              - {to: "::/0", via: "fd00:13::1", dev: r3-r1}
            srv6: r3-srv6.yaml
        """
        let kernelR3 = """
              - {to: "::/0", via: "fd00:13::1", dev: r3-r1}
              - {to: "fc00:3::e/128", dev: r3-r1, seg6local: {action: End}}
            # r5's XDP redirects the replies to r3, which has no XDP program: GRO takes them.
            commands: ["ethtool -K r3-r5 gro on"]
        """
        guard text.contains(hikeR3) else { throw WingError.state("examples/wing/wing.yaml no longer has r3's srv6 line") }
        text = text.replacingOccurrences(of: hikeR3, with: kernelR3)
        text = text.replacingOccurrences(
            of: "  r3:\n    sysctls: {net.ipv6.conf.all.forwarding: 1}",
            with: "  r3:\n    sysctls: {net.ipv6.conf.all.forwarding: 1, net.ipv6.conf.all.seg6_enabled: 1, net.ipv6.conf.r3-r1.seg6_enabled: 1}")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("with r3 a kernel End node, UDP still goes by r3 both ways")
    func kernelSRv6NodeInThePath() throws {
        try KernelTest.requireKernelSRv6()
        try TestbedHarness.withDirectory { directory in
            let file = try Self.kernelVariant(in: directory)
            try TestbedHarness.withTestbed(file) { name, state in
                #expect(!state.instances.contains { $0.hasSuffix("-r3") }, "r3 runs no hike")
                let h2 = try TestbedHarness.engine.namespace(testbed: name, node: "h2")
                // Ended by down with the namespace.
                _ = try NodeShell.start(["python3", "-c", """
                    import socket
                    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                    s.bind(("fd00:5::10", 5001))
                    while True:
                        data, peer = s.recvfrom(2048)
                        s.sendto(data, peer)
                    """], in: h2)
                var echoed = 0
                try KernelTest.waitUntil("h2's echo answers", timeout: .seconds(60)) {
                    (try? Self.udpEcho(name, to: "fd00:5::10", port: 5001, count: 1)) == 1
                }
                let udp = try Self.crossed(name) { echoed = try Self.udpEcho(name, to: "fd00:5::10", port: 5001, count: 200) }
                #expect(echoed == 200)
                Self.expectPath(udp, "r1-r3", atLeast: 200, "UDP by the kernel's End on r3")
            }
        }
    }
}
