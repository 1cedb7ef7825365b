import BPFKit
import HikeTestSupport
import NetKit
import Testing
@testable import Wing

/// wing_egress and wing_ingress through BPF_PROG_TEST_RUN: every expected frame is written out
/// byte by byte here, from RFC 8754's layout and HawkWing's (slot 0 the destination).
@Suite("wing data path (test runs)", .serialized)
struct WingDataPathTests {
    static let client = "fd00:1::10", server = "fd00:5::10"
    static let sids = ["fc00:1::1", "fc00:2::1", "fc00:3::1"]
    static let tcOK: UInt32 = 0, xdpPass: UInt32 = 2

    static let clientYAML = """
        services:
          web:
            ipv6_addresses: [fd00:5::10]
            applications:
              - port: 5001
                sid: [fc00:1::1, fc00:2::1, fc00:3::1]
              - port: 0
                sid: [fc00:9::1]
          named:
            domain_name: svc.example.org
            applications:
              - port: 80
                sid: [fc00:2::1]
        """

    static func clientObject() throws -> WingObject {
        let wing = try WingObject()
        try wing.configure(WingConfigEntry(flags: WingABI.dnsFlag, flowIdleSeconds: 0))
        try wing.addLocal([IPv6Address(parsing: client)])
        try wing.addServices(WingConfiguration.parse(clientYAML))
        return wing
    }

    static func serverObject(idle: UInt32 = 300, usidBlockWords: UInt32 = 0) throws -> WingObject {
        let wing = try WingObject()
        try wing.configure(WingConfigEntry(flags: WingABI.learnFlag, flowIdleSeconds: idle, usidBlockWords: usidBlockWords))
        try wing.addLocal([IPv6Address(parsing: server)])
        return wing
    }

    static func run(_ wing: WingObject, _ program: String, _ frame: [UInt8]) throws -> TestRunResult {
        try wing.object.program(program).testRun(TestRunOptions(data: frame, dataOutCapacity: frame.count + 4096))
    }

    static func counter(_ wing: WingObject, _ name: String) throws -> UInt64 {
        let slot = try #require(WingABI.stats.firstIndex(of: name))
        return try wing.object.map(WingABI.statsMap).lookupSum(UInt32(slot), as: UInt64.self) ?? 0
    }

    /// An SRH as RFC 8754 lays it out: segments in SRH order, Segments Left = last entry.
    static func srh(nextHeader: UInt8, segments: [String], segmentsLeft: UInt8? = nil) -> [UInt8] {
        let last = UInt8(segments.count - 1)
        return [nextHeader, UInt8(2 * segments.count), 4, segmentsLeft ?? last, last, 0, 0, 0]
            + segments.flatMap { PacketBuilder.address($0) }
    }

    /// frame (Ethernet + IPv6 + upper layer) with routing inserted after the IPv6 header and the
    /// IPv6 header's destination, next header and payload length changed as an SRH push does.
    static func inserted(_ frame: [UInt8], routing: [UInt8], destination: String) -> [UInt8] {
        var ipv6 = Array(frame[14..<54])
        let payload = (Int(ipv6[4]) << 8 | Int(ipv6[5])) + routing.count
        ipv6[4] = UInt8(payload >> 8)
        ipv6[5] = UInt8(payload & 0xff)
        ipv6[6] = 43
        ipv6.replaceSubrange(24..<40, with: PacketBuilder.address(destination))
        return Array(frame[0..<14]) + ipv6 + routing + Array(frame[54...])
    }

