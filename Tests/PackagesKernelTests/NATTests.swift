import BPFKit
import Foundation
import HikeTestSupport
import HikeVM
import Testing

/// The nat package by BPF_PROG_TEST_RUN: crafted packets through `nat(); hike_pass()`, rules
/// written in the JSON that `hike map update` takes, every output's addresses and ports
/// against what the rule says and every checksum summed whole (NATWire).
@Suite(.serialized) struct NATTests {
    init() throws { try KernelTest.prepare() }

    /// One family's addresses: an inside host, the NAT's public address, a host outside.
    struct Family: CustomTestStringConvertible, Sendable {
        let inside: String, public_: String, remote: String, router: String
        /// The SNAT rule's key for the inside prefix, as `hike map update nat_snat` takes it.
        let insidePrefix: String
        var testDescription: String { NATWire.isV4(inside) ? "IPv4" : "IPv6" }
        var v4: Bool { NATWire.isV4(inside) }

        static let v4 = Family(inside: "10.0.1.2", public_: "192.0.2.1", remote: "198.51.100.2", router: "198.51.100.254",
                               insidePrefix: #"{"prefixlen":120,"saddr":"10.0.1.0"}"#)
        static let v6 = Family(inside: "fd00:1::2", public_: "2001:db8::1", remote: "2001:db8:ff::2", router: "2001:db8:ff::fe",
                               insidePrefix: #"{"prefixlen":64,"saddr":"fd00:1::"}"#)
        static let both = [v4, v6]
    }

    enum Proto: UInt8, CaseIterable, CustomTestStringConvertible, Sendable {
        case tcp = 6, udp = 17
        var testDescription: String { self == .tcp ? "TCP" : "UDP" }
    }

    /// nat's reasons (hike/nat.h), by slot of nat_stats.
    enum Reason: Int { case session = 0, newSNAT, newDNAT, icmpError, noRule, notIP, unsupported, malformed, noPort, expired }

    static let untouched: UInt64 = 1, noPort = NetKeys.r0(-28), notIP = NetKeys.r0(-22)

    struct Rig {
        let runner: NetPackageRunner

        init() throws { runner = try NetPackageRunner(program: "nat", loader: "ip46_classifier") }

        func map(_ name: String) throws -> BPFMap { try runner.map("nat", name) }

        /// One entry, key and value in `hike map update`'s JSON.
        func update(_ name: String, _ key: String, _ value: String) throws {
            let map = try map(name)
            let codec = try MapJSON(map: map)
            try map.update(key: try codec.encodeKey(try MapJSONValue.parseArgument(key)), value: try codec.encodeValue(try MapJSONValue.parseArgument(value)))
        }

        func snat(_ family: Family, ports: ClosedRange<Int>) throws {
            try update("nat_snat", family.insidePrefix,
                       #"{"addr":"\#(family.public_)","port_min":\#(ports.lowerBound),"port_max":\#(ports.upperBound)}"#)
        }

        /// r0 and the IP packet as it left (the frame without its Ethernet header).
        func run(_ packet: [UInt8]) throws -> (r0: UInt64, packet: [UInt8]) {
            let (run, result) = try runner.run(NATWire.frame(packet))
            #expect(run.returnValue == ABI.xdpPass)
            return (result.r0, Array(run.data.dropFirst(14)))
        }

        /// The translated packet, checked: r0 0 and every checksum valid.
        func translated(_ packet: [UInt8], _ comment: Comment? = nil) throws -> NATWire.Fields {
            let (r0, out) = try run(packet)
            #expect(r0 == 0, comment)
            #expect(NATWire.badChecksums(out) == [], comment)
            return NATWire.fields(out)
        }

        func count(_ reason: Reason) throws -> UInt64 {
            try #require(try NetKeys.summed(try map("nat_stats"), key: BPFMap.bytesOf(UInt32(reason.rawValue)), words: 1))[0]
        }
    }

    @Test(arguments: Family.both, Proto.allCases)
    func snatRewritesTheSourceAndItsReplies(family: Family, proto: Proto) throws {
        let rig = try Rig()
        try rig.snat(family, ports: 20000...20009)
        let first = try rig.translated(NATWire.packet(proto.rawValue, family.inside, 5555, family.remote, 53))
        #expect(first.source == family.public_ && first.destination == family.remote && first.dport == 53)
        #expect((20000...20009).contains(first.sport), "port \(first.sport) outside the rule's range")
        // The flow keeps its port; the reply goes back to the inside host's own.
        let again = try rig.translated(NATWire.packet(proto.rawValue, family.inside, 5555, family.remote, 53))
        #expect(again == first)
        let reply = try rig.translated(NATWire.packet(proto.rawValue, family.remote, 53, family.public_, first.sport))
        #expect(reply == NATWire.Fields(source: family.remote, destination: family.inside, sport: 53, dport: 5555, proto: proto.rawValue))
        // A second inside flow gets a port of its own.
        let other = try rig.translated(NATWire.packet(proto.rawValue, family.inside, 5556, family.remote, 53))
        #expect(other.sport != first.sport && (20000...20009).contains(other.sport))
        #expect(try rig.count(.newSNAT) == 2)
        #expect(try rig.count(.session) == 2)
    }

    @Test(arguments: Family.both, Proto.allCases)
    func dnatRewritesTheDestinationAndItsReplies(family: Family, proto: Proto) throws {
        let rig = try Rig()
        try rig.update("nat_dnat", #"{"daddr":"\#(family.public_)","dport":8080,"proto":\#(proto.rawValue)}"#,
                       #"{"addr":"\#(family.inside)","port":80}"#)
        let inbound = try rig.translated(NATWire.packet(proto.rawValue, family.remote, 40000, family.public_, 8080))
        #expect(inbound == NATWire.Fields(source: family.remote, destination: family.inside, sport: 40000, dport: 80, proto: proto.rawValue))
        let reply = try rig.translated(NATWire.packet(proto.rawValue, family.inside, 80, family.remote, 40000))
        #expect(reply == NATWire.Fields(source: family.public_, destination: family.remote, sport: 8080, dport: 40000, proto: proto.rawValue))
        // Another port of the public address has no rule.
        let (r0, out) = try rig.run(NATWire.packet(proto.rawValue, family.remote, 40000, family.public_, 8081))
        #expect(r0 == Self.untouched)
        #expect(out == NATWire.packet(proto.rawValue, family.remote, 40000, family.public_, 8081))
        #expect(try rig.count(.newDNAT) == 1)
    }

    /// A ping through the NAT: the echo identifier is the port.
    @Test(arguments: Family.both)
    func echoIdentifiersAreTranslatedLikePorts(family: Family) throws {
        let rig = try Rig()
        try rig.snat(family, ports: 30000...30099)
        let request = try rig.translated(NATWire.echo(family.inside, family.remote, id: 0x1234, request: true))
        #expect(request.source == family.public_ && request.destination == family.remote)
        #expect((30000...30099).contains(request.sport))
        let reply = try rig.translated(NATWire.echo(family.remote, family.public_, id: request.sport, request: false))
        #expect(reply == NATWire.Fields(source: family.remote, destination: family.inside, sport: 0, dport: 0x1234,
                                        proto: NATWire.icmpProto(family.v4)))
        // A reply no request made has no session and makes none.
        let (r0, _) = try rig.run(NATWire.echo(family.remote, family.public_, id: 999, request: false))
        #expect(r0 == Self.untouched)
    }

    /// ICMP errors about a session's packets, from each side and from a router on the way:
    /// outer addresses, the quoted packet and all checksums (outer ICMP, quoted IPv4 header,
    /// quoted UDP) come out as if the error had been about the untranslated packet.
    @Test(arguments: Family.both)
    func icmpErrorsAreTranslatedInsideAndOut(family: Family) throws {
        let rig = try Rig()
        try rig.snat(family, ports: 20000...20009)
        try rig.update("nat_dnat", #"{"daddr":"\#(family.public_)","dport":8080,"proto":17}"#, #"{"addr":"\#(family.inside)","port":80}"#)
        let udp = NATWire.udp

        // Outbound (SNAT) flow; the remote host's port is closed, and a router on the way also
        // reports the packet.
        let (_, out) = try rig.run(NATWire.packet(udp, family.inside, 5555, family.remote, 53))
        let original = NATWire.Fields(source: family.inside, destination: family.remote, sport: 5555, dport: 53, proto: udp)
        let fromRemote = try rig.translated(NATWire.unreachable(family.remote, family.public_, quoting: out))
        #expect(fromRemote.source == family.remote && fromRemote.destination == family.inside)
        #expect(fromRemote.quoted == [original])
        let fromRouter = try rig.translated(NATWire.unreachable(family.router, family.public_, quoting: out))
        #expect(fromRouter.source == family.router && fromRouter.destination == family.inside)
        #expect(fromRouter.quoted == [original])
        // A quote cut after 8 bytes of TCP (its checksum not quoted) still has its ports fixed.
        try rig.update("nat_snat", family.insidePrefix, #"{"addr":"\#(family.public_)","port_min":0,"port_max":0}"#)
        let (_, tcpOut) = try rig.run(NATWire.packet(NATWire.tcp, family.inside, 7777, family.remote, 443))
        let cut = Array(tcpOut.prefix((family.v4 ? 20 : 40) + 8))
        let truncated = try rig.translated(NATWire.unreachable(family.router, family.public_, quoting: cut))
        #expect(truncated.quoted.first?.source == family.inside && truncated.quoted.first?.sport == 7777)

        // Inbound (DNAT) flow; the inside host's port is closed.
        let (_, inbound) = try rig.run(NATWire.packet(udp, family.remote, 40000, family.public_, 8080))
        let fromInside = try rig.translated(NATWire.unreachable(family.inside, family.remote, quoting: inbound))
        #expect(fromInside.source == family.public_ && fromInside.destination == family.remote)
        #expect(fromInside.quoted == [NATWire.Fields(source: family.remote, destination: family.public_, sport: 40000, dport: 8080, proto: udp)])
        #expect(try rig.count(.icmpError) == 4)
        // An error about a packet of no session is left alone.
        let stray = NATWire.unreachable(family.remote, family.public_, quoting: NATWire.packet(udp, family.public_, 1, family.remote, 2))
        #expect(try rig.run(stray) == (Self.untouched, stray))
    }

    /// SNAT ports are per remote endpoint: when the range is held by live sessions to it, the
    /// next flow is refused and its packet left as it was.
    @Test func snatRefusesAFlowWhenEveryPortIsHeld() throws {
        let family = Family.v4
        let rig = try Rig()
        try rig.snat(family, ports: 20000...20001)
        var ports: Set<Int> = []
        for host in ["10.0.1.2", "10.0.1.3"] {
            ports.insert(try rig.translated(NATWire.packet(NATWire.udp, host, 5555, family.remote, 53)).sport)
        }
        #expect(ports == [20000, 20001])
        let third = NATWire.packet(NATWire.udp, "10.0.1.4", 5555, family.remote, 53)
        let (r0, out) = try rig.run(third)
        #expect(r0 == Self.noPort)
        #expect(out == third)
        #expect(try rig.count(.noPort) == 1)
        // Another remote port has the whole range again.
        #expect((20000...20001).contains(try rig.translated(NATWire.packet(NATWire.udp, "10.0.1.4", 5555, family.remote, 54)).sport))
    }

    /// A session idle past its protocol's timeout (nat_cfg) is replaced by a new one: here its
    /// last use is set back by a map update, as `hike map update nat_ct` could.
    @Test func idleSessionsExpire() throws {
        let family = Family.v4
        let rig = try Rig()
        try rig.snat(family, ports: 20000...20009)
        try rig.update("nat_cfg", "0", #"{"udp_timeout_s":5}"#)
        let first = try rig.translated(NATWire.packet(NATWire.udp, family.inside, 5555, family.remote, 53))
        let ct = try rig.map("nat_ct")
        let codec = try MapJSON(map: ct)
        #expect(try ct.keys().count == 2)
        for key in try ct.keys() {
            var session = codec.decodeValues(try #require(try ct.lookup(key: key)))[0]
            guard case .object(var fields) = session else { Issue.record("session is \(session)"); return }
            let index = try #require(fields.firstIndex { $0.key == "last_ns" })
            fields[index].value = .int(1)
            session = .object(fields)
            try ct.update(key: key, value: try codec.encodeValue(session))
        }
        let renewed = try rig.translated(NATWire.packet(NATWire.udp, family.inside, 5555, family.remote, 53))
        #expect(renewed.source == first.source && (20000...20009).contains(renewed.sport))
        #expect(try rig.count(.expired) == 1)
        // The new session is live: its reply is translated.
        let reply = try rig.translated(NATWire.packet(NATWire.udp, family.remote, 53, family.public_, renewed.sport))
        #expect(reply.destination == family.inside && reply.dport == 5555)
    }

    /// What nat leaves alone, and how it says so.
    @Test func packetsWithoutRuleOrSupportAreUntouched() throws {
        let rig = try Rig()
        try rig.snat(.v4, ports: 20000...20009)
        let noRule = NATWire.packet(NATWire.udp, "10.9.9.9", 1, "198.51.100.2", 2)
        #expect(try rig.run(noRule) == (Self.untouched, noRule))
        // A fragment (more fragments set) of an inside host: no ports to translate.
        var fragment = NATWire.packet(NATWire.udp, "10.0.1.2", 1, "198.51.100.2", 2)
        fragment[6] |= 0x20
        fragment[10] = 0
        fragment[11] = 0
        let s = ~NATWire.sum(Array(fragment[0..<20]))
        fragment[10] = UInt8(s >> 8)
        fragment[11] = UInt8(s & 0xff)
        #expect(try rig.run(fragment) == (Self.untouched, fragment))
        // IPv4 UDP without a checksum keeps none.
        let unchecked = NATWire.packet(NATWire.udp, "10.0.1.2", 9, "198.51.100.2", 9, udpChecksum: false)
        let (r0, out) = try rig.run(unchecked)
        #expect(r0 == 0)
        #expect(out[26] == 0 && out[27] == 0)
        #expect(NATWire.fields(out).source == "192.0.2.1")
        // An IPv4 header cut short.
        let cut = Array(NATWire.packet(NATWire.udp, "10.0.1.2", 9, "198.51.100.2", 9).prefix(12))
        #expect(try rig.run(cut) == (Self.notIP, cut))
        #expect(try rig.count(.noRule) == 1)
        #expect(try rig.count(.unsupported) == 1)
        #expect(try rig.count(.malformed) == 1)
    }
}
