import BPFKit
import Foundation
import HikeControl
import HikeRuntime
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The NAT between namespaces, as examples/nat/nat.eclat configures it:
///
///     inside [eth0] ─── [in0] nat [out0] ─── [eth0] outside
///     10.0.1.2          10.0.1.1   192.0.2.1          192.0.2.2
///     fd00:1::2         fd00:1::1  2001:db8::1        2001:db8::2
///
/// The outside host has no route to the inside network: only the NAT makes it reachable. TCP
/// and UDP sessions go each way (SNAT out, DNAT in), closed ports answer with ICMP errors that
/// must reach the right socket, a ping crosses; tshark on both hosts finds every checksum good.
@Suite(.serialized) struct NATTrafficTests {
    init() throws { try KernelTest.prepare() }

    struct Family: CustomTestStringConvertible, Sendable {
        let inside: String, public_: String, outside: String, v4: Bool
        var testDescription: String { v4 ? "IPv4" : "IPv6" }
        static let v4 = Family(inside: "10.0.1.2", public_: "192.0.2.1", outside: "192.0.2.2", v4: true)
        static let v6 = Family(inside: "fd00:1::2", public_: "2001:db8::1", outside: "2001:db8::2", v4: false)
    }

    /// Sockets in both namespaces from one process (setns on its thread): each session's two
    /// ends, what each end saw of the other, and whether a closed port's ICMP error arrived.
    static let sessions = #"""
    import ctypes, hashlib, json, os, socket, sys, threading
    libc = ctypes.CDLL(None, use_errno=True)
    def enter(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), "setns " + path)
        finally:
            os.close(fd)
    INSIDE_NS, OUTSIDE_NS, fam, inside, public, outside = sys.argv[1:7]
    family = socket.AF_INET if fam == "4" else socket.AF_INET6
    def sock(ns, kind):
        enter(ns)
        s = socket.socket(family, kind)
        s.settimeout(10)
        return s
    data = os.urandom(300000)
    result = {}
    def tcp(name, server_ns, server_addr, client_ns, target):
        server = sock(server_ns, socket.SOCK_STREAM)
        server.bind(server_addr)
        server.listen(1)
        seen = {}
        def serve():
            conn, peer = server.accept()
            conn.settimeout(10)
            got = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += chunk
            conn.sendall(hashlib.sha256(got).hexdigest().encode())
            conn.close()
            seen["peer"] = list(peer[:2])
        thread = threading.Thread(target=serve)
        thread.start()
        client = sock(client_ns, socket.SOCK_STREAM)
        client.connect(target)
        client_peer = list(client.getpeername()[:2])
        client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                break
            reply += chunk
        thread.join()
        result[name] = {"server_saw": seen.get("peer"), "client_peer": client_peer,
                        "intact": reply.decode() == hashlib.sha256(data).hexdigest()}
        client.close()
        server.close()
    def udp(name, server_ns, server_addr, client_ns, target):
        server = sock(server_ns, socket.SOCK_DGRAM)
        server.bind(server_addr)
        client = sock(client_ns, socket.SOCK_DGRAM)
        client.sendto(b"hike nat udp", target)
        payload, peer = server.recvfrom(2048)
        server.sendto(payload[::-1], peer)
        answer, source = client.recvfrom(2048)
        result[name] = {"server_saw": list(peer[:2]), "reply_from": list(source[:2]), "intact": answer == payload[::-1]}
        client.close()
        server.close()
    def refused(name, client_ns, target):
        client = sock(client_ns, socket.SOCK_DGRAM)
        client.connect(target)
        client.send(b"anyone there?")
        try:
            client.recv(2048)
            result[name] = "answered"
        except ConnectionRefusedError:
            result[name] = "refused"
        except socket.timeout:
            result[name] = "timeout"
        client.close()
    tcp("tcp_out", OUTSIDE_NS, (outside, 5001), INSIDE_NS, (outside, 5001))
    udp("udp_out", OUTSIDE_NS, (outside, 5002), INSIDE_NS, (outside, 5002))
    tcp("tcp_in", INSIDE_NS, (inside, 80), OUTSIDE_NS, (public, 8080))
    udp("udp_in", INSIDE_NS, (inside, 81), OUTSIDE_NS, (public, 8081))
    refused("error_out", INSIDE_NS, (outside, 5999))
    refused("error_in", OUTSIDE_NS, (public, 8082))
    print(json.dumps(result))
    """#

    struct Rig {
        let topology: Topology
        let inside: NetworkNamespace, nat: NetworkNamespace, outside: NetworkNamespace

        init() throws {
            topology = KernelTest.topology()
            inside = try topology.addNamespace("in")
            nat = try topology.addNamespace("nat")
            outside = try topology.addNamespace("out")
            try topology.addVethPair(inside, "eth0", nat, "in0")
            try topology.addVethPair(nat, "out0", outside, "eth0")
            for (cidr, device, namespace) in [("10.0.1.2/24", "eth0", inside), ("fd00:1::2/64", "eth0", inside),
                                              ("10.0.1.1/24", "in0", nat), ("fd00:1::1/64", "in0", nat),
                                              ("192.0.2.1/24", "out0", nat), ("2001:db8::1/64", "out0", nat),
                                              ("192.0.2.2/24", "eth0", outside), ("2001:db8::2/64", "eth0", outside)] {
                try topology.addAddress(cidr, interface: device, in: namespace)
            }
            try topology.addRoute(["default", "via", "10.0.1.1"], in: inside)
            try topology.addRoute(["default", "via", "fd00:1::1"], in: inside)
            for (key, value) in [("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.forwarding", "1"),
                                 // Translated packets from the inside carry the router's own address.
                                 ("net.ipv4.conf.in0.accept_local", "1"), ("net.ipv4.conf.all.rp_filter", "0"),
                                 ("net.ipv4.conf.in0.rp_filter", "0")] {
                try topology.sysctl(key, value, in: nat)
            }
            // The hosts send whole checksums (no offload), so that tshark checks what nat wrote.
            for namespace in [inside, outside] {
                try Command.check(["ip", "netns", "exec", namespace.name, "ethtool", "-K", "eth0", "tx", "off"])
            }
        }
    }

    /// Starts tshark on a host's eth0 into a pcap; returns once it captures. Stopped with SIGINT:
    /// the test runner's threads block signals and a child inherits the mask, so python
    /// unblocks SIGINT before it execs tshark.
    static func capture(_ namespace: NetworkNamespace, _ pcap: String) throws -> RunningCommand {
        _ = FileManager.default.createFile(atPath: pcap, contents: nil)
        let tshark = try Command.start(["python3", "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
                                        + "os.execvp(sys.argv[1], sys.argv[1:])",
                                        "ip", "netns", "exec", namespace.name, "tshark", "-q", "-i", "eth0", "-f", "ip or ip6",
                                        "-a", "duration:300", "-F", "pcap", "-w", pcap])
        try KernelTest.waitUntil("tshark captures on \(namespace.name)", timeout: .seconds(120)) {
            ((try? FileManager.default.attributesOfItem(atPath: pcap)[.size] as? Int) ?? 0) > 0
        }
        return tshark
    }

    /// Each packet's checksum statuses as tshark verifies them, with its protocols.
    static func checksums(_ pcap: String) throws -> [(frame: String, protocols: String, statuses: [String])] {
        let fields = ["ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status"]
        let output = try Command.check(["tshark", "-n", "-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                                        "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=|", "-e", "frame.number",
                                        "-e", "frame.protocols"] + fields.flatMap { ["-e", $0] })
        return output.split(separator: "\n").map { line in
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let statuses = parts.dropFirst(2).flatMap { $0.split(separator: ",").map(String.init) }
            return (parts[0], parts.count > 1 ? parts[1] : "", statuses)
        }
    }

    @Test(arguments: [Family.v4, Family.v6])
    func sessionsCrossBothWaysWithValidChecksums(family: Family) throws {
        let rig = try Rig()
        defer { rig.topology.destroy() }
        // Without the NAT the outside cannot answer the inside.
        #expect(try Traffic.ping(from: rig.inside, to: family.outside, count: 1, interval: 0.2).received == 0)

        let test = try KernelTest.instance()
        let plane = DataPlane(instance: test.instance)
        let script = try plane.compile(try SourceText.read(Examples.root.appendingPathComponent("examples/nat/nat.eclat").path,
                                                           defines: ["INSIDE": "in0", "OUTSIDE": "out0"]))
        let report = try plane.loadScript(script, namespace: rig.nat.name)
        #expect(report.attached.map(\.device) == ["in0", "out0"])

        let base = FileManager.default.temporaryDirectory.appendingPathComponent("nat-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let pcaps = (inside: base + "-in.pcap", outside: base + "-out.pcap")
        defer { for path in [pcaps.inside, pcaps.outside] { try? FileManager.default.removeItem(atPath: path) } }
        let captures = [try Self.capture(rig.inside, pcaps.inside), try Self.capture(rig.outside, pcaps.outside)]
        defer { for tshark in captures where tshark.isRunning { tshark.interrupt() } }

        let run = try Command.check(["python3", "-c", Self.sessions, rig.inside.path, rig.outside.path, family.v4 ? "4" : "6",
                                     family.inside, family.public_, family.outside])
        let ping = try Traffic.ping(from: rig.inside, to: family.outside, count: 5, interval: 0.05)
        for tshark in captures {
            tshark.interrupt()
            _ = tshark.wait()
        }

        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.utf8)) as? [String: Any], "\(run)")
        func session(_ name: String) -> [String: Any] { result[name] as? [String: Any] ?? [:] }
        func endpoint(_ value: Any?) -> (String, Int)? {
            guard let pair = value as? [Any], pair.count == 2, let address = pair[0] as? String, let port = pair[1] as? Int else { return nil }
            return (address, port)
        }
        // Out (SNAT): the outside sees the public address and a port of the rule's range.
        for name in ["tcp_out", "udp_out"] {
            let saw = try #require(endpoint(session(name)["server_saw"]), "\(name): \(session(name))")
            #expect(saw.0 == family.public_, "\(name)")
            #expect((20000...29999).contains(saw.1), "\(name): port \(saw.1)")
            #expect(session(name)["intact"] as? Bool == true, "\(name)")
        }
        #expect(endpoint(session("udp_out")["reply_from"]).map { "\($0.0) \($0.1)" } == "\(family.outside) 5002")
        // In (DNAT): the inside sees the outside host itself; the outside talks to the public address.
        for (name, port) in [("tcp_in", 8080), ("udp_in", 8081)] {
            #expect(endpoint(session(name)["server_saw"])?.0 == family.outside, "\(name): \(session(name))")
            #expect(session(name)["intact"] as? Bool == true, "\(name)")
            let peer = endpoint(session(name)[name == "tcp_in" ? "client_peer" : "reply_from"])
            #expect(peer.map { "\($0.0) \($0.1)" } == "\(family.public_) \(port)", "\(name)")
        }
        // The closed ports' ICMP errors reached the sockets through the NAT, both ways.
        #expect(result["error_out"] as? String == "refused")
        #expect(result["error_in"] as? String == "refused")
        #expect(ping.received == 5)

        for (side, pcap) in [("inside", pcaps.inside), ("outside", pcaps.outside)] {
            let packets = try Self.checksums(pcap)
            print("NAT \(family.testDescription), \(side) host: tshark verified \(packets.count) frames, "
                  + "\(packets.reduce(0) { $0 + $1.statuses.filter { !$0.isEmpty }.count }) checksums")
            let bad = packets.filter { !$0.statuses.allSatisfy { $0 == "1" || $0.isEmpty } }
            #expect(bad.isEmpty, "\(side): frames with a checksum tshark finds bad or unverified: \(bad.prefix(5).map { "\($0.frame) \($0.protocols) \($0.statuses)" })")
            let protocols = packets.map(\.protocols)
            #expect(protocols.contains { $0.contains(":tcp") }, "\(side): no TCP captured")
            #expect(protocols.contains { $0.contains(":udp") && !$0.contains("icmp") }, "\(side): no UDP captured")
            #expect(protocols.contains { $0.contains(family.v4 ? ":icmp:" : ":icmpv6:") && $0.contains(":udp") },
                    "\(side): no ICMP error quoting UDP captured")
        }
        #expect(try test.instance.faultCounts().isEmpty)
        _ = try plane.unloadScript(script, namespace: rig.nat.name)
    }
}