    @Test("a client pushes its application's SID list: HawkWing's layout, the UDP checksum still valid")
    func clientPush() throws {
        let wing = try Self.clientObject()
        let frame = PacketBuilder.udp6(source: PacketBuilder.address(Self.client), destination: PacketBuilder.address(Self.server),
                                       sourcePort: 40000, destinationPort: 5001, payload: Array("hello wing".utf8))
        let result = try Self.run(wing, WingABI.egressProgram, frame)
        #expect(result.returnValue == Self.tcOK)
        let routing = Self.srh(nextHeader: 17, segments: [Self.server, "fc00:3::1", "fc00:2::1", "fc00:1::1"])
        #expect(result.data == Self.inserted(frame, routing: routing, destination: "fc00:1::1"))
        // The UDP bytes are as sent, and their checksum is over the final destination (RFC 8200 §8.1).
        let udp = Array(result.data[(54 + routing.count)...])
        #expect(PacketBuilder.onesComplementSum(Self.pseudoHeader(Self.client, Self.server, 17, udp.count) + udp) == 0xffff)
        #expect(try Self.counter(wing, "egress_pushed") == 1)

        // Another port of the same service, and another destination, are left alone.
        for (destination, port) in [(Self.server, UInt16(5002)), ("fd00:7::1", UInt16(5001))] {
            let other = PacketBuilder.udp6(source: PacketBuilder.address(Self.client), destination: PacketBuilder.address(destination),
                                           sourcePort: 40000, destinationPort: port, payload: [1, 2, 3])
            #expect(try Self.run(wing, WingABI.egressProgram, other).data == other)
        }
        #expect(try Self.counter(wing, "egress_no_path") == 2)
    }

    static func pseudoHeader(_ source: String, _ destination: String, _ nextHeader: UInt8, _ length: Int) -> [UInt8] {
        PacketBuilder.address(source) + PacketBuilder.address(destination)
            + [0, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 0, 0, nextHeader]
    }

    @Test("an encap application's packets go whole inside an outer IPv6 header with the SRH (H.Encaps)")
    func encapsulation() throws {
        let wing = try WingObject()
        try wing.addServices(WingConfiguration.parse("""
            services:
              web:
                ipv6_addresses: [fd00:5::10]
                applications:
                  - {port: 5003, sid: [fc00:3::e, fc00:5::d6], encap: true}
            """))
        let frame = PacketBuilder.udp6(source: PacketBuilder.address(Self.client), destination: PacketBuilder.address(Self.server),
                                       sourcePort: 40000, destinationPort: 5003, payload: Array("inner".utf8))
        let result = try Self.run(wing, WingABI.egressProgram, frame)
        #expect(result.returnValue == Self.tcOK)
        // Outer: same traffic class and flow label, payload = SRH + the inner packet, next header
        // 43, the inner hop limit, from the client to the first SID. SRH: next header 41 (IPv6),
        // two SIDs in SRH order, Segments Left 1. Then the inner packet as it was.
        let inner = Array(frame[14...])
        let routing: [UInt8] = [41, 4, 4, 1, 1, 0, 0, 0] + PacketBuilder.address("fc00:5::d6") + PacketBuilder.address("fc00:3::e")
        let payload = routing.count + inner.count
        let outer: [UInt8] = [0x60, 0, 0, 0, UInt8(payload >> 8), UInt8(payload & 0xff), 43, 64]
            + PacketBuilder.address(Self.client) + PacketBuilder.address("fc00:3::e")
        #expect(result.data == Array(frame[0..<14]) + outer + routing + inner)
        #expect(try Self.counter(wing, "egress_encapsulated") == 1)
    }

    @Test("126 SIDs, the most an SRH holds besides the destination, are pushed in order")
    func longestPath() throws {
        let wing = try WingObject()
        let segments = (1...126).map { try! IPv6Address(parsing: "fc00:\(String($0, radix: 16))::1") }
        let apps = try TypedMap<WingAppKey, WingPathEntry>(wing.object.map(WingABI.appsMap))
        try apps.update(WingAppKey(service: 7, port: 9), WingPathEntry(traversal: segments))
        try wing.object.map(WingABI.servicesMap).update(key: PacketBuilder.address(Self.server), value: BPFMap.bytesOf(UInt32(7)))
        let frame = PacketBuilder.udp6(source: PacketBuilder.address(Self.client), destination: PacketBuilder.address(Self.server),
                                       sourcePort: 1, destinationPort: 9, payload: [0xab])
        let result = try Self.run(wing, WingABI.egressProgram, frame)
        let routing = Self.srh(nextHeader: 17, segments: [Self.server] + segments.reversed().map(\.description))
        #expect(routing.count == 2040 && routing[1] == 254)
        #expect(result.data == Self.inserted(frame, routing: routing, destination: "fc00:1::1"))
    }

    /// Ethernet + IPv6 + a TCP SYN with MSS 1440, NOP, NOP, SACK permitted; checksum valid.
    static func syn(mss: UInt16) -> [UInt8] {
        var tcp: [UInt8] = [0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]
        tcp += [2, 4, UInt8(mss >> 8), UInt8(mss & 0xff), 1, 1, 4, 2]
        let sum = ~PacketBuilder.onesComplementSum(pseudoHeader(client, server, 6, tcp.count) + tcp)
        tcp[16] = UInt8(sum >> 8)
        tcp[17] = UInt8(sum & 0xff)
        let ipv6: [UInt8] = [0x60, 0, 0, 0, 0, UInt8(tcp.count), 6, 64] + PacketBuilder.address(client) + PacketBuilder.address(server)
        return PacketBuilder.ethernet(destination: [2, 0, 0, 0, 0, 2], source: [2, 0, 0, 0, 0, 1], etherType: 0x86dd) + ipv6 + tcp
    }

    @Test("a SYN's MSS is lowered by the SRH's length, its checksum kept valid")
    func mssClamp() throws {
        let wing = try WingObject()
        try wing.object.map(WingABI.servicesMap).update(key: PacketBuilder.address(Self.server), value: BPFMap.bytesOf(UInt32(1)))
        try TypedMap<WingAppKey, WingPathEntry>(wing.object.map(WingABI.appsMap))
            .update(WingAppKey(service: 1, port: 80), WingPathEntry(traversal: Self.sids.map { try! IPv6Address(parsing: $0) }))
        let result = try Self.run(wing, WingABI.egressProgram, Self.syn(mss: 1440))
        let tcp = Array(result.data[(54 + 72)...])
        #expect(Array(tcp[20..<24]) == [2, 4, 0x05, 0x58])  // 1440 − 72 = 1368
        #expect(PacketBuilder.onesComplementSum(Self.pseudoHeader(Self.client, Self.server, 6, tcp.count) + tcp) == 0xffff)
        #expect(try Self.counter(wing, "egress_mss_clamped") == 1)
    }

    /// The frame a server receives from the client: the client's SRH, Segments Left 0.
    static func arriving(segmentsLeft: UInt8 = 0, destination: String = server,
                         path: [String] = ["fc00:3::1", "fc00:2::1", "fc00:1::1"]) -> (frame: [UInt8], plain: [UInt8]) {
        let plain = PacketBuilder.udp6(source: PacketBuilder.address(client), destination: PacketBuilder.address(destination),
                                       sourcePort: 40000, destinationPort: 5001, payload: Array("request".utf8))
        let routing = srh(nextHeader: 17, segments: [destination] + path, segmentsLeft: segmentsLeft)
        return (inserted(plain, routing: routing, destination: destination), plain)
    }

    @Test("a server removes the SRH, learns the path and sends its replies back along it, reversed")
    func serverLearnsAndReplies() throws {
        let wing = try Self.serverObject()
        let (frame, plain) = Self.arriving()
        let popped = try Self.run(wing, WingABI.ingressProgram, frame)
        #expect(popped.returnValue == Self.xdpPass)
        #expect(popped.data == plain)
        #expect(try Self.counter(wing, "ingress_popped") == 1)
        #expect(try Self.counter(wing, "ingress_learned") == 1)

        let flows = try TypedMap<WingFlowKey, WingPathEntry>(wing.object.map(WingABI.flowsMap))
        let key = WingFlowKey(addr: try IPv6Address(parsing: Self.client), port: 40000, proto: 17)
        #expect(try flows.lookup(key)?.traversal.map(\.description) == ["fc00:3::1", "fc00:2::1", "fc00:1::1"])

        // The same path again is not learned again.
        _ = try Self.run(wing, WingABI.ingressProgram, frame)
        #expect(try Self.counter(wing, "ingress_learned") == 1)

        let reply = PacketBuilder.udp6(source: PacketBuilder.address(Self.server), destination: PacketBuilder.address(Self.client),
                                       sourcePort: 5001, destinationPort: 40000, payload: Array("response".utf8))
        let sent = try Self.run(wing, WingABI.egressProgram, reply)
        let routing = Self.srh(nextHeader: 17, segments: [Self.client, "fc00:1::1", "fc00:2::1", "fc00:3::1"])
        #expect(sent.data == Self.inserted(reply, routing: routing, destination: "fc00:3::1"))
        #expect(try Self.counter(wing, "egress_pushed_learned") == 1)
    }

    @Test("with a uSID block, a server reverses each container's C-SIDs too; other SIDs stay as they are")
    func serverReversesMicroSIDContainers() throws {
        let wing = try Self.serverObject(usidBlockWords: 2)
        // SRH order (last visited first): a plain SID, a container of three, one of one C-SID,
        // a SID with a zero inside (not a container), a container of two.
        let path = ["fc00:9::1", "fcbb:bb00:7:8:9::", "fcbb:bb00:6::", "fcbb:bb00:1:0:2::", "fcbb:bb00:4:5::"]
        let (frame, _) = Self.arriving(path: path)
        _ = try Self.run(wing, WingABI.ingressProgram, frame)
        #expect(try Self.counter(wing, "ingress_learned") == 1)
        let flows = try TypedMap<WingFlowKey, WingPathEntry>(wing.object.map(WingABI.flowsMap))
        let key = WingFlowKey(addr: try IPv6Address(parsing: Self.client), port: 40000, proto: 17)
        // The way back visits the SIDs in SRH order (what was visited last comes first), each
        // container's C-SIDs backwards.
        #expect(try flows.lookup(key)?.traversal.map(\.description)
                == ["fc00:9::1", "fcbb:bb00:9:8:7::", "fcbb:bb00:6::", "fcbb:bb00:1:0:2::", "fcbb:bb00:5:4::"])
        // The same SRH again is the same path: not learned again.
        _ = try Self.run(wing, WingABI.ingressProgram, frame)
        #expect(try Self.counter(wing, "ingress_learned") == 1)
    }

    @Test("an SRH with segments left, or for another host, or cut short, is left to the kernel and counted")
    func ingressChecks() throws {
        let wing = try Self.serverObject()
        let notDone = Self.arriving(segmentsLeft: 1).frame
        #expect(try Self.run(wing, WingABI.ingressProgram, notDone).data == notDone)
        let elsewhere = Self.arriving(destination: "fd00:5::99").frame
        #expect(try Self.run(wing, WingABI.ingressProgram, elsewhere).data == elsewhere)
        let cut = Array(Self.arriving().frame.prefix(54 + 40))
        #expect(try Self.run(wing, WingABI.ingressProgram, cut).data == cut)
        #expect(try Self.counter(wing, "ingress_segments_left") == 1)
        #expect(try Self.counter(wing, "ingress_not_local") == 1)
        #expect(try Self.counter(wing, "ingress_malformed") == 1)
        #expect(try Self.counter(wing, "ingress_popped") == 0)
        #expect(try wing.object.map(WingABI.flowsMap).keys().isEmpty)
    }

    @Test("a learned flow idle past the timeout is forgotten at the next reply")
    func idleFlowExpires() throws {
        let wing = try Self.serverObject(idle: 1)
        let flows = try TypedMap<WingFlowKey, WingPathEntry>(wing.object.map(WingABI.flowsMap))
        var path = WingPathEntry(traversal: [try IPv6Address(parsing: "fc00:1::1")])
        path.lastSeenNs = 1  // long before this test
        try flows.update(WingFlowKey(addr: try IPv6Address(parsing: Self.client), port: 40000, proto: 17), path)
        let reply = PacketBuilder.udp6(source: PacketBuilder.address(Self.server), destination: PacketBuilder.address(Self.client),
                                       sourcePort: 5001, destinationPort: 40000, payload: [1])
        #expect(try Self.run(wing, WingABI.egressProgram, reply).data == reply)
        #expect(try Self.counter(wing, "egress_expired") == 1)
        #expect(try wing.object.map(WingABI.flowsMap).keys().isEmpty)
    }

    /// Ethernet + IPv6 + ICMPv6 of a type, to the server.
    static func icmp(type: UInt8) -> [UInt8] {
        var message: [UInt8] = [type, 0, 0, 0, 0x12, 0x34, 0, 1]
        let sum = ~PacketBuilder.onesComplementSum(pseudoHeader(client, server, 58, message.count) + message)
        message[2] = UInt8(sum >> 8)
        message[3] = UInt8(sum & 0xff)
        let ipv6: [UInt8] = [0x60, 0, 0, 0, 0, UInt8(message.count), 58, 64] + PacketBuilder.address(client) + PacketBuilder.address(server)
        return PacketBuilder.ethernet(destination: [2, 0, 0, 0, 0, 2], source: [2, 0, 0, 0, 0, 1], etherType: 0x86dd) + ipv6 + message
    }

    @Test("ping takes port 0's path; neighbour discovery to the same address takes none")
    func icmpEcho() throws {
        let wing = try Self.clientObject()
        let echo = Self.icmp(type: 128)
        let result = try Self.run(wing, WingABI.egressProgram, echo)
        #expect(result.data == Self.inserted(echo, routing: Self.srh(nextHeader: 58, segments: [Self.server, "fc00:9::1"]),
                                             destination: "fc00:9::1"))
        let solicitation = Self.icmp(type: 135)
        #expect(try Self.run(wing, WingABI.egressProgram, solicitation).data == solicitation)
        #expect(try Self.counter(wing, "egress_not_plain") == 1)
    }

    /// A DNS name in wire format.
    static func wireName(_ name: String) -> [UInt8] {
        name.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    @Test("every AAAA of a DNS answer to a configured name, behind a CNAME, maps to the service")
    func dnsAnswerThroughCNAME() throws {
        let wing = try Self.clientObject()
        // Query SVC.Example.org (case differs from the configuration) AAAA; answers:
        // svc.example.org CNAME real.example.net; real.example.net AAAA fd00:5::20 (name written
        // out); the same name by pointer AAAA fd00:5::21.
        var dns: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0]
        dns += Self.wireName("SVC.Example.org") + [0, 28, 0, 1]
        let cnameTarget = Self.wireName("real.example.net")
        dns += [0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, UInt8(cnameTarget.count)]
        let targetOffset = dns.count
        dns += cnameTarget
        dns += Self.wireName("real.example.net") + [0, 28, 0, 1, 0, 0, 0, 60, 0, 16] + PacketBuilder.address("fd00:5::20")
        dns += [0xc0, UInt8(targetOffset), 0, 28, 0, 1, 0, 0, 0, 60, 0, 16] + PacketBuilder.address("fd00:5::21")
        let answer = PacketBuilder.udp6(source: PacketBuilder.address("fd00:53::1"), destination: PacketBuilder.address(Self.client),
                                        sourcePort: 53, destinationPort: 33333, payload: dns)
        #expect(try Self.run(wing, WingABI.ingressProgram, answer).data == answer)
        let services = try wing.object.map(WingABI.servicesMap)
        for address in ["fd00:5::20", "fd00:5::21"] {
            #expect(try services.lookup(key: PacketBuilder.address(address)) == BPFMap.bytesOf(UInt32(2)), "\(address)")
        }
        #expect(try Self.counter(wing, "ingress_dns_answers") == 1)
        #expect(try Self.counter(wing, "ingress_dns_mapped") == 2)

        // An answer for another name maps nothing.
        var other = dns
        other[13] = UInt8(ascii: "x")
        let unrelated = PacketBuilder.udp6(source: PacketBuilder.address("fd00:53::1"), destination: PacketBuilder.address(Self.client),
                                           sourcePort: 53, destinationPort: 33333, payload: other)
        _ = try Self.run(wing, WingABI.ingressProgram, unrelated)
        #expect(try Self.counter(wing, "ingress_dns_answers") == 1)
    }
}
